"""Utilities for the assignments' tests.

:func:`forbid` lets a hidden test check that a student *implemented*
something rather than called the library function that the task is about;
:func:`stand_in` lets a test of one task call a student's function that uses
an earlier task's answer without grading that earlier answer again, and
:func:`withheld` keeps a task from using an earlier answer at all;
:func:`assert_std` and :func:`assert_matches_reference` compare random
samples with tolerances derived from the sample size.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import signal
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode


class ForbiddenCallError(AssertionError):
    """Raised when a student's function calls a function that its task forbids."""


def _resolve(qualified_name: str) -> tuple[Any, str, Any]:
    """(owner, attribute, value) for a module attribute or a class attribute such as ``torch.Tensor.backward``."""
    owner_name, _, attribute = qualified_name.rpartition(".")
    if not owner_name:
        raise ValueError(f"expected a qualified name like 'torch.nn.init.kaiming_normal_', got {qualified_name!r}")
    parts = owner_name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            owner = getattr(owner, name)
        return owner, attribute, getattr(owner, attribute)
    raise ValueError(f"cannot import any module of {qualified_name!r}")


def _global_namespaces(functions: tuple[Callable[..., Any], ...]) -> list[dict[str, Any]]:
    namespaces: list[dict[str, Any]] = []
    for function in functions:
        if not callable(function):
            raise TypeError(f"forbid() checks functions, got {type(function).__name__}")
        namespace = getattr(inspect.unwrap(function), "__globals__", None)
        if namespace is not None and all(namespace is not seen for seen in namespaces):
            namespaces.append(namespace)
    return namespaces


class _RefuseOperators(TorchDispatchMode):
    """Raise on the named ATen operators, whichever Python route reached them."""

    def __init__(self, operators: frozenset[str]) -> None:
        super().__init__()
        self.operators = operators

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = func._schema.name.split("::")[-1]
        if name in self.operators:
            raise ForbiddenCallError(
                f"PyTorch's {name} operator must not be used here: the point of this task is to compute it yourself."
            )
        return func(*args, **(kwargs or {}))


@contextmanager
def forbid(
    qualified_names: list[str] | tuple[str, ...],
    *functions: Callable[..., Any],
    ops: list[str] | tuple[str, ...] = (),
    autograd: bool = True,
) -> Iterator[None]:
    """Make the named library functions raise while the block runs; restore them after.

    Both ways a student can reach a function are covered: through its module
    (``torch.nn.init.kaiming_normal_``, ``nn.init.kaiming_normal_``, ``import
    torch.nn.init as init``) and through a name bound by ``from ... import``
    in the namespace where the student's ``functions`` were defined (as
    ``inspect.getclosurevars`` would show it). Private routes to the same
    computation (``torch._C._VariableFunctions.batch_norm``,
    ``torch.ops.aten.native_batch_norm``) are closed by ``ops``: the ATen
    operators named there raise however they are reached.

    Args:
        qualified_names: e.g. ``["torch.nn.init.kaiming_normal_"]``.
        *functions: the student's functions whose global names are checked.
        ops: ATen operator names, e.g. ``["native_batch_norm"]``.
        autograd: ``False`` runs the block in ``torch.inference_mode``, so no
            route to autograd (the engine, ``grad_fn``) can compute a gradient.

    Raises:
        ForbiddenCallError: (inside the block) when a forbidden function is called.
    """
    patches: list[tuple[Any, str, Any]] = []  # (module or namespace, name, original)
    replacements: dict[int, Callable[..., Any]] = {}
    modes = contextlib.ExitStack()
    try:
        for qualified_name in qualified_names:
            module, attribute, original = _resolve(qualified_name)
            replacements[id(original)] = _raiser(qualified_name)
            patches.append((module, attribute, original))
            setattr(module, attribute, replacements[id(original)])
        for namespace in _global_namespaces(functions):
            for name, value in list(namespace.items()):
                if id(value) in replacements:
                    patches.append((namespace, name, value))
                    namespace[name] = replacements[id(value)]
        if not autograd:
            modes.enter_context(torch.inference_mode())
        if ops:
            modes.enter_context(_RefuseOperators(frozenset(ops)))
        with modes:
            yield
    finally:
        for target, name, original in reversed(patches):
            if isinstance(target, dict):
                target[name] = original
            else:
                setattr(target, name, original)


def _raiser(qualified_name: str) -> Callable[..., Any]:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise ForbiddenCallError(
            f"{qualified_name} must not be used here: the point of this task is to implement it yourself."
        )

    return forbidden


