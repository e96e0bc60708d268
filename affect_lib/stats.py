"""Seed statistics and the book's one verdict rule.

Every claims row whose evidence comes from trained models or random draws is decided by :data:`VERDICT_RULE`:
at least :data:`MIN_SEEDS` seeds, each summarised as mean ± std (``ddof=1``) with a Student-t 95% interval, and a
difference between two methods counts only when its interval excludes zero. Paired differences (the same seeds,
the same data splits) use :func:`paired_difference`; independent samples use :func:`welch_difference`.

>>> s = summarize([0.61, 0.64, 0.66])
>>> round(s.mean, 3), s.n
(0.637, 3)
>>> verdict_greater(paired_difference([0.7, 0.72, 0.71], [0.6, 0.61, 0.63]))
'yes'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats as _st

Verdict = Literal["yes", "no", "inconclusive", "n/a"]
VERDICTS: tuple[str, ...] = ("yes", "no", "inconclusive", "n/a")
MIN_SEEDS = 3
CONFIDENCE = 0.95
VERDICT_RULE = (
    "Verdict rule: at least 3 seeds; each result is mean ± std (ddof = 1) with a Student-t 95% interval; "
    "a difference counts only when its 95% interval excludes zero (paired over seeds where the runs share "
    "seeds and splits, Welch otherwise). *yes*: the interval supports the claim; *no*: it excludes the claim; "
    "*inconclusive*: it contains zero (or the claimed value)."
)


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and a two-sided t-interval of ``n`` values (in the values' units);
    ``values`` keeps the summarised values themselves where they are known (not compared)."""

    n: int
    mean: float
    std: float
    low: float
    high: float
    confidence: float = CONFIDENCE
    values: tuple[float, ...] = field(default=(), compare=False, repr=False)

    @property
    def half_width(self) -> float:
        """Half the interval's width (``inf`` for a single value)."""
        return (self.high - self.low) / 2

    def excludes(self, value: float = 0.0) -> bool:
        """Whether ``value`` lies outside the interval."""
        return not self.low <= value <= self.high

    def format(self, digits: int = 3, scale: float = 1.0, unit: str = "") -> str:
        """``"0.637 ± 0.025 [0.575, 0.699], n = 3"``; ``scale=100, unit=" pt"`` shows fractions as points."""
        f = f"{{:.{digits}f}}"
        m, s, lo, hi = (v * scale for v in (self.mean, self.std, self.low, self.high))
        return f"{f.format(m)} ± {f.format(s)}{unit} [{f.format(lo)}, {f.format(hi)}], n = {self.n}"

    def errorbar(self, scale: float = 1.0) -> dict[str, Any]:
        """``y`` and ``yerr`` for matplotlib's ``errorbar``: the mean and the interval's asymmetric arms."""
        return {
            "y": self.mean * scale,
            "yerr": [[(self.mean - self.low) * scale], [(self.high - self.mean) * scale]],
        }

    def __str__(self) -> str:
        return self.format()


