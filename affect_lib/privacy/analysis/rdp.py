"""Renyi DP of the Poisson-subsampled Gaussian (opacus's ``compute_rdp``) and its conversions to (eps, delta)-DP.

Adjacency: add/remove one record, sensitivity C (the noise multiplier is noise std / C).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from affect_lib.privacy.analysis._history import check_history
from affect_lib.privacy.validation import check_delta, check_order

DEFAULT_RDP_ORDERS = tuple(
    [1 + x / 1000 for x in range(1, 10)]
    + [1 + x / 100 for x in range(1, 10)]
    + [1 + x / 10 for x in range(1, 100)]
    + list(range(11, 64))
    + [128, 256, 512, 1024]
)
"""dp_accounting's default grid extended below 1.1 (down to 1.001): for large budgets and many steps the optimum
order approaches 1, and an optimum at the grid's smallest order means the grid is too short."""

CONVERSIONS = ("optimal", "basic")


def check_orders(orders: Any) -> np.ndarray:
    """RDP orders: a non-empty 1-D array of finite numbers > 1."""
    alphas = check_order(orders, "orders").reshape(-1)
    if alphas.size == 0 or np.any(alphas <= 1):
        raise ValueError("orders must be a non-empty list of numbers > 1")
    return alphas


def compute_rdp(history: Iterable[tuple[float, float, int]], orders: Any = DEFAULT_RDP_ORDERS) -> np.ndarray:
    """The composed RDP of a history of subsampled-Gaussian steps at each order, shape (n_orders,).

    Composition is ``steps`` times one step's RDP, summed over the history's entries; one step's RDP at every
    order (opacus's series, the expensive part) is computed once per (z, q, orders) and cached
    (:func:`step_rdp`), so asking again after more steps costs one multiply-add per entry.
    """
    alphas = check_orders(orders)
    total = np.zeros_like(alphas)
    for z, q, steps in check_history(history):
        total += step_rdp(z, q, tuple(alphas.tolist())) * steps
    return total


@functools.lru_cache(maxsize=1024)
def step_rdp(noise_multiplier: float, sample_rate: float, orders: tuple[float, ...]) -> np.ndarray:
    """One step's RDP of the subsampled Gaussian at each order (opacus's ``compute_rdp`` with one step), shape
    (n_orders,); cached by its arguments, so the returned array is read-only."""
    from opacus.accountants.analysis.rdp import compute_rdp as _opacus_rdp

    rdp = np.asarray(
        _opacus_rdp(
            q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=list(np.asarray(orders))
        ),
        dtype=np.float64,
    )
    rdp.setflags(write=False)
    return rdp


def rdp_to_epsilon(orders: Any, rdp: Any, delta: float, conversion: str = "optimal") -> tuple[float, float]:
    """(eps, best order) from RDP values at several orders.

    Args:
        orders: alpha > 1, shape (n,).
        rdp: RDP at each order, shape (n,).
        delta: target delta in (0, 1).
        conversion: ``"optimal"``: Balle et al. 2020 Thm. 21, eps = rdp - (log delta + log alpha)/(alpha - 1)
            + log((alpha - 1)/alpha) (opacus's ``get_privacy_spent``); ``"basic"``: Mironov 2017,
            eps = rdp + log(1/delta)/(alpha - 1) (the paper's moments accountant).

    Warns (``UserWarning``) when several orders are given and the optimum is the smallest or the largest: the
    grid is then too short and the bound is looser than it needs to be.
    """
    alphas = check_orders(orders)
    values = np.asarray(rdp, dtype=np.float64).reshape(-1)
    if values.shape != alphas.shape:
        raise ValueError(f"orders and rdp must have the same length, got {alphas.size} and {values.size}")
    delta = check_delta(delta)
    if conversion == "optimal":
        eps = values - (np.log(delta) + np.log(alphas)) / (alphas - 1) + np.log((alphas - 1) / alphas)
    elif conversion == "basic":
        eps = values + np.log(1 / delta) / (alphas - 1)
    else:
        raise ValueError(f"conversion must be one of {CONVERSIONS}, got {conversion!r}")
    if np.isnan(eps).all():
        return float("inf"), float("nan")
    best = int(np.nanargmin(eps))
    if alphas.size > 1 and best in (0, alphas.size - 1):
        edge = "smallest" if best == 0 else "largest"
        warnings.warn(
            f"Optimal RDP order is the {edge} order of the grid ({alphas[best]:g}): extend the grid",
            stacklevel=2,
        )
    return float(eps[best]), float(alphas[best])


def rdp_epsilon(
    history: Iterable[tuple[float, float, int]],
    delta: float,
    orders: Any = DEFAULT_RDP_ORDERS,
    conversion: str = "optimal",
    refine: bool = False,
) -> tuple[float, float]:
    """(eps, best order) of a history at ``delta`` (see :func:`rdp_to_epsilon`).

    With ``refine`` the order is then optimised continuously between the grid orders next to the grid's best
    (a bounded 1-D minimisation, scipy's ``minimize_scalar``; the RDP of the subsampled Gaussian is defined at
    every real order > 1): the result is never above the grid's, and it is the optimum over real orders when the
    bound is unimodal in the order between those neighbours (the tests compare it with a fine grid).
    """
    alphas = check_orders(orders)
    history = list(check_history(history))
    eps, best = rdp_to_epsilon(alphas, compute_rdp(history, alphas), delta, conversion)
    if not refine or not np.isfinite(eps) or alphas.size < 2:
        return eps, best
    return _refine_order(history, delta, conversion, np.sort(alphas), eps, best)


def _refine_order(
    history: list[tuple[float, float, int]],
    delta: float,
    conversion: str,
    alphas: np.ndarray,
    eps: float,
    best: float,
) -> tuple[float, float]:
    """Minimise eps over real orders between the grid neighbours of ``best`` (``eps`` at ``best``)."""
    from scipy.optimize import minimize_scalar

    i = int(np.searchsorted(alphas, best))
    lo = alphas[i - 1] if i > 0 else 1 + (alphas[0] - 1) / 2
    hi = alphas[i + 1] if i + 1 < alphas.size else alphas[i] * 2

    def objective(order: float) -> float:
        rdp = compute_rdp(history, [order])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = rdp_to_epsilon([order], rdp, delta, conversion)[0]
        return value if np.isfinite(value) else np.inf

    res = minimize_scalar(objective, bounds=(float(lo), float(hi)), method="bounded", options={"xatol": 1e-6})
    if res.success and np.isfinite(res.fun) and res.fun < eps:
        return float(res.fun), float(res.x)
    return eps, best
