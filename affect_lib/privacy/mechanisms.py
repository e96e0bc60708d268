"""The privacy budgets of the Laplace and Gaussian mechanisms: the paper's Table 1 and the exact values.

All functions broadcast over numpy arrays. Sensitivity is Delta = 1 unless given; ``scale`` is the Laplace scale
lambda (density exp(-|x|/lambda) / (2 lambda)) and ``sigma`` the Gaussian standard deviation.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from affect_lib.privacy.validation import as_float_array, check_order, check_positive


def dp_laplace(scale: np.ndarray | float, sensitivity: np.ndarray | float = 1.0) -> np.ndarray:
    """Pure epsilon-DP of the Laplace mechanism: Delta / lambda."""
    return check_positive(sensitivity, "sensitivity") / check_positive(scale, "scale")


def dp_gaussian(sigma: np.ndarray | float) -> np.ndarray:
    """Pure epsilon-DP of the Gaussian mechanism: infinite for every sigma (Table 1)."""
    return np.full_like(check_positive(sigma, "sigma"), np.inf)


def rdp_laplace(alpha: np.ndarray | float, scale: np.ndarray | float) -> np.ndarray:
    """Renyi DP of order alpha of the Laplace mechanism, Delta = 1 (Mironov 2017, Table 2).

    alpha > 1: 1/(alpha-1) log[alpha/(2alpha-1) e^{(alpha-1)/lambda} + (alpha-1)/(2alpha-1) e^{-alpha/lambda}];
    alpha = 1 (KL): 1/lambda + e^{-1/lambda} - 1. Evaluated with ``logaddexp`` so large 1/lambda cannot overflow.
    """
    a, lam = np.broadcast_arrays(check_order(alpha, "alpha"), check_positive(scale, "scale"))
    kl = 1 / lam + np.expm1(-1 / lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_mix = np.logaddexp(
            np.log(a / (2 * a - 1)) + (a - 1) / lam, np.log((a - 1) / (2 * a - 1)) - a / lam
        )
        renyi = log_mix / (a - 1)
    return np.where(a == 1, kl, renyi)


def rdp_gaussian(alpha: np.ndarray | float, sigma: np.ndarray | float) -> np.ndarray:
    """Renyi DP of order alpha of the Gaussian mechanism, Delta = 1: alpha / (2 sigma^2)."""
    return check_order(alpha, "alpha") / (2 * check_positive(sigma, "sigma") ** 2)


def wdp_laplace(
    order: np.ndarray | float, scale: np.ndarray | float, sensitivity: np.ndarray | float = 1.0
) -> np.ndarray:
    """The paper's Table-1 WDP of the Laplace mechanism: (Delta/2) (2 [1/lambda + e^{-1/lambda} - 1])^{1/(2 mu)}.

    This is *not* the Wasserstein distance of the mechanism (that is :func:`exact_wdp_additive`).
    """
    mu = check_order(order)
    lam = check_positive(scale, "scale")
    kl = 1 / lam + np.expm1(-1 / lam)
    return 0.5 * check_positive(sensitivity, "sensitivity") * (2 * kl) ** (1 / (2 * mu))


def wdp_gaussian(
    order: np.ndarray | float, sigma: np.ndarray | float, sensitivity: np.ndarray | float = 1.0
) -> np.ndarray:
    """The paper's Table-1 WDP of the Gaussian mechanism: (1/2) (Delta / sigma)^{1/mu}.

    This is *not* the Wasserstein distance of the mechanism (that is :func:`exact_wdp_additive`).
    """
    mu = check_order(order)
    return 0.5 * (check_positive(sensitivity, "sensitivity") / check_positive(sigma, "sigma")) ** (1 / mu)


def exact_wdp_additive(order: np.ndarray | float, sensitivity: np.ndarray | float = 1.0) -> np.ndarray:
    """The exact W_mu between f(D) + Z and f(D') + Z for *any* noise law Z: ||f(D) - f(D')|| = Delta.

    W_mu >= W_1 >= |E[f(D)+Z] - E[f(D')+Z]| = Delta, and the shift coupling z -> z + Delta attains Delta, for
    every order mu >= 1 and every noise scale. Returned broadcast to the shape of ``order``.
    """
    mu = check_order(order)
    delta = check_positive(sensitivity, "sensitivity")
    return np.broadcast_to(delta, np.broadcast_shapes(mu.shape, delta.shape)).copy()


def attack_success_probability(epsilon: np.ndarray | float) -> np.ndarray:
    """The paper's attack-success bound P(A) = 1 / (1 + e^{-epsilon}) (Triastcyn & Faltings 2020, Sec. 3)."""
    eps = as_float_array(epsilon, "epsilon")
    if np.any(eps < 0):
        raise ValueError("epsilon must be >= 0")
    return special.expit(eps)
