import math

import numpy as np
import opacus.optimizers.optimizer
import pytest
import torch
from scipy import optimize, stats

from affect_lib import expected
from affect_lib.privacy.analysis.gdp import epsilon_from_mu
from affect_lib.privacy.audit import (
    audit_dpsgd,
    best_threshold,
    clopper_pearson_upper,
    epsilon_lower_bound,
    equal_error_threshold,
    gdp_mu_lower_bound,
)

N_TRIALS = 200  # per side: 100 choose the threshold, 100 count the errors


def _cp_upper_by_root(k: int, n: int, alpha: float = 0.05) -> float:
    """The one-sided Clopper-Pearson bound as the p that makes P(Binom(n, p) <= k) = alpha (no Beta quantile)."""
    return optimize.brentq(lambda p: stats.binom.cdf(k, n, p) - alpha, 1e-12, 1 - 1e-12, xtol=1e-14)


def test_clopper_pearson_against_closed_form_and_binomial_root():
    # zero counts: P(Binom(n, p) = 0) = (1 - p)^n = alpha gives p = 1 - alpha^(1/n)
    assert clopper_pearson_upper(0, 250) == pytest.approx(1 - 0.05 ** (1 / 250), rel=1e-12)
    for k, n in ((3, 250), (40, 250), (99, 100)):
        assert clopper_pearson_upper(k, n) == pytest.approx(_cp_upper_by_root(k, n), rel=1e-9)
    assert clopper_pearson_upper(100, 100) == 1.0


def test_epsilon_lower_bound_by_hand():
    fp, fn, n, delta = 3, 40, 250, 1e-5
    fpr_hi, fnr_hi = _cp_upper_by_root(fp, n), _cp_upper_by_root(fn, n)
    assert (fpr_hi, fnr_hi) == pytest.approx(
        (stats.beta.ppf(0.95, fp + 1, n - fp), stats.beta.ppf(0.95, fn + 1, n - fn)), rel=1e-9
    )
    by_hand = max(math.log((1 - delta - fnr_hi) / fpr_hi), math.log((1 - delta - fpr_hi) / fnr_hi))
    assert by_hand == pytest.approx(math.log((1 - delta - 0.20313) / 0.030721), abs=1e-4)
    assert epsilon_lower_bound(fp, fn, n, delta) == pytest.approx(by_hand, rel=1e-9)
    # symmetric in the two error kinds, and 0 (not negative) when the test does no better than chance
    assert epsilon_lower_bound(fn, fp, n, delta) == pytest.approx(by_hand, rel=1e-9)
    assert epsilon_lower_bound(125, 125, n, delta) == 0.0


def test_lower_bound_of_randomised_response_approaches_its_epsilon_from_below():
    # eps0-randomised response: the best test errs with probability 1 / (1 + e^eps0) on each side, and the
    # bound from exact rates over a million trials must come within 0.01 of eps0 without exceeding it
    eps0, n = 1.5, 1_000_000
    k = round(n / (1 + math.exp(eps0)))
    bound = epsilon_lower_bound(k, k, n, 1e-5)
    assert eps0 - 0.01 < bound < eps0


def test_best_threshold_separates_separable_scores():
    out, inn = np.linspace(0, 0.49, 50), np.linspace(1, 1.49, 50)
    assert best_threshold(out, inn, 1e-5) == pytest.approx(0.745)  # midway between the closest scores
    # three runs a side cannot bound eps above 0 at any threshold: the fewest errors decide
    assert 0.2 < best_threshold([0.0, 0.1, 0.2], [1.0, 1.1, 1.2], 1e-5) < 1.0


@pytest.fixture(scope="module")
def noised_audit():
    return audit_dpsgd(4.0, n_trials=N_TRIALS)


