"""The verdict rule against hand-computed t-intervals and SciPy's own tests."""

import math

import numpy as np
import pytest
from scipy import stats as st

from affect_lib import stats


def test_summarize_matches_a_hand_computed_t_interval():
    s = stats.summarize([1.0, 2.0, 3.0])
    # mean 2, std 1, t_{0.975, 2} = 4.302653 -> half width 4.302653 / sqrt(3) = 2.484138
    assert (s.n, s.mean, s.std) == (3, 2.0, 1.0)
    assert s.low == pytest.approx(2 - 2.484138, abs=1e-6) and s.high == pytest.approx(2 + 2.484138, abs=1e-6)
    single = stats.summarize([0.5])
    assert math.isnan(single.std) and single.low == -math.inf


def test_paired_interval_agrees_with_scipy_ttest():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.7, 0.02, 6), rng.normal(0.68, 0.02, 6)
    d = stats.paired_difference(a, b)
    res = st.ttest_rel(a, b)
    ci = res.confidence_interval(0.95)
    assert d.low == pytest.approx(ci.low) and d.high == pytest.approx(ci.high)
    assert (stats.verdict_greater(d) == "yes") == (res.pvalue / 2 < 0.025 and res.statistic > 0)


def test_welch_interval_agrees_with_scipy():
    a, b = [0.61, 0.64, 0.66, 0.70], [0.55, 0.58, 0.57]
    d = stats.welch_difference(a, b)
    ci = st.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d.low == pytest.approx(ci.low) and d.high == pytest.approx(ci.high)


def test_verdicts_follow_the_interval():
    up = stats.paired_difference([0.70, 0.72, 0.71], [0.60, 0.61, 0.63])
    down = stats.paired_difference([0.60, 0.61, 0.63], [0.70, 0.72, 0.71])
    noise = stats.paired_difference([0.70, 0.60, 0.71], [0.65, 0.66, 0.64])
    assert [stats.verdict_greater(x) for x in (up, down, noise)] == ["yes", "no", "inconclusive"]
    assert (
        stats.verdict_greater(stats.paired_difference([0.9, 0.9], [0.1, 0.2])) == "inconclusive"
    )  # < 3 seeds
    s = stats.summarize([0.75, 0.76, 0.74])
    assert stats.verdict_within(s, 0.7576, 0.05) == "yes"
    assert stats.verdict_within(s, 0.60, 0.05) == "no"
    assert stats.verdict_at_least(s, 0.70) == "yes" and stats.verdict_at_least(s, 0.80) == "no"
    with pytest.raises(ValueError, match="non-finite"):
        stats.summarize([0.1, float("nan")])


def test_verdict_above_is_strict_at_zero_and_inclusive_at_a_margin():
    from affect_lib.stats import summarize, verdict_above

    nothing = summarize([0.0, 0.0, 0.0])  # a model that ignores the input loses exactly nothing
    assert verdict_above(nothing) == "inconclusive"
    assert verdict_above(summarize([0.1, 0.12, 0.11])) == "yes"
    assert verdict_above(summarize([0.1, 0.12, 0.11]), 0.10) == "inconclusive"
    assert verdict_above(summarize([0.25, 0.25, 0.25]), 0.25) == "yes"  # at the margin counts
    assert verdict_above(summarize([0.01, -0.02, 0.0]), 0.10) == "no"


def test_errorbar_gives_the_mean_and_the_asymmetric_arms():
    from affect_lib.stats import Summary

    bar = Summary(n=3, mean=0.5, std=0.1, low=0.2, high=0.9).errorbar(scale=100)
    assert bar["y"] == pytest.approx(50)
    assert np.allclose(bar["yerr"], [[30], [40]])


def test_t_pvalue_matches_scipy_ttest():
    x = np.array([0.12, -0.03, 0.2, 0.08, 0.15])
    assert stats.t_pvalue(stats.summarize(x)) == pytest.approx(st.ttest_1samp(x, 0.0).pvalue, rel=1e-9)
    assert stats.t_pvalue(stats.summarize(x), null=0.1) == pytest.approx(
        st.ttest_1samp(x, 0.1).pvalue, rel=1e-9
    )
    assert stats.t_pvalue(stats.summarize([0.3])) == 1.0
    assert stats.t_pvalue(stats.summarize([0.3, 0.3])) == 0.0


def test_holm_against_a_hand_computed_step_down():
    # sorted 0.01, 0.02, 0.03, 0.04 times 4, 3, 2, 1 -> 0.04, 0.06, 0.06, 0.04 -> running max 0.04, 0.06, 0.06, 0.06
    p = [0.03, 0.01, 0.04, 0.02]
    np.testing.assert_allclose(stats.holm(p), [0.06, 0.04, 0.06, 0.06])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    with pytest.raises(ValueError):
        stats.holm([0.1, 1.5])


def test_verdicts_holm_corrects_what_single_intervals_accept():
    rng = np.random.default_rng(0)
    strong = stats.summarize(0.3 + 0.01 * rng.standard_normal(5))
    weak = stats.summarize(np.array([0.02, 0.05, 0.01, 0.04, 0.03]))  # p about 0.01 alone
    negative = stats.summarize(-0.3 + 0.01 * rng.standard_normal(5))
    assert stats.verdict_greater(weak) == "yes"  # uncorrected it counts ...
    family = [strong, negative] + [weak] * 20
    verdicts = stats.verdicts_holm(family)
    assert verdicts[:2] == ["yes", "no"]
    assert set(verdicts[2:]) == {"inconclusive"}  # ... among 22 tests it does not
    assert stats.verdicts_holm([strong, weak]) == ["yes", "yes"]
    assert stats.verdicts_holm([stats.summarize([0.3, 0.31])]) == ["inconclusive"]  # too few seeds
