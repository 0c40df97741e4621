"""nbgrader settings every user of the hub shares (students and instructors).

deploy/jupyterhub_config.py puts this folder on JUPYTER_CONFIG_PATH. The
exchange is the folder where release, fetch, submit and collect meet; the
course's own nbgrader_config.py (in the instructor's clone) reads the same
OWLL_EXCHANGE, so both sides agree.
"""

import os

c = get_config()  # noqa: F821 -- provided by nbgrader

c.CourseDirectory.course_id = os.environ.get("OWLL_COURSE_ID") or "owll"
c.Exchange.root = os.environ.get("OWLL_EXCHANGE") or "/srv/nbgrader/exchange"
# Instructors only (the hub sets it for them): the course, whose own nbgrader_config.py nbgrader then reads.
if os.environ.get("OWLL_COURSE_ROOT"):
    c.CourseDirectory.root = os.path.expanduser(os.environ["OWLL_COURSE_ROOT"])
# Zero to JupyterHub (z2jh-values.yaml): every pod runs as the same account
# (jovyan), from which nbgrader would take every student's id; the hub user's
# name is the student id there. Never for an instructor (it would limit their
# commands to that one student).
if os.environ.get("OWLL_STUDENT_ID_FROM_HUB") == "1" and os.environ.get("JUPYTERHUB_USER") and not os.environ.get("OWLL_COURSE_ROOT"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
