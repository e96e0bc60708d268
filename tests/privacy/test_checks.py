"""Every verdict rule of Part I moves when the measurement it reads moves (no verdict is a constant).

Each test feeds a rule the kind of measurement its chapter passes, with the chapter's outcome, then mutates one
measured input and sees the verdict change.
"""

import numpy as np
import pytest
from scipy import stats

from affect_lib.privacy import checks, wasserstein_continuous, wasserstein_step_loss, wdp_gaussian
from affect_lib.privacy.distances import wasserstein_subsampled_gaussian
from affect_lib.privacy.tradeoff import empirical_min_total_error, gaussian_tradeoff


def test_table1_values_against_the_dual_bound():  # chapter 10, row 1
    formula, dual, se = (
        np.array([[0.43, 0.46], [0.10, 0.22]]),
        np.array([[0.93], [0.89]]),
        np.array([[0.05], [0.26]]),
    )
    assert checks.below_lower_bound(formula, dual, se) is False
    assert checks.below_lower_bound(formula, dual - 0.6, se) == "inconclusive"  # smaller measured distances
    assert checks.below_lower_bound(formula, dual, se * 10) == "inconclusive"  # noisier samples


def test_bounded_by_one_half():  # chapter 10, row 2
    dual, se = np.array([0.93, 1.06, 0.79]), np.array([0.05, 0.04, 0.11])
    assert checks.exceeds_bound(dual, se, 0.5) is False
    assert checks.exceeds_bound(dual * 0.4, se, 0.5) == "inconclusive"


def test_more_noise_lowers_the_distance_by_quadrature():  # chapter 10, row 3
    small = [wasserstein_continuous(stats.norm(0, 1), stats.norm(1, 1), mu) for mu in (1, 2, 16)]
    large = [wasserstein_continuous(stats.norm(0, 5), stats.norm(1, 5), mu) for mu in (1, 2, 16)]
    assert checks.strictly_lower(small, large, tol=1e-6) is False
    # a mechanism whose distance did fall with the noise (a clipped output, say) turns the verdict
    assert checks.strictly_lower(small, np.array(large) * 0.5, tol=1e-6) is True


def test_small_distance_without_privacy():  # chapter 10, row 5
    release_d, release_dp = np.zeros(1500), np.full(1500, 1e-3)
    err = empirical_min_total_error(release_d, release_dp)
    assert err == 0.0
    assert checks.distinguishable_despite_small_distance(1e-3, err, small=0.01) is False
    rng = np.random.default_rng(0)
    noisy = empirical_min_total_error(release_d + rng.normal(size=1500), release_dp + rng.normal(size=1500))
    assert noisy > 0.9  # noise hides a shift of 1e-3
    assert checks.distinguishable_despite_small_distance(1e-3, noisy, small=0.01) == "inconclusive"
    assert checks.distinguishable_despite_small_distance(1.0, err, small=0.01) == "inconclusive"


def test_empirical_min_total_error_against_the_exact_gaussian_value():
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 20000), rng.normal(1, 1, 20000)
    exact = 2 * stats.norm.cdf(-0.5)  # 1 - TV of N(0, 1), N(1, 1)
    assert empirical_min_total_error(x, y) == pytest.approx(exact, abs=0.02)
    assert empirical_min_total_error(y, x) == empirical_min_total_error(x, y)


def test_symmetry_and_closed_form_rules():  # chapter 11, P1, P11
    assert checks.all_within(np.zeros(100), 1e-9) is True
    assert checks.all_within(np.r_[np.zeros(99), 1e-6], 1e-9) is False
    group = [0.7, 1.4, 2.1, 2.8]
    assert checks.not_refuted(group, [0.7 * k for k in (1, 2, 3, 4)], 1e-9) is True
    assert checks.not_refuted([0.7, 1.4, 2.1, 2.9], [0.7 * k for k in (1, 2, 3, 4)], 1e-9) is False


def test_triangle_inequality_has_power_on_geodesic_triples():  # chapter 11, P2
    slack = np.r_[0.35, 0.8, 1.2, np.zeros(25)]  # random triples and the attained ones
    assert checks.all_at_least(slack, -1e-9) is True
    slack[-1] = -1e-7  # an OT solver off by 1e-7 of the distance on one geodesic triple
    assert checks.all_at_least(slack, -1e-9) is False
    # the Table-1 formula as a function of the shift is subadditive
    d12, d23 = np.array([0.5, 2.0]), np.array([1.0, 0.3])
    formula_slack = wdp_gaussian(3, 1.0, d12) + wdp_gaussian(3, 1.0, d23) - wdp_gaussian(3, 1.0, d12 + d23)
    assert checks.all_at_least(formula_slack, -1e-12) is True
    assert checks.all_at_least(-formula_slack, -1e-12) is False


