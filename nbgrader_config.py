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

The file is self-contained (no import of a sibling module), so nbgrader works
in any copy of the course that has this file and ``solutions/``. It pins the
numerical kernels (``owll_helpers.numerics``) for the kernels nbgrader starts,
when the course's package is installed.
"""

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
c.CourseDirectory.db_url = f"sqlite:///{COURSE_DATA / 'gradebook.db'}"
c.Exchange.root = str(COURSE_DATA / "exchange")

# A learning platform's download: one folder per student (named by the student
# id) holding the notebook. Change the regular expression for another layout.
c.ZipCollectApp.collect_directory_structure = str(COURSE_DATA / "downloaded" / "{assignment_id}" / "{collect_step}")
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^/]+)/(?P<file_id>[^/]+\.ipynb)$"

# Grading: a bounded time per cell; deleted test cells come back; so do edited ones.
c.Execute.timeout = int(os.environ.get("OWLL_CELL_TIMEOUT", "60"))
c.Execute.interrupt_on_timeout = True
c.OverwriteCells.add_missing_cells = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"


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
            if output.get("output_type") == "error":
                message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
                output["traceback"] = [
                    "A test in this cell failed (its code is hidden):",
                    self.ansi_escape.sub("", message)[:500],
                ]
        return cell, resources


c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTestErrors, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
