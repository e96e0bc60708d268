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
    wasserstein_subsampled_gaussian,
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


def _subsampled_by_pot(s, q, d, order, h):
    """W_order of (1 - q) N(0, s^2) + q N(d, s^2) vs N(0, s^2) by POT on both laws binned on one grid of width h.

    Moving each bin's mass to its centre moves it by <= h / 2, so each binned law is within h / 2 of its law in
    every W_mu, and the result is within h of the exact distance (tails beyond 12 s hold 4e-33 of the mass).
    """
    edges = np.arange(-12 * s, d + 12 * s + h, h)
    mid = (edges[:-1] + edges[1:]) / 2
    f_p = (1 - q) * scipy.stats.norm.cdf(edges / s) + q * scipy.stats.norm.cdf((edges - d) / s)
    f_q = scipy.stats.norm.cdf(edges / s)
    f_p[0] = f_q[0] = 0.0
    f_p[-1] = f_q[-1] = 1.0
    return ot.wasserstein_1d(mid, mid, np.diff(f_p), np.diff(f_q), p=order) ** (1 / order)


@pytest.mark.parametrize(
    ("s", "q", "order"),
    [(0.01, 1e-3, 16.0), (0.05, 0.1, 2.0), (2.0, 0.1, 2.0), (0.2, 0.01, 16.0), (0.7, 0.3, 3.5)],
)
def test_subsampled_gaussian_step_matches_pot_on_a_fine_grid(s, q, order):
    h = s / 1000
    exact = wasserstein_subsampled_gaussian(s, q, 1.0, order)
    assert exact == pytest.approx(_subsampled_by_pot(s, q, 1.0, order, h), abs=h)
    assert q <= exact <= q ** (1 / order) * (1 + 1e-12)  # the mean shift and the coupling bound


def test_subsampled_gaussian_step_against_quadrature_of_the_mixture_quantile():
    """The quantile form itself: u -> |F_P^{-1}(u) - F_Q^{-1}(u)|^mu with F_P^{-1} by root finding (scipy quad)."""
    from scipy import integrate, optimize

    s, q, d, mu = 0.3, 0.2, 1.5, 4.0

    def f_p_inverse(u):
        return optimize.brentq(
            lambda x: (1 - q) * scipy.stats.norm.cdf(x / s) + q * scipy.stats.norm.cdf((x - d) / s) - u,
            -20,
            25,
            xtol=1e-14,
        )

    value = integrate.quad(
        lambda u: abs(f_p_inverse(u) - s * scipy.stats.norm.ppf(u)) ** mu, 0, 1, limit=200, points=[1 - q]
    )[0]
    assert wasserstein_subsampled_gaussian(s, q, d, mu) == pytest.approx(value ** (1 / mu), rel=1e-6)


def test_subsampled_gaussian_step_closed_forms_and_limits():
    # W_1 = int |F_P - F_Q| = q d exactly (F_Q >= F_P everywhere); q = 1 is a translation: W = d
    assert wasserstein_subsampled_gaussian(0.3, 0.25, 2.0, 1.0) == pytest.approx(0.5, rel=1e-9)
    assert wasserstein_subsampled_gaussian(0.3, 1.0, 2.0, 5.0) == pytest.approx(2.0, rel=1e-9)
    # no noise: (1 - q) delta_0 + q delta_d against delta_0, W_mu = q^{1/mu} d
    assert wasserstein_subsampled_gaussian(1e-6, 1e-3, 1.0, 16.0) == pytest.approx(1e-3 ** (1 / 16), rel=1e-4)
    assert wasserstein_subsampled_gaussian(1.0, 0.5, 0.0, 2.0) == 0.0
    # homogeneous: scaling the noise and the distance scales W
    assert wasserstein_subsampled_gaussian(0.5, 0.1, 3.0, 2.0) == pytest.approx(
        3 * wasserstein_subsampled_gaussian(0.5 / 3, 0.1, 1.0, 2.0), rel=1e-9
    )
    for bad in ({"noise_std": 0.0}, {"sample_rate": 0.0}, {"distance": -1.0}, {"order": 0.5}):
        args = {"noise_std": 1.0, "sample_rate": 0.1, "distance": 1.0, "order": 2.0, **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            wasserstein_subsampled_gaussian(**args)
