"""Bayesian differential privacy (Triastcyn & Faltings 2020) of the subsampled Gaussian, as pure functions."""

from __future__ import annotations

import functools
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


def log_binomial_moment(distances: Any, noise_std: Any, sample_rate: float, order: int) -> np.ndarray:
    """Bayesian-DP privacy cost c(lambda) of the subsampled Gaussian for each pair, the shape of ``distances``.

    c = max(log E_{k~Bin(lambda+1, q)} e^{(k^2-k) r}, log E_{k~Bin(lambda, q)} e^{(k^2+k) r}), r = d^2/(2 sigma^2)
    (Triastcyn & Faltings 2020, Thm. 3). With d = C the first term is lambda * RDP_{lambda+1} of the subsampled
    Gaussian of noise multiplier sigma / C, the moments accountant of Abadi et al. (2016).

    Args:
        distances: pair distances d, shape (n_pairs,) (or (steps, n_pairs)).
        noise_std: sigma > 0, a scalar (or one per step, shape (steps, 1)).
        sample_rate: q in (0, 1].
        order: lambda, a positive integer.
    """
    d = check_nonnegative(distances, "distances")
    d = d.reshape(-1) if d.ndim < 2 else d
    sigma = check_positive(noise_std, "noise_std")
    sigma = float(sigma) if sigma.ndim == 0 else sigma
    q = check_sample_rate(sample_rate)
    lam = check_integer_order(order)
    r = (d / sigma) ** 2 / 2
    return np.maximum(log_binomial_expectation(r, q, lam + 1, -1), log_binomial_expectation(r, q, lam, 1))


def log_binomial_expectation(r: np.ndarray, q: float, n: int, sign: int) -> np.ndarray:
    """log sum_k Binom(n, k) q^k (1-q)^(n-k) exp((k^2 + sign k) r), the shape of ``r``."""
    k = np.arange(n + 1, dtype=np.float64)
    return special.logsumexp(_binomial_log_pmf(n, q) + r[..., None] * (k * k + sign * k), axis=-1)


@functools.lru_cache(maxsize=256)
def _binomial_log_pmf(n: int, q: float) -> np.ndarray:
    """log Binom(n, k) q^k (1-q)^(n-k) for k = 0..n, shape (n + 1,) (cached: the same at every step; read-only)."""
    log_pmf = stats.binom.logpmf(np.arange(n + 1, dtype=np.float64), n, q)
    log_pmf.setflags(write=False)
    return log_pmf


@functools.lru_cache(maxsize=256)
def _student_t_quantile(confidence: float, dof: int) -> float:
    """The Student-t quantile at ``confidence`` with ``dof`` degrees of freedom (cached: the same every step)."""
    return stats.t.ppf(confidence, dof)


def bayesian_step_cost(
    distances: Any, noise_std: float, sample_rate: float, order: int, confidence: float
) -> float:
    """c_t: the one-sided Student-t upper confidence bound on log E_pairs[e^{c(lambda)}] over >= 2 pairs.

    The mean and sample standard deviation (ddof 1) of e^{c_i} over the n pairs give
    log(mean + t_{confidence, n-1} sd / sqrt(n)), evaluated relative to the largest c_i to avoid overflow.
    """
    d = check_nonnegative(distances, "distances").reshape(-1)
    sigma = float(check_positive(noise_std, "noise_std"))
    return float(bayesian_step_costs(d[None, :], np.array([sigma]), sample_rate, order, confidence)[0])


def bayesian_step_costs(
    distances: Any, noise_std: Any, sample_rate: float, order: int, confidence: float
) -> np.ndarray:
    """:func:`bayesian_step_cost` of several steps at once, shape (steps,).

    Args:
        distances: each step's pair distances, shape (steps, n_pairs >= 2).
        noise_std: each step's sigma, shape (steps,).
        sample_rate: q in (0, 1], shared by the steps.
        order, confidence: lambda and the level of the Student-t bound.

    Row t gives the same float as ``bayesian_step_cost(distances[t], noise_std[t], ...)`` (the same elementwise
    operations, and each row reduced on its own).
    """
    d = check_nonnegative(distances, "distances")
    sigma = check_positive(noise_std, "noise_std").reshape(-1)
    if d.ndim != 2 or d.shape[0] != sigma.size:
        raise ValueError(
            f"distances must have shape (steps, n_pairs) with steps = {sigma.size}, got {d.shape}"
        )
    n = d.shape[1]
    if n < 2:
        raise ValueError("the Bayesian accountant needs at least 2 gradient pairs per step")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    costs = log_binomial_moment(d, sigma[:, None], sample_rate, order)
    top = costs.max(axis=-1)
    scaled = np.exp(costs - top[:, None])
    t_quantile = _student_t_quantile(confidence, n - 1)
    bound = scaled.mean(axis=-1) + t_quantile * scaled.std(axis=-1, ddof=1) / np.sqrt(n)
    return top + np.log(bound)


def bayesian_epsilon(total_cost: float, delta: float, order: int) -> float:
    """eps = (sum_t c_t - log delta) / lambda."""
    return (float(total_cost) - np.log(check_delta(delta))) / check_integer_order(order)