def test_identity_of_indiscernibles():  # chapter 11, P3 (both columns)
    assert checks.positive_and_zero_on_equal([0.42, 0.9], [0.0]) is True
    assert checks.positive_and_zero_on_equal([0.42, 0.0], [0.0]) is False
    assert checks.positive_and_zero_on_equal([0.42], [1e-3]) is False
    formula_same = wdp_gaussian(np.array([1.0, 10.0]), 1.0, 1e-300)
    assert checks.positive_and_zero_on_equal([0.1], formula_same, tol=1e-12) is True
    assert checks.positive_and_zero_on_equal([0.1], wdp_gaussian(10.0, 1.0, 1e-6), tol=1e-12) is False


def test_composition_rules_read_the_dual_bound():  # chapter 11, P5 / P6 and the max rule
    lower, se = np.array([1.29]), np.array([0.05])
    assert checks.not_refuted(lower, [2.21], se) is True  # sum rule
    assert checks.not_refuted(lower, [0.89], se) is False  # max rule applied to P6
    assert checks.not_refuted(lower - 0.3, [0.89], se) is True


def test_formula_bounds_against_quadrature():  # chapter 11, P8 / P9 and chapter 12's step bound
    exact = [wasserstein_continuous(stats.norm(0, s), stats.norm(1, s), 2) for s in (0.2, 2.0)]
    assert checks.bounds_everywhere(wdp_gaussian(2, np.array([0.2, 2.0])), exact) is False
    assert checks.bounds_everywhere(np.array(exact) * 1.1, exact) is True
    # the accountant's single-pair value against the exact W of one subsampled step
    acc = wasserstein_step_loss([1.0], 0.01, 1e-3, 16)
    step = wasserstein_subsampled_gaussian(0.01, 1e-3, 1.0, 16)
    assert checks.bounds_everywhere(acc, step) is False
    assert checks.bounds_everywhere(
        wasserstein_step_loss([1.0], 2.0, 0.1, 2), wasserstein_subsampled_gaussian(2.0, 0.1, 1.0, 2)
    )


def test_audit_points_against_the_tradeoff_curve():  # chapter 13
    mu = 2.0  # z = 1, T = 4, q = 1
    fpr_hi, fnr_hi = np.array([0.17, 0.39]), np.array([0.20, 0.05])
    curve = gaussian_tradeoff(fpr_hi, mu)
    assert checks.tradeoff_respected(fpr_hi, fnr_hi, curve) is True
    assert checks.tradeoff_respected(fpr_hi, fnr_hi / 10, curve) is False  # a leak: errors below the curve
    assert checks.below([84267.0], 10.0) is False and checks.below([3.2], 10.0) is True


def test_audit_rules_count_only_the_checks_that_could_fail():  # chapter 13, audit and trade-off rows
    # z = 1, 3: audit lower bounds, RDP upper bounds, and the most 500 runs a side can show (no error at all)
    lower, upper, top = [2.03, 0.41], [10.73, 2.29], [5.11, 5.11]
    assert checks.not_exceeded_where_testable(lower, upper, top) is True  # z = 3 could refute, did not
    assert checks.not_exceeded_where_testable(lower[:1], upper[:1], top[:1]) == "inconclusive"  # z = 1 alone
    assert checks.not_exceeded_where_testable([2.03, 2.5], upper, top) is False  # a leak at z = 3
    # trade-off: two max-eps tests whose curve lies below the smallest possible FNR bound, two that can fail
    smallest = 0.00597  # Clopper-Pearson upper bound with 0 false negatives in 500 runs
    fpr_hi, fnr_hi = np.array([0.30, 0.38, 0.39, 0.55]), np.array([0.07, 0.38, 0.2, 0.4])
    curve = np.array([0.0033, 0.377, 0.0021, 0.2])
    assert checks.tradeoff_respected_where_testable(fpr_hi, fnr_hi, curve, smallest) is True
    assert checks.tradeoff_respected_where_testable(fpr_hi[::2], fnr_hi[::2], curve[::2], smallest) == (
        "inconclusive"
    )
    assert checks.tradeoff_respected_where_testable(fpr_hi, fnr_hi * 0.9, curve, smallest) is False


def test_rules_refuse_mismatched_or_empty_measurements():
    with pytest.raises(ValueError, match="broadcast"):
        checks.not_refuted([1.0, 2.0], [1.0, 2.0, 3.0], 0.0)
    with pytest.raises(ValueError, match="empty"):
        checks.strictly_lower([], [], 0.0)
    with pytest.raises(ValueError, match="se"):
        checks.exceeds_bound([1.0], [-1.0], 0.5)
