"""JupyterHub configuration of an owll class (JupyterHub 5, nbgrader 0.9).

Follows nbgrader's "Using nbgrader with JupyterHub" and "Advanced
JupyterHub setups" (https://nbgrader.readthedocs.io/en/stable/configuration/jupyterhub_config.html)
and JupyterHub's "Configuration basics", "Spawners" and "Roles"
(https://jupyterhub.readthedocs.io/en/stable/). One server, one Unix account
per user (LocalProcessSpawner, the hub runs as root): nbgrader takes a
student's id from the account that runs their server, so each student needs
an account of their own. For The Littlest JupyterHub and Kubernetes see
``tljh.md`` and ``z2jh-values.yaml`` beside this file.

Every setting comes from an environment variable with a default, so this file
is used unchanged; a test (tests/test_hub.py) starts a real hub with it.

    OWLL_VENV         the course environment (`make env`), default: the hub's own Python prefix
    OWLL_EXCHANGE     nbgrader's exchange folder, writable by every account (default /srv/nbgrader/exchange)
    OWLL_COURSE_ID    the course id in the exchange (default owll)
    OWLL_INSTRUCTORS  comma-separated user names of the instructors (group formgrade-<course id>)
    OWLL_STUDENTS     comma-separated user names of the students (group nbgrader-<course id>)
    OWLL_COURSE_ROOT  an instructor's clone of the course, below their home (default ~/owll)
    OWLL_SPAWNER      the spawner class (default LocalProcessSpawner); "keep" leaves the one
                      configured before (The Littlest JupyterHub's, see tljh.md)
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- provided by JupyterHub when it loads this file

HERE = Path(__file__).resolve().parent
VENV = Path(os.environ.get("OWLL_VENV") or sys.prefix)
EXCHANGE = os.environ.get("OWLL_EXCHANGE") or "/srv/nbgrader/exchange"
COURSE_ID = os.environ.get("OWLL_COURSE_ID") or "owll"
INSTRUCTORS = [n for n in os.environ.get("OWLL_INSTRUCTORS", "").split(",") if n]
STUDENTS = [n for n in os.environ.get("OWLL_STUDENTS", "").split(",") if n]
COURSE_ROOT = os.environ.get("OWLL_COURSE_ROOT") or "~/owll"

# One Unix account per user; the hub must run as root to start servers as them.
SPAWNER = os.environ.get("OWLL_SPAWNER") or "jupyterhub.spawner.LocalProcessSpawner"
if SPAWNER != "keep":
    c.JupyterHub.spawner_class = SPAWNER
# The single-user server comes from the course environment, so students and
# the grader run the same versions (jupyterhub is pinned there too).
c.Spawner.cmd = [str(VENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    # The environment's python3 kernel wins over any user-level kernelspec.
    "JUPYTER_PATH": str(VENV / "share" / "jupyter"),
    # nbgrader_config.py for every user (course id and exchange), see deploy/jupyter/.
    "JUPYTER_CONFIG_PATH": str(HERE / "jupyter"),
    "OWLL_EXCHANGE": EXCHANGE,
    "OWLL_COURSE_ID": COURSE_ID,
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",
}
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60

# Groups as nbgrader's multi-course setup names them: instructors grade, students take the course.
c.JupyterHub.load_groups = {
    f"formgrade-{COURSE_ID}": {"users": INSTRUCTORS},
    f"nbgrader-{COURSE_ID}": {"users": STUDENTS},
}
c.Authenticator.allowed_users = set(INSTRUCTORS + STUDENTS)
c.Authenticator.admin_users = set(INSTRUCTORS)


def course_root_for_instructors(spawner):
    """An instructor's nbgrader (formgrader, command line) works in their clone of the course.

    nbgrader reads the course's nbgrader_config.py from CourseDirectory.root,
    which deploy/jupyter/nbgrader_config.py takes from OWLL_COURSE_ROOT.
    Students have no course root: they fetch and submit through the exchange.
    """
    if spawner.user.name in INSTRUCTORS:
        spawner.environment = dict(spawner.environment, OWLL_COURSE_ROOT=COURSE_ROOT)


c.Spawner.pre_spawn_hook = course_root_for_instructors
