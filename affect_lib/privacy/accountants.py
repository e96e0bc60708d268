"""Privacy accountants for the subsampled Gaussian mechanism, with one opacus-style interface.

Every accountant has ``step(...)``, ``get_epsilon(delta)``, ``history`` and ``len()``:

- :class:`WassersteinAccountant`: the paper's Wasserstein accountant (needs the gradient differences per step);
- :class:`BayesianAccountant`: Bayesian DP (Triastcyn & Faltings 2020), the paper's BDP baseline;
- :class:`RDPAccountant`: Renyi DP from opacus's subsampled-Gaussian RDP, with the optimal (Balle et al. 2020)
  conversion or the paper's basic single-order one;
- :class:`PLDAccountant`: dp_accounting's privacy-loss distributions (tight);
- opacus's ``PRVAccountant`` and ``GaussianAccountant`` (tight / CLT), through :func:`make_accountant`.

Noise is given as opacus does: a noise multiplier z and a clipping norm C, the noise standard deviation is z * C.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
from scipy import special, stats

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
        sample_rate: q in [0, 1].
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


def _step_inputs(
    grad_diffs: Any, distances: Any, noise_multiplier: float, max_grad_norm: float
) -> tuple[np.ndarray, float, float]:
    """Validated (pair distances, noise multiplier, clipping norm) of one accountant step."""
    if (grad_diffs is None) == (distances is None):
        raise ValueError("give exactly one of grad_diffs and distances")
    d = (
        pair_distances(grad_diffs)
        if distances is None
        else check_nonnegative(distances, "distances").reshape(-1)
    )
    z = float(check_positive(noise_multiplier, "noise_multiplier"))
    c = float(check_positive(max_grad_norm, "max_grad_norm"))
    return d, z, c


class WassersteinStep(NamedTuple):
    """One accounted step: noise multiplier z, sampling rate q, number of gradient pairs, and its loss W_t."""

    noise_multiplier: float
    sample_rate: float
    n_pairs: int
    loss: float


class WassersteinAccountant:
    """The paper's Wasserstein accountant: eps = sum_t W_t + log(1/delta) / beta.

    Args:
        order: mu >= 1 (the paper uses 16).
        beta: beta > 0 of the generalised (mu, eps)-WDP (the paper: 32 for deep learning, 1 for Figure 2).
        paper_compat: reproduce the released code: float32 moments (see :func:`wasserstein_step_loss`) and the
            inverted delta formula delta = beta e^{W - eps} in :meth:`get_delta` (correct: e^{beta (W - eps)}).
    """

    def __init__(self, order: float = 16.0, beta: float = 1.0, *, paper_compat: bool = False) -> None:
        self.order = float(check_order(order))
        self.beta = float(check_positive(beta, "beta"))
        self.paper_compat = bool(paper_compat)
        self.history: list[WassersteinStep] = []

    def step(
        self,
        grad_diffs: Any = None,
        *,
        noise_multiplier: float,
        sample_rate: float,
        max_grad_norm: float = 1.0,
        distances: Any = None,
    ) -> float:
        """Account one step and return its loss W_t.

        Args:
            grad_diffs: differences of neighbouring gradients, shape (n_pairs, dim); or give ``distances``.
            noise_multiplier: z > 0; the noise standard deviation is z * max_grad_norm.
            sample_rate: q in [0, 1].
            max_grad_norm: the clipping norm C > 0.
            distances: precomputed ||g_i - g'_i||, shape (n_pairs,), instead of ``grad_diffs``.
        """
        d, z, c = _step_inputs(grad_diffs, distances, noise_multiplier, max_grad_norm)
        loss = wasserstein_step_loss(d, z * c, sample_rate, self.order, paper_compat=self.paper_compat)
        self.history.append(WassersteinStep(z, float(sample_rate), int(d.size), loss))
        return loss

    @property
    def privacy_loss(self) -> float:
        """sum_t W_t, the composed Wasserstein loss (sequential composition is additive)."""
        return float(sum(s.loss for s in self.history))

    def get_epsilon(self, delta: float) -> float:
        """eps = sum_t W_t + log(1/delta) / beta."""
        return self.privacy_loss - np.log(check_delta(delta)) / self.beta

    def epsilon_history(self, delta: float) -> np.ndarray:
        """eps after each step, shape (steps,)."""
        losses = np.array([s.loss for s in self.history])
        return np.cumsum(losses) - np.log(check_delta(delta)) / self.beta

    def get_delta(self, epsilon: float) -> float:
        """The failure probability at budget eps: min(1, e^{beta (W - eps)}) (``paper_compat``: beta e^{W - eps})."""
        eps = float(check_nonnegative(epsilon, "epsilon"))
        if self.paper_compat:
            return float(self.beta * np.exp(self.privacy_loss - eps))
        return float(min(1.0, np.exp(self.beta * (self.privacy_loss - eps))))

    def mechanism(self) -> str:
        return "wdp"

    def __len__(self) -> int:
        return len(self.history)


def log_binomial_moment(distances: Any, noise_std: float, sample_rate: float, order: int) -> np.ndarray:
    """Bayesian-DP privacy cost c(lambda) of the subsampled Gaussian for each pair, shape (n_pairs,).

    c = max(log E_{k~Bin(lambda+1, q)} e^{(k^2-k) r}, log E_{k~Bin(lambda, q)} e^{(k^2+k) r}), r = d^2/(2 sigma^2)
    (Triastcyn & Faltings 2020, Thm. 3). With d = C this is lambda * RDP_{lambda+1} of the subsampled Gaussian of
    noise multiplier sigma / C, the moments accountant of Abadi et al. (2016).
    """
    d = check_nonnegative(distances, "distances").reshape(-1)
    sigma = float(check_positive(noise_std, "noise_std"))
    q = check_sample_rate(sample_rate)
    lam = _check_integer_order(order)
    r = (d / sigma) ** 2 / 2
    return np.maximum(_log_binom_expect(r, q, lam + 1, -1), _log_binom_expect(r, q, lam, 1))


def _log_binom_expect(r: np.ndarray, q: float, n: int, sign: int) -> np.ndarray:
    """log sum_k Binom(n, k) q^k (1-q)^(n-k) exp((k^2 + sign k) r), shape (n_pairs,)."""
    k = np.arange(n + 1, dtype=np.float64)
    log_pmf = stats.binom.logpmf(k, n, q)
    return special.logsumexp(log_pmf + np.outer(r, k * k + sign * k), axis=1)


def _check_integer_order(order: Any) -> int:
    lam = float(check_order(order))
    if lam != int(lam):
        raise ValueError(f"order must be an integer for the Bayesian accountant, got {order!r}")
    return int(lam)


class BayesianStep(NamedTuple):
    """One accounted BDP step: noise multiplier, sampling rate, number of pairs and the estimated cost c_t."""

    noise_multiplier: float
    sample_rate: float
    n_pairs: int
    cost: float


class BayesianAccountant:
    """Bayesian DP (Triastcyn & Faltings 2020): eps = (sum_t c_t - log delta) / lambda.

    c_t is an upper confidence bound on log E_pairs[e^{c(lambda)}] over the sampled gradient pairs
    (Student-t bound at level ``confidence``), as in the paper's BDP baseline.

    Args:
        order: lambda, a positive integer (the paper: 16).
        confidence: the level of the one-sided Student-t bound (the paper: 1 - 1e-16).
    """

    def __init__(self, order: int = 16, confidence: float = 1 - 1e-16) -> None:
        self.order = _check_integer_order(order)
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
        self.confidence = float(confidence)
        self.history: list[BayesianStep] = []

    def step(
        self,
        grad_diffs: Any = None,
        *,
        noise_multiplier: float,
        sample_rate: float,
        max_grad_norm: float = 1.0,
        distances: Any = None,
    ) -> float:
        """Account one step from >= 2 pairs of neighbouring gradients; returns c_t (see WassersteinAccountant)."""
        d, z, c = _step_inputs(grad_diffs, distances, noise_multiplier, max_grad_norm)
        if d.size < 2:
            raise ValueError("the Bayesian accountant needs at least 2 gradient pairs per step")
        costs = log_binomial_moment(d, z * c, sample_rate, self.order)
        top = costs.max()
        scaled = np.exp(costs - top)
        t_quantile = stats.t.ppf(self.confidence, d.size - 1)
        bound = scaled.mean() + t_quantile * scaled.std(ddof=1) / np.sqrt(d.size)
        cost = float(top + np.log(bound))
        self.history.append(BayesianStep(z, float(sample_rate), int(d.size), cost))
        return cost

    def get_epsilon(self, delta: float) -> float:
        return (sum(s.cost for s in self.history) - np.log(check_delta(delta))) / self.order

    def epsilon_history(self, delta: float) -> np.ndarray:
        """eps after each step, shape (steps,)."""
        costs = np.array([s.cost for s in self.history])
        return (np.cumsum(costs) - np.log(check_delta(delta))) / self.order

    def mechanism(self) -> str:
        return "bdp"

    def __len__(self) -> int:
        return len(self.history)


def _check_noise_rate(noise_multiplier: float, sample_rate: float) -> tuple[float, float]:
    return float(check_positive(noise_multiplier, "noise_multiplier")), check_sample_rate(sample_rate)


class _MergedHistory:
    """opacus-style history [(noise_multiplier, sample_rate, steps)], merging repeated identical steps."""

    def __init__(self) -> None:
        self.history: list[tuple[float, float, int]] = []

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        z, q = _check_noise_rate(noise_multiplier, sample_rate)
        if not isinstance(steps, int | np.integer) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if self.history and self.history[-1][:2] == (z, q):
            self.history[-1] = (z, q, self.history[-1][2] + int(steps))
        else:
            self.history.append((z, q, int(steps)))

    def __len__(self) -> int:
        return sum(s for _, _, s in self.history)


DEFAULT_RDP_ORDERS = tuple([1 + x / 10 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024])
"""dp_accounting's default grid: dense near 1, where the optimum lies for small budgets."""


