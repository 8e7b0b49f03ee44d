"""The documentation a clone carries: every cited document is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Files that cite documentation: the README, the notebooks, the library and the docs.
CITING = ["README.md", "notebooks/*.ipynb", "idtheory/**/*.py", "docs/*.md", "data/paper/*.csv"]
#: Documents outside the repository that earlier versions cited.
OUTSIDE = re.compile(r"reference/(paper|bounds|prior-art)\.md|shared/reference|shared/data/README")
LINK = re.compile(r"\]\(((?:\.\./)*(?:docs|tests)/[^)#\s]+)(?:#[^)]*)?\)")
DOCS_PATH = re.compile(r"\bdocs/[\w-]+\.md\b")


def _citing_files() -> list[Path]:
    return sorted({p for pattern in CITING for p in REPO.glob(pattern)})


def test_no_citation_points_outside_the_repository():
    offenders = [
        f"{p.relative_to(REPO)}: {m.group(0)}"
        for p in _citing_files()
        for m in OUTSIDE.finditer(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_cited_docs_exist():
    missing = []
    for p in _citing_files():
        text = p.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if not (p.parent / target).resolve().exists():
                missing.append(f"{p.relative_to(REPO)} links {target}")
        for target in DOCS_PATH.findall(text):
            if not (REPO / target).is_file():
                missing.append(f"{p.relative_to(REPO)} cites {target}")
    assert missing == []