def summarize(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE) -> Summary:
    """Summarise seed results: mean, std (``ddof=1``) and the Student-t interval of the mean.

    Args:
        values: one finite number per seed, shape ``(n,)``.
        confidence: two-sided coverage of the interval, in (0, 1).

    Raises:
        ValueError: on an empty input, a non-finite value or a confidence outside (0, 1).
    """
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("summarize needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"summarize got non-finite values: {x.tolist()}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    mean = float(x.mean())
    if x.size == 1:
        return Summary(1, mean, math.nan, -math.inf, math.inf, confidence, (mean,))
    std = float(x.std(ddof=1))
    half = float(_st.t.ppf(0.5 + confidence / 2, df=x.size - 1)) * std / math.sqrt(x.size)
    return Summary(
        int(x.size), mean, std, mean - half, mean + half, confidence, tuple(map(float, x.tolist()))
    )


def paired_difference(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE
) -> Summary:
    """Summary of ``a[i] - b[i]`` over paired seeds (same seed, same split): the paired t-interval."""
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired_difference needs equally many values, got {x.size} and {y.size}")
    return summarize(x - y, confidence)


def welch_difference(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE
) -> Summary:
    """Summary of ``mean(a) - mean(b)`` for independent samples: Welch's interval (Welch-Satterthwaite df).

    ``std`` of the result is the standard error of the difference, and ``n`` the smaller sample size.
    """
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.size < 2 or y.size < 2:
        raise ValueError(f"welch_difference needs at least 2 values per side, got {x.size} and {y.size}")
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    diff = float(x.mean() - y.mean())
    if se == 0:
        return Summary(min(x.size, y.size), diff, 0.0, diff, diff, confidence)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = float(_st.t.ppf(0.5 + confidence / 2, df=df)) * se
    return Summary(min(x.size, y.size), diff, se, diff - half, diff + half, confidence)


def verdict_greater(diff: Summary, *, min_seeds: int = MIN_SEEDS) -> Verdict:
    """Verdict on the claim "first > second" from the summary of their difference.

    ``"yes"`` when the interval lies above zero, ``"no"`` when it lies below zero, ``"inconclusive"`` when it
    contains zero or fewer than ``min_seeds`` values back it.
    """
    if diff.n < min_seeds:
        return "inconclusive"
    if diff.low > 0:
        return "yes"
    if diff.high < 0:
        return "no"
    return "inconclusive"


def verdict_at_least(summary: Summary, claimed: float, *, min_seeds: int = MIN_SEEDS) -> Verdict:
    """Verdict on "the result reaches ``claimed``": yes if the interval lies at or above it, no if below."""
    if summary.n < min_seeds:
        return "inconclusive"
    if summary.low >= claimed:
        return "yes"
    if summary.high < claimed:
        return "no"
    return "inconclusive"


def verdict_above(summary: Summary, margin: float = 0.0, *, min_seeds: int = MIN_SEEDS) -> Verdict:
    """Verdict on "the result exceeds ``margin``": with ``margin = 0`` the interval must lie strictly above zero
    (:func:`verdict_greater`), otherwise at or above the margin (:func:`verdict_at_least`)."""
    if margin == 0:
        return verdict_greater(summary, min_seeds=min_seeds)
    return verdict_at_least(summary, margin, min_seeds=min_seeds)


def verdict_within(
    summary: Summary, claimed: float, tolerance: float, *, min_seeds: int = MIN_SEEDS
) -> Verdict:
    """Verdict on "the result reproduces ``claimed`` within ± ``tolerance``" (same units as the values).

    ``"yes"`` when the whole interval lies inside ``claimed ± tolerance``, ``"no"`` when it lies wholly outside,
    ``"inconclusive"`` otherwise.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    if summary.n < min_seeds:
        return "inconclusive"
    lo, hi = claimed - tolerance, claimed + tolerance
    if lo <= summary.low and summary.high <= hi:
        return "yes"
    if summary.high < lo or summary.low > hi:
        return "no"
    return "inconclusive"


def t_pvalue(summary: Summary, null: float = 0.0) -> float:
    """Two-sided one-sample t-test p-value of "the mean equals ``null``" from a summary (``n - 1`` df).

    1 for fewer than two values; 0 when the values do not vary and their mean differs from ``null``.
    """
    if summary.n < 2:
        return 1.0
    if summary.std == 0:
        return 1.0 if summary.mean == null else 0.0
    t = (summary.mean - null) / (summary.std / math.sqrt(summary.n))
    return float(2 * _st.t.sf(abs(t), df=summary.n - 1))


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence between the tests).

    The i-th smallest p-value is multiplied by ``m - i`` (i from 0), running maxima are taken in that order and
    the result is capped at 1; a test is significant at level α when its adjusted p-value is at most α.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))), 1.0)
    out = np.empty_like(p)
    out[order] = adjusted
    return out


HOLM_RULE = (
    "Per-target tests: a paired t-test per target and method over seeds; the family's p-values are "
    "Holm-adjusted (family-wise error 5%); *better* / *worse* when the adjusted p-value is at most 0.05, by "
    "the sign of the mean difference, *tie* otherwise."
)


def verdicts_holm(
    diffs: Sequence[Summary], alpha: float = 1 - CONFIDENCE, *, min_seeds: int = MIN_SEEDS
) -> list[Verdict]:
    """One verdict on "first > second" per difference of a family of tests, Holm-corrected (:data:`HOLM_RULE`):
    ``"yes"`` / ``"no"`` when the adjusted p-value is at most ``alpha`` and the mean is above / below zero,
    ``"inconclusive"`` otherwise or with fewer than ``min_seeds`` values."""
    adjusted = holm([t_pvalue(d) for d in diffs])
    return [
        "inconclusive" if d.n < min_seeds or p > alpha else "yes" if d.mean > 0 else "no"
        for d, p in zip(diffs, adjusted, strict=True)
    ]
