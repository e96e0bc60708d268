"""Absolute moments E|X|^mu of a non-central Gaussian X ~ N(m, v), in log space and float64.

The Wasserstein accountant needs E|N(q d, v)|^mu for every pair of neighbouring gradients. The closed form
(Winkelbauer 2012)

    E|N(m, s^2)|^mu = s^mu 2^{mu/2} Gamma((mu+1)/2) / sqrt(pi) * 1F1(-mu/2; 1/2; -m^2/(2 s^2))

over- and underflows when evaluated directly for large mu, tiny s or m >> s. Here it is evaluated as
``mu log s + h_mu(t)`` with ``t = |m|/s``:

- even integer mu: h is the log of the polynomial sum_j C(mu, 2j) (2j-1)!! t^(mu-2j) (a log-sum-exp, exact);
- otherwise, t <= max(30, 3 mu): the closed form with SciPy's float64 ``hyp1f1``;
- otherwise: the large-argument expansion t^mu * sum_n (-mu/2)_n (1/2-mu/2)_n / (n! x^n), x = t^2/2, whose
  neglected remainder is of order e^(-x) <= e^(-450).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

from affect_lib.privacy.validation import as_float_array, check_order, check_positive

_ASYMPTOTIC_TERMS = 30


def log_abs_moment_normal(mean: np.ndarray | float, var: np.ndarray | float, order: float) -> np.ndarray:
    """log E|X|^order for X ~ N(mean, var), elementwise.

    Args:
        mean: means m, any shape (broadcast against ``var``).
        var: variances v > 0, broadcastable to ``mean``.
        order: the moment order mu >= 1 (a scalar).

    Returns:
        float64 array of the broadcast shape; finite for every finite input.
    """
    mu = float(check_order(order))
    m = as_float_array(mean, "mean")
    v = check_positive(var, "var")
    if not np.all(np.isfinite(m)):
        raise ValueError("mean must be finite")
    try:
        m, v = np.broadcast_arrays(m, v)
    except ValueError as err:
        raise ValueError(f"mean and var must broadcast together, got shapes {m.shape} and {v.shape}") from err
    log_s = 0.5 * np.log(v)
    t = np.abs(m) / np.sqrt(v)
    if mu % 2 == 0:
        return mu * log_s + _log_even_polynomial(t, int(mu))
    return mu * log_s + _log_standardised_moment(t, mu)


def abs_moment_normal(mean: np.ndarray | float, var: np.ndarray | float, order: float) -> np.ndarray:
    """E|X|^order for X ~ N(mean, var) (``exp`` of :func:`log_abs_moment_normal`; may overflow to inf)."""
    return np.exp(log_abs_moment_normal(mean, var, order))


def _log_even_polynomial(t: np.ndarray, mu: int) -> np.ndarray:
    """log E(t + Z)^mu, Z ~ N(0, 1), mu even: log sum_j C(mu, 2j) (2j-1)!! t^(mu-2j)."""
    log_coef, power = _even_polynomial_terms(mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_t = np.log(t)[..., None]
        log_pow = np.where(power == 0, 0.0, power * log_t)
    return special.logsumexp(log_coef + log_pow, axis=-1)


@functools.lru_cache(maxsize=64)
def _even_polynomial_terms(mu: int) -> tuple[np.ndarray, np.ndarray]:
    """log C(mu, 2j) (2j-1)!! and the power mu - 2j for j = 0..mu/2, each shape (mu/2 + 1,) (cached, read-only)."""
    j = np.arange(mu // 2 + 1, dtype=np.float64)
    log_coef = (
        special.gammaln(mu + 1.0)
        - special.gammaln(2 * j + 1)
        - special.gammaln(mu - 2 * j + 1)
        + j * np.log(2.0)
        + special.gammaln(j + 0.5)
        - 0.5 * np.log(np.pi)
    )
    power = mu - 2 * j
    log_coef.setflags(write=False)
    power.setflags(write=False)
    return log_coef, power


def _log_standardised_moment(t: np.ndarray, mu: float) -> np.ndarray:
    """log E|t + Z|^mu, Z ~ N(0, 1), any mu >= 1 (hypergeometric form, asymptotic series for large t)."""
    out = np.empty_like(t)
    large = t > max(30.0, 3.0 * mu)
    small = ~large
    x = 0.5 * t[small] ** 2
    out[small] = (
        0.5 * mu * np.log(2.0)
        + special.gammaln(0.5 * (mu + 1))
        - 0.5 * np.log(np.pi)
        + np.log(special.hyp1f1(-0.5 * mu, 0.5, -x))
    )
    if np.any(large):
        x = 0.5 * t[large] ** 2
        term = np.ones_like(x)
        total = np.ones_like(x)
        for n in range(_ASYMPTOTIC_TERMS):
            term = term * (n - 0.5 * mu) * (n + 0.5 - 0.5 * mu) / ((n + 1) * x)
            total += term
        out[large] = mu * np.log(t[large]) + np.log(total)
    return out
