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
    if (
        right is None
        and isinstance(left, np.ndarray)
        and left.dtype == np.float64
        and left.ndim == 2
        and len(left)
    ):
        # the common case, without scanning the input twice for NaN and inf: a NaN or inf entry makes its row's
        # norm NaN or inf, and only then does the full check below run (to name the problem)
        with np.errstate(over="ignore", invalid="ignore"):  # the full path below warns, as it always did
            d = np.sqrt(np.add.reduce(left * left, axis=1))  # np.linalg.norm(left, axis=1), the same floats
        if np.all(np.isfinite(d)):
            return d
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


def all_pair_distances(grads: Any) -> np.ndarray:
    """The k(k-1)/2 distances ||g_j - g_k|| (j < k, in :func:`all_pair_differences`' order) between the rows of
    ``grads`` (k, dim), shape (k(k-1)/2,).

    Equal to ``pair_distances(all_pair_differences(grads))`` (the same subtractions, squares and row sums as
    ``np.linalg.norm``), without the index arrays, the temporaries of fancy indexing or the k(k-1)/2 x dim array.
    A float32 CPU torch tensor (a DP-SGD step's probe gradients, as opacus leaves them) goes through the library's
    C operator (:mod:`affect_lib.kernels`), which computes the same bits in one pass.
    """
    fast = _kernel_pair_distances(grads)
    if fast is not None and np.all(np.isfinite(fast)):
        return fast
    g = as_float_array(grads, "grads")
    if g.ndim != 2 or g.shape[0] < 2:
        raise ValueError(f"grads must have shape (k >= 2, dim), got {g.shape}")
    k = g.shape[0]
    block = np.empty((k - 1, g.shape[1]))  # one row's differences at a time: the buffer stays in cache
    sums = np.empty(k * (k - 1) // 2)
    row = 0
    for j in range(k - 1):
        diffs = block[: k - 1 - j]
        np.subtract(g[j], g[j + 1 :], out=diffs)
        np.multiply(diffs, diffs, out=diffs)
        np.add.reduce(diffs, axis=1, out=sums[row : row + k - 1 - j])
        row += k - 1 - j
    if not np.all(np.isfinite(sums)) and not np.all(np.isfinite(g)):  # an inf entry: every sum through it
        raise ValueError("gradient differences must be finite")
    return np.sqrt(sums)


def _kernel_pair_distances(grads: Any) -> np.ndarray | None:
    """``affect::pair_distances`` of a (k >= 2, dim) float32 CPU torch tensor, else None (not a tensor of that
    kind, or no kernel here: the NumPy form then computes the same bits)."""
    if not hasattr(grads, "detach") or grads.device.type != "cpu" or grads.dim() != 2 or grads.shape[0] < 2:
        return None
    import torch

    from affect_lib.kernels import library

    if grads.dtype != torch.float32 or library(say=False) is None:
        return None
    return torch.ops.affect.pair_distances(grads.detach().contiguous()).numpy()


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
    var = _noise_variance(sigma, q)
    if paper_compat:
        x = ((q * d) ** 2 / (2 * var)).astype(np.float32)
        lead = (2 * var) ** (mu / 2) * special.gamma((mu + 1) / 2) / np.sqrt(np.pi)
        with np.errstate(over="ignore", invalid="ignore"):
            moments = np.float32(lead) * special.hyp1f1(np.float32(-mu / 2), np.float32(0.5), -x).astype(
                np.float32
            )
            return float(np.sum(moments, dtype=np.float32) ** np.float32(1 / mu))
    return float(wasserstein_step_losses(d[None, :], np.array([sigma]), q, mu)[0])


def wasserstein_step_losses(distances: Any, noise_std: Any, sample_rate: float, order: float) -> np.ndarray:
    """:func:`wasserstein_step_loss` of several steps at once (log space), shape (steps,).

    Args:
        distances: each step's pair distances, shape (steps, n_pairs).
        noise_std: each step's sigma, shape (steps,).
        sample_rate: q in (0, 1], shared by the steps.
        order: mu >= 1.

    Row t gives the same float as ``wasserstein_step_loss(distances[t], noise_std[t], sample_rate, order)``
    (the same elementwise operations, and each row reduced on its own).
    """
    d = check_nonnegative(distances, "distances")
    sigma = check_positive(noise_std, "noise_std").reshape(-1)
    if d.ndim != 2 or d.shape[0] != sigma.size:
        raise ValueError(
            f"distances must have shape (steps, n_pairs) with steps = {sigma.size}, got {d.shape}"
        )
    q = check_sample_rate(sample_rate)
    mu = float(check_order(order))
    var = np.array([[_noise_variance(s, q)] for s in sigma.tolist()])  # (steps, 1), each as one step's
    log_moments = log_abs_moment_normal(q * d, var, mu)
    return np.exp(special.logsumexp(log_moments, axis=-1) / mu)


def _noise_variance(sigma: float, q: float) -> float:
    """v = 2 (1 - q + q^2) sigma^2, the variance of the difference of two subsampled noisy updates."""
    return 2.0 * (1.0 - q + q * q) * sigma**2


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
