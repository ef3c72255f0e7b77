"""The documentation is self-contained: every relative link of README.md and docs/**/*.md
resolves to a file (and, for a Markdown file, a heading) inside the repository, and no file of
the repository refers to the design notes or the shared folder outside it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Spelt in pieces so that this file does not contain what it looks for.
OUTSIDE = ("../" + "shared", "DESIGN" + ".md")
SKIPPED_DIRS = {".git", ".venv", ".lrs-data", "__pycache__", ".mypy_cache", ".ruff_cache"}
SKIPPED_DIRS |= {".pytest_cache", "build", "dist", "node_modules"}

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`]*`")  # a code span may continue on the next line
INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def repository_files() -> list[Path]:
    """The files git tracks (or, without git, every file outside build and cache folders)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return [
            p
            for p in ROOT.rglob("*")
            if p.is_file() and not SKIPPED_DIRS & set(p.relative_to(ROOT).parts)
        ]
    return [ROOT / name for name in listed.decode().split("\0") if name]


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def links(markdown: str) -> Iterator[str]:
    """Every link target of a Markdown text, code spans and blocks left out."""
    text = INLINE_CODE.sub("", FENCE.sub("", markdown))
    for pattern in (INLINE_LINK, REFERENCE_LINK):  # <autolinks> always carry a scheme
        for match in pattern.finditer(text):
            yield match.group(1)


def heading_anchors(markdown: str) -> set[str]:
    """The anchors a renderer gives the headings: lower case, punctuation dropped, spaces as
    hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", FENCE.sub("", markdown), re.MULTILINE)
    anchors = set()
    for heading in headings:
        plain = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower())
        anchors.add(plain.replace(" ", "-"))
    return anchors


def has_heading(markdown_file: Path, anchor: str) -> bool:
    return markdown_file.is_file() and anchor in heading_anchors(markdown_file.read_text())


def broken_links(document: Path, markdown: str) -> list[str]:
    """The relative links of `document` that do not resolve inside the repository."""
    broken = []
    for target in links(markdown):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # an absolute URL: not a file of the repository
        path_part, _, anchor = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(f"{target}: no such file in the repository")
        elif anchor and resolved.suffix == ".md" and not has_heading(resolved, anchor):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return broken


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(document: Path) -> None:
    assert not broken_links(document, document.read_text())


def test_the_guides_exist_and_are_linked_from_the_readme() -> None:
    readme_links = set(links((ROOT / "README.md").read_text()))
    assert {"docs/first-hour.md", "docs/architecture.md"} <= readme_links


def test_broken_links_are_found() -> None:
    """The check can fail: links outside the repository, to missing files or headings."""
    markdown = (
        "[a](../outside.md) [b](docs/missing.md) [c](README.md#no-such-heading)"
        " [ok](docs/architecture.md#topics) [web](https://example.org/x) `[code](nowhere.md)`\n"
        "[ref]: docs/also-missing.md\n"
    )
    assert [b.split(":")[0] for b in broken_links(ROOT / "README.md", markdown)] == [
        "../outside.md",
        "docs/missing.md",
        "README.md#no-such-heading",
        "docs/also-missing.md",
    ]


def test_no_file_refers_outside_the_repository() -> None:
    offenders = []
    for path in repository_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary or vanished: cannot hold a reference
        offenders += [f"{path.relative_to(ROOT)}: {ref}" for ref in OUTSIDE if ref in text]
    assert not offenders
