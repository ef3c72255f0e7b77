"""`make run` installs only the runtime dependencies (`.[embedded]`): every module of lrs/ and
consumers/ may import only the standard library, the project itself and those distributions.
A module importing a development tool would start under `make test` and fail under `make run`."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"lrs", "consumers"}


def runtime_distributions() -> set[str]:
    """The runtime and embedded requirements of pyproject.toml and what they require in turn
    (with the extras asked for, e.g. uvicorn[standard])."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    queue = [*project["dependencies"], *project["optional-dependencies"]["embedded"]]
    seen: set[str] = set()
    while queue:
        name, extras = parsed(queue.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            marker = spec.partition(";")[2]
            extra = re.search(r"extra\s*==\s*[\"']([^\"']+)", marker)
            if extra is None or extra.group(1) in extras:
                queue.append(spec.partition(";")[0])
    return seen


def parsed(spec: str) -> tuple[str, set[str]]:
    """(normalised distribution name, extras) of a requirement string."""
    match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", spec)
    assert match, spec
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return normal(match.group(1)), extras


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def foreign_imports(allowed: set[str]) -> dict[str, set[str]]:
    """Module -> the distributions (or unknown names) it imports that `make run` lacks."""
    providers = metadata.packages_distributions()
    problems: dict[str, set[str]] = {}
    for package in sorted(PROJECT):
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in imported_top_levels(path) - PROJECT - set(sys.stdlib_module_names):
                dists = {normal(d) for d in providers.get(name, [name])}
                if not dists & allowed:
                    problems.setdefault(str(path.relative_to(ROOT)), set()).update(dists)
    return problems


def test_runtime_modules_import_only_runtime_dependencies() -> None:
    assert foreign_imports(runtime_distributions()) == {}


def test_a_development_tool_is_caught() -> None:
    """The check can fail: without httpx among the allowed, the webhook consumer is named."""
    allowed = runtime_distributions() - {"httpx"}
    assert "consumers/webhooks.py" in foreign_imports(allowed)
