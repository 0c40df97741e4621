"""The instructor's grading workflow, one subcommand per make target.

Run from the course root (the folder holding ``nbgrader_config.py``); every
path comes from that file, so course data stays in ``OWLL_COURSE_DATA``.

    exercises [--zip]          regenerate exercises/ from solutions/ (make exercises / make release)
    collect ZIP ASSIGNMENT     bring a learning platform's download in (make collect)
    autograde [ASSIGNMENT] [--jobs N]
                               autograde every submission, N students at a time
                               (default: the number of cores), and write a
                               per-student summary (make autograde JOBS=N)
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
import os
import shutil
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
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
    renamed_from: str = ""
    timed_out: bool = False
    #: False when there was nothing nbgrader could grade (corrupt or missing notebook).
    gradable: bool = True


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


#: Where a renamed notebook's original name is kept, inside the submission's folder.
RENAMED_MARKER = ".owll_renamed_from"
#: How often one student's grading is retried when SQLite reports the gradebook locked.
LOCK_RETRIES = 3


def _resolve_renamed(folder: Path, expected: list[str], result: StudentResult) -> list[str]:
    """Grade a single notebook saved under another name as the assignment's notebook.

    Learning platforms and browsers save ``ch01_initialization (1).ipynb``;
    nbgrader grades only the original name and skips anything else silently.
    When the assignment has one notebook, the folder lacks it and holds exactly
    one other notebook, that one is renamed (its original name is kept in
    ``RENAMED_MARKER``, so a later run still says so). Several candidates stay
    an error that names them. Returns the notebooks found afterwards.
    """
    found = sorted(p.name for p in folder.glob("*.ipynb"))
    marker = folder / RENAMED_MARKER
    if len(expected) == 1 and expected[0] not in found and len(found) == 1:
        (folder / found[0]).rename(folder / expected[0])
        marker.write_text(found[0] + "\n")
        found = [expected[0]]
    if len(expected) == 1 and marker.exists() and expected[0] in found:
        result.renamed_from = marker.read_text().strip()
        result.problems.append(f"renamed: {result.renamed_from} was graded as {expected[0]}")
    return found


def autograde_student(course: Course, assignment: str, student: str) -> StudentResult:
    """Autograde one student in a process of its own; never raises for a bad submission."""
    result = StudentResult(student, assignment)
    try:
        _autograde_student(course, assignment, student, result)
    except Exception as error:  # noqa: BLE001 -- one student's crash must not stop the class
        result.problems.append(f"grader failed: {type(error).__name__}: {error}")
        result.status = "not graded"
    return result


def _autograde_student(course: Course, assignment: str, student: str, result: StudentResult) -> None:
    expected = course.notebooks(assignment)
    folder = course.submitted / student / assignment
    found = _resolve_renamed(folder, expected, result)
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    if missing:
        if extra and len(expected) == 1:
            result.problems.append(
                f"missing notebook {', '.join(missing)}: found several others ({', '.join(extra)}); "
                f"rename the right one to {expected[0]} (keep only it) and run make autograde again"
            )
        else:
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
        result.gradable = False
        return
    # A bound on the whole student on top of nbgrader's per-cell timeout: the
    # worst case is every code cell hanging, plus kernel starts.
    bound = 60 + course.cell_timeout * sum(_code_cells(course.release / assignment / name) for name in expected)
    for attempt in range(1, LOCK_RETRIES + 1):
        try:
            run = nbgrader(course, "autograde", assignment, "--student", student, "--force", timeout=bound)
        except subprocess.TimeoutExpired:
            result.timed_out = True
            result.problems.append(f"grading stopped after {bound} s (the bound on the whole submission)")
            break
        if run.returncode != 0 and "database is locked" in run.stdout + run.stderr and attempt < LOCK_RETRIES:
            print(f"{student}: the gradebook was locked, grading again ({attempt}/{LOCK_RETRIES - 1})", file=sys.stderr, flush=True)
            time.sleep(attempt)
            continue
        if run.returncode != 0 and not corrupt:
            last_line = (run.stderr.strip().splitlines() or [""])[-1][:300]
            result.problems.append(f"nbgrader autograde exited with {run.returncode}: {last_line}")
        break
    for name in expected:
        timed_out = _timed_out_cells(course.autograded / student / assignment / name)
        if timed_out:
            result.timed_out = True
            result.problems.append(f"cells timed out after {course.cell_timeout} s: {', '.join(timed_out)}")
    if missing or corrupt:
        result.status = "partly graded"


def _finish(course: Course, result: StudentResult) -> StudentResult:
    """Read the score from the gradebook (in the parent, the only reader) and settle the status."""
    if not result.gradable:
        return result
    result.score, result.max_score = _scores(course, result.assignment, result.student)
    if result.score is None:
        result.status = "not graded"
    return result


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def autograde(course: Course, assignments: list[str], jobs: int = 1) -> list[StudentResult]:
    """Autograde every submission of ``assignments``, ``jobs`` students at a time.

    Each student is graded by an ``nbgrader autograde --student`` process of
    its own, as in a serial run; threads here only wait for those processes.
    The gradebook (SQLite) takes concurrent writers: each write waits for the
    lock up to the busy timeout set in ``nbgrader_config.py``, and a student
    whose run still fails with "database is locked" is graded again. Scores
    are read afterwards, by this process alone.
    """
    results = []
    for assignment in assignments:
        students = sorted(p.name for p in course.submitted.iterdir() if (p / assignment).is_dir()) if course.submitted.exists() else []
        if not students:
            print(f"{assignment}: no submissions in {course.submitted}")
            continue
        _register_students(course, students)
        workers = max(1, min(jobs, len(students)))
        print(f"{assignment}: grading {len(students)} submissions, {workers} at a time", flush=True)
        graded = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(autograde_student, course, assignment, student) for student in students]
            for future in as_completed(futures):
                outcome = _finish(course, future.result())
                graded.append(outcome)
                print(_summary_line(outcome), flush=True)
        results += sorted(graded, key=lambda r: r.student)
    write_summary(course, results)
    return results


def _summary_line(result: StudentResult) -> str:
    score = "-" if result.score is None else f"{result.score:g}/{result.max_score:g}"  # autograded part
    problems = "; ".join(result.problems) or "ok"
    return f"{result.assignment:<24} {result.student:<20} {result.status:<14} {score:>9}  {problems}"


SUMMARY_FIELDS = ["assignment", "student", "status", "autograded_score", "autograded_max_score", "renamed_from", "timed_out", "problems"]


def read_summary(course: Course) -> dict[tuple[str, str], dict[str, str]]:
    """The autograde summary, keyed by (assignment, student); empty when none was written."""
    target = course.data / "autograde_summary.csv"
    if not target.exists():
        return {}
    with target.open(newline="") as handle:
        return {(row["assignment"], row["student"]): row for row in csv.DictReader(handle)}


def write_summary(course: Course, results: list[StudentResult]) -> Path:
    """Write the summary, keeping the rows of students and assignments not graded in this run."""
    target = course.data / "autograde_summary.csv"
    rows = read_summary(course)
    for r in results:
        rows[(r.assignment, r.student)] = {
            "assignment": r.assignment,
            "student": r.student,
            "status": r.status,
            "autograded_score": "" if r.score is None else r.score,
            "autograded_max_score": "" if r.max_score is None else r.max_score,
            "renamed_from": r.renamed_from,
            "timed_out": "yes" if r.timed_out else "",
            "problems": "; ".join(r.problems),
        }
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for key in sorted(rows):
            writer.writerow(rows[key])
    print(f"summary written to {target}")
    return target


# ------------------------------------------------------------- grades, feedback
#: Columns ``make grades`` adds to nbgrader's export.
STATUS_FIELDS = ["status", "written_points_pending", "problems"]
PENDING = "written answers not graded yet"


def pending_written(course: Course) -> dict[tuple[str, str], float]:
    """Points of graded cells nobody has scored yet, per (assignment, student) with any.

    nbgrader counts a written answer waiting for a person as 0. An answer left
    untouched gets 0 from the autograder and is not pending.
    """
    from nbgrader.api import Grade, Gradebook

    pending: dict[tuple[str, str], float] = {}
    with Gradebook(course.db_url) as gradebook:
        waiting = gradebook.db.query(Grade).filter(Grade.auto_score.is_(None), Grade.manual_score.is_(None)).all()
        for grade in waiting:
            submission = grade.notebook.assignment
            key = (submission.assignment.name, submission.student.id)
            pending[key] = pending.get(key, 0.0) + float(grade.max_score or 0)
    return pending


def grade_statuses(course: Course) -> dict[tuple[str, str], dict[str, str]]:
    """What happened to each (assignment, student), from the summary and the gradebook.

    ``status`` lists, separated by "; ", what applies: graded (an honest score,
    whatever its value), renamed (graded as the assignment's notebook under
    another name), corrupt, missing, not graded (nbgrader failed), no
    submission, timed out, and "written answers not graded yet".
    """
    from nbgrader.api import Gradebook, SubmittedAssignment

    summary = read_summary(course)
    pending = pending_written(course)
    statuses = {}
    with Gradebook(course.db_url) as gradebook:
        submitted = {(s.assignment.name, s.student.id) for s in gradebook.db.query(SubmittedAssignment).all()}
        pairs = {(a.name, st.id) for a in gradebook.assignments for st in gradebook.students}
    for key in sorted(pairs | set(summary)):
        row = summary.get(key)
        tokens = []
        if row is None:
            tokens.append("graded" if key in submitted else "no submission")
        elif row["status"] == "graded" and row.get("renamed_from"):
            tokens.append("renamed")
        else:
            tokens.append(row["status"])
        if row is not None and row.get("timed_out"):
            tokens.append("timed out")
        points = pending.get(key, 0.0)
        if points:
            tokens.append(PENDING)
        statuses[key] = {
            "status": "; ".join(tokens),
            "written_points_pending": f"{points:g}",
            "problems": row["problems"] if row else "",
        }
    return statuses


def export_grades(course: Course) -> Path:
    """nbgrader's CSV export, with each student's status, pending points and problems added."""
    target = course.data / "grades.csv"
    run_or_fail(course, "export", "--to", str(target))
    with target.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    statuses = grade_statuses(course)
    for row in rows:
        default = {"status": "no submission", "written_points_pending": "0", "problems": ""}
        row.update(statuses.get((row["assignment"], row["student_id"]), default))
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields + STATUS_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"grades written to {target} (status, written_points_pending and problems per student)")
    _warn_pending(course, [r for r in rows if PENDING in r["status"]])
    broken = [r for r in rows if not r["status"].startswith(("graded", "renamed", "no submission"))]
    for row in broken:
        print(f"  {row['assignment']} {row['student_id']}: {row['status']}: {row['problems']}")
    return target


def _warn_pending(course: Course, rows: list[dict[str, str]]) -> None:
    if not rows:
        return
    points = sum(float(r["written_points_pending"]) for r in rows)
    names = ", ".join(f"{r['student_id']} ({r['assignment']})" for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
    print(
        f"WARNING: {len(rows)} submissions have {PENDING} ({points:g} points in all: {names}); "
        "they count as 0 until graded. Grade them in the formgrader (make lab), then run this again.",
        file=sys.stderr,
    )


def generate_feedback(course: Course, assignments: list[str]) -> None:
    pending = pending_written(course)
    for assignment in assignments:
        run_or_fail(course, "generate_feedback", assignment, "--force")
        print(f"feedback for {assignment} written to {course.feedback}")
        waiting = sorted((student, points) for (name, student), points in pending.items() if name == assignment)
        if waiting:
            names = ", ".join(student for student, _ in waiting[:10]) + (" ..." if len(waiting) > 10 else "")
            print(
                f"WARNING: {assignment}: {len(waiting)} students have {PENDING} "
                f"({sum(p for _, p in waiting):g} points: {names}); their pages say \"not graded yet\". "
                "Grade them in the formgrader (make lab) and run make feedback again before sending the pages.",
                file=sys.stderr,
            )


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
        if name == "autograde":
            p.add_argument("--jobs", "-j", type=int, default=0, help="students graded at a time (default: the number of cores)")
    sub.add_parser("grades")
    args = parser.parse_args(argv)

    course = Course.load(Path.cwd())
    chosen = [args.assignment] if getattr(args, "assignment", "") else course.assignments()
    if args.command == "exercises":
        generate_exercises(course, make_zips=args.zip)
    elif args.command == "collect":
        collect(course, args.zip.resolve(), args.assignment)
    elif args.command == "autograde":
        autograde(course, chosen, jobs=args.jobs if args.jobs > 0 else default_jobs())
    elif args.command == "grades":
        export_grades(course)
    else:
        generate_feedback(course, chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
