"""Root pytest configuration: how nbval compares the book notebooks."""

from __future__ import annotations

from typing import Any


def pytest_collectstart(collector: Any) -> None:
    # tqdm writes its progress bar to stderr with timings and a varying number
    # of refreshes; stdout (where the numbers are printed) is still compared.
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
