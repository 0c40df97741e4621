"""Check an assignment notebook the way the grader will: ``owll-check``.

Run it in a terminal, in the folder of the student repository, with the
course's environment activated::

    owll-check exercises/ch01_initialization/ch01_initialization.ipynb
    python -m owll_helpers.check exercises/ch01_initialization/ch01_initialization.ipynb

It executes the notebook from top to bottom in a fresh kernel, from the
notebook's own folder (as the grader does), with nbgrader's own validator
(:class:`nbgrader.validator.Validator`), then prints, task by task, every
visible test that fails with its *full* message (the hint included), every
answer cell that still raises ``NotImplementedError`` ("not answered yet"),
and a summary with the points of the visible tests.  Hidden tests are run only
by the grader, and written answers are graded by hand, so a clean check is not
the final score.

Exit status: 0 when every visible test cell passes and no answer cell raises;
1 when something fails (also when a read-only cell was edited or a cell's type
was changed, since the grader would then see another notebook, or when the
kernel died); 2 when it cannot check at all (a missing file, a file that is not
a notebook, corrupt JSON, nbgrader or a Python kernel missing). An error in a
cell the student added, and a written answer not yet given, are reported
without failing: the grader ignores the first and grades the second by hand.

Unlike ``nbgrader validate``, it exits non-zero on failure, never cuts a
message short, strips terminal colour codes, and prints no configuration or
kernel warnings.  Importing this module is cheap: nbgrader is imported only
when a notebook is checked, torch never.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owll_helpers import __version__

__all__ = [
    "DEFAULT_TIMEOUT",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "INSTALL_COMMAND",
    "CellReport",
    "NotebookReport",
    "UsageError",
    "check_notebook",
    "format_report",
    "load_notebook",
    "main",
]

#: Seconds one cell may run before it is stopped (``--timeout``): the grader's default per-cell limit.
DEFAULT_TIMEOUT = 60
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: The student repository (``repository.url`` in the course's _config.yml; a test checks they agree).
STUDENT_REPOSITORY = "https://github.com/owll-course/owll-student"
#: The one install command of the course (the exercises' first cell prints the same).
INSTALL_COMMAND = f'pip install "owll-helpers[student] @ git+{STUDENT_REPOSITORY}@v{__version__}"'

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_HEADING = re.compile(r"^##\s+(?P<title>\S.*?)\s*#*\s*$")
#: The cell-frame line of an IPython traceback that points at the failing line.
_ARROW = re.compile(r"^-+>\s*(?P<number>\d+)\s?(?P<code>.*)$")
_TIMEOUT_NAMES = {"CellTimeoutError"}  # what nbgrader's Execute records when a cell hits the timeout


class UsageError(Exception):
    """The argument cannot be checked (missing, not a notebook, corrupt); exit status 2."""


#: Statuses that make the check fail (exit status 1).
FAILING = ("FAIL", "EDITED")


@dataclass
class CellReport:
    """What checking found about one cell of a notebook.

    Attributes:
        kind: ``"test"`` (a visible test cell), ``"answer"`` (an autograded
            answer cell that raised), ``"written"`` (a manually graded answer
            not answered yet), ``"locked"`` (a read-only cell that was edited)
            or ``"other"`` (a cell that is not graded and raised).
        status: ``"pass"``, ``"FAIL"`` or ``"EDITED"`` (these two make the
            check fail), ``"todo"`` or ``"note"`` (reported, not failing).
        label: the task the cell belongs to (its ``## ...`` heading) or its grade id.
        grade_id: the cell's nbgrader ``grade_id`` (``""`` when it has none).
        points: the cell's points (0 for cells that are not graded).
        problems: what went wrong, each a complete message (never cut).
    """

    kind: str
    status: str
    label: str
    grade_id: str
    points: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def failing(self) -> bool:
        """Whether this cell makes the check fail."""
        return self.status in FAILING


@dataclass
class NotebookReport:
    """The result of checking one notebook.

    Attributes:
        name: the notebook's file name.
        cells: every visible test cell, and every other cell worth a line
            (answers that raised, unanswered written answers, edited read-only
            cells, ungraded cells that raised), in notebook order.
        type_changed: cells whose type (code/markdown) was changed; the notebook
            is then not run at all, as nbgrader's validator does.
        hidden_points: points of the hidden-test cells, run only by the grader.
        written_points: points of the manually graded answers.
        error: a problem that stopped the run (the kernel died, bad metadata).
    """

    name: str
    cells: list[CellReport] = field(default_factory=list)
    type_changed: list[str] = field(default_factory=list)
    hidden_points: float = 0.0
    written_points: float = 0.0
    error: str | None = None

    @property
    def tests(self) -> list[CellReport]:
        """The visible test cells."""
        return [c for c in self.cells if c.kind == "test"]

    @property
    def problems(self) -> int:
        """How many things make the check fail."""
        return sum(c.failing for c in self.cells) + len(self.type_changed) + (self.error is not None)

    @property
    def ok(self) -> bool:
        """True when every visible test passes, no answer cell raises and nothing else went wrong.

        Errors in cells that are not graded and unanswered written answers are
        reported but do not make the check fail (the grader ignores the first
        and grades the second by hand).
        """
        return self.problems == 0


# ----------------------------------------------------------------------- input
def load_notebook(path: Path) -> dict[str, Any]:
    """Read ``path`` as a notebook (plain JSON, no nbgrader needed).

    Raises:
        UsageError: the file is missing, is a folder, is not valid JSON or is
            not a Jupyter notebook; the message is one line for the student.
    """
    if not path.exists():
        raise UsageError(f"{path}: no such file (run owll-check from the folder of the student repository, or give the full path)")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give the notebook file, e.g. {path / (path.name + '.ipynb')}")
    if path.suffix != ".ipynb":
        raise UsageError(f"{path}: not a notebook (expected a file ending in .ipynb)")
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a notebook (the file is not text)") from None
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{path}: the notebook is corrupt (invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}); "
            "get a fresh copy from the exercises and paste your answers back"
        ) from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read it ({error.strerror or error})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list) or "nbformat" not in notebook:
        raise UsageError(f"{path}: not a Jupyter notebook (valid JSON, but no 'cells' and 'nbformat')")
    return notebook


# ------------------------------------------------------------ reading the cells
def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _nbgrader(cell: Any) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _has_code(source: str) -> bool:
    """Whether ``source`` holds anything but comments and blank lines."""
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


def _label(cells: Sequence[Any], index: int) -> str:
    """The ``## ...`` heading of the nearest markdown cell above ``index``, else the grade id."""
    for cell in reversed(cells[:index]):
        if cell.get("cell_type") != "markdown":
            continue
        for line in _source(cell).splitlines():
            match = _HEADING.match(line.strip())
            if match:
                return match.group("title")
    return _nbgrader(cells[index]).get("grade_id") or f"cell {index + 1}"


def _strip(text: str) -> str:
    return _ANSI.sub("", text)


def _failing_line(traceback: Sequence[str]) -> str | None:
    """The line an IPython traceback points at in the last notebook cell frame."""
    frames = [_strip(frame) for frame in traceback]
    for frame in reversed(frames):
        if not frame.lstrip().startswith("Cell In["):
            continue
        for line in frame.splitlines():
            match = _ARROW.match(line.strip())
            if match:
                return match.group("code").strip()
    return None


_SYNTAX_ERRORS = {"SyntaxError", "IndentationError", "TabError"}
#: The temporary file name ipykernel gives a cell, in a SyntaxError's message.
_CELL_FILE = re.compile(r"\((?:[^()]*[/\\])?\d+\.py, line (\d+)\)")


def _syntax_error(name: str, value: str, traceback: Sequence[str]) -> str:
    """A syntax error with its line of the cell and the caret, as IPython shows it."""
    value = _CELL_FILE.sub(r"(line \1 of the cell)", value)
    text = _strip("\n".join(traceback)).splitlines()
    shown = [line.rstrip() for line in text[1:] if line.strip() and not line.lstrip().startswith(f"{name}:")]
    return "\n".join([f"{name}: {value}", *shown])


def _error_message(output: Any) -> str:
    """``Type: message`` of an error output: the complete message, colour codes stripped."""
    name = _strip(str(output.get("ename", "Error")))
    value = _strip(str(output.get("evalue", ""))).rstrip()
    if name in _SYNTAX_ERRORS:
        return _syntax_error(name, value, output.get("traceback", []))
    if value:
        return f"{name}: {value}"
    line = _failing_line(output.get("traceback", []))
    return f"{name} (no message), raised at: {line}" if line else name


def _errors(cell: Any) -> list[Any]:
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def _stderr(cell: Any) -> str:
    return "".join(
        _source({"source": o.get("text", "")})
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    )


def _timed_out(cell: Any) -> bool:
    return any(o.get("ename") in _TIMEOUT_NAMES for o in _errors(cell))


def _is_not_implemented(cell: Any) -> bool:
    return any(o.get("ename") == "NotImplementedError" for o in _errors(cell))


def _cell_problems(cell: Any, timeout: int) -> list[str]:
    """Every problem of an executed code cell, each message complete."""
    if _timed_out(cell):
        return [
            f"this cell was still running after {timeout} s and was stopped (an endless loop? "
            f"a slow answer? use --timeout SECONDS to allow more)"
        ]
    problems = [_error_message(o) for o in _errors(cell)]
    stderr = _strip(_stderr(cell)).strip()
    if stderr and not problems:
        problems.append(f"the cell wrote to stderr, which the grader counts as a failure:\n{stderr}")
    return problems


def _not_answered(what: str, problems: list[str]) -> list[str]:
    """"Not answered yet" in place of a bare ``NotImplementedError``; other messages kept whole."""
    kept = [p for p in problems if not (p == "NotImplementedError" or p.startswith("NotImplementedError (no message)"))]
    return [f"not answered yet: {what} still raises NotImplementedError"] + kept


def _analyse(executed: Any, report: NotebookReport, timeout: int, utils: Any, stop: int | None = None) -> None:
    """Fill ``report`` from an executed notebook, by nbgrader's own grading rules (``utils``).

    ``stop``: the index of the cell during which the run broke off; it and
    the cells after it did not run and are left out.
    """
    cells = executed.cells
    for index, cell in enumerate(cells[:stop]):
        meta = _nbgrader(cell)
        grade_id = str(meta.get("grade_id", ""))
        is_grade, is_solution = bool(meta.get("grade")), bool(meta.get("solution"))
        points = float(meta.get("points", 0) or 0)
        label = _label(cells, index)
        edited = utils.is_locked(cell) and "checksum" in meta and meta["checksum"] != utils.compute_checksum(cell)
        if cell.cell_type == "code" and is_grade and not is_solution:
            if not _has_code(_source(cell)) and not edited:
                report.hidden_points += points  # a hidden-test cell: only the grader's copy holds its tests
                continue
            score, max_score = utils.determine_grade(cell)
            passed = score is None or not (score < max_score or (max_score == 0 and utils.has_failed(cell)))
            test = CellReport("test", "pass" if passed else "FAIL", label, grade_id, points)
            if not passed:
                test.problems = _cell_problems(cell, timeout) or ["Partial credit: passed some but not all of the tests"]
                if any(o.get("ename") == "NameError" for o in _errors(cell)):
                    test.problems.append("(an answer cell above must define that name, spelled as in the task, and run without an error)")
                if _is_not_implemented(cell) and not _timed_out(cell):
                    test.problems = _not_answered("the function it tests", test.problems)
            if edited:
                test.status = "EDITED"
                test.problems.insert(0, _EDITED_TEST)
            report.cells.append(test)
            continue
        if cell.cell_type == "code" and _errors(cell):
            if is_solution:
                entry = CellReport("answer", "FAIL", label, grade_id, problems=_cell_problems(cell, timeout))
                if _is_not_implemented(cell) and not _timed_out(cell):
                    entry.problems = _not_answered("the answer cell", entry.problems)
            else:
                entry = CellReport("other", "note", label, grade_id, problems=_cell_problems(cell, timeout))
            report.cells.append(entry)
        if cell.cell_type == "markdown" and is_grade and is_solution:
            report.written_points += points
            unchanged = "checksum" in meta and meta["checksum"] == utils.compute_checksum(cell)
            if unchanged or _source(cell).strip() in {"", "YOUR ANSWER HERE"}:
                report.cells.append(CellReport("written", "todo", label, grade_id, points, ["not answered yet (graded by hand)"]))
        if edited:
            if cell.cell_type == "code":
                report.cells.append(CellReport("locked", "EDITED", label, grade_id, problems=[_EDITED_CODE]))
            else:
                report.cells.append(CellReport("locked", "note", label, grade_id, problems=[_EDITED_TEXT]))


_EDITED_TEST = "this test cell was edited: the grader restores the original, so the result here is not your grade"
_EDITED_CODE = (
    "this read-only cell was edited: the grader restores the original, "
    "so the results here are not what the grader will see (undo the edit)"
)
_EDITED_TEXT = "this read-only text was edited: the grader restores the original (your edit will be lost)"


def _type_changes(notebook: dict[str, Any]) -> list[str]:
    """One line per cell whose type differs from the one nbgrader recorded."""
    changes = []
    cells = notebook.get("cells", [])
    for index, cell in enumerate(cells):
        meta = _nbgrader(cell)
        recorded = meta.get("cell_type")
        if (meta.get("grade") or meta.get("solution") or meta.get("locked")) and recorded and recorded != cell.get("cell_type"):
            name, label = meta.get("grade_id") or f"cell {index + 1}", _label(cells, index)
            changes.append(
                f"{label if label == name else f'{label} ({name})'}: this {recorded} cell was turned into a {cell.get('cell_type')} cell; "
                f"turn it back (in JupyterLab: select the cell, press Esc, then {'M' if recorded == 'markdown' else 'Y'})"
            )
    return changes


# ------------------------------------------------------------------ the check
def _import_nbgrader() -> tuple[Any, ...]:
    """nbgrader's validator and grading helpers, imported quietly; UsageError if missing."""
    # Measured: when rfc3987_syntax is installed (JupyterLab brings it), jsonschema,
    # imported through nbformat, compiles an IRI grammar for about 2 s of the
    # check's ~4 s of imports. Notebook schemas use no IRI format, so that optional
    # import (jsonschema skips it on ImportError) is blocked while nbgrader loads.
    blocked = "rfc3987_syntax" not in sys.modules and "jsonschema" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from nbgrader import utils
            from nbgrader.preprocessors import Execute
            from nbgrader.validator import Validator
            from traitlets.config import Config
    except ImportError:
        raise UsageError(f"nbgrader is not installed (the check runs the notebook with it); install it with: {INSTALL_COMMAND}") from None
    finally:
        if blocked and sys.modules.get("rfc3987_syntax", False) is None:
            del sys.modules["rfc3987_syntax"]
    return Validator, Execute, Config, utils


def check_notebook(path: Path, *, timeout: int = DEFAULT_TIMEOUT) -> NotebookReport:
    """Execute the notebook at ``path`` from its own folder and report on its graded cells.

    Args:
        path: an ``.ipynb`` file.
        timeout: seconds each cell may run before it is stopped.

    Returns:
        The report; ``report.ok`` says whether the check passed.

    Raises:
        UsageError: ``path`` cannot be checked, or nbgrader or a kernel is missing.
    """
    if timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout}")
    path = Path(path)
    notebook = load_notebook(path)  # clear messages for missing, corrupt and non-notebook files
    Validator, Execute, Config, utils = _import_nbgrader()

    class _TrackingExecute(Execute):  # type: ignore[misc, valid-type]
        """nbgrader's Execute preprocessor, remembering the notebook and the cell it runs."""

        def preprocess_cell(self, cell: Any, resources: Any, index: int) -> Any:
            running.update(nb=self.nb, index=index)
            return super().preprocess_cell(cell, resources, index)

    class _KeepingValidator(Validator):  # type: ignore[misc, valid-type]
        """nbgrader's Validator that keeps the executed notebook for a per-cell report."""

        executed: Any = None

        def _preprocess(self, nb: Any) -> Any:
            self.executed = super()._preprocess(nb)
            return self.executed

    running: dict[str, Any] = {}
    config = Config()
    config.Execute.timeout = int(timeout)
    # The kernel's own log goes to this terminal: keep its TCP notice out of the report.
    config.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
    validator = _KeepingValidator(config=config)
    validator.preprocessors = [p if p is not Execute else _TrackingExecute for p in validator.preprocessors]
    report = NotebookReport(path.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = validator.validate(str(path.resolve()))  # chdir's to the notebook's folder
    except Exception as error:  # a dead kernel, a missing kernel, bad nbgrader metadata
        name = type(error).__name__
        message = _strip(str(error)).strip().splitlines()[0] if str(error).strip() else ""
        if name == "NoSuchKernel":
            raise UsageError(f"{path}: no Python kernel found ({message}); install one with: {INSTALL_COMMAND}") from None
        report.error = f"{name}: {message}" if message else name
        if "nb" in running:  # report the cells that ran, and which one stopped the run
            cells, index = running["nb"].cells, running["index"]
            grade_id = _nbgrader(cells[index]).get("grade_id")
            report.error += f"\nwhile running the cell {grade_id or f'number {index + 1}'} of {_label(cells, index)}"
            _analyse(running["nb"], report, timeout, utils, stop=index)
        return report
    if results.get("type_changed"):
        report.type_changed = _type_changes(notebook) or [
            f"{len(results['type_changed'])} cell(s) changed type (code/markdown); turn them back"
        ]
    if validator.executed is not None:
        _analyse(validator.executed, report, timeout, utils)
    return report


# ------------------------------------------------------------------ the output
def _points(value: float) -> str:
    return f"{value:g}"


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line.strip() else line.rstrip() for line in text.splitlines())


