import pytest
import torch
from torch import nn

import owll_helpers.testing as testing_module
from owll_helpers.testing import ForbiddenCallError, forbid

NAMES = ["torch.nn.init.kaiming_normal_"]


def through_module(t):
    return torch.nn.init.kaiming_normal_(t)


def through_alias(t):
    return nn.init.kaiming_normal_(t)


def test_forbid_catches_calls_through_the_module():
    for function in (through_module, through_alias):
        with forbid(NAMES, function), pytest.raises(ForbiddenCallError, match="implement it yourself"):
            function(torch.empty(3, 3))


def test_forbid_catches_names_bound_by_from_import():
    namespace = {}
    exec("from torch.nn.init import kaiming_normal_\ndef student(t):\n    return kaiming_normal_(t)", namespace)
    student = namespace["student"]
    with forbid(NAMES, student), pytest.raises(ForbiddenCallError):
        student(torch.empty(3, 3))
    # restored afterwards, in the module and in the student's namespace
    assert namespace["kaiming_normal_"] is torch.nn.init.kaiming_normal_
    assert student(torch.empty(3, 3)).shape == (3, 3)


def test_forbid_restores_even_when_the_block_raises():
    original = torch.nn.init.kaiming_normal_
    with pytest.raises(RuntimeError), forbid(NAMES):
        raise RuntimeError("student code crashed")
    assert torch.nn.init.kaiming_normal_ is original


def test_primitives_stay_allowed():
    def student(t):
        with torch.no_grad():
            return t.normal_(0, nn.init.calculate_gain("relu"))

    with forbid(NAMES + ["torch.nn.init.xavier_normal_"], student):
        assert student(torch.empty(2, 2)).shape == (2, 2)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="qualified name"), forbid(["kaiming_normal_"]):
        pass
    with pytest.raises(TypeError, match="functions"), forbid(NAMES, 3):
        pass
    assert testing_module.ForbiddenCallError.__mro__[1] is AssertionError
