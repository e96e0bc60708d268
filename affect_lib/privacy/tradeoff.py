"""f-DP trade-off curves (Dong, Roth & Su 2022): the smallest type-II error of any test of M(D) against M(D')
at each type-I error alpha. The diagonal 1 - alpha is perfect privacy; the curve 0 is no privacy at all.

- :func:`gaussian_tradeoff`: mu-GDP, e.g. the Gaussian mechanism with mu = Delta / sigma (exact);
- :func:`shift_tradeoff`: any additive mechanism whose noise has a log-concave density (Laplace, Gaussian);
- :func:`eps_delta_tradeoff`: what a single (eps, delta)-DP guarantee promises;
- :func:`profile_tradeoff`: the envelope of the (eps, delta(eps)) guarantees of a whole privacy profile, e.g. the
  PLD's delta(eps) of DP-SGD (tight up to the PLD's pessimistic discretisation);
- :func:`empirical_min_total_error`: the best threshold test's type I + type II error measured on samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from affect_lib.privacy.validation import as_float_array, check_nonnegative


def _type_one(alpha: Any) -> np.ndarray:
    a = as_float_array(alpha, "alpha")
    if np.any((a < 0) | (a > 1)):
        raise ValueError("alpha (type-I error) must lie in [0, 1]")
    return a


def gaussian_tradeoff(alpha: Any, mu: float) -> np.ndarray:
    """G_mu(alpha) = Phi(Phi^{-1}(1 - alpha) - mu): testing N(0, 1) against N(mu, 1), shape of ``alpha``."""
    m = float(check_nonnegative(mu, "mu"))
    return stats.norm.cdf(stats.norm.ppf(1 - _type_one(alpha)) - m)


def eps_delta_tradeoff(alpha: Any, epsilon: float, delta: float) -> np.ndarray:
    """f_{eps, delta}(alpha) = max(0, 1 - delta - e^eps alpha, e^-eps (1 - delta - alpha)) (Wasserman-Zhou)."""
    a = _type_one(alpha)
    eps = float(check_nonnegative(epsilon, "epsilon"))
    d = float(check_nonnegative(delta, "delta"))
    if d > 1:
        raise ValueError(f"delta must be <= 1, got {delta!r}")
    with np.errstate(over="ignore"):
        first = 1 - d - np.exp(eps) * a
    return np.maximum.reduce([np.zeros_like(a), first, np.exp(-eps) * (1 - d - a)])


def profile_tradeoff(alpha: Any, epsilons: Any, deltas: Any) -> np.ndarray:
    """sup over the profile of f_{eps_i, delta_i}(alpha), shape of ``alpha``.

    Args:
        alpha: type-I errors in [0, 1].
        epsilons, deltas: a privacy profile delta(eps), shapes (n,) (e.g. :func:`~.analysis.pld.pld_delta`).
    """
    eps = check_nonnegative(epsilons, "epsilons").reshape(-1)
    dlt = check_nonnegative(deltas, "deltas").reshape(-1)
    if eps.shape != dlt.shape or eps.size == 0:
        raise ValueError(
            f"epsilons and deltas must be non-empty and of one length, got {eps.size}, {dlt.size}"
        )
    a = _type_one(alpha)
    return np.max([eps_delta_tradeoff(a, e, min(d, 1.0)) for e, d in zip(eps, dlt, strict=True)], axis=0)


def shift_tradeoff(alpha: Any, noise: Any, shift: float) -> np.ndarray:
    """Testing Z against shift + Z for a noise law with a monotone likelihood ratio (log-concave density).

    The best tests are thresholds (Neyman-Pearson), so beta(alpha) = F(F^{-1}(1 - alpha) - shift): exact for the
    Laplace and Gaussian mechanisms. ``noise``: a frozen ``scipy.stats`` law with ``cdf`` and ``ppf``.
    """
    if not (hasattr(noise, "cdf") and hasattr(noise, "ppf")):
        raise ValueError(f"noise must be a frozen scipy.stats distribution, got {type(noise).__name__}")
    d = float(check_nonnegative(shift, "shift"))
    return noise.cdf(noise.ppf(1 - _type_one(alpha)) - d)


def empirical_min_total_error(x: Any, y: Any) -> float:
    """The smallest type I + type II error of any threshold test on samples ``x`` of M(D) and ``y`` of M(D').

    Tests "decide D' when the output > t" and the reverse, over every threshold that splits the samples
    differently; 1 - the largest gap between the two empirical CDFs. Exact on samples (no smoothing): 0 means some
    threshold separates every sample of one law from every sample of the other.
    """
    a = as_float_array(x, "x").reshape(-1)
    b = as_float_array(y, "y").reshape(-1)
    if a.size == 0 or b.size == 0 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("x and y must be non-empty and finite")
    t = np.unique(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), t, side="right") / a.size
    cdf_b = np.searchsorted(np.sort(b), t, side="right") / b.size
    gap = float(np.max(np.abs(cdf_a - cdf_b), initial=0.0))
    return 1.0 - gap