class StandInError(AssertionError):
    """Raised when a test asks for a stand-in of an answer that is not defined yet."""


def shape_key(tensor: torch.Tensor) -> tuple[int, ...]:
    """The key of :func:`stand_in`'s table for answers that depend only on a tensor's shape."""
    return tuple(tensor.shape)


def values_key(tensor: torch.Tensor) -> tuple[Any, ...]:
    """The key of :func:`stand_in`'s table for answers that depend on a tensor's values (rounded to 1e-6)."""
    return (tuple(tensor.shape), *(round(float(v), 6) for v in tensor.detach().flatten()))


def _same(got: Any, want: Any) -> bool:
    """Whether a student's value equals a fixed answer: floats, arrays and tensors to 1e-6, NaN equal to NaN."""
    try:
        if isinstance(want, float):
            return isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)
        if isinstance(want, (tuple, list)):
            return isinstance(got, (tuple, list)) and len(got) == len(want) and all(map(_same, got, want))
        if isinstance(want, (np.ndarray, torch.Tensor)):
            mine = got.detach().cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
            fixed = want.detach().cpu().numpy() if isinstance(want, torch.Tensor) else want
            return mine.shape == fixed.shape and bool(
                np.allclose(mine.astype(np.float64), fixed.astype(np.float64), rtol=1e-6, atol=1e-9, equal_nan=True)
            )
        return bool(got == want)
    except Exception:  # noqa: BLE001 -- a student's value that cannot even be compared differs
        return False


#: How long :func:`stand_in` waits for a student's earlier answer when it only compares it with a fixed one.
STAND_IN_COMPARISON_SECONDS: float = 2.0


class _NoAnswerInTime(BaseException):
    # A BaseException, so that a student's ``except Exception`` inside a loop cannot swallow it.
    pass


