"""The verdict rules of Part I: each claim's verdict is computed from measured quantities by one of these rules.

A chapter passes what it measured (exact-OT distances and their dual bounds, quadratures, sampled test errors,
audit counts) and prints the rule's verdict; the tests feed each rule the chapter's kind of measurement and a
mutated one and see the verdict move, so no verdict is a constant. Verdicts are ``True`` / ``False`` (shown as
yes / no) or ``"inconclusive"`` where the measurement can refute a claim but not confirm it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from affect_lib.privacy.validation import as_float_array, check_nonnegative


def _together(**named: Any) -> list[np.ndarray]:
    """Measurements broadcast together and flattened (one value per comparison), each checked as numbers."""
    arrays = [as_float_array(value, name) for name, value in named.items()]
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError as err:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(named, arrays, strict=True))
        raise ValueError(f"the measurements must broadcast together, got {shapes}") from err
    if arrays[0].size == 0:
        raise ValueError(f"{next(iter(named))} must not be empty")
    return [a.reshape(-1) for a in arrays]


def below_lower_bound(values: Any, lower: Any, se: Any, k: float = 3.0) -> bool | str:
    """Can ``values`` be the distance that ``lower`` bounds from below?

    ``False`` (refuted) when some value lies more than ``k`` standard errors below its measured lower bound (a
    dual bound on W_mu, which W_mu can never go below); otherwise ``"inconclusive"`` (a lower bound cannot
    confirm an equality).
    """
    v, lo, s = _together(values=values, lower=lower, se=check_nonnegative(se, "se"))
    return False if bool(np.any(v < lo - k * s)) else "inconclusive"


def exceeds_bound(lower: Any, se: Any, bound: float, k: float = 3.0) -> bool | str:
    """Is the claim "the distance is at most ``bound``" refuted by measured lower bounds on it?

    ``False`` when some lower bound exceeds ``bound`` by more than ``k`` standard errors, else ``"inconclusive"``.
    """
    lo, s = _together(lower=lower, se=check_nonnegative(se, "se"))
    return False if bool(np.any(lo - k * s > bound)) else "inconclusive"


def strictly_lower(smaller_noise: Any, larger_noise: Any, tol: float) -> bool:
    """Does more noise give a smaller value? ``True`` when every value measured with more noise is below its
    counterpart with less noise by more than ``tol`` (the measurement's error)."""
    a, b = _together(smaller_noise=smaller_noise, larger_noise=larger_noise)
    return bool(np.all(b < a - tol))


def distinguishable_despite_small_distance(
    distance: float, min_total_error: float, small: float
) -> bool | str:
    """Is "a small WDP budget means privacy" refuted? ``False`` when a release with Wasserstein distance at most
    ``small`` has a test with type I + type II error 0 (measured on samples); otherwise ``"inconclusive"``."""
    d = float(check_nonnegative(distance, "distance"))
    err = float(check_nonnegative(min_total_error, "min_total_error"))
    return False if (d <= small and err == 0.0) else "inconclusive"


def all_within(gaps: Any, tol: float) -> bool:
    """``True`` when every |gap| <= tol (symmetry, an attained bound, a closed form matched)."""
    g = as_float_array(gaps, "gaps")
    return bool(g.size > 0 and np.all(np.abs(g) <= tol))


def all_at_least(values: Any, floor: float) -> bool:
    """``True`` when every value >= floor (a slack, a difference along a monotone sequence)."""
    v = as_float_array(values, "values")
    return bool(v.size > 0 and np.all(v >= floor))


def positive_and_zero_on_equal(distinct: Any, same: Any, tol: float = 0.0) -> bool:
    """Non-negativity and identity of indiscernibles: every distance between distinct laws > 0 and every distance
    of a law to itself <= tol."""
    d = as_float_array(distinct, "distinct")
    s = as_float_array(same, "same")
    return bool(d.size > 0 and s.size > 0 and np.all(d > 0) and np.all(np.abs(s) <= tol))


def not_refuted(lower: Any, claimed: Any, se: Any, k: float = 3.0) -> bool:
    """``True`` unless a measured lower bound exceeds the claimed upper bound by more than ``k`` standard errors."""
    lo, c, s = _together(lower=lower, claimed=claimed, se=check_nonnegative(se, "se"))
    return bool(np.all(lo <= c + k * s))


def bounds_everywhere(bound: Any, exact: Any, rtol: float = 1e-6) -> bool:
    """Is ``bound`` an upper bound on ``exact`` at every point (up to the relative error ``rtol`` of ``exact``)?"""
    b, e = _together(bound=bound, exact=exact)
    return bool(np.all(b >= e * (1 - rtol)))


def tradeoff_respected(fpr_hi: Any, fnr_hi: Any, curve_at_fpr_hi: Any) -> bool:
    """Do audit points respect a trade-off curve f? The true (FPR, FNR) of any test satisfies FNR >= f(FPR); with
    upper confidence bounds and f decreasing, FNR_hi >= FNR >= f(FPR) >= f(FPR_hi). ``False`` when some point has
    FNR_hi < f(FPR_hi): the implementation is more distinguishable than the curve allows."""
    _, fnr, f = _together(fpr_hi=fpr_hi, fnr_hi=fnr_hi, curve_at_fpr_hi=curve_at_fpr_hi)
    return bool(np.all(fnr >= f))


def below(values: Any, limit: float) -> bool:
    """``True`` when every value < limit (e.g. a DP budget small enough to call the training private)."""
    v = as_float_array(values, "values")
    return bool(v.size > 0 and np.all(v < limit))


def not_exceeded_where_testable(lower: Any, upper: Any, largest_possible: Any) -> bool | str:
    """Is "the measured lower bounds never exceed the accounted upper bounds" refuted, where it could be?

    A comparison can refute the claim only where ``largest_possible`` (the largest lower bound the measurement
    could show at its sample size, e.g. an audit with no error at all) exceeds ``upper``. ``False`` when some
    lower bound exceeds its upper bound; ``"inconclusive"`` when no comparison could exceed it (no power);
    ``True`` when some could and none did.
    """
    lo, up, top = _together(lower=lower, upper=upper, largest_possible=largest_possible)
    if bool(np.any(lo > up)):
        return False
    return True if bool(np.any(top > up)) else "inconclusive"


def tradeoff_respected_where_testable(
    fpr_hi: Any, fnr_hi: Any, curve_at_fpr_hi: Any, smallest_fnr_hi: Any
) -> bool | str:
    """:func:`tradeoff_respected`, counting only the tests that could fail it.

    A test can put its corner below the curve only if the smallest FNR upper bound its sample size allows
    (``smallest_fnr_hi``: the bound with no false negative at all) lies below the curve at its FPR_hi. ``False``
    when some test has FNR_hi < f(FPR_hi); ``"inconclusive"`` when no test could; ``True`` when some could and
    none did.
    """
    _, fnr, f, low = _together(
        fpr_hi=fpr_hi, fnr_hi=fnr_hi, curve_at_fpr_hi=curve_at_fpr_hi, smallest_fnr_hi=smallest_fnr_hi
    )
    if bool(np.any(fnr < f)):
        return False
    return True if bool(np.any(low < f)) else "inconclusive"
