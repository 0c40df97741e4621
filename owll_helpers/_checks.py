"""Input validation shared by the helper modules.

Every public helper checks what it is given and raises a ``TypeError`` or
``ValueError`` that says what was expected, so a student sees the cause of a
mistake instead of a shape error deep inside PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def check_tensor(
    value: object,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    dtype_kind: str | None = None,
    allow_empty: bool = False,
    finite: bool = False,
) -> torch.Tensor:
    """Check that ``value`` is a tensor with the expected rank and dtype kind.

    Args:
        value: the object to check.
        name: the argument's name, used in the error message.
        ndim: the allowed number(s) of dimensions, or ``None`` for any.
        dtype_kind: ``"float"`` for a floating-point tensor, ``"int"`` for an
            integer tensor, or ``None`` for any dtype.
        allow_empty: whether a tensor with no elements is acceptable.
        finite: whether NaN or infinite values are rejected.

    Returns:
        ``value`` itself, for chaining.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            expected = " or ".join(str(n) for n in allowed)
            raise ValueError(
                f"{name} must have {expected} dimensions, got shape {tuple(value.shape)}"
            )
    if dtype_kind == "float" and not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (e.g. torch.float32), got {value.dtype}"
        )
    if dtype_kind == "int" and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor (e.g. torch.int64), got {value.dtype}")
    if not allow_empty and value.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(value.shape)}); expected at least one element")
    if finite and value.is_floating_point() and not torch.isfinite(value).all():
        n_bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite values; expected finite numbers")
    return value


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """Check that ``value`` is an ``int`` of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_fraction(value: object, name: str, *, open_interval: bool = True) -> float:
    """Check that ``value`` is a number in (0, 1) (or [0, 1] when not open)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    low_ok = value > 0 if open_interval else value >= 0
    high_ok = value < 1 if open_interval else value <= 1
    if not (low_ok and high_ok):
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return float(value)


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of the strings in ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return str(value)


def check_labels(
    labels: object, name: str, n_samples: int, *, allow_empty: bool = False, minimum: int = 0
) -> torch.Tensor:
    """Check that ``labels`` is a 1-D integer tensor with one label per sample, none below ``minimum``."""
    check_tensor(labels, name, ndim=1, dtype_kind="int", allow_empty=allow_empty)
    assert isinstance(labels, torch.Tensor)
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"{name} must have one label per sample ({n_samples}), got {labels.shape[0]}"
        )
    if labels.numel() and labels.min() < minimum:
        expected = "non-negative class indices" if minimum == 0 else f"class indices of at least {minimum}"
        raise ValueError(f"{name} must be {expected}, got minimum {int(labels.min())}")
    return labels
