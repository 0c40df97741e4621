"""The instructor's grading workflow, one subcommand per make target.

Run from the course root (the folder holding ``nbgrader_config.py``); every
path comes from that file, so course data stays in ``OWLL_COURSE_DATA``.

    exercises [--zip]          regenerate exercises/ from solutions/ (make exercises / make release)
    collect ZIP ASSIGNMENT     bring a learning platform's download in (make collect)
    autograde [ASSIGNMENT]     autograde every submission, one student at a time,
                               and write a per-student summary (make autograde)
    grades                     export all grades to CSV (make grades)
    feedback [ASSIGNMENT]      feedback HTML per student, hidden tests removed (make feedback)

One bad submission never stops the batch: each student is autograded in a
process of its own, and whatever went wrong (a corrupt notebook, a renamed or
missing notebook, cells that timed out, a crash of the grader) is named in the
summary while the others are graded.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

from owll_helpers.numerics import pin_numerics

# nbgrader_config.py pins too; this covers the checks grade.py runs itself.
pin_numerics()

CONFIG_FILE = "nbgrader_config.py"
#: Error names that mark a cell stopped by the per-cell timeout.
TIMEOUT_ERRORS = ("CellTimeoutError", "TimeoutError", "KeyboardInterrupt")


@dataclass(frozen=True)
class Course:
    """Paths of a course, read from its ``nbgrader_config.py``."""

    root: Path
    source: Path
    release: Path
    submitted: Path
    autograded: Path
    feedback: Path
    db_url: str
    data: Path
    cell_timeout: int

    @classmethod
    def load(cls, root: Path) -> Course:
        if not (root / CONFIG_FILE).exists():
            raise SystemExit(f"no {CONFIG_FILE} in {root}: run this from the course root")
        config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
        course_dir = config.CourseDirectory
        db_url = str(course_dir.db_url)
        return cls(
            root=root,
            source=root / str(course_dir.source_directory),
            release=root / str(course_dir.release_directory),
            submitted=Path(str(course_dir.submitted_directory)),
            autograded=Path(str(course_dir.autograded_directory)),
            feedback=Path(str(course_dir.feedback_directory)),
            db_url=db_url,
            data=Path(db_url.removeprefix("sqlite:///")).parent,
            cell_timeout=int(config.Execute.timeout),
        )

    def assignments(self) -> list[str]:
        """Names of the source assignments (folders of solutions/)."""
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and not p.name.startswith("."))

    def notebooks(self, assignment: str) -> list[str]:
        """File names of an assignment's released notebooks."""
        return sorted(p.name for p in (self.release / assignment).glob("*.ipynb"))


def nbgrader(course: Course, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run one nbgrader command in the course root; capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course.root,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_or_fail(course: Course, *args: str) -> None:
    result = nbgrader(course, *args)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"nbgrader {' '.join(args)} failed with exit code {result.returncode}")


# --------------------------------------------------------------------- exercises
def generate_exercises(course: Course, *, make_zips: bool) -> None:
    for assignment in course.assignments():
        run_or_fail(course, "generate_assignment", assignment, "--force")
        print(f"generated {course.release / assignment}")
        if make_zips:
            target = course.root / "dist" / "release" / f"{assignment}.zip"
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted((course.release / assignment).rglob("*")):
                    if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                        archive.write(path, path.relative_to(course.release))
            print(f"wrote {target} (upload it to the learning platform)")


# ----------------------------------------------------------------------- collect
def collect(course: Course, zip_path: Path, assignment: str) -> None:
    if assignment not in course.assignments():
        raise SystemExit(f"unknown assignment {assignment!r}; expected one of {course.assignments()}")
    if not zip_path.is_file():
        raise SystemExit(f"no such file: {zip_path}")
    archive = course.data / "downloaded" / assignment / "archive"
    if archive.exists():
        shutil.rmtree(archive)
    archive.mkdir(parents=True)
    shutil.copy2(zip_path, archive / zip_path.name)
    run_or_fail(course, "zip_collect", assignment, "--force")
    students = sorted(p.name for p in course.submitted.iterdir() if (p / assignment).is_dir())
    print(f"collected {assignment} for {len(students)} students into {course.submitted}")


# --------------------------------------------------------------------- autograde
@dataclass
class StudentResult:
    """What autograding one student's submission gave."""

    student: str
    assignment: str
    status: str = "graded"
    score: float | None = None
    max_score: float | None = None
    problems: list[str] = field(default_factory=list)


def _is_corrupt(path: Path) -> str | None:
    try:
        import nbformat

        nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as error:  # noqa: BLE001 -- any failure to read means corrupt
        return f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
    return None


def _code_cells(path: Path) -> int:
    return sum(cell.get("cell_type") == "code" for cell in json.loads(path.read_text())["cells"])


def _timed_out_cells(path: Path) -> list[str]:
    if not path.exists():
        return []
    notebook = json.loads(path.read_text())
    cells = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") in TIMEOUT_ERRORS:
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", cell.get("id", "?"))
                cells.append(grade_id)
                break
    return cells


