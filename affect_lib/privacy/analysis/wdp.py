"""The paper's Wasserstein accountant (Yang, Qi & Zhou 2024), as pure functions.

One step of the subsampled Gaussian mechanism with noise standard deviation sigma and sampling rate q, for pairs of
neighbouring gradients with distances d_i, has the loss

    W_t = (sum_i E|N(q d_i, v)|^mu)^{1/mu},  v = 2 (1 - q + q^2) sigma^2,

composed additively over steps, and eps = sum_t W_t + log(1/delta) / beta. W_t is in the units of the gradients:
rescaling every gradient and the clipping norm by s multiplies it by s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from affect_lib.privacy.moments import log_abs_moment_normal
from affect_lib.privacy.validation import (
    as_float_array,
    check_delta,
    check_nonnegative,
    check_order,
    check_positive,
    check_same_shape,
    check_sample_rate,
)


def pair_distances(left: Any, right: Any | None = None) -> np.ndarray:
    """Euclidean distances ||left_i - right_i|| of paired gradients, shape (n_pairs,).

    Args:
        left: gradients, shape (n_pairs, dim) (numpy or torch); if ``right`` is None these are already the
            differences g_i - g'_i.
        right: the neighbouring gradients, same shape as ``left``.
    """
    a = as_float_array(left, "left")
    if right is not None:
        b = as_float_array(right, "right")
        check_same_shape(a, b, "left", "right")
        a = a - b
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"gradient differences must have shape (n_pairs, dim), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("gradient differences must be finite")
    return np.linalg.norm(a, axis=1)


def all_pair_differences(grads: Any) -> np.ndarray:
    """The k(k-1)/2 differences g_j - g_k (j < k) between the rows of ``grads`` (k, dim): the paper's pairs."""
    g = as_float_array(grads, "grads")
    if g.ndim != 2 or g.shape[0] < 2:
        raise ValueError(f"grads must have shape (k >= 2, dim), got {g.shape}")
    j, k = np.triu_indices(g.shape[0], 1)
    return g[j] - g[k]


def wasserstein_step_loss(
    distances: Any, noise_std: float, sample_rate: float, order: float, *, paper_compat: bool = False
) -> float:
    """The Wasserstein accountant's loss of one step: W_t = (sum_i E|N(q d_i, v)|^mu)^{1/mu}.

    Args:
        distances: d_i = ||g_i - g'_i|| for each pair of neighbouring gradients, shape (n_pairs,).
        noise_std: sigma, the standard deviation of the Gaussian noise (noise multiplier * clipping norm).
        sample_rate: q in (0, 1].
        order: mu >= 1.
        paper_compat: evaluate the released code's way, in float32 and not in log space (overflows to inf or
            gives nan for large q d / sigma or large mu; kept to show what the released numbers did).

    Returns:
        W_t in gradient-norm units, with v = 2 (1 - q + q^2) sigma^2.
    """
    d = check_nonnegative(distances, "distances").reshape(-1)
    sigma = float(check_positive(noise_std, "noise_std"))
    q = check_sample_rate(sample_rate)
    mu = float(check_order(order))
    var = 2.0 * (1.0 - q + q * q) * sigma**2
    if paper_compat:
        x = ((q * d) ** 2 / (2 * var)).astype(np.float32)
        lead = (2 * var) ** (mu / 2) * special.gamma((mu + 1) / 2) / np.sqrt(np.pi)
        with np.errstate(over="ignore", invalid="ignore"):
            moments = np.float32(lead) * special.hyp1f1(np.float32(-mu / 2), np.float32(0.5), -x).astype(
                np.float32
            )
            return float(np.sum(moments, dtype=np.float32) ** np.float32(1 / mu))
    log_moments = log_abs_moment_normal(q * d, var, mu)
    return float(np.exp(special.logsumexp(log_moments) / mu))


def wasserstein_noise_floor(n_pairs: int, noise_std: float, sample_rate: float, order: float) -> float:
    """The smallest possible W_t: identical gradients (d = 0), n^{1/mu} sqrt(2(1-q+q^2)) sigma (E|Z|^mu)^{1/mu}.

    E|N(m, v)|^mu >= E|N(0, v)|^mu, so every step of the accountant costs at least this much.
    """
    if not isinstance(n_pairs, int | np.integer) or n_pairs < 1:
        raise ValueError(f"n_pairs must be a positive integer, got {n_pairs!r}")
    return wasserstein_step_loss(np.zeros(int(n_pairs)), noise_std, sample_rate, order)


def wasserstein_epsilon(total_loss: float, delta: float, beta: float) -> float:
    """The generalised (mu, eps)-WDP budget eps = sum_t W_t + log(1/delta) / beta."""
    loss = float(check_nonnegative(total_loss, "total_loss"))
    return loss - np.log(check_delta(delta)) / float(check_positive(beta, "beta"))


def wasserstein_delta(total_loss: float, epsilon: float, beta: float, *, paper_compat: bool = False) -> float:
    """The inverse of :func:`wasserstein_epsilon`: delta = min(1, e^{beta (W - eps)}).

    ``paper_compat``: the released code's (wrong) inverse beta e^{W - eps}.
    """
    loss = float(check_nonnegative(total_loss, "total_loss"))
    eps = float(check_nonnegative(epsilon, "epsilon"))
    b = float(check_positive(beta, "beta"))
    if paper_compat:
        return float(b * np.exp(loss - eps))
    return float(min(1.0, np.exp(b * (loss - eps))))
