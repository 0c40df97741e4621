"""The student repository's address and the pip command are defined once and used everywhere."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import yaml

import owll_helpers
from tests.grading import EXERCISES, ROOT, SOLUTIONS

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
STUDENT_REPOSITORY = CONFIG["repository"]["url"]
PIP_COMMAND = f'pip install "owll-helpers[student] @ git+{STUDENT_REPOSITORY}@v{owll_helpers.__version__}"'


def _first_cell(path):
    return "".join(json.loads(path.read_text())["cells"][0]["source"])


def test_the_address_is_a_real_https_repository():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", STUDENT_REPOSITORY)


@pytest.mark.parametrize(
    "document", ["README.md", "tools/student/README.md", "book/intro.md", "book/00_introduction/how_to_use.ipynb"]
)
def test_documents_use_the_one_pip_command(document):
    text = (ROOT / document).read_text()
    if document.endswith(".ipynb"):
        text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
    assert PIP_COMMAND in text, f"{document} must show exactly: {PIP_COMMAND}"
    other_commands = {m for m in re.findall(r'pip install "owll-helpers[^"]*"', text)} - {PIP_COMMAND}
    assert not other_commands, f"{document} shows another install command: {other_commands}"


def test_citation_and_package_point_at_the_same_place():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["repository-code"] == STUDENT_REPOSITORY
    assert str(citation["version"]) == owll_helpers.__version__
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dynamic"] == ["version"] and project["name"] == "owll-helpers"


@pytest.mark.parametrize(
    "notebook",
    sorted(EXERCISES.glob("*/*.ipynb")) + sorted(SOLUTIONS.glob("*/*.ipynb")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_assignment_starts_by_checking_the_helper_package(notebook):
    first = _first_cell(notebook)
    assert "import owll_helpers" in first and PIP_COMMAND in first
    assert f'!= "{owll_helpers.__version__}"' in first, "the first cell must compare with the version the grader runs"
