"""Exact Wasserstein distances W_mu: 1-D quantile form, continuous laws, Gaussians, one subsampled Gaussian step,
and POT for d > 1.

W_mu(P, Q) = (inf over couplings gamma of E_gamma ||X - Y||^mu)^{1/mu}. In one dimension the optimal coupling is
the quantile coupling, W_mu^mu = int_0^1 |F_P^{-1}(u) - F_Q^{-1}(u)|^mu du, which is exact for (weighted)
empirical laws and is integrated by Gauss-Legendre quadrature for continuous ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

from affect_lib.privacy.validation import (
    as_float_array,
    check_nonnegative,
    check_order,
    check_positive,
    check_sample_rate,
    check_weights,
)


def wasserstein_distance(
    x: Any,
    y: Any,
    order: float = 1.0,
    x_weights: Any = None,
    y_weights: Any = None,
) -> float:
    """Exact W_order between two weighted empirical laws on the real line (quantile form).

    Args:
        x: support points of P, shape (n,).
        y: support points of Q, shape (m,).
        order: mu >= 1.
        x_weights, y_weights: non-negative weights, shapes (n,) and (m,) (normalised; uniform if None).

    Returns:
        W_mu(P, Q) in the units of x.
    """
    mu = float(check_order(order))
    xs, xw = _sorted_atoms(x, x_weights, "x")
    ys, yw = _sorted_atoms(y, y_weights, "y")
    cx, cy = np.cumsum(xw), np.cumsum(yw)
    cx[-1] = cy[-1] = 1.0
    u = np.union1d(cx, cy)  # right ends of the intervals on which both quantile functions are constant
    du = np.diff(u, prepend=0.0)
    mid = u - 0.5 * du
    qx = xs[np.minimum(np.searchsorted(cx, mid), xs.size - 1)]
    qy = ys[np.minimum(np.searchsorted(cy, mid), ys.size - 1)]
    return float(np.sum(du * np.abs(qx - qy) ** mu) ** (1 / mu))


def wasserstein_continuous(p: Any, q: Any, order: float = 1.0, n_nodes: int = 4000) -> float:
    """W_order between two continuous 1-D laws given as frozen ``scipy.stats`` distributions (``ppf`` needed).

    Gauss-Legendre quadrature of the quantile form with ``n_nodes`` nodes on (0, 1); exact (to rounding) for
    translations, where the integrand is constant.
    """
    mu = float(check_order(order))
    for name, dist in (("p", p), ("q", q)):
        if not hasattr(dist, "ppf"):
            raise ValueError(f"{name} must be a frozen scipy.stats distribution with a ppf, got {type(dist)}")
    if n_nodes < 2:
        raise ValueError(f"n_nodes must be >= 2, got {n_nodes}")
    nodes, weights = special.roots_legendre(n_nodes)
    u, w = 0.5 * (nodes + 1), 0.5 * weights
    return float(np.sum(w * np.abs(p.ppf(u) - q.ppf(u)) ** mu) ** (1 / mu))


def wasserstein_gaussian(mean_p: Any, std_p: Any, mean_q: Any, std_q: Any) -> np.ndarray:
    """Closed-form W_2 between N(mean_p, std_p^2) and N(mean_q, std_q^2), elementwise.

    W_2^2 = (mean_p - mean_q)^2 + (std_p - std_q)^2; for equal stds this is the shift |mean_p - mean_q|.
    """
    mp, mq = as_float_array(mean_p, "mean_p"), as_float_array(mean_q, "mean_q")
    sp, sq = check_positive(std_p, "std_p"), check_positive(std_q, "std_q")
    return np.sqrt((mp - mq) ** 2 + (sp - sq) ** 2)


def wasserstein_ot(x: Any, y: Any, order: float = 1.0, x_weights: Any = None, y_weights: Any = None) -> float:
    """W_order between empirical laws in R^d with the Euclidean ground metric, by exact OT (POT ``ot.emd2``).

    Args:
        x: points of P, shape (n, d) (or (n,) for d = 1).
        y: points of Q, shape (m, d).
        order: mu >= 1.
        x_weights, y_weights: weights (normalised; uniform if None).
    """
    import ot

    mu = float(check_order(order))
    xa, ya = _points(x, "x"), _points(y, "y")
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {xa.shape[1]} and {ya.shape[1]}")
    a = check_weights(x_weights, xa.shape[0], "x_weights")
    b = check_weights(y_weights, ya.shape[0], "y_weights")
    cost = ot.dist(xa, ya, metric="euclidean") ** mu
    return float(max(ot.emd2(a, b, cost, numItermax=10**7), 0.0) ** (1 / mu))


def _sorted_atoms(points: Any, weights: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    arr = as_float_array(points, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    w = check_weights(weights, arr.size, f"{name}_weights")
    order = np.argsort(arr, kind="stable")
    return arr[order], w[order]


def _points(points: Any, name: str) -> np.ndarray:
    arr = as_float_array(points, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, d) with n > 0, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def wasserstein_subsampled_gaussian(
    noise_std: float, sample_rate: float, distance: float = 1.0, order: float = 1.0, n_nodes: int = 2000
) -> float:
    """Exact W_order of one Poisson-subsampled Gaussian step: (1 - q) N(0, s^2) + q N(d, s^2) against N(0, s^2).

    The two output laws of the step on neighbouring datasets (add/remove one record whose gradient is at distance
    ``d`` from zero, included with probability ``q``, noise standard deviation ``s``). In R^k the distance is the
    same: the orthogonal components are identical (couple them identically), and the projection onto d is
    1-Lipschitz. The 1-D quantile form W^mu = int_0^1 |F_P^{-1}(u) - F_Q^{-1}(u)|^mu du is integrated in the
    variable x = F_P^{-1}(u), W^mu = E_{X ~ P} |X - s Phi^{-1}(F_P(X))|^mu, so the mixture's quantile function is
    never inverted numerically: each mixture component is integrated by Gauss-Legendre quadrature over
    +-12 standard deviations (``n_nodes`` nodes each; the mass outside is 4e-33), with F_P near 1 read from its
    survival function. Always q d <= W <= q^(1/mu) d (the mean shift; the coupling that moves only the q part).

    Args:
        noise_std: s > 0.
        sample_rate: q in (0, 1].
        distance: d >= 0, the norm of the record's (clipped) gradient.
        order: mu >= 1.
        n_nodes: quadrature nodes per mixture component (>= 50).
    """
    s = float(check_positive(noise_std, "noise_std"))
    q = check_sample_rate(sample_rate)
    d = float(check_nonnegative(distance, "distance"))
    mu = float(check_order(order))
    if int(n_nodes) != n_nodes or n_nodes < 50:
        raise ValueError(f"n_nodes must be an integer >= 50, got {n_nodes!r}")
    if d == 0:
        return 0.0
    z, w = special.roots_legendre(int(n_nodes))
    z, w = 12.0 * z, 12.0 * w * stats.norm.pdf(12.0 * z)
    total = 0.0
    for weight, centre in ((1.0 - q, 0.0), (q, d)):
        if weight == 0:
            continue
        x = centre + s * z
        cdf = (1 - q) * stats.norm.cdf(x / s) + q * stats.norm.cdf((x - d) / s)
        sf = (1 - q) * stats.norm.sf(x / s) + q * stats.norm.sf((x - d) / s)
        target = s * np.where(cdf < 0.5, stats.norm.ppf(cdf), stats.norm.isf(sf))  # F_Q^{-1}(F_P(x))
        total += weight * float(np.sum(w * np.abs(x - target) ** mu))
    return float(total ** (1 / mu))