def _plural(count: float, word: str) -> str:
    return f"{_points(count)} {word}{'' if count == 1 else 's'}"


def format_report(report: NotebookReport) -> str:
    """The text ``owll-check`` prints for one notebook, ending with its summary lines."""
    lines: list[str] = [f"Checking {report.name} (its cells run in order, from the notebook's folder, as the grader runs them)", ""]
    if report.error:
        lines += ["  ERROR  the notebook could not be run to the end:", _indent(report.error, "         ")]
    for change in report.type_changed:
        lines.append(f"  CHANGED  {change}")
    for entry in report.cells:
        if entry.kind == "test":
            what = f"visible test {entry.grade_id}, {_plural(entry.points, 'point')}"
        elif entry.kind == "answer":
            what = f"answer cell {entry.grade_id}"
        elif entry.kind == "written":
            what = f"written answer {entry.grade_id}, {_plural(entry.points, 'point')}"
        elif entry.kind == "locked":
            what = f"read-only cell {entry.grade_id}" if entry.grade_id else "read-only cell"
        else:
            what = (f"cell {entry.grade_id}" if entry.grade_id else "a cell you added") + ", not graded"
        lines.append(f"  {entry.status}  {entry.label} ({what})")
        lines.extend(_indent(problem, "        ") for problem in entry.problems)
    lines.append("")
    if report.type_changed:
        lines.append(f"{report.name}: not run, because a cell's type was changed (nbgrader refuses such a notebook)")
    else:
        tests = report.tests
        passed = [t for t in tests if t.status == "pass"]
        lines.append(
            f"{report.name}: {len(passed)} of {len(tests)} visible test cells pass "
            f"({_points(sum(t.points for t in passed))} of {_points(sum(t.points for t in tests))} points of the visible tests)"
        )
    elsewhere = []
    if report.hidden_points:
        elsewhere.append(f"hidden tests of edge cases ({_plural(report.hidden_points, 'point')})")
    if report.written_points:
        elsewhere.append(f"the written answers by hand ({_plural(report.written_points, 'point')})")
    graded_elsewhere = f" The grader also runs {' and grades '.join(elsewhere)}." if elsewhere else ""
    if report.ok:
        lines.append("All visible tests pass." + (graded_elsewhere or " Hidden tests, run only by the grader, may still check edge cases."))
    else:
        count = report.problems
        lines.append(
            f"Not done yet: {_plural(count, 'problem')} above. Fix {'it' if count == 1 else 'them'}, save the notebook, "
            f"and run owll-check again.{graded_elsewhere}"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="owll-check",
        description=(
            "Run an assignment notebook the way the grader does and list every failing visible test "
            "with its full message. Run it in the folder of the student repository, e.g.  "
            "owll-check exercises/ch01_initialization/ch01_initialization.ipynb"
        ),
        epilog="Exit status: 0 all visible tests pass, 1 something fails, 2 the notebook could not be checked.",
    )
    parser.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", type=Path, help="the .ipynb file(s) to check")
    parser.add_argument(
        "--timeout", type=int, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"stop a cell that runs longer than this (default {DEFAULT_TIMEOUT})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``owll-check`` and ``python -m owll_helpers.check``; returns the exit status."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a detached or odd stream
                pass
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse prints its own one-line usage error
        return EXIT_USAGE if exit_.code else EXIT_OK
    try:
        if args.timeout <= 0:
            raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout}")
        for path in args.notebooks:
            load_notebook(path)  # every argument is checked before any kernel starts
        _import_nbgrader()
    except UsageError as error:
        print(f"owll-check: {error}", file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    for number, path in enumerate(args.notebooks):
        if number:
            print()
        try:
            report = check_notebook(path, timeout=args.timeout)
        except UsageError as error:
            print(f"owll-check: {error}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:  # Ctrl-C: the kernel is shut down on the way out
            print(f"owll-check: interrupted while checking {path}", file=sys.stderr)
            return 130
        try:
            print(format_report(report), flush=True)
        except BrokenPipeError:  # e.g. piped into `head`: stop quietly
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit
            return EXIT_OK if report.ok else EXIT_FAILED
        if not report.ok:
            status = EXIT_FAILED
    return status


if __name__ == "__main__":
    sys.exit(main())
