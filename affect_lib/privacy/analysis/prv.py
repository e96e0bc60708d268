"""Privacy random variables (Gopi, Lee & Wutschitz 2021) through opacus's PRV analysis.

Same pipeline as opacus's ``PRVAccountant`` (safe domain, truncation, discretisation, FFT composition), with one
change: the safe domain is sized by the RDP bound on this library's order grid (which reaches down to 1.001), so
the domain never rests on an optimum at the edge of a short grid. Returns the *upper* bound on eps.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from affect_lib.privacy.analysis._history import check_history
from affect_lib.privacy.analysis.rdp import rdp_epsilon
from affect_lib.privacy.validation import check_delta, check_positive

MAX_DOMAIN_POINTS = 10**8
"""The largest discretised PRV domain :func:`prv_epsilon` builds (8 bytes a point, several arrays)."""


def safe_domain_size(history: list[tuple[float, float, int]], eps_error: float, delta_error: float) -> float:
    """Half-width L of the privacy-loss domain (Gopi et al. 2021, Remark 5.6, as opacus implements it)."""
    total = sum(steps for _, _, steps in history)
    size = rdp_epsilon(history, delta_error / 4)[0]
    for z, q, _ in history:
        size = max(size, rdp_epsilon([(z, q, 1)], delta_error / (8 * total))[0])
    return max(size, eps_error) + 3


def prv_epsilon(
    history: Iterable[tuple[float, float, int]],
    delta: float,
    eps_error: float = 0.01,
    delta_error: float | None = None,
) -> float:
    """The PRV upper bound on eps at ``delta`` (``delta_error`` defaults to delta / 1000, as in opacus)."""
    from opacus.accountants.analysis.prv import (
        Domain,
        PoissonSubsampledGaussianPRV,
        TruncatedPrivacyRandomVariable,
        compose_heterogeneous,
        discretize,
    )

    hist = check_history(history)
    delta = check_delta(delta)
    eps_error = float(check_positive(eps_error, "eps_error"))
    delta_error = delta / 1000 if delta_error is None else check_delta(delta_error, "delta_error")
    prvs = [PoissonSubsampledGaussianPRV(q, z) for z, q, _ in hist]
    counts = [steps for _, _, steps in hist]
    size = safe_domain_size(hist, eps_error, delta_error)
    mesh = eps_error / np.sqrt(sum(counts) * np.log(12 / delta_error) / 2)
    points = 2 * size / mesh
    if points > MAX_DOMAIN_POINTS:
        worst = min(hist)  # the smallest noise multiplier
        raise ValueError(
            f"noise_multiplier {worst[0]:g} (sample_rate {worst[1]:g}, {sum(counts)} steps) needs a PRV domain of "
            f"{points:.3g} points "
            f"({points * 8 / 2**40:.3g} TiB an array) at eps_error {eps_error:g}: use the 'rdp' accountant for "
            f"noise this small, or eps_error >= {eps_error * points / MAX_DOMAIN_POINTS:.2g}"
        )
    domain = Domain.create_aligned(-size, size, mesh)
    dprvs = [discretize(TruncatedPrivacyRandomVariable(p, domain.t_min, domain.t_max), domain) for p in prvs]
    composed = compose_heterogeneous(dprvs=dprvs, num_self_compositions=counts)
    return float(composed.compute_epsilon(delta, delta_error, eps_error)[2])
