"""Shared machinery of the assignment tests: courses in temporary folders,
solution and hidden-test regions, solved and untouched submissions.

Every test that grades sets ``OWLL_COURSE_DATA`` to a temporary folder, so
nothing ever writes into a real class's data.
"""

from __future__ import annotations

import builtins
import copy
import json
import keyword
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
GRADE_TOOL = ROOT / "tools" / "grade.py"

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: Lines this short or this common say nothing about a solution when found elsewhere.
MIN_DISTINCTIVE_LENGTH = 12


def real_assignments() -> list[str]:
    """Names of the course's assignments (folders of solutions/)."""
    if not SOLUTIONS.is_dir():
        return []
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))


def source_notebooks(assignment_dir: Path) -> list[Path]:
    return sorted(assignment_dir.glob("*.ipynb"))


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _region(lines: list[str], begin: str, end: str) -> Iterator[str]:
    inside = False
    for line in lines:
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            yield line


def solution_lines(notebook: dict) -> set[str]:
    """Stripped lines inside solution regions and markdown solution cells."""
    found: set[str] = set()
    for cell in notebook["cells"]:
        meta = nbgrader_meta(cell)
        source = "".join(cell["source"]).splitlines()
        if not meta.get("solution"):
            continue
        if cell["cell_type"] == "markdown" and BEGIN_SOLUTION not in "".join(source):
            found.update(line.strip() for line in source)
        else:
            found.update(line.strip() for line in _region(source, BEGIN_SOLUTION, END_SOLUTION))
    return found


def hidden_test_lines(notebook: dict) -> set[str]:
    """Stripped lines inside hidden-test regions."""
    found: set[str] = set()
    for cell in notebook["cells"]:
        found.update(line.strip() for line in _region("".join(cell["source"]).splitlines(), BEGIN_HIDDEN, END_HIDDEN))
    return found


def visible_text(notebook: dict) -> str:
    """All source outside solution and hidden regions (what students legitimately see)."""
    kept = []
    for cell in notebook["cells"]:
        lines = "".join(cell["source"]).splitlines()
        meta = nbgrader_meta(cell)
        if meta.get("solution") and cell["cell_type"] == "markdown" and BEGIN_SOLUTION not in "\n".join(lines):
            continue
        inside = False
        for line in lines:
            if BEGIN_SOLUTION in line or BEGIN_HIDDEN in line:
                inside = True
            elif END_SOLUTION in line or END_HIDDEN in line:
                inside = False
            elif not inside:
                kept.append(line.strip())
    return "\n".join(kept)


def secret_lines(notebook: dict) -> set[str]:
    """Distinctive solution and hidden-test lines: those that must never be published.

    A line that students see anyway, outside the regions (a repeated import,
    code quoted in a task statement), is not distinctive, nor is a very short
    one, a comment, or plain syntax that names at most one thing of its own
    (``except Exception as error:``, ``for case in cases:``): any Python file
    may hold those.
    """
    visible = _normalise(visible_text(notebook))
    candidates = solution_lines(notebook) | hidden_test_lines(notebook)
    return {
        line
        for line in candidates
        if len(line) >= MIN_DISTINCTIVE_LENGTH
        and _normalise(line) not in visible
        and not line.startswith("#")
        and not _is_plain_syntax(line)
    }


_PYTHON_NAMES = set(keyword.kwlist) | set(dir(builtins))


def _is_plain_syntax(line: str) -> bool:
    """True for a line without literals whose only names, besides keywords and builtins, are at most one of its own."""
    if re.search(r"[\"']|\d", line):
        return False
    own = {name for name in re.findall(r"[A-Za-z_]\w*", line) if name not in _PYTHON_NAMES}
    return len(own) <= 1


def solved_submission(source: dict) -> dict:
    """The student version of ``source`` with every answer cell filled in as the solution does.

    Solution cells keep their code without the region markers; hidden-test
    regions are removed from test cells (the grader restores them).
    """
    notebook = copy.deepcopy(source)
    for cell in notebook["cells"]:
        lines = "".join(cell["source"]).splitlines()
        lines = [line for line in lines if BEGIN_SOLUTION not in line and END_SOLUTION not in line]
        inside, kept = False, []
        for line in lines:
            if BEGIN_HIDDEN in line:
                inside = True
            elif END_HIDDEN in line:
                inside = False
            elif not inside:
                kept.append(line)
        cell["source"] = "\n".join(kept)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return notebook


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def write_notebook(notebook: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.from_dict(notebook), path)


def make_course(folder: Path, assignments: dict[str, Path]) -> Path:
    """A course root in ``folder``: the real nbgrader config and the given source assignments."""
    course = folder / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy2(ROOT / "nbgrader_config.py", course)
    # The feedback template nbgrader_config.py uses when present.
    shutil.copytree(ROOT / "tools" / "feedback_template", course / "tools" / "feedback_template")
    for name, source in assignments.items():
        shutil.copytree(source, course / "solutions" / name)
    return course


def course_env(data: Path, *, cell_timeout: int | None = None) -> dict[str, str]:
    env = dict(os.environ, OWLL_COURSE_DATA=str(data), MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_PATH"] = str(Path(sys.executable).parent.parent / "share" / "jupyter")
    if cell_timeout is not None:
        env["OWLL_CELL_TIMEOUT"] = str(cell_timeout)
    return env


def grade(course: Path, env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run tools/grade.py (what the make targets run) in ``course``."""
    result = subprocess.run(
        [sys.executable, str(GRADE_TOOL), *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"grade.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


# ------------------------------------------------------------------ leak scans
#: File endings scanned for leaks; anything else (images, fonts) cannot hold code text.
TEXT_SUFFIXES = {".ipynb", ".html", ".md", ".py", ".txt", ".js", ".json", ".yml", ".yaml", ".toml", ".cff", ".bib", ".csv", ""}


def _normalise(text: str) -> str:
    return " ".join(text.split())


def readable_text(path: Path) -> str:
    """The text a reader can see in ``path``: notebook sources and outputs, HTML without tags."""
    raw = path.read_text(errors="replace")
    if path.suffix == ".ipynb":
        try:
            notebook = json.loads(raw)
        except json.JSONDecodeError:
            return raw
        parts = []
        for cell in notebook.get("cells", []):
            parts.append("".join(cell.get("source", "")))
            for output in cell.get("outputs", []):
                parts.append("".join(output.get("text", "")))
                parts.extend("".join(v) if isinstance(v, list) else str(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))
        return "\n".join(parts)
    if path.suffix == ".html":
        from bs4 import BeautifulSoup

        return BeautifulSoup(raw, "html.parser").get_text("\n")
    return raw


def find_leaks(tree: Path, secrets: set[str]) -> list[tuple[str, str]]:
    """Every (file, secret line) such that the line is readable in a file below ``tree``."""
    needles = {_normalise(s): s for s in secrets if _normalise(s)}
    leaks = []
    for path in sorted(tree.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES or ".git" in path.parts:
            continue
        haystack = _normalise(readable_text(path))
        leaks.extend((str(path.relative_to(tree)), original) for needle, original in needles.items() if needle in haystack)
    return leaks


def all_secret_lines() -> set[str]:
    """Distinctive solution and hidden-test lines of every real assignment."""
    secrets: set[str] = set()
    for assignment in real_assignments():
        for path in source_notebooks(SOLUTIONS / assignment):
            secrets |= secret_lines(read_json(path))
    return secrets