def _scores(course: Course, assignment: str, student: str) -> tuple[float | None, float | None]:
    """Autograded (code) score and its maximum; written answers are graded by hand."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return None, None
        return float(submission.code_score), float(submission.max_code_score)


def _register_students(course: Course, students: list[str]) -> None:
    # Every student who submitted appears in the grades, graded or not.
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gradebook:
        for student in students:
            gradebook.update_or_create_student(student)


def autograde_student(course: Course, assignment: str, student: str) -> StudentResult:
    result = StudentResult(student, assignment)
    expected = course.notebooks(assignment)
    folder = course.submitted / student / assignment
    found = sorted(p.name for p in folder.glob("*.ipynb"))
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    if missing:
        result.problems.append(
            f"missing notebook {', '.join(missing)}"
            + (f" (found {', '.join(extra)}: renamed? nbgrader grades only the original name)" if extra else "")
        )
    elif extra:
        result.problems.append(f"extra notebook {', '.join(extra)} ignored")
    corrupt = {name: why for name in expected if name in found and (why := _is_corrupt(folder / name))}
    for name, why in corrupt.items():
        result.problems.append(f"corrupt notebook {name} ({why})")
    if len(missing) + len(corrupt) == len(expected):
        result.status = "corrupt" if corrupt else "missing"
        return result
    # A bound on the whole student on top of nbgrader's per-cell timeout: the
    # worst case is every code cell hanging, plus kernel starts.
    bound = 60 + course.cell_timeout * sum(_code_cells(course.release / assignment / name) for name in expected)
    try:
        run = nbgrader(course, "autograde", assignment, "--student", student, "--force", timeout=bound)
        if run.returncode != 0 and not corrupt:
            last_line = (run.stderr.strip().splitlines() or [""])[-1][:300]
            result.problems.append(f"nbgrader autograde exited with {run.returncode}: {last_line}")
    except subprocess.TimeoutExpired:
        result.problems.append(f"grading stopped after {bound} s")
    for name in expected:
        timed_out = _timed_out_cells(course.autograded / student / assignment / name)
        if timed_out:
            result.problems.append(f"cells timed out after {course.cell_timeout} s: {', '.join(timed_out)}")
    result.score, result.max_score = _scores(course, assignment, student)
    if result.score is None:
        result.status = "not graded"
    elif missing or corrupt:
        result.status = "partly graded"
    return result


def autograde(course: Course, assignments: list[str]) -> list[StudentResult]:
    results = []
    for assignment in assignments:
        students = sorted(p.name for p in course.submitted.iterdir() if (p / assignment).is_dir()) if course.submitted.exists() else []
        if not students:
            print(f"{assignment}: no submissions in {course.submitted}")
            continue
        _register_students(course, students)
        for student in students:
            outcome = autograde_student(course, assignment, student)
            results.append(outcome)
            print(_summary_line(outcome), flush=True)
    write_summary(course, results)
    return results


def _summary_line(result: StudentResult) -> str:
    score = "-" if result.score is None else f"{result.score:g}/{result.max_score:g}"  # autograded part
    problems = "; ".join(result.problems) or "ok"
    return f"{result.assignment:<24} {result.student:<20} {result.status:<14} {score:>9}  {problems}"


def write_summary(course: Course, results: list[StudentResult]) -> Path:
    target = course.data / "autograde_summary.csv"
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["assignment", "student", "status", "autograded_score", "autograded_max_score", "problems"])
        for r in results:
            writer.writerow([r.assignment, r.student, r.status, r.score, r.max_score, "; ".join(r.problems)])
    print(f"summary written to {target}")
    return target


# ------------------------------------------------------------- grades, feedback
def export_grades(course: Course) -> Path:
    target = course.data / "grades.csv"
    run_or_fail(course, "export", "--to", str(target))
    print(f"grades written to {target}")
    return target


def generate_feedback(course: Course, assignments: list[str]) -> None:
    for assignment in assignments:
        run_or_fail(course, "generate_feedback", assignment, "--force")
        print(f"feedback for {assignment} written to {course.feedback}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    exercises = sub.add_parser("exercises")
    exercises.add_argument("--zip", action="store_true", help="also write dist/release/<assignment>.zip")
    collect_parser = sub.add_parser("collect")
    collect_parser.add_argument("zip", type=Path)
    collect_parser.add_argument("assignment")
    for name in ("autograde", "feedback"):
        p = sub.add_parser(name)
        p.add_argument("assignment", nargs="?", default="")
    sub.add_parser("grades")
    args = parser.parse_args(argv)

    course = Course.load(Path.cwd())
    chosen = [args.assignment] if getattr(args, "assignment", "") else course.assignments()
    if args.command == "exercises":
        generate_exercises(course, make_zips=args.zip)
    elif args.command == "collect":
        collect(course, args.zip.resolve(), args.assignment)
    elif args.command == "autograde":
        autograde(course, chosen)
    elif args.command == "grades":
        export_grades(course)
    else:
        generate_feedback(course, chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
