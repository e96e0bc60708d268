"""Renyi and Kullback-Leibler divergences for the contrasts with W_mu (asymmetry, no triangle inequality)."""

from __future__ import annotations

from typing import Any

import numpy as np

from affect_lib.privacy.validation import as_float_array, check_order, check_positive


def renyi_bernoulli(alpha: Any, p: Any, q: Any) -> np.ndarray:
    """D_alpha(Bern(p) || Bern(q)), elementwise; alpha = 1 gives the KL divergence (nats).

    D_alpha = log(p^alpha q^{1-alpha} + (1-p)^alpha (1-q)^{1-alpha}) / (alpha - 1), with p, q in (0, 1).
    """
    a = check_order(alpha, "alpha")
    pa, qa = _open_unit(p, "p"), _open_unit(q, "q")
    kl = pa * np.log(pa / qa) + (1 - pa) * np.log((1 - pa) / (1 - qa))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sum = np.logaddexp(
            a * np.log(pa) + (1 - a) * np.log(qa), a * np.log1p(-pa) + (1 - a) * np.log1p(-qa)
        )
        renyi = log_sum / (a - 1)
    return np.where(a == 1, kl, renyi)


def kl_gaussian(mean_p: Any, std_p: Any, mean_q: Any, std_q: Any) -> np.ndarray:
    """KL(N(mean_p, std_p^2) || N(mean_q, std_q^2)) in nats, elementwise."""
    mp, mq = as_float_array(mean_p, "mean_p"), as_float_array(mean_q, "mean_q")
    sp, sq = check_positive(std_p, "std_p"), check_positive(std_q, "std_q")
    return np.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5


def _open_unit(value: Any, name: str) -> np.ndarray:
    arr = as_float_array(value, name)
    if np.any((arr <= 0) | (arr >= 1)):
        raise ValueError(f"{name} must lie in the open interval (0, 1)")
    return arr