def _call_with_time_limit(answer: Callable[..., Any], seconds: float, *args: Any, **kwargs: Any) -> Any:
    """``answer(*args, **kwargs)``, stopped with :class:`_NoAnswerInTime` after ``seconds`` of wall time.

    Uses ``SIGALRM``, so only in the main thread of a POSIX process (a notebook kernel's cells run
    there); elsewhere the call is made without a limit. A timer already running (an outer limit)
    is restored afterwards with the time it has left.
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return answer(*args, **kwargs)

    def stop(signum: int, frame: Any) -> None:
        raise _NoAnswerInTime

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, stop)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return answer(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), previous_interval)


@contextmanager
def stand_in(
    namespace: dict[str, Any],
    name: str,
    answers: Mapping[Hashable, Any],
    *,
    key: Callable[[Any], Hashable] = shape_key,
) -> Iterator[None]:
    """Replace ``namespace[name]``, a student's earlier answer, by fixed answers while the block runs.

    A test of task N that calls the student's function, which in turn calls
    the answer to an earlier task M, would otherwise take task N's points for
    task M's mistake. Inside the block, ``name`` returns ``answers[key(arg)]``
    for the test's own inputs: fixed values, not a reference implementation,
    so no solution reaches the student version. Any other input goes to the
    student's own function. That function is restored afterwards, and if it
    disagreed with a fixed answer (or raised, or gave no answer within
    :data:`STAND_IN_COMPARISON_SECONDS`: a loop in task M must not cost task N
    its time limit), a note says so and points to task M's own test.

    Args:
        namespace: where the student's functions look the name up (a notebook's ``globals()``).
        name: the earlier answer's name, e.g. ``"fan_in_and_fan_out"``.
        answers: the fixed answer for each input the test uses, by ``key``.
        key: turns the first argument into a key of ``answers``
            (:func:`shape_key` or :func:`values_key`).

    Raises:
        StandInError: when ``name`` is not defined in ``namespace`` yet.
    """
    if name not in namespace:
        raise StandInError(f"{name} is not defined yet: run the cell of the task that defines it first.")
    original = namespace[name]
    disagreements: list[str] = []
    try:
        first_parameter: str | None = next(iter(inspect.signature(original).parameters), None)
    except (TypeError, ValueError):  # a callable without a signature: positional calls only
        first_parameter = None

    def fixed_answer(*args: Any, **kwargs: Any) -> Any:
        # The first argument, however the student's later answer passes it (reliability_bins(probs=...)).
        first = args[0] if args else kwargs.get(first_parameter) if first_parameter else None
        try:
            wanted = key(first)
        except Exception:  # noqa: BLE001 -- not an input of the test: below
            wanted = None
        if wanted is None or wanted not in answers:
            # Not one of the test's own inputs (the student's function took
            # another path): their own answer is all there is.
            return original(*args, **kwargs)
        answer = answers[wanted]
        try:
            mine = _call_with_time_limit(original, STAND_IN_COMPARISON_SECONDS, *args, **kwargs)
        except _NoAnswerInTime:
            mine = f"no answer within {STAND_IN_COMPARISON_SECONDS:g} s"
        except Exception as error:  # noqa: BLE001 -- the student's earlier answer is graded elsewhere
            mine = f"an error ({type(error).__name__})"
        if not _same(mine, answer) and len(disagreements) < 3:
            disagreements.append(f"{mine!r} where {answer!r} was expected" if not isinstance(mine, str) else mine)
        return answer

    namespace[name] = fixed_answer
    try:
        yield
    finally:
        namespace[name] = original
        if disagreements:
            print(
                f"Note: this test used fixed answers in place of your {name}, which gave "
                f"{'; '.join(disagreements)}. Only this task is graded here; {name}'s own test says more."
            )


@contextmanager
def withheld(namespace: dict[str, Any], names: list[str] | tuple[str, ...], why: str) -> Iterator[None]:
    """Make the student's own functions ``names`` raise while the block runs; restore them after.

    For a task whose statement says not to build on an earlier answer (so
    that its grade cannot depend on that answer), the test makes the earlier
    function raise :class:`ForbiddenCallError` with ``why`` as the reason.
    """
    saved = {name: namespace[name] for name in names if name in namespace}

    def refuse(name: str) -> Callable[..., Any]:
        def withheld_function(*args: Any, **kwargs: Any) -> Any:
            raise ForbiddenCallError(f"{name} must not be called here: {why}")

        return withheld_function

    try:
        for name in saved:
            namespace[name] = refuse(name)
        yield
    finally:
        namespace.update(saved)


#: How many standard errors a sample statistic may stray before a test fails.
#: Six keeps a correct answer's false-failure rate below one in 10^8.
STANDARD_ERRORS = 6.0


def _std_standard_error(std: float, n: int) -> float:
    # Standard error of a sample standard deviation of n normal draws; a
    # uniform sample's is smaller (kurtosis 1.8 < 3), so this is safe for both.
    return std / math.sqrt(2 * n)


def _check_sample(sample: object, what: str) -> torch.Tensor:
    if not isinstance(sample, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {type(sample).__name__}.")
    if sample.numel() < 2 or not sample.is_floating_point():
        raise AssertionError(f"{what}: expected a floating-point tensor with at least 2 values, got {sample.dtype} of shape {tuple(sample.shape)}.")
    values = sample.detach()
    if not torch.isfinite(values).all():
        raise AssertionError(f"{what}: the tensor holds NaN or infinite values.")
    return values


def assert_std(sample: torch.Tensor, expected_std: float, what: str) -> None:
    """Assert that ``sample``'s standard deviation is ``expected_std``, within
    :data:`STANDARD_ERRORS` standard errors for its size; the message quotes both."""
    values = _check_sample(sample, what)
    tolerance = STANDARD_ERRORS * _std_standard_error(expected_std, values.numel())
    got = values.std().item()
    if abs(got - expected_std) >= tolerance:
        raise AssertionError(
            f"{what}: expected a standard deviation of {expected_std:.5f} (within {tolerance:.5f}), got {got:.5f}."
        )


def assert_matches_reference(sample: torch.Tensor, reference: torch.Tensor, what: str) -> None:
    """Assert that ``sample`` and ``reference`` have the same mean and standard
    deviation, within :data:`STANDARD_ERRORS` standard errors for their sizes.

    The message names the statistic but quotes no value (hidden tests use it,
    and their messages reach students' feedback).
    """
    values, ref = _check_sample(sample, what), _check_sample(reference, what)
    std = ref.std().item()
    std_tolerance = STANDARD_ERRORS * math.hypot(_std_standard_error(std, values.numel()), _std_standard_error(std, ref.numel()))
    if abs(values.std().item() - std) >= std_tolerance:
        raise AssertionError(f"{what}: the standard deviation differs from torch.nn.init's.")
    mean_tolerance = STANDARD_ERRORS * std * math.sqrt(1 / values.numel() + 1 / ref.numel())
    if abs(values.mean().item() - ref.mean().item()) >= mean_tolerance:
        raise AssertionError(f"{what}: the mean differs from torch.nn.init's (it should be 0).")
