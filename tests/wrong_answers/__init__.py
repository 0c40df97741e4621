"""Typical wrong answers, one module per assignment, that the assignment's tests must reject.

Each module defines ``WRONG_ANSWERS``: for every autograded answer cell (by its
nbgrader ``grade_id``), a list of :class:`WrongAnswer`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WrongAnswer:
    """A plausible mistake: what it is, its code, and whether the visible test must catch it."""

    mistake: str
    source: str
    caught_by_visible_test: bool = True


def solution_editor(notebook: Path) -> Callable[..., str]:
    """``solution_with(grade_id, *(old, new))``: the solution of task ``grade_id`` in ``notebook`` with each replacement made.

    Every ``old`` text must occur in the solution, so a wrong answer cannot
    silently turn into the right one when the solution changes.
    """
    from tests.grading import nbgrader_meta, read_json, solved_submission

    @functools.lru_cache(maxsize=1)
    def solved_cells() -> list[dict]:
        return solved_submission(read_json(notebook))["cells"]

    def solution_with(grade_id: str, *replacements: tuple[str, str]) -> str:
        cell = next(c for c in solved_cells() if nbgrader_meta(c).get("grade_id") == grade_id)
        source = "".join(cell["source"])
        for old, new in replacements:
            assert old in source, f"the solution of {grade_id} no longer contains {old!r}: update this wrong answer"
            source = source.replace(old, new)
        return source

    return solution_with
