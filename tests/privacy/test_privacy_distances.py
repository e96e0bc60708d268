import numpy as np
import ot
import pytest
import scipy.stats

from affect_lib.privacy import (
    kl_gaussian,
    renyi_bernoulli,
    wasserstein_continuous,
    wasserstein_distance,
    wasserstein_gaussian,
    wasserstein_ot,
)


@pytest.mark.parametrize("order", [1.0, 1.5, 2.0, 4.0])
def test_quantile_form_matches_pot_on_weighted_samples(order):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=40), rng.exponential(size=55)
    a, b = rng.random(40), rng.random(55)
    mine = wasserstein_distance(x, y, order, a, b)
    pot_1d = ot.wasserstein_1d(x, y, a / a.sum(), b / b.sum(), p=order) ** (1 / order)
    assert mine == pytest.approx(pot_1d, rel=1e-9)
    assert wasserstein_ot(x, y, order, a, b) == pytest.approx(mine, rel=1e-7)


def test_w1_matches_scipy():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=30), rng.normal(1, 2, size=17)
    assert wasserstein_distance(x, y, 1) == pytest.approx(scipy.stats.wasserstein_distance(x, y), rel=1e-12)


@pytest.mark.parametrize("order", [1.0, 2.0, 7.0])
@pytest.mark.parametrize("family", [scipy.stats.norm, scipy.stats.laplace])
def test_translation_of_any_noise_is_the_shift(order, family):
    for scale in (0.1, 1.0, 5.0):
        assert wasserstein_continuous(family(0, scale), family(1, scale), order) == pytest.approx(
            1.0, abs=1e-9
        )


def test_gaussian_closed_form_against_quadrature():
    exact = wasserstein_gaussian(0.3, 1.0, -0.5, 2.5)
    numeric = wasserstein_continuous(scipy.stats.norm(0.3, 1.0), scipy.stats.norm(-0.5, 2.5), 2, n_nodes=6000)
    assert numeric == pytest.approx(float(exact), rel=1e-4)


def test_multidimensional_ot_is_a_shift_for_translated_clouds():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 3))
    shift = np.array([0.3, -0.4, 1.2])
    assert wasserstein_ot(x, x + shift, 2) == pytest.approx(np.linalg.norm(shift), rel=1e-9)


def test_divergences_asymmetric_and_known_values():
    assert float(renyi_bernoulli(1, 0.1, 0.5)) == pytest.approx(0.1 * np.log(0.2) + 0.9 * np.log(1.8))
    assert float(renyi_bernoulli(2, 0.1, 0.5)) == pytest.approx(np.log(0.01 / 0.5 + 0.81 / 0.5))
    assert float(renyi_bernoulli(1, 0.1, 0.5)) != pytest.approx(float(renyi_bernoulli(1, 0.5, 0.1)))
    assert float(kl_gaussian(0, 1, 1, 1)) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: wasserstein_distance([0.0, np.nan], [1.0], 1), "x contains NaN"),
        (lambda: wasserstein_distance([0.0], [1.0], 0.5), "order"),
        (lambda: wasserstein_distance([0.0, 1.0], [1.0], 1, x_weights=[1.0]), "x_weights"),
        (lambda: wasserstein_ot(np.zeros((2, 2)), np.zeros((2, 3)), 1), "dimension"),
        (lambda: wasserstein_gaussian(0, -1, 0, 1), "std_p"),
    ],
)
def test_bad_input(call, word):
    with pytest.raises(ValueError, match=word):
        call()
