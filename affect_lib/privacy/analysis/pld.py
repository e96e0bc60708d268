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
    accountant = PLDAccountant(neighboring_relation=relation, value_discretization_interval=step)
    for z, q, steps in check_history(history):
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
