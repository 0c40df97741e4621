"""nbgrader configuration of the course (nbgrader 0.9).

- ``solutions/`` holds the source assignments (solutions, hidden tests, model
  answers); ``nbgrader generate_assignment --force`` writes the student
  versions to ``exercises/``.
- Course data (the gradebook, submissions, autograded notebooks, feedback,
  downloads from a learning platform) never lives in this repository: it goes
  to the folder named by the environment variable ``OWLL_COURSE_DATA``
  (default ``~/.local/share/owll/course_data``), created if missing.  Tests
  and tools point it at a temporary folder.
- ``OWLL_CELL_TIMEOUT`` (seconds, default 60) bounds every cell when grading,
  so an infinite loop costs one timeout and the rest is still graded.
- The gradebook (SQLite) waits up to 60 s for a lock (``?timeout=60`` in
  ``db_url``; SQLite's default is 5 s), so students graded in parallel
  (``make autograde JOBS=N``) queue for it instead of failing with
  "database is locked".
- Feedback says what happened: a cell stopped by the time limit says so, with
  the limit; written answers nobody has graded yet read "not graded yet"
  instead of 0; the page renders its maths offline, with the MathJax that the
  website serves (sphinx-mathjax-offline) embedded in the page, so the one
  HTML file is all a student needs. The page's template is
  ``tools/feedback_template/`` (nbgrader's, changed there), used when present.

The file is self-contained (no import of a sibling module), so nbgrader works
in any copy of the course that has this file and ``solutions/``. It pins the
numerical kernels (``owll_helpers.numerics``) for the kernels nbgrader starts,
when the course's package is installed.
"""

import importlib.util
import os
import re
from pathlib import Path

try:
    from owll_helpers.numerics import pin_numerics
except ImportError:  # a course copy without the helper package: grade unpinned
    pass
else:
    pin_numerics()

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

COURSE_ROOT = Path(__file__).resolve().parent
COURSE_DATA = Path(
    os.environ.get("OWLL_COURSE_DATA") or Path.home() / ".local" / "share" / "owll" / "course_data"
).expanduser().resolve()
COURSE_DATA.mkdir(parents=True, exist_ok=True)

c.CourseDirectory.root = str(COURSE_ROOT)
c.CourseDirectory.course_id = "owll"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = str(COURSE_DATA / "submitted")
c.CourseDirectory.autograded_directory = str(COURSE_DATA / "autograded")
c.CourseDirectory.feedback_directory = str(COURSE_DATA / "feedback")
# A busy timeout of 60 s: parallel graders wait for the lock instead of failing.
c.CourseDirectory.db_url = f"sqlite:///{COURSE_DATA / 'gradebook.db'}?timeout=60"
# nbgrader's exchange (release, fetch, submit, collect): on a JupyterHub the
# folder every account shares (deploy/jupyterhub_config.py sets OWLL_EXCHANGE).
c.Exchange.root = os.environ.get("OWLL_EXCHANGE") or str(COURSE_DATA / "exchange")

# A learning platform's download: one folder per student (named by the student
# id) holding the notebook. Change the regular expression for another layout.
c.ZipCollectApp.collect_directory_structure = str(COURSE_DATA / "downloaded" / "{assignment_id}" / "{collect_step}")
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^/]+)/(?P<file_id>[^/]+\.ipynb)$"

# Grading: a bounded time per cell; deleted test cells come back; so do edited ones.
CELL_TIMEOUT_S = int(os.environ.get("OWLL_CELL_TIMEOUT", "60"))
c.Execute.timeout = CELL_TIMEOUT_S
c.Execute.interrupt_on_timeout = True
c.OverwriteCells.add_missing_cells = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"


#: Error names of a cell stopped by the per-cell time limit (nbclient interrupts
#: the kernel, then records its own error).
TIMEOUT_ERRORS = ("CellTimeoutError", "TimeoutError")


