"""Privacy-loss distributions of the Poisson-subsampled Gaussian (dp_accounting; tight, pessimistic estimate).

``neighboring_relation``: ``"add_remove"`` (add or remove one record, sensitivity C, as RDP and PRV) or
``"replace_one"`` (replace one record: the sum moves by up to 2C).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from affect_lib.privacy.analysis._history import check_history
from affect_lib.privacy.validation import check_delta, check_nonnegative, check_positive

RELATIONS = ("add_remove", "replace_one")

MAX_GRID_POINTS = 10**8
"""The largest privacy-loss grid of one step that :func:`pld_of_history` builds (8 bytes a point, several arrays):
beyond it, a tiny noise multiplier or a fine discretisation would ask dp_accounting for terabytes."""


def grid_points(
    noise_multiplier: float,
    sample_rate: float,
    value_discretization_interval: float = 1e-4,
    neighboring_relation: str = "add_remove",
) -> int:
    """The number of points of the discretised privacy-loss distribution of one subsampled-Gaussian step.

    dp_accounting's connect-the-dots grid spans the privacy losses between its truncation points (a tail mass of
    e^-50 on each side), divided by the interval; the largest loss grows as 1 / z^2.
    """
    from dp_accounting.pld.privacy_loss_mechanism import AdjacencyType, GaussianPrivacyLoss

    adjacencies = {
        "add_remove": (AdjacencyType.ADD, AdjacencyType.REMOVE),
        "replace_one": (AdjacencyType.REPLACE,),
    }[neighboring_relation]
    points = 0
    for adjacency in adjacencies:
        bounds = GaussianPrivacyLoss(
            noise_multiplier, sampling_prob=sample_rate, adjacency_type=adjacency
        ).connect_dots_bounds()
        points = max(
            points, int((bounds.epsilon_upper - bounds.epsilon_lower) / value_discretization_interval) + 2
        )
    return points


def _check_grid_size(history: list[tuple[float, float, int]], step: float, relation: str) -> None:
    for z, q, _ in history:
        points = grid_points(z, q, step, relation)
        if points > MAX_GRID_POINTS:
            coarser = step * points / MAX_GRID_POINTS
            raise ValueError(
                f"noise_multiplier {z:g} (sample_rate {q:g}) needs a privacy-loss grid of {points:.3g} points "
                f"({points * 8 / 2**40:.3g} TiB an array) at value_discretization_interval {step:g}: use the "
                f"'rdp' accountant for noise this small, or value_discretization_interval >= {coarser:.2g}"
            )


def pld_of_history(
    history: Iterable[tuple[float, float, int]],
    value_discretization_interval: float = 1e-4,
    neighboring_relation: str = "add_remove",
) -> Any:
    """The composed dp_accounting ``PLDAccountant`` of a history (use its ``get_epsilon`` / ``get_delta``)."""
    from dp_accounting import NeighboringRelation, dp_event
    from dp_accounting.pld.pld_privacy_accountant import PLDAccountant

    if neighboring_relation not in RELATIONS:
        raise ValueError(f"neighboring_relation must be one of {RELATIONS}, got {neighboring_relation!r}")
    relation = {
        "add_remove": NeighboringRelation.ADD_OR_REMOVE_ONE,
        "replace_one": NeighboringRelation.REPLACE_ONE,
    }[neighboring_relation]
    step = float(check_positive(value_discretization_interval, "value_discretization_interval"))
    hist = check_history(history)
    _check_grid_size(hist, step, neighboring_relation)
    accountant = PLDAccountant(neighboring_relation=relation, value_discretization_interval=step)
    for z, q, steps in hist:
        accountant.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(z)), count=steps)
    return accountant


def pld_epsilon(
    history: Iterable[tuple[float, float, int]],
    delta: float,
    value_discretization_interval: float = 1e-4,
    neighboring_relation: str = "add_remove",
) -> float:
    """eps at ``delta`` of a history of subsampled-Gaussian steps."""
    delta = check_delta(delta)
    return float(
        pld_of_history(history, value_discretization_interval, neighboring_relation).get_epsilon(delta)
    )


def pld_delta(
    history: Iterable[tuple[float, float, int]],
    epsilons: Any,
    value_discretization_interval: float = 1e-4,
    neighboring_relation: str = "add_remove",
) -> np.ndarray:
    """The privacy profile delta(eps) at each of ``epsilons`` (>= 0), shape (n,)."""
    eps = check_nonnegative(epsilons, "epsilons").reshape(-1)
    accountant = pld_of_history(history, value_discretization_interval, neighboring_relation)
    return np.array([float(accountant.get_delta(float(e))) for e in eps])
