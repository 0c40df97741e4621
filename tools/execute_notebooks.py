"""Execute notebooks in place, in this environment, and store their outputs.

Used by ``make notebooks`` after a helper or a notebook changes, so that the
outputs stored in the repository (and shown on the website) are current.
nbval then checks, in ``make test``, that re-running gives the same text.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from owll_helpers.numerics import pin_numerics

TIMEOUT_PER_CELL_S = 120


def execute(path: Path) -> float:
    """Run every cell of ``path`` with its folder as working directory; return seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_PER_CELL_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    nbformat.write(notebook, path)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()
    # The stored outputs are the pinned ones (kernels inherit the environment).
    print(pin_numerics().summary(), flush=True)
    for path in args.notebooks:
        print(f"executing {path} ...", flush=True)
        print(f"  done in {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
