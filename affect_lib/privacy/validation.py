"""Argument checks shared by the privacy modules: every public function rejects bad input with a ``ValueError``
that names the argument and the problem."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_float_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 array; ``ValueError`` naming ``name`` when it is not numeric or holds NaN."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric, got {type(value).__name__}") from err
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    return arr


def check_order(order: Any, name: str = "order") -> np.ndarray:
    """A Wasserstein order mu or Renyi order alpha: finite and >= 1."""
    arr = as_float_array(order, name)
    if not np.all(np.isfinite(arr)) or np.any(arr < 1):
        raise ValueError(f"{name} must be finite and >= 1, got {_show(arr)}")
    return arr


def check_positive(value: Any, name: str, *, allow_inf: bool = False) -> np.ndarray:
    """A scale, standard deviation, sensitivity or beta: > 0 (and finite unless ``allow_inf``)."""
    arr = as_float_array(value, name)
    if np.any(arr <= 0) or (not allow_inf and not np.all(np.isfinite(arr))):
        raise ValueError(f"{name} must be positive{'' if allow_inf else ' and finite'}, got {_show(arr)}")
    return arr


def check_nonnegative(value: Any, name: str) -> np.ndarray:
    """A distance or privacy loss: finite and >= 0."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.size:  # not a masked array or matrix
        # the common case (a step's distances) in two reductions: a NaN makes both of them NaN, and only then,
        # or for a negative or infinite entry, does the full check below run (to name the problem)
        if 0.0 <= value.min() and value.max() < np.inf:
            return value
    arr = as_float_array(value, name)
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite and >= 0, got {_show(arr)}")
    return arr


def check_sample_rate(value: Any, name: str = "sample_rate") -> float:
    """A sampling probability q in (0, 1] (q = 0 uses no record: no accountant takes it)."""
    arr = as_float_array(value, name)
    if arr.ndim != 0 or not 0.0 < float(arr) <= 1.0:
        raise ValueError(f"{name} must be a number in (0, 1], got {_show(arr)}")
    return float(arr)


def check_delta(value: Any, name: str = "delta") -> float:
    """A failure probability delta in the open interval (0, 1)."""
    arr = as_float_array(value, name)
    if arr.ndim != 0 or not 0.0 < float(arr) < 1.0:
        raise ValueError(f"{name} must be a number in the open interval (0, 1), got {_show(arr)}")
    return float(arr)


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` when two arrays that must pair up elementwise differ in shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def check_weights(weights: Any, n: int, name: str) -> np.ndarray:
    """Probability weights for ``n`` atoms: non-negative, finite, positive sum; returned normalised."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = check_nonnegative(weights, name)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match its points, got {w.shape}")
    total = w.sum()
    if total <= 0:
        raise ValueError(f"{name} must have a positive sum")
    return w / total


def _show(arr: np.ndarray) -> str:
    return repr(arr.item()) if arr.ndim == 0 else f"an array with min {np.min(arr)!r} and max {np.max(arr)!r}"
