"""Root pytest configuration: pinned numerics, and how nbval compares the book notebooks."""

from __future__ import annotations

from typing import Any

# First, before any test module imports NumPy or PyTorch: the same kernels on
# every machine, inherited by the notebook kernels nbval starts.
from owll_helpers.numerics import pin_numerics

NUMERICS = pin_numerics()


def pytest_report_header(config: Any) -> str:
    return NUMERICS.summary()


def pytest_collectstart(collector: Any) -> None:
    # tqdm writes its progress bar to stderr with timings and a varying number
    # of refreshes; stdout (where the numbers are printed) is still compared.
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
