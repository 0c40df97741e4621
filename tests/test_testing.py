import pytest
import torch
from torch import nn

import owll_helpers.testing as testing_module
from owll_helpers.testing import ForbiddenCallError, StandInError, forbid, shape_key, stand_in, values_key

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


# stand_in: a later task's test gets fixed values in place of an earlier answer.


def _later_task(namespace):
    """A student's later answer that looks an earlier one up by name, as a notebook function does."""
    return namespace["earlier"](torch.zeros(2, 3)) * 10


def test_stand_in_answers_for_the_tests_inputs_and_restores_the_original(capsys):
    def wrong(tensor):
        return 7

    namespace = {"earlier": wrong}
    with stand_in(namespace, "earlier", {(2, 3): 1}):
        assert _later_task(namespace) == 10
    assert namespace["earlier"] is wrong
    note = capsys.readouterr().out
    assert "fixed answers in place of your earlier" in note and "7 where 1 was expected" in note


def test_stand_in_is_silent_when_the_earlier_answer_agrees_and_restores_after_an_error(capsys):
    namespace = {"earlier": lambda tensor: 1}
    original = namespace["earlier"]
    with pytest.raises(ZeroDivisionError):
        with stand_in(namespace, "earlier", {(2, 3): 1}):
            1 / 0
    assert namespace["earlier"] is original
    assert capsys.readouterr().out == ""


def test_stand_in_reports_an_earlier_answer_that_raises(capsys):
    def untouched(tensor):
        raise NotImplementedError

    namespace = {"earlier": untouched}
    with stand_in(namespace, "earlier", {(2, 3): 1}):
        assert _later_task(namespace) == 10
    assert "NotImplementedError" in capsys.readouterr().out


def test_stand_in_gives_up_on_an_earlier_answer_that_loops_and_keeps_an_outer_timer(capsys, monkeypatch):
    import signal
    import time

    from owll_helpers import testing

    monkeypatch.setattr(testing, "STAND_IN_COMPARISON_SECONDS", 0.2)

    def loops(tensor):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a student's catch-all must not swallow the time limit
                pass

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    try:
        namespace = {"earlier": loops}
        started = time.monotonic()
        with stand_in(namespace, "earlier", {(2, 3): 1}):
            assert _later_task(namespace) == 10
        assert time.monotonic() - started < 2
        assert "no answer within 0.2 s" in capsys.readouterr().out
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 3.5 < left <= 5.0, "the outer timer is restored with the time it had left"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not fired


def test_stand_in_passes_other_inputs_to_the_students_function():
    namespace = {"earlier": lambda tensor: tensor.numel()}
    with stand_in(namespace, "earlier", {(5,): 0}):
        assert namespace["earlier"](torch.zeros(2, 3)) == 6


def test_stand_in_keys_by_values_and_needs_the_name_defined():
    relu_out = torch.tensor([[1.0, 0.0], [0.5, 0.0]])
    namespace = {"dead": lambda a: -1.0}
    with stand_in(namespace, "dead", {values_key(relu_out): 0.5}, key=values_key):
        assert namespace["dead"](relu_out.clone()) == 0.5
        assert namespace["dead"](relu_out + 1) == -1.0
    assert shape_key(relu_out) == (2, 2)
    with pytest.raises(StandInError, match="not defined yet"):
        with stand_in({}, "missing", {}):
            pass


def test_forbid_reaches_class_attributes_such_as_tensor_backward():
    def student(x):
        (x * 2).sum().backward()

    with forbid(["torch.Tensor.backward", "torch.autograd.grad"], student):
        with pytest.raises(ForbiddenCallError, match="torch.Tensor.backward"):
            student(torch.ones(2, requires_grad=True))
    x = torch.ones(2, requires_grad=True)
    student(x)
    assert x.grad is not None


def test_withheld_makes_an_earlier_answer_raise_and_restores_it():
    from owll_helpers.testing import withheld

    def earlier(x):
        return x

    namespace = {"earlier": earlier}
    with withheld(namespace, ["earlier", "not_defined"], "compute it here"):
        with pytest.raises(ForbiddenCallError, match="earlier must not be called here: compute it here"):
            namespace["earlier"](1)
    assert namespace == {"earlier": earlier}


def test_forbid_closes_private_routes_to_an_operator_and_can_switch_autograd_off():
    import torch.nn.functional as F

    x = torch.randn(4, 3, dtype=torch.float64)
    routes = [
        lambda: F.batch_norm(x, None, None, training=True),
        lambda: torch._C._VariableFunctions.batch_norm(x, None, None, None, None, True, 0.1, 1e-5, False),
        lambda: torch.ops.aten.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5),
    ]
    for route in routes:
        with forbid([], ops=["native_batch_norm", "_native_batch_norm_legit"]):
            with pytest.raises(ForbiddenCallError, match="native_batch_norm"):
                route()
    with forbid([], ops=["native_batch_norm"]):
        assert torch.isfinite((x - x.mean(0)) / x.std(0)).all()  # plain arithmetic still runs
    with forbid([], autograd=False):
        leaf = torch.ones(2).requires_grad_()
        assert (leaf * 2).sum().grad_fn is None
    assert (torch.ones(2, requires_grad=True) * 2).sum().grad_fn is not None


def test_stand_in_compares_tuples_of_arrays_with_nan_as_equal(capsys):
    import numpy as np

    nan = float("nan")
    fixed = (np.array([nan, 0.5]), np.array([nan, 1.0]), np.array([0, 2]))
    agreeing = {"earlier": lambda x: (np.array([nan, 0.5]), np.array([nan, 1.0]), np.array([0, 2]))}
    with stand_in(agreeing, "earlier", {(2, 3): fixed}):
        assert agreeing["earlier"](torch.zeros(2, 3)) is fixed
    assert capsys.readouterr().out == ""
    disagreeing = {"earlier": lambda x: (np.array([0.0, 0.5]), np.array([nan, 1.0]), np.array([0, 2]))}
    with stand_in(disagreeing, "earlier", {(2, 3): fixed}):
        disagreeing["earlier"](torch.zeros(2, 3))
    assert "Note: this test used fixed answers" in capsys.readouterr().out


def test_stand_in_answers_keyword_calls_too(capsys):
    namespace = {"earlier": lambda tensor, n=1: 7}
    with stand_in(namespace, "earlier", {(2, 3): 1}):
        assert namespace["earlier"](tensor=torch.zeros(2, 3), n=2) == 1
        assert namespace["earlier"](torch.zeros(2, 3)) == 1
        assert namespace["earlier"](tensor=torch.zeros(4)) == 7  # not one of the test's inputs
    assert "gave 7 where 1 was expected" in capsys.readouterr().out
