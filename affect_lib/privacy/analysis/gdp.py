"""Gaussian DP of the Poisson-subsampled Gaussian by the central limit theorem (Dong, Roth & Su 2022; opacus).

mu = q sqrt(T (e^{1/z^2} - 1)) and eps solves delta = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2). An
asymptotic approximation: it can *underestimate* eps (opacus warns so), most at large q.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import optimize, stats

from affect_lib.privacy.analysis._history import check_history
from affect_lib.privacy.validation import check_delta


def gdp_mu(history: Iterable[tuple[float, float, int]]) -> float:
    """The CLT's mu of a history; one (z, q) only, as in opacus."""
    hist = check_history(history)
    if len({(z, q) for z, q, _ in hist}) > 1:
        raise ValueError("the GDP accountant needs one noise multiplier and one sample rate for all steps")
    z, q = hist[0][:2]
    steps = sum(s for _, _, s in hist)
    return float(q * np.sqrt(steps * np.expm1(1 / z**2)))


def gdp_delta(mu: float, epsilon: float) -> float:
    """delta(eps) of mu-GDP: Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)."""
    tail = np.exp(epsilon + stats.norm.logcdf(-epsilon / mu - mu / 2))  # log space: e^eps overflows
    return float(stats.norm.cdf(-epsilon / mu + mu / 2) - tail)


def gdp_epsilon(history: Iterable[tuple[float, float, int]], delta: float) -> float:
    """eps at ``delta`` of the CLT's mu (see :func:`epsilon_from_mu`)."""
    return epsilon_from_mu(gdp_mu(history), delta)


def epsilon_from_mu(mu: float, delta: float) -> float:
    """eps at ``delta`` of mu-GDP; ``inf`` when no eps <= 1e4 reaches that delta.

    Exact for the Gaussian mechanism without subsampling, mu = Delta / sigma (Balle & Wang 2018's analytic
    Gaussian); the CLT's mu for q = 1 is not 1 / z, so use this with mu = 1 / z there.
    """
    mu = float(mu)
    delta = check_delta(delta)
    if not mu >= 0:
        raise ValueError(f"mu must be >= 0, got {mu!r}")
    if mu == 0:
        return 0.0
    if not np.isfinite(mu):
        return float("inf")
    if gdp_delta(mu, 0.0) <= delta:
        return 0.0
    if gdp_delta(mu, 1e4) > delta:
        return float("inf")
    return float(optimize.brentq(lambda e: gdp_delta(mu, e) - delta, 0.0, 1e4, xtol=1e-12))
