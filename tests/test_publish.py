"""`make publish` writes a student repository without solutions."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.grading import ROOT, all_secret_lines, find_leaks

PUBLISH = ROOT / "tools" / "publish.py"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    if not (ROOT / "_build" / "html" / "index.html").exists():
        pytest.fail("the site is not built: run `make book` first")
    dest = tmp_path_factory.mktemp("student") / "owll-student"
    (dest / ".git").mkdir(parents=True)
    (dest / ".git" / "keep").write_text("an existing clone")
    (dest / "stale.txt").write_text("from an older publication")
    subprocess.run([sys.executable, str(PUBLISH), str(dest)], check=True, capture_output=True, text=True)
    return dest


def test_student_repository_layout(published):
    names = {p.name for p in published.iterdir()}
    assert {"book", "site", "exercises", "owll_helpers", "pyproject.toml", "README.md", "LICENSE", "_config.yml", "_toc.yml"} <= names
    assert not names & {"solutions", "tests", "nbgrader_config.py", "tools", "Makefile", ".ci", "stale.txt"}
    assert (published / ".git" / "keep").exists(), "an existing clone's .git is kept"
    assert (published / "site" / "index.html").exists()
    assert not list(published.rglob("__pycache__"))
    assert "Work on an assignment" in (published / "README.md").read_text()


def test_no_solution_or_hidden_test_in_the_student_repository(published):
    leaks = find_leaks(published, all_secret_lines())
    assert not leaks, f"solution or hidden-test lines published: {leaks[:5]}"
    for path in published.rglob("*"):
        if path.is_file() and path.suffix in {".ipynb", ".py", ".md", ".html"}:
            text = path.read_text(errors="replace")
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, path


def test_the_leak_scan_finds_a_planted_solution(published, tmp_path):
    secrets = all_secret_lines() or {"total_of_both_numbers = a + b"}
    planted = tmp_path / "copy"
    (planted / "exercises").mkdir(parents=True)
    (planted / "exercises" / "leak.py").write_text("\n".join(sorted(secrets)[:1]))
    assert find_leaks(planted, secrets)


def test_the_helper_package_installs_from_the_publication(published):
    # The student's pip command builds owll_helpers from this pyproject.toml.
    text = (published / "pyproject.toml").read_text()
    assert 'name = "owll-helpers"' in text and "student = [" in text
    assert (published / "owll_helpers" / "__init__.py").exists()


def test_publish_refuses_a_destination_inside_the_repository(tmp_path):
    result = subprocess.run([sys.executable, str(PUBLISH), str(ROOT / "inside")], capture_output=True, text=True)
    assert result.returncode != 0 and "outside this repository" in result.stderr
