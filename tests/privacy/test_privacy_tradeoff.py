import numpy as np
import pytest

from affect_lib.privacy.analysis import gdp
from affect_lib.privacy.tradeoff import eps_delta_tradeoff, gaussian_tradeoff, profile_tradeoff


def test_gaussian_tradeoff_published_value():
    # dp_accounting's test_gaussian_basic: 1-GDP has true-positive rate 0.38914 at false-positive rate 0.1
    assert 1 - float(gaussian_tradeoff(0.1, 1.0)) == pytest.approx(0.38914, abs=1e-5)
    np.testing.assert_allclose(gaussian_tradeoff([0.0, 0.5, 1.0], 0.0), [1.0, 0.5, 0.0])


def test_eps_delta_tradeoff_by_hand():
    assert float(eps_delta_tradeoff(0.1, 0.0, 0.0)) == pytest.approx(0.9)
    # eps = 1, delta = 0.01, alpha = 0.1: max(0, 0.99 - e * 0.1, (0.99 - 0.1) / e) = 0.7182
    assert float(eps_delta_tradeoff(0.1, 1.0, 0.01)) == pytest.approx(0.99 - np.e * 0.1)
    assert float(eps_delta_tradeoff(0.5, 1.0, 0.01)) == pytest.approx(0.49 / np.e)


def test_envelope_of_the_exact_profile_is_the_gaussian_curve():
    eps = np.linspace(0, 8, 400)
    deltas = [gdp.gdp_delta(1.0, e) for e in eps]  # the exact privacy profile of 1-GDP
    alpha = np.linspace(0.01, 0.99, 25)
    np.testing.assert_allclose(profile_tradeoff(alpha, eps, deltas), gaussian_tradeoff(alpha, 1.0), atol=2e-3)
    assert np.all(profile_tradeoff(alpha, eps, deltas) <= gaussian_tradeoff(alpha, 1.0) + 1e-9)


def test_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        gaussian_tradeoff(1.5, 1.0)


def test_shift_tradeoff_gaussian_and_laplace_by_hand():
    from scipy import stats

    from affect_lib.privacy.tradeoff import shift_tradeoff

    alpha = np.linspace(0.01, 0.99, 9)
    np.testing.assert_allclose(shift_tradeoff(alpha, stats.norm(0, 2), 1.0), gaussian_tradeoff(alpha, 0.5))
    # Laplace(b = 1), shift 1, alpha = 0.5: threshold at 0, beta = F(-1) = e^{-1} / 2
    assert float(shift_tradeoff(0.5, stats.laplace(0, 1), 1.0)) == pytest.approx(np.exp(-1) / 2)
    # pure eps-DP bounds it: beta >= e^{-eps} (1 - alpha) with eps = Delta / b = 1
    assert np.all(
        shift_tradeoff(alpha, stats.laplace(0, 1), 1.0) >= eps_delta_tradeoff(alpha, 1.0, 0.0) - 1e-12
    )