def test_non_private_training_gives_the_largest_bound_the_trials_allow(noised_audit):
    run = audit_dpsgd(0.0, n_trials=N_TRIALS)
    assert (run.false_positives, run.false_negatives) == (0, 0) and run.epsilon_upper == math.inf
    p = 1 - 0.05 ** (1 / (N_TRIALS // 2))
    assert run.epsilon_lower == pytest.approx(math.log((1 - 1e-5 - p) / p), rel=1e-9)  # 3.37
    assert run.epsilon_lower > noised_audit.epsilon_upper  # so the next test could fail


def test_noised_training_leaks_no_more_than_accounted(noised_audit):
    assert (
        noised_audit.sample_rate == 1.0 and noised_audit.steps == 4 and noised_audit.n_eval == N_TRIALS // 2
    )
    # 4 full-batch Gaussian steps at z = 4 have RDP 4 alpha / (2 z^2) = alpha / 8; Balle et al.'s conversion,
    # minimised over a continuous alpha, gives 2.16572 (at alpha = 9.60); the library's grid has 9.6
    by_hand = optimize.minimize_scalar(
        lambda a: a / 8 + (math.log(1e5) - math.log(a)) / (a - 1) + math.log((a - 1) / a),
        bounds=(1.01, 200),
        method="bounded",
        options={"xatol": 1e-10},
    ).fun
    assert noised_audit.epsilon_upper == pytest.approx(by_hand, abs=1e-6)
    assert noised_audit.epsilon_lower < noised_audit.epsilon_upper


def test_audit_catches_an_implementation_that_adds_no_noise(monkeypatch, noised_audit):
    monkeypatch.setattr(
        opacus.optimizers.optimizer,
        "_generate_noise",
        lambda std, reference, **_: torch.zeros_like(reference),
    )
    broken = audit_dpsgd(4.0, n_trials=N_TRIALS)
    assert broken.epsilon_upper == noised_audit.epsilon_upper  # the accountant does not notice
    assert broken.epsilon_lower > broken.epsilon_upper  # the audit does


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="fpr_count"):
        epsilon_lower_bound(11, 0, 10, 1e-5)
    with pytest.raises(ValueError, match="delta"):
        epsilon_lower_bound(0, 0, 10, 0.0)
    with pytest.raises(ValueError, match="noise_multiplier"):
        audit_dpsgd(-1.0, n_trials=2)
    with pytest.raises(ValueError, match="n_trials"):
        audit_dpsgd(1.0, n_trials=3)
    with pytest.raises(ValueError, match="different sample rates"):
        audit_dpsgd(1.0, n_trials=2, n_train=200, batch_size=20)  # 10 batches without the canary, 11 with it
    with pytest.raises(ValueError, match="equally long"):
        best_threshold([0.0], [0.0, 1.0], 1e-5)


def test_gdp_mu_lower_bound_by_hand_and_on_exact_gaussian_rates():
    fp, fn, n = 75, 87, 500
    fpr_hi, fnr_hi = _cp_upper_by_root(fp, n), _cp_upper_by_root(fn, n)
    by_hand = stats.norm.ppf(1 - fpr_hi) - stats.norm.ppf(fnr_hi)
    assert gdp_mu_lower_bound(fp, fn, n) == pytest.approx(by_hand, rel=1e-9)
    # a test with the exact error rates of 2-GDP at its equal-error point, over a million trials: just below 2
    n_big = 1_000_000
    k = round(n_big * stats.norm.cdf(-1.0))
    assert 1.99 < gdp_mu_lower_bound(k, k, n_big) < 2.0
    assert gdp_mu_lower_bound(n, 0, n) == 0.0 and gdp_mu_lower_bound(250, 250, n) == 0.0  # a blind test


def test_equal_error_threshold_balances_the_two_counts():
    rng = np.random.default_rng(0)
    out, inn = rng.normal(0, 1, 400), rng.normal(1, 1, 400)
    t = equal_error_threshold(out, inn)
    fp, fn = int((out > t).sum()), int((inn <= t).sum())
    assert abs(fp - fn) <= 2 and 0.4 < t < 0.6  # near the midpoint 1/2 of two unit-variance Gaussians


def test_audit_reports_its_scores_and_the_gdp_bound(noised_audit):
    a = noised_audit
    assert a.scores_out.shape == a.scores_in.shape == (a.n_eval,)
    fp = int((a.scores_out > a.threshold).sum())
    assert fp == a.false_positives  # the counts are those of the stored scores
    assert a.mu_lower == gdp_mu_lower_bound(
        a.equal_error_false_positives, a.equal_error_false_negatives, a.n_eval
    )
    assert a.mu_lower <= 2 / 4.0 + 0.5  # 4 full-batch steps at z = 4: 0.5-GDP (the bound may err upwards
    assert a.epsilon_lower_gdp == pytest.approx(epsilon_from_mu(a.mu_lower, 1e-5))  # with prob. <= 10%)


def test_committed_audit_bands_exclude_a_blind_test():
    """The z = 3 band was 0.502 +- 0.713: it contained 0, the bound of a test that ignores the model."""
    entries = expected.load_expected("13_wdp_deep_learning_audit")  # refuses a band containing its constant
    assert entries and all(e.constant == 0.0 and e.tol < e.value for e in entries.values())
    assert all(set(e.kernels) >= {"native", "avx2", "baseline"} for e in entries.values())
