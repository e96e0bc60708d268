"""Bayesian differential privacy (Triastcyn & Faltings 2020) of the subsampled Gaussian, as pure functions."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

from affect_lib.privacy.validation import (
    check_delta,
    check_nonnegative,
    check_order,
    check_positive,
    check_sample_rate,
)


def check_integer_order(order: Any) -> int:
    """The Bayesian accountant's order lambda: a positive integer."""
    lam = float(check_order(order))
    if lam != int(lam):
        raise ValueError(f"order must be an integer for the Bayesian accountant, got {order!r}")
    return int(lam)


def log_binomial_moment(distances: Any, noise_std: float, sample_rate: float, order: int) -> np.ndarray:
    """Bayesian-DP privacy cost c(lambda) of the subsampled Gaussian for each pair, shape (n_pairs,).

    c = max(log E_{k~Bin(lambda+1, q)} e^{(k^2-k) r}, log E_{k~Bin(lambda, q)} e^{(k^2+k) r}), r = d^2/(2 sigma^2)
    (Triastcyn & Faltings 2020, Thm. 3). With d = C the first term is lambda * RDP_{lambda+1} of the subsampled
    Gaussian of noise multiplier sigma / C, the moments accountant of Abadi et al. (2016).
    """
    d = check_nonnegative(distances, "distances").reshape(-1)
    sigma = float(check_positive(noise_std, "noise_std"))
    q = check_sample_rate(sample_rate)
    lam = check_integer_order(order)
    r = (d / sigma) ** 2 / 2
    return np.maximum(log_binomial_expectation(r, q, lam + 1, -1), log_binomial_expectation(r, q, lam, 1))


def log_binomial_expectation(r: np.ndarray, q: float, n: int, sign: int) -> np.ndarray:
    """log sum_k Binom(n, k) q^k (1-q)^(n-k) exp((k^2 + sign k) r), shape (n_pairs,)."""
    k = np.arange(n + 1, dtype=np.float64)
    log_pmf = stats.binom.logpmf(k, n, q)
    return special.logsumexp(log_pmf + np.outer(r, k * k + sign * k), axis=1)


def bayesian_step_cost(
    distances: Any, noise_std: float, sample_rate: float, order: int, confidence: float
) -> float:
    """c_t: the one-sided Student-t upper confidence bound on log E_pairs[e^{c(lambda)}] over >= 2 pairs.

    The mean and sample standard deviation (ddof 1) of e^{c_i} over the n pairs give
    log(mean + t_{confidence, n-1} sd / sqrt(n)), evaluated relative to the largest c_i to avoid overflow.
    """
    d = check_nonnegative(distances, "distances").reshape(-1)
    if d.size < 2:
        raise ValueError("the Bayesian accountant needs at least 2 gradient pairs per step")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    costs = log_binomial_moment(d, noise_std, sample_rate, order)
    top = costs.max()
    scaled = np.exp(costs - top)
    t_quantile = stats.t.ppf(confidence, d.size - 1)
    bound = scaled.mean() + t_quantile * scaled.std(ddof=1) / np.sqrt(d.size)
    return float(top + np.log(bound))


def bayesian_epsilon(total_cost: float, delta: float, order: int) -> float:
    """eps = (sum_t c_t - log delta) / lambda."""
    return (float(total_cost) - np.log(check_delta(delta))) / check_integer_order(order)
