"""Typical wrong answers, one module per assignment, that the assignment's tests must reject.

Each module defines ``WRONG_ANSWERS``: for every autograded answer cell (by its
nbgrader ``grade_id``), a list of :class:`WrongAnswer`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WrongAnswer:
    """A plausible mistake: what it is, its code, and whether the visible test must catch it."""

    mistake: str
    source: str
    caught_by_visible_test: bool = True