class RDPAccountant(_MergedHistory):
    """Renyi DP of the Poisson-subsampled Gaussian (opacus ``compute_rdp``) converted to (eps, delta)-DP.

    Args:
        orders: the RDP orders alpha > 1 to optimise over (default :data:`DEFAULT_RDP_ORDERS`).
        conversion: ``"optimal"``: Balle et al. 2020 Thm. 21 (opacus's ``get_privacy_spent``);
            ``"basic"``: Mironov 2017 eps = rdp + log(1/delta) / (alpha - 1), the paper's moments accountant.
    """

    def __init__(self, orders: Any = DEFAULT_RDP_ORDERS, conversion: str = "optimal") -> None:
        super().__init__()
        alphas = check_order(orders, "orders").reshape(-1)
        if np.any(alphas <= 1):
            raise ValueError("orders must be > 1")
        if conversion not in ("optimal", "basic"):
            raise ValueError(f"conversion must be 'optimal' or 'basic', got {conversion!r}")
        self.orders = alphas
        self.conversion = conversion

    def get_rdp(self) -> np.ndarray:
        """The composed RDP at each order, shape (n_orders,)."""
        from opacus.accountants.analysis.rdp import compute_rdp

        total = np.zeros_like(self.orders)
        for z, q, steps in self.history:
            total += np.asarray(compute_rdp(q=q, noise_multiplier=z, steps=steps, orders=list(self.orders)))
        return total

    def get_privacy_spent(self, delta: float) -> tuple[float, float]:
        """(eps, best order) at ``delta``."""
        from opacus.accountants.analysis.rdp import get_privacy_spent

        delta = check_delta(delta)
        rdp = self.get_rdp()
        if self.conversion == "optimal":
            with (
                warnings.catch_warnings()
            ):  # opacus warns when the optimum is at the grid's edge: we return it
                warnings.filterwarnings("ignore", message="Optimal order is the")
                eps, alpha = get_privacy_spent(orders=list(self.orders), rdp=list(rdp), delta=delta)
            return float(eps), float(alpha)
        eps = rdp + np.log(1 / delta) / (self.orders - 1)
        best = int(np.nanargmin(eps))
        return float(eps[best]), float(self.orders[best])

    def get_epsilon(self, delta: float) -> float:
        return self.get_privacy_spent(delta)[0]

    def mechanism(self) -> str:
        return "rdp"


