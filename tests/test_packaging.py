"""Packaging consistency: environment.yml covers pyproject's runtime dependencies."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
#: conda package names that differ from their PyPI names.
CONDA_NAMES = {"torch": "pytorch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].strip().lower()


def _environment_names() -> set[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(d) for d in dep.get("pip", []) if not d.startswith("-")}
        else:
            names.add(_name(dep))
    return names


def test_every_runtime_dependency_is_in_environment_yml():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = _environment_names()
    missing = [r for r in project["dependencies"] if CONDA_NAMES.get(_name(r), _name(r)) not in env]
    assert not missing, f"environment.yml lacks {missing}"


def test_notebook_and_minilm_extras_are_in_environment_yml():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    env = _environment_names()
    for extra in ("notebooks", "minilm"):
        missing = [r for r in extras[extra] if _name(r) not in env]
        assert not missing, f"environment.yml lacks {missing} (extra {extra!r})"


def test_makefile_and_ci_use_the_readme_commands():
    readme = (REPO / "README.md").read_text()
    assert "make figures" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test:", makefile, re.M) and re.search(r"^figures:", makefile, re.M)


def test_citation_cff_matches_the_package_and_the_readme():
    """CITATION.cff is valid CFF 1.2 in its essentials, carries pyproject's version and license,
    cites the software itself (GitHub's "Cite this repository" shows a preferred-citation
    instead) and first references the paper the README's BibTeX cites (same DOI)."""
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(cff)
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"]
    assert cff["type"] == "software" and "preferred-citation" not in cff
    paper = cff["references"][0]
    assert paper["year"] == 2021 and paper["authors"][0]["family-names"] == "Aghajanyan"
    bibtex_dois = re.findall(r"doi\s*=\s*\{([^}]+)\}", (REPO / "README.md").read_text())
    assert bibtex_dois == [paper["doi"]]
    for ref in cff["references"]:
        assert ref["title"] and ref["authors"] and isinstance(ref["year"], int)
