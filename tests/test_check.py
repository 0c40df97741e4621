"""``owll-check``, the students' check (owll_helpers/check.py), run as students run it.

For every real assignment, three copies of the student notebook in a temporary
folder: solved (each answer cell filled in as the solution does), untouched,
and mistaken (one answer replaced by a wrong answer from tests/wrong_answers/
that the visible test catches). Each runs as ``python -m owll_helpers.check``
in a subprocess; the three run concurrently (each starts a kernel). The
expected message of the mistaken run is computed independently, by running
the same cells in an in-process IPython shell.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import owll_helpers

from tests.grading import EXERCISES, ROOT, SOLUTIONS, nbgrader_meta, read_json, real_assignments, solved_submission, write_notebook

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
#: The course's one install command, built from the student repository's address as tests/test_student_facing.py does.
PIP_COMMAND = f'pip install "owll-helpers[student] @ git+{CONFIG["repository"]["url"]}@v{owll_helpers.__version__}"'
CHECK = [sys.executable, "-m", "owll_helpers.check"]
#: Text that must never reach a student's terminal.
NOISE = ("No nbgrader_config.py", "Kernel is running over TCP", "SAWarning", "Traceback (most recent call last)", "\x1b[")
#: nbgrader validate cuts each line at its width (90) minus 3 characters.
NBGRADER_CUT = 87


def _env() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0", PYTHONPATH=str(ROOT))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_PATH"] = str(Path(sys.executable).parent.parent / "share" / "jupyter")
    return env


def _start(notebook: Path, *args: str) -> subprocess.Popen[str]:
    # cwd is deliberately not the notebook's folder: the check must run it from there itself.
    return subprocess.Popen(
        [*CHECK, str(notebook), *args], cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"owll-check did not finish in {timeout} s:\n{output}") from None
    return process.returncode, output


def _run(*args: str, timeout: float = 60) -> tuple[int, str]:
    result = subprocess.run([*CHECK, *args], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout, check=False)
    return result.returncode, result.stdout + result.stderr


def _assert_no_noise(output: str) -> None:
    for noise in NOISE:
        assert noise not in output, f"owll-check printed {noise!r}:\n{output}"


# ------------------------------------------------------------ the notebooks
def _with_answers(student: dict, answers: dict[str, str]) -> dict:
    """``student`` with the source of each answer cell named in ``answers`` replaced."""
    notebook = json.loads(json.dumps(student))
    for cell in notebook["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in answers:
            cell["source"] = answers[grade_id]
    return notebook


def _solution_answers(assignment: str) -> dict[str, str]:
    solved = solved_submission(read_json(SOLUTIONS / assignment / f"{assignment}.ipynb"))
    return {nbgrader_meta(c)["grade_id"]: c["source"] for c in solved["cells"] if nbgrader_meta(c).get("solution")}


def _first_visible_error(notebook: dict) -> BaseException | None:
    """Run the notebook's code cells in an in-process IPython shell; the first error of a visible test cell."""
    from IPython.core.interactiveshell import InteractiveShell

    quiet = io.StringIO()  # IPython prints each traceback
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    shell.register_magic_function(lambda line: None, "line", "matplotlib")
    try:
        for cell in notebook["cells"]:
            if cell["cell_type"] != "code":
                continue
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                result = shell.run_cell("".join(cell["source"]), store_history=False, silent=True)
            error = result.error_before_exec or result.error_in_exec
            meta = nbgrader_meta(cell)
            if error is not None and meta.get("grade") and not meta.get("solution"):
                return error
    finally:
        InteractiveShell.clear_instance()
    return None


def _mistake(assignment: str, student: dict, answers: dict[str, str]) -> tuple[str, str, str]:
    """A wrong answer that the visible test catches with a long message: (task, notebook source, 'Type: message')."""
    wrong_answers = importlib.import_module(f"tests.wrong_answers.{assignment}").WRONG_ANSWERS
    fallback = None
    for task, candidates in wrong_answers.items():
        for wrong in candidates:
            if not wrong.caught_by_visible_test:
                continue
            error = _first_visible_error(_with_answers(student, {**answers, task: wrong.source}))
            if error is None or type(error).__name__ in ("NameError", "NotImplementedError"):
                continue
            found = (task, wrong.source, f"{type(error).__name__}: {error}")
            if len(str(error)) > NBGRADER_CUT:
                return found
            fallback = fallback or found
    assert fallback, f"{assignment}: no wrong answer in tests/wrong_answers/ fails a visible test"
    return fallback


