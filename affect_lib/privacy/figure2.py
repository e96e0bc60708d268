"""The paper's Figure-2 experiment (synthetic gradients composed over 100 steps) and the mechanism it runs.

Each step draws ``n_grads`` gradients of dimension ``dim`` from a Weibull(0.5) law, clips the rows to C_t = a
quantile of their norms, and forms all pairs. The mechanism being accounted adds Gaussian noise of standard
deviation z C_t (z = 0.2, the released ``sigma``) to the sum of the clipped gradients of a Poisson sample with
rate q. Adding or removing one record moves that sum by at most C_t, so in the DP accountants' terms (add/remove
adjacency, noise multiplier = noise std / sensitivity) the mechanism has noise multiplier z = 0.2; replacing one
record moves it by up to 2 C_t (``replace_one``). The released notebook's DP baseline instead fed its moments
accountant the distance 2 C_t with the noise z C_t, i.e. noise multiplier z / 2 = 0.1 with add/remove
adjacency: a sensitivity the mechanism does not have (:attr:`Figure2.released_noise_multiplier`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist

from affect_lib.privacy.accountants import BayesianAccountant, WassersteinAccountant
from affect_lib.privacy.analysis import pld, rdp


@dataclass(frozen=True)
class Figure2:
    """The released settings of paper Fig. 2."""

    steps: int = 100
    noise_multiplier: float = 0.2
    """Noise standard deviation / C_t: the DP noise multiplier of the mechanism that ran (add/remove, sensitivity
    C_t)."""
    sample_rate: float = 1e-3
    delta: float = 1e-5
    order: float = 16.0
    beta: float = 1.0
    n_grads: int = 50
    dim: int = 1000
    quantiles: tuple[float, ...] = (0.05, 0.50, 0.75, 0.99)

    @property
    def released_noise_multiplier(self) -> float:
        """The released DP baseline's noise multiplier: the noise z C_t over the distance 2 C_t it was fed."""
        return self.noise_multiplier / 2

    def run(
        self, quantile: float, rng: np.random.Generator, scale: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One seeded run of ``steps`` steps: (WDP eps after each step, BDP eps after each step, C_t), each (steps,).

        ``scale`` multiplies every gradient (a change of units); C_t, being a quantile of the norms, scales too.
        """
        w_acc, b_acc = WassersteinAccountant(self.order, beta=self.beta), BayesianAccountant(int(self.order))
        clip = np.zeros(self.steps)
        for t in range(self.steps):
            grads = scale * rng.weibull(0.5, size=(self.n_grads, self.dim))
            norms = np.linalg.norm(grads, axis=1)
            c = float(np.quantile(norms, quantile))
            grads *= np.minimum(1.0, c / norms)[:, None]
            d = pdist(grads)  # the n (n - 1) / 2 pair distances
            for acc in (w_acc, b_acc):
                acc.step(
                    distances=d,
                    noise_multiplier=self.noise_multiplier,
                    sample_rate=self.sample_rate,
                    max_grad_norm=c,
                )
            clip[t] = c
        return w_acc.epsilon_history(self.delta), b_acc.epsilon_history(self.delta), clip

    def tight_epsilon(
        self,
        steps: int,
        neighboring_relation: str = "add_remove",
        value_discretization_interval: float = 1e-3,
    ) -> float:
        """The tight (PLD) eps at ``delta`` of ``steps`` steps of the mechanism that ran (noise multiplier z)."""
        return pld.pld_epsilon(
            [(self.noise_multiplier, self.sample_rate, int(steps))],
            self.delta,
            value_discretization_interval,
            neighboring_relation,
        )

    def rdp_epsilon(self, steps: int) -> tuple[float, float]:
        """(eps, best order) of RDP at the optimal real order (the grid's best, refined by a bounded 1-D
        minimisation) for ``steps`` steps of the mechanism that ran."""
        return rdp.rdp_epsilon(
            [(self.noise_multiplier, self.sample_rate, int(steps))], self.delta, refine=True
        )

    def released_dp_epsilon(self, steps: int) -> float:
        """The released baseline: RDP at the single order 17 with the basic conversion, noise multiplier z / 2."""
        return rdp.rdp_epsilon(
            [(self.released_noise_multiplier, self.sample_rate, int(steps))], self.delta, [17.0], "basic"
        )[0]
