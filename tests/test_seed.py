import random

import numpy as np
import pytest
import torch

from owll_helpers.seed import seed_everything


def test_same_seed_gives_same_numbers_everywhere():
    seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(2).tolist())
    seed_everything(3)
    second = (random.random(), np.random.rand(), torch.rand(2).tolist())
    assert first == second


def test_returned_generator_is_seeded():
    a = torch.rand(3, generator=seed_everything(5))
    b = torch.rand(3, generator=seed_everything(5))
    assert torch.equal(a, b)


def test_makes_torch_deterministic():
    seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)])
def test_bad_seed_is_refused(bad, error):
    with pytest.raises(error, match="seed"):
        seed_everything(bad)
