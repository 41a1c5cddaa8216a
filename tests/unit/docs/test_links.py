"""The README and docs/ point at things that exist: every relative link (and its #anchor), every path they name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT_BYTES = 12_000
# Written on another branch of issue 11 (the development guide); drop this once it is merged.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# src/..., tests/..., tools/... as the pages name them, in backticks or plain text.
PATH = re.compile(r"(?<![\w./-])((?:src|tests|tools)/[A-Za-z0-9_./*<>-]+)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(h) for h in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8")))}


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
            broken.append(target)
    assert not broken, f"{_id(page)} links to what does not exist: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_named_path_exists(page: Path) -> None:
    missing = []
    for raw in PATH.findall(page.read_text(encoding="utf-8")):
        name = raw.rstrip(".,:;")
        if "<" in name:
            name = name.split("<", 1)[0]  # tests/unit/<context>/: the folder before the placeholder
        if not (list(ROOT.glob(name)) if "*" in name else (ROOT / name).exists()):
            missing.append(name)
    assert not missing, f"{_id(page)} names paths that do not exist: {missing}"


def test_readme_is_short() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size < README_LIMIT_BYTES, f"README.md is {size} bytes: move detail into docs/"