class PLDAccountant(_MergedHistory):
    """dp_accounting's privacy-loss-distribution accountant for the Poisson-subsampled Gaussian (tight).

    Args:
        value_discretization_interval: the PLD grid step (smaller: tighter and slower).
    """

    def __init__(self, value_discretization_interval: float = 1e-4) -> None:
        super().__init__()
        self.value_discretization_interval = float(
            check_positive(value_discretization_interval, "value_discretization_interval")
        )

    def get_epsilon(self, delta: float) -> float:
        from dp_accounting import dp_event
        from dp_accounting.pld.pld_privacy_accountant import PLDAccountant as _PLD

        delta = check_delta(delta)
        accountant = _PLD(value_discretization_interval=self.value_discretization_interval)
        for z, q, steps in self.history:
            event = dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(z))
            accountant.compose(event, count=steps)
        return float(accountant.get_epsilon(delta))

    def mechanism(self) -> str:
        return "pld"


def make_accountant(name: str, **kwargs: Any) -> Any:
    """An accountant by name: ``wdp``, ``bdp``, ``rdp``, ``pld`` (this module) or ``prv``, ``gdp`` (opacus).

    ``kwargs`` go to the constructor. All share ``step(...)`` / ``get_epsilon(delta)`` / ``history``; ``wdp`` and
    ``bdp`` also need the gradient differences in ``step``.
    """
    from opacus.accountants import GaussianAccountant, PRVAccountant

    table = {
        "wdp": WassersteinAccountant,
        "bdp": BayesianAccountant,
        "rdp": RDPAccountant,
        "pld": PLDAccountant,
        "prv": PRVAccountant,
        "gdp": GaussianAccountant,
    }
    if name not in table:
        raise ValueError(f"name must be one of {sorted(table)}, got {name!r}")
    return table[name](**kwargs)
