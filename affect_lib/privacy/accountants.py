"""Stateful privacy accountants on one small opacus-style interface, created by name.

Every accountant has ``step(...)``, ``get_epsilon(delta)``, ``history``, ``len()``, ``mechanism()`` and
``state_dict()`` / ``load_state_dict()``; the analyses themselves are the pure functions of
:mod:`affect_lib.privacy.analysis`. Two kinds:

- *DP accountants* (``rdp``, ``pld``, ``prv``, ``gdp``) need only the mechanism's parameters:
  ``step(noise_multiplier=z, sample_rate=q, steps=1)``; their history is opacus's ``[(z, q, steps)]``.
  Adjacency: add/remove one record with sensitivity C (``pld`` can also do replace-one).
- *Pair accountants* (``wdp``: the paper's Wasserstein accountant; ``bdp``: Bayesian DP) also need the
  differences of neighbouring gradients at each step: ``step(grad_diffs, noise_multiplier=z, sample_rate=q,
  max_grad_norm=C)``. The differences fed to them define their adjacency (replace-one pairs: ||d|| <= 2C).

Noise is given as opacus does: the noise standard deviation is z * C. Every input is checked: z > 0, q in (0, 1],
delta in (0, 1); a sample rate of 0 is refused everywhere (it means no record is used; the Wasserstein formula
would still charge its noise floor for it), and so is asking any accountant for epsilon before its first step.
``pld`` and ``prv`` refuse noise so small that their grids would need more memory than a machine has (they name
the noise multiplier and the coarser setting that would fit; ``rdp`` handles any noise).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, NamedTuple

import numpy as np

from affect_lib.privacy.analysis import bdp, gdp, pld, prv, rdp, wdp
from affect_lib.privacy.analysis._history import check_history
from affect_lib.privacy.validation import check_nonnegative, check_order, check_positive, check_sample_rate


@functools.lru_cache(maxsize=256, typed=True)
def _history_entry(noise_multiplier: Any, sample_rate: Any, steps: Any) -> tuple[float, float, int]:
    """One validated ``(z, q, steps)`` history entry (see :func:`~.analysis._history.check_history`)."""
    return check_history([(noise_multiplier, sample_rate, steps)])[0]


@functools.lru_cache(maxsize=256, typed=True)
def _pair_step_scalars(
    noise_multiplier: Any, sample_rate: Any, max_grad_norm: Any
) -> tuple[float, float, float]:
    """A pair step's validated (z > 0, q in (0, 1], C > 0)."""
    z = float(check_positive(noise_multiplier, "noise_multiplier"))
    return z, check_sample_rate(sample_rate), float(check_positive(max_grad_norm, "max_grad_norm"))


def _checked(args: tuple, check: Any) -> tuple:
    """``check(*args)``, remembered when every argument is an (immutable) Python or NumPy number: a step repeats
    the same few scalars thousands of times; the cache is typed, so 1 and 1.0 are checked apart. Anything else
    (arrays, tensors, which can change in place) is checked every time."""
    if all(isinstance(a, int | float | np.integer | np.floating) for a in args):
        return check(*args)
    return check.__wrapped__(*args)