@pytest.mark.slow
@pytest.mark.parametrize("assignment", real_assignments())
def test_owll_check_on_solved_untouched_and_mistaken_notebooks(assignment: str, tmp_path: Path) -> None:
    student = read_json(EXERCISES / assignment / f"{assignment}.ipynb")
    answers = _solution_answers(assignment)
    paths = {case: tmp_path / case / f"{assignment}.ipynb" for case in ("solved", "untouched", "mistaken")}
    write_notebook(_with_answers(student, answers), paths["solved"])
    write_notebook(student, paths["untouched"])
    started = time.monotonic()
    running = {case: _start(paths[case]) for case in ("solved", "untouched")}
    task, wrong_source, message = _mistake(assignment, student, answers)  # while those two run
    write_notebook(_with_answers(student, {**answers, task: wrong_source}), paths["mistaken"])
    running["mistaken"] = _start(paths["mistaken"])
    results = {case: _finish(process) for case, process in running.items()}
    elapsed = time.monotonic() - started

    for case, (_, output) in results.items():
        _assert_no_noise(output)
        assert re.search(rf"{assignment}\.ipynb: \d+ of \d+ visible test cells pass \(\S+ of \S+ points of the visible tests\)", output), (
            f"{case}: no summary line:\n{output}"
        )

    status, output = results["solved"]
    assert status == 0, f"the solved notebook should pass (exit 0), got {status}:\n{output}"
    assert "All visible tests pass" in output and "FAIL" not in output, output
    assert "hidden tests" in output, output

    status, output = results["untouched"]
    assert status == 1, f"the untouched notebook should fail (exit 1), got {status}:\n{output}"
    assert "not answered" in output, output
    assert re.search(rf"{assignment}\.ipynb: 0 of [1-9]\d* visible test cells pass \(0 of ", output), output

    status, output = results["mistaken"]
    assert status == 1, f"the mistaken notebook ({task}) should fail (exit 1), got {status}:\n{output}"
    first, *rest = message.splitlines()
    assert first in output, f"the visible test's message is missing or cut; expected the whole of\n{first}\nin\n{output}"
    for line in rest:
        assert line.strip() in output, f"line {line!r} of the message is missing:\n{output}"
    assert len(message) > NBGRADER_CUT or "AssertionError" in message  # the long case is the one that matters
    passing = len(re.findall(r"^  pass  ", output, flags=re.M))
    assert passing >= 1, f"the other tasks' visible tests should pass:\n{output}"
    assert elapsed < 240, f"the three runs took {elapsed:.0f} s"


# ---------------------------------------------------------- a tiny notebook
def _meta(grade_id: str, *, grade: bool = False, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": True, "schema_version": 3, "solution": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _tiny_notebook() -> dict:
    def cell(kind: str, source: str, meta: dict) -> dict:
        extra = {"outputs": [], "execution_count": None} if kind == "code" else {}
        return {"cell_type": kind, "id": meta["nbgrader"]["grade_id"], "metadata": meta, "source": source, **extra}

    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            cell("markdown", "## Task 1: the data file", _meta("task-file")),
            cell("code", "from pathlib import Path\nassert Path('data.txt').read_text() == 'here', 'run from ' + str(Path.cwd())", _meta("test_file", grade=True, points=1)),
            cell("markdown", "## Task 2: a loop", _meta("task-loop")),
            cell("code", "while True:\n    pass", _meta("test_loop", grade=True, points=2)),
            cell("markdown", "## Task 3: after the loop", _meta("task-after")),
            cell("code", "message = 'line one of a long message\\nline two'\nassert False, message", _meta("test_after", grade=True, points=1)),
            cell("markdown", "## Task 4: a test edited to pass", _meta("task-edited")),
            cell("code", EDITED_TEST_ORIGINAL, _meta("test_edited", grade=True, points=1)),
        ],
    }


EDITED_TEST_ORIGINAL = "assert False, 'the original test fails'"


