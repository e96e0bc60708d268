"""Validation of the ``(noise_multiplier, sample_rate, steps)`` histories that the DP analyses compose."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from affect_lib.privacy.validation import check_positive, check_sample_rate

History = list[tuple[float, float, int]]


def check_history(history: Iterable[tuple[float, float, int]]) -> History:
    """A validated, non-empty history: noise multiplier z > 0, sample rate q in (0, 1], steps >= 1."""
    out = []
    for entry in history:
        if len(entry) != 3:
            raise ValueError(f"a history entry is (noise_multiplier, sample_rate, steps), got {entry!r}")
        z, q, steps = entry
        if not isinstance(steps, int | np.integer) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        out.append((float(check_positive(z, "noise_multiplier")), check_sample_rate(q), int(steps)))
    if not out:
        raise ValueError("the history is empty: account at least one step before asking for epsilon")
    return out
