"""One call that makes a run repeatable."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._checks import check_positive_int


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, and make PyTorch deterministic.

    The course's experiments call this first, so the same notebook prints the
    same numbers on every run on a CPU.

    Args:
        seed: a non-negative integer.
        deterministic: also ask PyTorch to use only deterministic algorithms
            (``torch.use_deterministic_algorithms``), with a warning rather
            than an error where an operation has none, and compute on one CPU
            thread: how a sum is split across threads changes its last bits,
            so results would otherwise depend on the number of cores (and on
            the course's small models one thread is also faster).

    Returns:
        A ``torch.Generator`` seeded with ``seed``, for code that wants its own
        stream of random numbers (for example a data loader's shuffling).
    """
    check_positive_int(seed, "seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Needed by cuBLAS for deterministic matrix products; harmless on a CPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.set_num_threads(1)
        torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