def _edit_a_test_cell(notebook: dict) -> dict:
    """Give test_edited the checksum of its original source, then edit it to pass."""
    from nbformat import from_dict
    from nbgrader.utils import compute_checksum

    for cell in notebook["cells"]:
        if cell["metadata"]["nbgrader"]["grade_id"] == "test_edited":
            cell["metadata"]["nbgrader"]["checksum"] = compute_checksum(from_dict(cell))
            cell["source"] = "pass  # edited"
    return notebook


@pytest.mark.slow
def test_owll_check_runs_from_the_notebooks_folder_and_stops_a_cell_that_hangs(tmp_path: Path) -> None:
    folder = tmp_path / "hw"
    write_notebook(_edit_a_test_cell(_tiny_notebook()), folder / "tiny.ipynb")
    (folder / "data.txt").write_text("here")
    started = time.monotonic()
    status, output = _finish(_start(folder / "tiny.ipynb", "--timeout", "3"), timeout=120)
    elapsed = time.monotonic() - started
    assert status == 1, output
    _assert_no_noise(output)
    assert re.search(r"^  pass  Task 1: the data file", output, flags=re.M), output
    assert re.search(r"^  FAIL  Task 2: a loop \(visible test test_loop, 2 points\)\n.*still running after 3 s", output, flags=re.M), output
    assert "AssertionError: line one of a long message\n" in output and "line two" in output, output
    assert re.search(r"^  EDITED  Task 4: a test edited to pass .*\n.*grader restores the original", output, flags=re.M), output
    assert "tiny.ipynb: 1 of 4 visible test cells pass (1 of 5 points of the visible tests)" in output, output
    assert elapsed < 90, f"took {elapsed:.0f} s"


# ---------------------------------------------------------- bad arguments
def _one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{output}"
    assert "Traceback" not in output
    return lines[0]


def test_bad_arguments_exit_2_with_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.ipynb"
    corrupt.write_text('{"cells": [')
    not_a_notebook = tmp_path / "notes.txt"
    not_a_notebook.write_text("hello")
    json_not_notebook = tmp_path / "data.ipynb"
    json_not_notebook.write_text('{"a": 1}')
    cases = {
        "missing": (str(tmp_path / "missing.ipynb"), "no such file"),
        "corrupt": (str(corrupt), "corrupt"),
        "not .ipynb": (str(not_a_notebook), "not a notebook"),
        "JSON, not a notebook": (str(json_not_notebook), "not a Jupyter notebook"),
        "a folder": (str(tmp_path), "is a folder"),
    }
    for case, (argument, expected) in cases.items():
        status, output = _run(argument)
        assert status == 2, f"{case}: exit {status}\n{output}"
        assert expected in _one_line(output), f"{case}: {output}"
    status, output = _run("--timeout", "0", str(corrupt))
    assert status == 2 and _one_line(output)
    status, output = _run()
    assert status == 2 and "Traceback" not in output


def test_a_cell_whose_type_was_changed_fails_without_running(tmp_path: Path) -> None:
    notebook = _tiny_notebook()
    notebook["cells"][0]["metadata"]["nbgrader"]["cell_type"] = "code"  # it was a code cell, now markdown
    write_notebook(notebook, tmp_path / "changed.ipynb")
    status, output = _run(str(tmp_path / "changed.ipynb"))
    assert status == 1, output
    assert re.search(r"^  CHANGED  .*this code cell was turned into a markdown cell", output, flags=re.M), output
    assert "changed.ipynb: not run" in output, output
    _assert_no_noise(output)


def test_without_nbgrader_one_line_says_what_to_install(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(_tiny_notebook(), notebook)
    code = "import sys; sys.modules['nbgrader'] = None; from owll_helpers.check import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, "-c", code, str(notebook)], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert PIP_COMMAND in _one_line(result.stdout + result.stderr)


def test_the_install_command_is_the_courses_one() -> None:
    from owll_helpers.check import INSTALL_COMMAND

    assert INSTALL_COMMAND == PIP_COMMAND


def test_importing_the_module_is_light() -> None:
    code = "import sys, owll_helpers.check; print(sorted({'torch', 'nbgrader', 'nbformat'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_the_console_script_is_declared() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["owll-check"] == "owll_helpers.check:main"
