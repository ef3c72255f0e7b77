"""The package arrows of docs/architecture.md ("Packages and arrows") as import-linter checks
them (pyproject.toml's [tool.importlinter], `lint-imports` in `make lint`): the project keeps
them, and a copy of the project with one wrong import breaks the contract that forbids it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = (
    "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
)


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` in `project` (its pyproject.toml, its packages first on the path)."""
    return subprocess.run(
        [sys.executable, "-c", LINT],
        cwd=project,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def project_copy(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("lrs", "consumers"):
        shutil.copytree(ROOT / package, destination / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def test_the_project_keeps_its_import_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def contract_name(contract_id: str) -> str:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    names = [c["name"] for c in contracts if c["id"] == contract_id]
    assert len(names) == 1, f"no contract {contract_id!r} in pyproject.toml"
    return str(names[0])


# One copy of the project with every wrong import below (one run of the linter): the module
# written, what it holds, the contract that must be broken and the chain it must report.
WRONG = [
    # the domain imports a web framework
    ("lrs/xapi/wrong.py", "import fastapi", "pure-domain", "lrs.xapi.wrong -> fastapi"),
    # the domain imports a store driver indirectly, through a module outside the domain
    ("lrs/progress/wrong.py", "from lrs import bad", "pure-domain", "progress.wrong -> lrs.bad"),
    ("lrs/bad.py", "import pymongo", "pure-domain", "lrs.bad -> pymongo"),
    # the domain imports a service
    ("lrs/goals/wrong.py", "from lrs.services import goals", "pure-domain", "lrs.goals.wrong ->"),
    # an adapter imports a service (adapters and services are independent)
    (
        "lrs/adapters/wrong.py",
        "from lrs.services import progress_hub",
        "layers",
        "lrs.adapters.wrong -> lrs.services.progress_hub",
    ),
    # a service reaches up into the API
    ("lrs/services/wrong.py", "from lrs.api import deps", "layers", "services.wrong -> lrs.api"),
    # a consumer imports the API (the two are independent)
    ("consumers/wrong.py", "from lrs.api import deps", "layers", "consumers.wrong -> lrs.api.deps"),
    # a consumer builds an adapter of its own instead of being handed it
    (
        "consumers/wrong_store.py",
        "from lrs.adapters import mongo_store",
        "adapters-in-the-root",
        "consumers.wrong_store -> lrs.adapters.mongo_store",
    ),
]


@pytest.fixture(scope="module")
def broken_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    project = project_copy(tmp_path_factory.mktemp("wrong"))
    for module, source, _, _ in WRONG:
        (project / module).write_text(source + "\n")
    result = lint_imports(project)
    assert result.returncode == 1, result.stdout + result.stderr
    return " ".join(result.stdout.split())  # the report wraps long contract names


def broken_section(report: str, contract_id: str) -> str:
    """What the report says under the contract's name in its list of broken contracts."""
    details = report.split("Broken contracts", 1)[1]
    name = contract_name(contract_id)
    assert name in details, f"{contract_id} is not broken"
    after = details.split(name, 1)[1]
    others = [after.find(n) for n in all_contract_names() if n != name and n in after]
    return after[: min(others, default=len(after))]


def all_contract_names() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [str(c["name"]) for c in config["tool"]["importlinter"]["contracts"]]


@pytest.mark.parametrize(("module", "source", "contract", "chain"), WRONG)
def test_a_wrong_import_breaks_its_contract(
    broken_report: str, module: str, source: str, contract: str, chain: str
) -> None:
    assert chain in broken_section(broken_report, contract), broken_report