class ExplainTimeouts(NbGraderPreprocessor):
    """Say plainly, in the feedback, that a cell was stopped by the time limit.

    nbclient leaves two outputs in such a cell: the kernel's
    ``KeyboardInterrupt`` (whose traceback quotes the cell, hidden tests
    included) and ``CellTimeoutError: No reply from kernel before timeout``.
    Both are replaced by one error that names the limit.
    """

    def preprocess_cell(self, cell, resources, index):
        outputs = cell.get("outputs", []) if cell.cell_type == "code" else []
        if not any(o.get("output_type") == "error" and o.get("ename") in TIMEOUT_ERRORS for o in outputs):
            return cell, resources
        limit = CELL_TIMEOUT_S
        message = (
            f"this cell was stopped by the time limit: it ran longer than {limit} seconds "
            f"(the limit for every cell when grading). Look for a loop that never ends or "
            f"code far too slow; tests that use what this cell defines fail too."
        )
        kept = [o for o in outputs if o.get("output_type") != "error"]
        kept.append({"output_type": "error", "ename": "TimeLimitExceeded", "evalue": message, "traceback": [f"Time limit exceeded: {message}"]})
        cell["outputs"] = kept
        return cell, resources


class HideHiddenTestErrors(NbGraderPreprocessor):
    """Keep hidden tests' code out of the feedback a student receives.

    nbgrader shows hidden tests in feedback by default (nbgrader#917), and even
    after ``ClearHiddenTests`` a failing hidden test's traceback quotes its
    source lines. In every cell that holds hidden tests, this replaces each
    error's traceback by its last line (exception type and message), which the
    course's authoring rules keep free of expected values.
    """

    begin_hidden = "BEGIN HIDDEN TESTS"
    ansi_escape = re.compile(r"\x1b\[[0-9;]*m")

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or self.begin_hidden not in cell.source:
            return cell, resources
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") != "TimeLimitExceeded":
                message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
                output["traceback"] = [
                    "A test in this cell failed (its code is hidden):",
                    self.ansi_escape.sub("", message)[:500],
                ]
        return cell, resources


class GetGradesAndPending(GetGrades):
    """nbgrader's GetGrades, and which graded cells nobody has scored yet.

    A written answer waiting for a person has neither an automatic nor a
    manual score; nbgrader counts it as 0. This marks such cells
    (``nbgrader.pending``) and sums their points in
    ``resources["nbgrader"]["pending_points"]``, so the page says "not graded
    yet" instead.
    """

    def preprocess(self, nb, resources):
        resources.setdefault("nbgrader", {})["pending_points"] = 0.0
        return super().preprocess(nb, resources)

    def _get_score(self, cell, resources):
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id, self.assignment_id, self.student_id)
        pending = grade.auto_score is None and grade.manual_score is None
        cell.metadata.nbgrader["pending"] = pending
        if pending:
            resources["nbgrader"]["pending_points"] += float(grade.max_score or 0)


class EmbedMathJax(NbGraderPreprocessor):
    """Put the site's MathJax (sphinx-mathjax-offline's tex-svg.js) into pages with maths.

    The feedback template writes ``resources["owll_mathjax"]`` into the page's
    head. Inlined, the page is one file that renders offline wherever a
    student opens it (nbgrader's feedback already inlines its CSS); pages
    without maths stay small. SVG output needs no font files.
    """

    maths = re.compile(r"\$|\\\(|\\\[|\\begin\{")

    def preprocess(self, nb, resources):
        text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
        resources["owll_mathjax"] = mathjax_script() if self.maths.search(text) else ""
        return nb, resources


def mathjax_script():
    """Configuration and code of the offline MathJax 3, as one inline script pair."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        return ""
    code = (Path(spec.submodule_search_locations[0]) / "static" / "mathjax" / "tex-svg.js").read_text()
    config = (
        "window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
        "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true}, "
        "options: {ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process'}};"
    )
    code = code.replace("</script", "<\\/script")  # cannot end the inline script early
    return f"<script>{config}</script>\n<script>{code}</script>"


FEEDBACK_TEMPLATE = COURSE_ROOT / "tools" / "feedback_template"
if FEEDBACK_TEMPLATE.is_dir():
    import nbgrader as _nbgrader

    c.HTMLExporter.template_name = "owll_feedback"
    c.HTMLExporter.extra_template_basedirs = [
        str(FEEDBACK_TEMPLATE),
        str(Path(_nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"),
    ]

c.GenerateFeedback.preprocessors = [
    GetGradesAndPending,
    ExplainTimeouts,
    HideHiddenTestErrors,
    ClearHiddenTests,
    CSSHTMLHeaderPreprocessor,
    EmbedMathJax,
]
