"""Write the student repository: what students and readers may see, nothing more.

``make publish DEST=...`` calls this after building the site.  The student
repository gets the book sources and the built site, the student versions of
the assignments (``exercises/``), the helper package with its
``pyproject.toml``, a student README and the licence.  It never gets
``solutions/``, ``tests/``, nbgrader's configuration or course data.  A
``.git`` folder already in DEST is kept, so the target can be a clone of the
student repository that the instructor then commits and pushes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

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
    ("_build/html", "site"),
)

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")


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