class Accountant:
    """The shared interface: a history, ``step``, ``get_epsilon``, ``len``, ``mechanism`` and a state dict."""

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        self.history: list = []

    def step(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - the subclasses define it
        raise NotImplementedError

    def get_epsilon(self, delta: float) -> float:  # pragma: no cover - the subclasses define it
        raise NotImplementedError

    def mechanism(self) -> str:
        return self.name

    def state_dict(self) -> dict[str, Any]:
        """The history and the mechanism's name (plain Python, JSON-serialisable)."""
        return {"mechanism": self.name, "history": [tuple(entry) for entry in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` of the same mechanism (checked)."""
        if not isinstance(state, dict) or state.get("mechanism") != self.name:
            raise ValueError(f"state_dict is not that of a {self.name!r} accountant: {state!r:.80}")
        self.history = self._check_loaded(state.get("history", []))

    def _check_loaded(self, history: list) -> list:
        return check_history(history) if history else []


class _DPAccountant(Accountant):
    """History [(noise_multiplier, sample_rate, steps)], merging repeated identical steps (as opacus)."""

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        """Account ``steps`` steps of the subsampled Gaussian with noise multiplier z > 0 and rate q in (0, 1]."""
        z, q, n = _checked((noise_multiplier, sample_rate, steps), _history_entry)
        if self.history and self.history[-1][:2] == (z, q):
            self.history[-1] = (z, q, self.history[-1][2] + n)
        else:
            self.history.append((z, q, n))

    def __len__(self) -> int:
        return sum(s for _, _, s in self.history)


class RDPAccountant(_DPAccountant):
    """Renyi DP of the Poisson-subsampled Gaussian converted to (eps, delta)-DP.

    Args:
        orders: the RDP orders alpha > 1 to optimise over (default :data:`~.analysis.rdp.DEFAULT_RDP_ORDERS`).
        conversion: ``"optimal"`` (Balle et al. 2020) or ``"basic"`` (Mironov 2017, the paper's moments
            accountant); see :func:`~.analysis.rdp.rdp_to_epsilon`, which warns when the optimum is at the edge.
    """

    name = "rdp"

    def __init__(self, orders: Any = rdp.DEFAULT_RDP_ORDERS, conversion: str = "optimal") -> None:
        super().__init__()
        if conversion not in rdp.CONVERSIONS:
            raise ValueError(f"conversion must be one of {rdp.CONVERSIONS}, got {conversion!r}")
        self.orders = rdp.check_orders(orders)
        self.conversion = conversion

    def get_rdp(self) -> np.ndarray:
        """The composed RDP at each order, shape (n_orders,)."""
        return rdp.compute_rdp(self.history, self.orders)

    def get_privacy_spent(self, delta: float) -> tuple[float, float]:
        """(eps, best order) at ``delta``."""
        return rdp.rdp_epsilon(self.history, delta, self.orders, self.conversion)

    def get_epsilon(self, delta: float) -> float:
        return self.get_privacy_spent(delta)[0]


class PLDAccountant(_DPAccountant):
    """dp_accounting's privacy-loss distributions (tight).

    Args:
        value_discretization_interval: the PLD grid step (smaller: tighter and slower).
        neighboring_relation: ``"add_remove"`` or ``"replace_one"``.
    """

    name = "pld"

    def __init__(self, value_discretization_interval: float = 1e-4, neighboring_relation: str = "add_remove"):
        super().__init__()
        self.value_discretization_interval = float(
            check_positive(value_discretization_interval, "value_discretization_interval")
        )
        if neighboring_relation not in pld.RELATIONS:
            raise ValueError(
                f"neighboring_relation must be one of {pld.RELATIONS}, got {neighboring_relation!r}"
            )
        self.neighboring_relation = neighboring_relation

    def get_epsilon(self, delta: float) -> float:
        return pld.pld_epsilon(
            self.history, delta, self.value_discretization_interval, self.neighboring_relation
        )


class PRVAccountant(_DPAccountant):
    """Privacy random variables (opacus's analysis; upper bound on eps)."""

    name = "prv"

    def __init__(self, eps_error: float = 0.01) -> None:
        super().__init__()
        self.eps_error = float(check_positive(eps_error, "eps_error"))

    def get_epsilon(self, delta: float, delta_error: float | None = None) -> float:
        return prv.prv_epsilon(self.history, delta, self.eps_error, delta_error)


class GaussianAccountant(_DPAccountant):
    """Gaussian DP by the central limit theorem (approximate: can underestimate eps)."""

    name = "gdp"

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        super().step(noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=steps)
        gdp.gdp_mu(self.history)  # one (z, q) only

    def get_epsilon(self, delta: float) -> float:
        return gdp.gdp_epsilon(self.history, delta)


class PairStep(NamedTuple):
    """One step of a pair accountant: noise multiplier z, sampling rate q, number of pairs and its value."""

    noise_multiplier: float
    sample_rate: float
    n_pairs: int
    value: float


class _PairAccountant(Accountant):
    """Accountants that read the differences of neighbouring gradients at every step (``wdp``, ``bdp``).

    ``step`` reads the gradients (their pair distances, O(pairs x dim)) and records them; it does not evaluate
    the step's value. The values of the recorded steps are evaluated together, vectorised over steps, when
    the history, the values or epsilon are next asked for (opacus's accountants, too, only compose at query
    time), each to the same float as the step's own :func:`~.analysis.wdp.wasserstein_step_loss` or
    :func:`~.analysis.bdp.bayesian_step_cost`.
    """

    @property
    def history(self) -> list[PairStep]:
        """One :class:`PairStep` per step, the recorded steps evaluated."""
        if self._pending:
            self._evaluate_pending()
        return self._history

    @history.setter
    def history(self, value: list[PairStep]) -> None:
        self._history: list[PairStep] = value
        self._pending: list[tuple[float, float, np.ndarray, float]] = []  # (z, q, distances, noise std)

    def step(
        self,
        grad_diffs: Any = None,
        *,
        noise_multiplier: float,
        sample_rate: float,
        max_grad_norm: float = 1.0,
        distances: Any = None,
    ) -> None:
        """Account one step (its value is evaluated at the next query: see :meth:`values`).

        Args:
            grad_diffs: differences of neighbouring gradients, shape (n_pairs, dim); or give ``distances``.
            noise_multiplier: z > 0; the noise standard deviation is z * max_grad_norm.
            sample_rate: q in (0, 1].
            max_grad_norm: the clipping norm C > 0.
            distances: precomputed ||g_i - g'_i||, shape (n_pairs,), instead of ``grad_diffs``.
        """
        if (grad_diffs is None) == (distances is None):
            raise ValueError("give exactly one of grad_diffs and distances")
        d = (
            wdp.pair_distances(grad_diffs)
            if distances is None
            else check_nonnegative(distances, "distances").reshape(-1).copy()
        )
        self._check_pairs(d.size)
        z, q, c = _checked((noise_multiplier, sample_rate, max_grad_norm), _pair_step_scalars)
        self._pending.append((z, q, d, z * c))

    def _evaluate_pending(self) -> None:
        """Evaluate the recorded steps, one vectorised call per run of steps with the same q and pair count."""
        pending, self._pending = self._pending, []
        i = 0
        while i < len(pending):
            _, q, d, _ = pending[i]
            j = i + 1
            while j < len(pending) and pending[j][1] == q and pending[j][2].size == d.size:
                j += 1
            run = pending[i:j]
            values = self._step_values(np.stack([p[2] for p in run]), np.array([p[3] for p in run]), q)
            self._history.extend(
                PairStep(z, q, int(d.size), float(v)) for (z, q, d, _), v in zip(run, values, strict=True)
            )
            i = j

    def _check_pairs(self, n_pairs: int) -> None:
        """Refuse a step with too few pairs now, not at the next query."""

    def _step_values(self, distances: np.ndarray, noise_std: np.ndarray, sample_rate: float) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def values(self) -> np.ndarray:
        """Each step's value, shape (steps,)."""
        return np.array([s.value for s in self.history], dtype=np.float64)

    def _accounted(self) -> np.ndarray:
        """The step values, refusing an empty history as the DP accountants do (no step, no budget to report)."""
        if not len(self):
            raise ValueError("the history is empty: account at least one step before asking for epsilon")
        return self.values()

    def _check_loaded(self, history: list) -> list:
        out = []
        for entry in history:
            z, q, n, value = entry
            check_history([(z, q, 1)])
            out.append(PairStep(float(z), float(q), int(n), float(check_nonnegative(value, "value"))))
        return out

    def __len__(self) -> int:
        return len(self._history) + len(self._pending)


class WassersteinAccountant(_PairAccountant):
    """The paper's Wasserstein accountant: eps = sum_t W_t + log(1/delta) / beta (see :mod:`.analysis.wdp`).

    Args:
        order: mu >= 1 (the paper uses 16).
        beta: beta > 0 of the generalised (mu, eps)-WDP (the paper: 32 for deep learning, 1 for Figure 2).
        paper_compat: reproduce the released code: float32 moments and the inverted delta beta e^{W - eps}
            in :meth:`get_delta` (correct: e^{beta (W - eps)}).
    """

    name = "wdp"

    def __init__(self, order: float = 16.0, beta: float = 1.0, *, paper_compat: bool = False) -> None:
        super().__init__()
        self.order = float(check_order(order))
        self.beta = float(check_positive(beta, "beta"))
        self.paper_compat = bool(paper_compat)

    def _step_values(self, distances: np.ndarray, noise_std: np.ndarray, sample_rate: float) -> np.ndarray:
        if self.paper_compat:  # the released float32 evaluation, one step at a time
            return np.array(
                [
                    wdp.wasserstein_step_loss(d, s, sample_rate, self.order, paper_compat=True)
                    for d, s in zip(distances, noise_std, strict=True)
                ]
            )
        return wdp.wasserstein_step_losses(distances, noise_std, sample_rate, self.order)

    @property
    def privacy_loss(self) -> float:
        """sum_t W_t, the composed Wasserstein loss (sequential composition is additive)."""
        return float(self.values().sum())

    def get_epsilon(self, delta: float) -> float:
        return wdp.wasserstein_epsilon(float(self._accounted().sum()), delta, self.beta)

    def epsilon_history(self, delta: float) -> np.ndarray:
        """eps after each step, shape (steps,)."""
        return np.cumsum(self._accounted()) + (wdp.wasserstein_epsilon(0.0, delta, self.beta))

    def get_delta(self, epsilon: float) -> float:
        """The failure probability at budget eps (see :func:`~.analysis.wdp.wasserstein_delta`)."""
        total = float(self._accounted().sum())
        return wdp.wasserstein_delta(total, epsilon, self.beta, paper_compat=self.paper_compat)


class BayesianAccountant(_PairAccountant):
    """Bayesian DP (Triastcyn & Faltings 2020): eps = (sum_t c_t - log delta) / lambda (see :mod:`.analysis.bdp`).

    Args:
        order: lambda, a positive integer (the paper: 16).
        confidence: the level of the one-sided Student-t bound over the pairs (the paper: 1 - 1e-16).
    """

    name = "bdp"

    def __init__(self, order: int = 16, confidence: float = 1 - 1e-16) -> None:
        super().__init__()
        self.order = bdp.check_integer_order(order)
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
        self.confidence = float(confidence)

    def _check_pairs(self, n_pairs: int) -> None:
        if n_pairs < 2:
            raise ValueError("the Bayesian accountant needs at least 2 gradient pairs per step")

    def _step_values(self, distances: np.ndarray, noise_std: np.ndarray, sample_rate: float) -> np.ndarray:
        return bdp.bayesian_step_costs(distances, noise_std, sample_rate, self.order, self.confidence)

    def get_epsilon(self, delta: float) -> float:
        return bdp.bayesian_epsilon(float(self._accounted().sum()), delta, self.order)

    def epsilon_history(self, delta: float) -> np.ndarray:
        """eps after each step, shape (steps,)."""
        return np.cumsum(self._accounted()) / self.order + bdp.bayesian_epsilon(0.0, delta, self.order)


ACCOUNTANTS: dict[str, type[Accountant]] = {
    cls.name: cls
    for cls in (
        WassersteinAccountant,
        BayesianAccountant,
        RDPAccountant,
        PLDAccountant,
        PRVAccountant,
        GaussianAccountant,
    )
}
"""The accountants by name."""

PAIR_ACCOUNTANTS = ("wdp", "bdp")
"""The accountants whose ``step`` needs the gradient differences."""


def make_accountant(name: str, **kwargs: Any) -> Accountant:
    """An accountant by name (``wdp``, ``bdp``, ``rdp``, ``pld``, ``prv``, ``gdp``); ``kwargs`` go to its class."""
    if name not in ACCOUNTANTS:
        raise ValueError(f"name must be one of {sorted(ACCOUNTANTS)}, got {name!r}")
    return ACCOUNTANTS[name](**kwargs)
