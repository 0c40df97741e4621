"""Utilities for the assignments' tests.

:func:`forbid` lets a hidden test check that a student *implemented*
something rather than called the library function that the task is about;
:func:`assert_std` and :func:`assert_matches_reference` compare random
samples with tolerances derived from the sample size.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch


class ForbiddenCallError(AssertionError):
    """Raised when a student's function calls a function that its task forbids."""


def _resolve(qualified_name: str) -> tuple[Any, str, Any]:
    module_name, _, attribute = qualified_name.rpartition(".")
    if not module_name:
        raise ValueError(f"expected a qualified name like 'torch.nn.init.kaiming_normal_', got {qualified_name!r}")
    module = importlib.import_module(module_name)
    return module, attribute, getattr(module, attribute)


def _global_namespaces(functions: tuple[Callable[..., Any], ...]) -> list[dict[str, Any]]:
    namespaces: list[dict[str, Any]] = []
    for function in functions:
        if not callable(function):
            raise TypeError(f"forbid() checks functions, got {type(function).__name__}")
        namespace = getattr(inspect.unwrap(function), "__globals__", None)
        if namespace is not None and all(namespace is not seen for seen in namespaces):
            namespaces.append(namespace)
    return namespaces


@contextmanager
def forbid(qualified_names: list[str] | tuple[str, ...], *functions: Callable[..., Any]) -> Iterator[None]:
    """Make the named library functions raise while the block runs; restore them after.

    Both ways a student can reach a function are covered: through its module
    (``torch.nn.init.kaiming_normal_``, ``nn.init.kaiming_normal_``, ``import
    torch.nn.init as init``) and through a name bound by ``from ... import``
    in the namespace where the student's ``functions`` were defined (as
    ``inspect.getclosurevars`` would show it).

    Args:
        qualified_names: e.g. ``["torch.nn.init.kaiming_normal_"]``.
        *functions: the student's functions whose global names are checked.

    Raises:
        ForbiddenCallError: (inside the block) when a forbidden function is called.
    """
    patches: list[tuple[Any, str, Any]] = []  # (module or namespace, name, original)
    replacements: dict[int, Callable[..., Any]] = {}
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
