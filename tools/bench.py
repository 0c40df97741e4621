"""Measure the course's performance budget and write BENCHMARKS.md.

- each book notebook: wall time of its cells beyond kernel start, and the
  kernel's peak memory (target: under 15 s on 2 cores);
- each solved assignment, the same way;
- the site build from stored outputs (target: under 1 minute);
- autograding one submission of each assignment, kernel start included;
- the whole ``make test`` (target: under 25 minutes with six chapters), unless
  ``--skip-test`` is given;
- the cost of the pinned numerical kernels (``owll_helpers.numerics``): the
  chapter-1 notebooks once with the machine's own kernels and once pinned, in
  the same run.

With ``--grading`` (``make bench-grading``) it measures only autograding a
class: 30 synthetic submissions of the first assignment, serially and with
``--jobs 2`` in the same run, extrapolated to 300 submissions on 2 and 16
cores; the table replaces the grading section of BENCHMARKS.md and leaves the
rest of the file as it is.

A script, not a timed test: timings vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import contextlib
from collections.abc import Iterator

import nbformat
from nbclient import NotebookClient

from owll_helpers.numerics import pin_numerics

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.grading import course_env, make_course, read_json, real_assignments, solved_submission, source_notebooks, write_notebook  # noqa: E402

NOTEBOOK_BUDGET_S = 15.0
SITE_BUDGET_S = 60.0
PEAK_MEMORY_CODE = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def time_notebook(path: Path) -> tuple[float, float, float]:
    """(kernel start s, cells s, peak kernel memory MiB) of one execution of ``path``."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        kernel_ready = time.perf_counter()
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        cells_done = time.perf_counter()
        probe = nbformat.v4.new_code_cell(PEAK_MEMORY_CODE)
        notebook.cells.append(probe)
        client.execute_cell(probe, len(notebook.cells) - 1)
        peak_kib = float("".join(o.get("text", "") for o in probe.outputs).strip() or "nan")
    return kernel_ready - start, cells_done - kernel_ready, peak_kib / 1024


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Run the block with ``os.environ`` replaced by ``values`` (kernels inherit it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def pin_cost(notebooks: list[Path], native: dict[str, str]) -> list[tuple[str, float, float]]:
    """(notebook, cells s with the machine's kernels, cells s pinned), both measured in this run."""
    rows = []
    for path in notebooks:
        print(f"timing {path.relative_to(ROOT)} without and with the pin ...", flush=True)
        with environment(native):
            _, unpinned, _ = time_notebook(path)
        _, pinned, _ = time_notebook(path)
        rows.append((str(path.relative_to(ROOT)), unpinned, pinned))
    return rows


def solved_copy(path: Path, folder: Path) -> Path:
    target = folder / path.name
    write_notebook(solved_submission(read_json(path)), target)
    return target


def time_command(command: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def time_autograde(assignment: str, folder: Path) -> float:
    course = make_course(folder, {assignment: ROOT / "solutions" / assignment})
    env = course_env(folder / "data")
    grade = [sys.executable, str(ROOT / "tools" / "grade.py")]
    subprocess.run([*grade, "exercises"], cwd=course, env=env, check=True, capture_output=True)
    for source in source_notebooks(course / "solutions" / assignment):
        write_notebook(solved_submission(read_json(source)), folder / "data" / "submitted" / "bench" / assignment / source.name)
    return time_command([*grade, "autograde", assignment], env=env, cwd=course)


GRADING_BEGIN = "<!-- bench-grading: begin (make bench-grading writes this section) -->"
GRADING_END = "<!-- bench-grading: end -->"
# tools/bench_detectors.py's table (chapter 5's detectors against scikit-learn and pytorch-ood),
# pasted between these markers by hand; a new `make bench` keeps it.
DETECTORS_BEGIN = "<!-- bench-detectors: begin (tools/bench_detectors.py prints this table) -->"
DETECTORS_END = "<!-- bench-detectors: end -->"


def synthetic_class(source: dict, release: dict, size: int) -> list[tuple[str, dict | str]]:
    """``size`` submissions as a class hands them in: mostly solved, some untouched, a few broken."""
    import copy

    solved = solved_submission(source)
    raising = copy.deepcopy(solved)
    for cell in raising["cells"]:  # every answer raises: each test fails, nothing hangs
        if cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell["source"] = 'raise RuntimeError("not done")'
    kinds = [("solved", solved)] * 6 + [("untouched", release), ("raising", raising), ("solved", solved), ("corrupt", '{"cells": [')]
    return [(f"s{index:03d}_{kinds[index % len(kinds)][0]}", kinds[index % len(kinds)][1]) for index in range(size)]


FIXTURE = ROOT / "tests" / "fixtures" / "pipeline" / "ch00_fixture"


def gradebook_trial(folder: Path, students: int, busy_timeout: str, hold_s: float) -> tuple[int, float]:
    """``students`` concurrent ``nbgrader autograde`` runs on one gradebook; how many failed with "database is locked".

    With ``hold_s`` > 0, another writer (as a formgrader save or a slow disk
    would) holds the database's write lock for that long, from 1 s after the
    start. ``busy_timeout`` is appended to the db_url ("" is SQLite's 5 s).
    """
    import sqlite3
    import threading

    course = make_course(folder, {"ch00_fixture": FIXTURE})
    data = folder / "data"
    env = course_env(data, cell_timeout=30)
    db = data / "gradebook.db"
    url = [f"--CourseDirectory.db_url=sqlite:///{db}{busy_timeout}"]
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ch00_fixture", "--force", *url], cwd=course, env=env, check=True, capture_output=True)
    source = read_json(course / "solutions" / "ch00_fixture" / "ch00_fixture.ipynb")
    for index in range(students):
        write_notebook(solved_submission(source), data / "submitted" / f"s{index:02d}" / "ch00_fixture" / "ch00_fixture.ipynb")

    def hold() -> None:
        time.sleep(1)
        connection = sqlite3.connect(db, timeout=60, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        time.sleep(hold_s)
        connection.execute("COMMIT")
        connection.close()

    start = time.perf_counter()
    holder = threading.Thread(target=hold) if hold_s else None
    runs = [
        subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", "ch00_fixture", "--student", f"s{index:02d}", "--force", *url],
                         cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for index in range(students)
    ]
    if holder:
        holder.start()
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    if holder:
        holder.join()
    return sum("database is locked" in out for out in outputs), time.perf_counter() - start


def bench_gradebook(scratch: Path, students: int = 6) -> list[str]:
    """Rows of the table: SQLite under concurrent writers, with its default busy timeout and the course's."""
    trials = [
        ("no other writer", "", "5 s (SQLite's default)", 0.0),
        ("another writer holds the lock 30 s", "", "5 s (SQLite's default)", 30.0),
        ("another writer holds the lock 30 s", "?timeout=60", "60 s (the course's `db_url`)", 30.0),
    ]
    rows = []
    for index, (label, suffix, timeout_label, hold_s) in enumerate(trials):
        print(f"gradebook trial: {students} concurrent autogrades, {label}, busy timeout {timeout_label} ...", flush=True)
        failed, seconds = gradebook_trial(scratch / f"trial{index}", students, suffix, hold_s)
        rows.append(f"| {students} concurrent `nbgrader autograde`, {label} | {timeout_label} | {failed} of {students} | {seconds:.0f} |")
    return rows


def bench_grading(output: Path, size: int = 30) -> None:
    """Autograde a synthetic class serially and with --jobs 2; write the table into ``output``."""
    assignment = real_assignments()[0]
    with tempfile.TemporaryDirectory() as scratch:
        times, grades = {}, {}
        for jobs in (1, 2):
            folder = Path(scratch) / f"jobs{jobs}"
            course = make_course(folder, {assignment: ROOT / "solutions" / assignment})
            env = course_env(folder / "data")
            grade = [sys.executable, str(ROOT / "tools" / "grade.py")]
            subprocess.run([*grade, "exercises"], cwd=course, env=env, check=True, capture_output=True)
            for source_path in source_notebooks(course / "solutions" / assignment):
                release = read_json(course / "exercises" / assignment / source_path.name)
                for student, content in synthetic_class(read_json(source_path), release, size):
                    target = folder / "data" / "submitted" / student / assignment / source_path.name
                    if isinstance(content, str):
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_text(content)
                    else:
                        write_notebook(content, target)
            print(f"autograding {size} submissions of {assignment} with --jobs {jobs} ...", flush=True)
            times[jobs] = time_command([*grade, "autograde", assignment, "--jobs", str(jobs)], env=env, cwd=course)
            subprocess.run([*grade, "grades"], cwd=course, env=env, check=True, capture_output=True)
            grades[jobs] = (folder / "data" / "grades.csv").read_text()
        locks = bench_gradebook(Path(scratch) / "gradebook")
    same = "identical" if grades[1] == grades[2] else "**different**"
    write_grading_section(output, grading_section(assignment, size, times, same, locks))


def grading_section(assignment: str, size: int, times: dict[int, float], same: str, locks: list[str]) -> str:
    """The grading section of BENCHMARKS.md from the measured times."""
    per_submission = times[1] / size
    speedup = times[1] / times[2]
    efficiency = speedup / 2
    # Above 100 % is the machine's load changing between the runs: extrapolate with at most 100 %.
    used = min(efficiency, 1.0)
    lines = [
        GRADING_BEGIN,
        "",
        f"## Autograding a class (`make bench-grading`, {date.today().isoformat()}, {os.cpu_count()} cores)",
        "",
        f"{size} synthetic submissions of `{assignment}` (six in ten solved, the others untouched, raising or corrupt), "
        f"autograded serially and with `JOBS=2` in the same run; grades.csv of the two runs: {same}.",
        "",
        "| run | time (s) | per submission (s) |",
        "|---|---:|---:|",
        f"| serial (`JOBS=1`) | {times[1]:.0f} | {per_submission:.1f} |",
        f"| parallel (`JOBS=2`) | {times[2]:.0f} | {times[2] / size:.1f} |",
        "",
        f"Speed-up on 2 cores: {speedup:.2f}x (parallel efficiency {efficiency:.0%}; the machine is shared, so its load "
        f"varies between runs). Extrapolated to 300 submissions: serial time per submission x 300 / (cores x "
        f"efficiency, taken as {used:.0%}), assuming the efficiency measured on 2 cores holds on 16 (each student is "
        f"independent; memory and disk can make it lower). A submission that hits the cell time limit adds its limit "
        f"to one worker's time.",
        "",
        "| 300 submissions | estimated time |",
        "|---|---:|",
        f"| serial | {300 * per_submission / 60:.0f} min |",
        f"| 2 cores, `JOBS=2` | {300 * per_submission / (2 * used) / 60:.0f} min |",
        f"| 16 cores, `JOBS=16` | {300 * per_submission / (16 * used) / 60:.1f} min |",
        "",
        "Each worker holds a kernel with PyTorch (about 0.7 GiB, see the peak memory above): 16 workers need about 12 GiB.",
        "",
        "The gradebook (SQLite) under concurrent writers, on the torch-free fixture assignment: runs that failed with "
        "\"database is locked\" (the course's answer: a 60 s busy timeout, and a student whose run still fails is graded again).",
        "",
        "| trial | busy timeout | failed | time (s) |",
        "|---|---|---:|---:|",
        *locks,
        "",
        GRADING_END,
    ]
    return "\n".join(lines)


def write_grading_section(output: Path, section: str) -> None:
    text = output.read_text() if output.exists() else "# Benchmarks\n"
    if GRADING_BEGIN in text and GRADING_END in text:
        head, rest = text.split(GRADING_BEGIN, 1)
        text = head + section + rest.split(GRADING_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    output.write_text(text)
    print(section)
    print(f"wrote the grading section of {output}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-test", action="store_true", help="do not time `make test`")
    parser.add_argument("--grading", action="store_true", help="only autograde a synthetic class (make bench-grading)")
    parser.add_argument("--skip-grading", action="store_true", help="keep the grading section already in the output")
    parser.add_argument("--class-size", type=int, default=30)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    if args.grading:
        pin_numerics()
        bench_grading(args.output, args.class_size)
        return 0
    native = dict(os.environ)
    pin = pin_numerics()
    print(pin.summary(), flush=True)
    rows = []
    book = sorted(ROOT.glob("book/**/*.ipynb"))
    with tempfile.TemporaryDirectory() as scratch:
        solved = [solved_copy(p, Path(scratch)) for a in real_assignments() for p in source_notebooks(ROOT / "solutions" / a)]
        for path in book + solved:
            label = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else f"solutions/{path.stem}/{path.name} (solved)"
            print(f"timing {label} ...", flush=True)
            kernel, cells, peak = time_notebook(path)
            rows.append((label, kernel, cells, peak))
        autograde = {}
        for assignment in real_assignments():
            print(f"autograding one submission of {assignment} ...", flush=True)
            autograde[assignment] = time_autograde(assignment, Path(scratch) / f"grade-{assignment}")
    cost = pin_cost(sorted(ROOT.glob("book/01_*/*.ipynb")), native) if pin.pinned else []
    print("building the site ...", flush=True)
    shutil.rmtree(ROOT / "_build", ignore_errors=True)
    site = time_command([str(Path(sys.executable).parent / "jupyter-book"), "build", ".", "-W", "-n", "--keep-going", "--quiet"])
    suite = None
    if not args.skip_test:
        print("running make test ...", flush=True)
        suite = time_command(["make", "test"])

    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {date.today().isoformat()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.machine()}; {pin.summary()}. Notebook times exclude the kernel start "
        "(measured separately); peak memory is the kernel's maximum resident set.",
        "",
        f"| notebook | kernel start (s) | cells (s) | peak memory (MiB) | under {NOTEBOOK_BUDGET_S:.0f} s |",
        "|---|---:|---:|---:|:---:|",
    ]
    lines += [f"| `{label}` | {k:.1f} | {c:.1f} | {m:.0f} | {'yes' if c < NOTEBOOK_BUDGET_S else '**no**'} |" for label, k, c, m in rows]
    lines += ["", "| step | time (s) | budget |", "|---|---:|---|"]
    lines.append(f"| site build from stored outputs (`jupyter-book build -W -n`) | {site:.1f} | under {SITE_BUDGET_S:.0f} s |")
    lines += [f"| autograde one submission of `{a}` (kernel start included) | {t:.1f} | — |" for a, t in autograde.items()]
    if suite is not None:
        lines.append(f"| `make test` (environment already created) | {suite:.0f} | under 1500 s with six chapters |")
    else:
        lines.append("| `make test` | not measured (`--skip-test`) | under 1500 s with six chapters |")
    if cost:
        lines += [
            "",
            f"The pinned kernels ({pin.summary().split(' (')[1].rstrip(')')}) against this machine's own "
            "(cells only, the same run):",
            "",
            "| notebook | machine's kernels (s) | pinned (s) |",
            "|---|---:|---:|",
        ]
        lines += [f"| `{label}` | {u:.1f} | {p:.1f} |" for label, u, p in cost]
    previous = args.output.read_text() if args.output.exists() else ""
    kept = previous if args.skip_grading else ""
    if DETECTORS_BEGIN in previous and DETECTORS_END in previous:
        lines += ["", DETECTORS_BEGIN + previous.split(DETECTORS_BEGIN, 1)[1].split(DETECTORS_END, 1)[0] + DETECTORS_END]
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    if GRADING_BEGIN in kept and GRADING_END in kept:
        section = GRADING_BEGIN + kept.split(GRADING_BEGIN, 1)[1].split(GRADING_END, 1)[0] + GRADING_END
        write_grading_section(args.output, section)
    else:
        bench_grading(args.output, args.class_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
