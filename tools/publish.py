"""Write the student repository: what students and readers may see, nothing more.

``make publish DEST=...`` calls this after building the site.  The student
repository gets the book sources and the built site, the student versions of
the assignments (``exercises/``), the helper package with its
``pyproject.toml``, a student README, the licence, and ``binder/``: what
Binder needs to build the course's environment (pinned versions that
``pyproject.toml`` allows, PyTorch's CPU-only build, Python 3.11; source
``tools/student/binder/``, untested against a live Binder).  It never gets
``solutions/``, ``tests/``, nbgrader's configuration or course data.  Its
``pyproject.toml`` is this repository's without the instructors' pytest
settings (which point at folders the student repository does not have); the
package metadata and dependencies are the same, byte for byte.  A
``.git`` folder already in DEST is kept, so the target can be a clone of the
student repository that the instructor then commits and pushes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: What the student repository holds: (source in this repository, target in DEST).
PUBLISHED: tuple[tuple[str, str], ...] = (
    ("book", "book"),
    ("exercises", "exercises"),
    ("owll_helpers", "owll_helpers"),
    ("_config.yml", "_config.yml"),
    ("_toc.yml", "_toc.yml"),
    ("references.bib", "references.bib"),
    ("pyproject.toml", "pyproject.toml"),
    ("LICENSE", "LICENSE"),
    ("CITATION.cff", "CITATION.cff"),
    ("tools/student/README.md", "README.md"),
    ("tools/student/gitignore", ".gitignore"),
    ("tools/student/binder", "binder"),
    ("_build/html", "site"),
)

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")

#: Tables of pyproject.toml that only the instructors' repository uses (with their sub-tables).
INSTRUCTOR_ONLY_TABLES: tuple[str, ...] = ("tool.pytest",)

# A table header at the start of a line: [name] or [[name]], maybe with a comment.
_TABLE_HEADER = re.compile(r"^\[\[?\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")


def _instructor_only(table: str) -> bool:
    return any(table == name or table.startswith(name + ".") for name in INSTRUCTOR_ONLY_TABLES)


def _without(data: dict[str, Any], dotted: str) -> None:
    """Remove the table ``dotted`` from parsed TOML ``data``, and parents left empty."""
    *parents, last = dotted.split(".")
    chain = [data]
    for key in parents:
        if not isinstance(chain[-1].get(key), dict):
            return
        chain.append(chain[-1][key])
    chain[-1].pop(last, None)
    for table, key in zip(reversed(chain[:-1]), reversed(parents)):
        if not table[key]:
            del table[key]


def student_pyproject(text: str) -> str:
    """``pyproject.toml`` for the student repository: ``text`` without :data:`INSTRUCTOR_ONLY_TABLES`.

    Every other line is kept as it is, comments included. A comment block
    directly above a removed table's header goes with it. The result is
    parsed and compared with the original minus those tables, so a layout
    this function does not understand stops the publication instead of
    changing the package.
    """
    kept: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        header = _TABLE_HEADER.match(line)
        if header:
            dropping = _instructor_only(header.group(1))
            if dropping:
                while kept and kept[-1].lstrip().startswith("#"):
                    kept.pop()
        if not dropping:
            kept.append(line)
    result = "".join(kept).rstrip("\n") + "\n"
    expected = tomllib.loads(text)
    for name in INSTRUCTOR_ONLY_TABLES:
        _without(expected, name)
    if tomllib.loads(result) != expected:
        raise SystemExit("cannot publish: removing the instructors' tables from pyproject.toml changed other settings")
    return result


#: Files written transformed instead of copied: source in this repository -> transformation of its text.
TRANSFORMED = {"pyproject.toml": student_pyproject}


def publish(dest: Path) -> list[Path]:
    """Replace the contents of ``dest`` (except ``.git``) by the student repository."""
    dest = dest.resolve()
    if dest == ROOT or ROOT in dest.parents:
        raise SystemExit(f"DEST must lie outside this repository, got {dest}")
    missing = [src for src, _ in PUBLISHED if not (ROOT / src).exists()]
    if missing:
        raise SystemExit(f"cannot publish, missing: {', '.join(missing)} (run `make book` first for _build/html)")
    dest.mkdir(parents=True, exist_ok=True)
    for entry in dest.iterdir():
        if entry.name == ".git":
            continue
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    written = []
    for src, target in PUBLISHED:
        source, destination = ROOT / src, dest / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=IGNORED)
        elif src in TRANSFORMED:
            destination.write_text(TRANSFORMED[src](source.read_text()))
        else:
            shutil.copy2(source, destination)
        written.append(destination)
    # GitHub Pages serves site/ as it is, without Jekyll's underscore rules.
    (dest / "site" / ".nojekyll").touch()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest", type=Path, help="folder of the student repository")
    args = parser.parse_args()
    for path in publish(args.dest):
        print(f"wrote {path}")
    print(f"Student repository written to {args.dest.resolve()}: review, commit and push it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
