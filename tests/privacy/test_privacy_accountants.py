import numpy as np
import pytest
from opacus.accountants import PRVAccountant
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent
from scipy import integrate, special

from affect_lib.privacy import (
    BayesianAccountant,
    PLDAccountant,
    RDPAccountant,
    WassersteinAccountant,
    all_pair_differences,
    log_binomial_moment,
    make_accountant,
    wasserstein_step_loss,
)


def test_step_loss_against_quadrature_of_each_pair():
    rng = np.random.default_rng(0)
    d, sigma, q, mu = rng.random(5) * 3, 0.7, 0.3, 3.0
    v = 2 * (1 - q + q * q) * sigma**2
    moments = [
        integrate.quad(lambda z, m=m: abs(m + np.sqrt(v) * z) ** mu * np.exp(-z * z / 2), -40, 40, limit=200)[
            0
        ]
        / np.sqrt(2 * np.pi)
        for m in q * d
    ]
    assert wasserstein_step_loss(d, sigma, q, mu) == pytest.approx(sum(moments) ** (1 / mu), rel=1e-8)


def test_noise_floor_closed_form_and_growth_with_sigma():
    q, mu, n = 1024 / 60000, 16.0, 28
    noise_moment = 2 ** (mu / 2) * special.gamma((mu + 1) / 2) / np.sqrt(np.pi)

    def floor(s):
        return n ** (1 / mu) * np.sqrt(2 * (1 - q + q * q)) * s * noise_moment ** (1 / mu)

    for sigma in (0.01, 1.0, 4.0):
        assert wasserstein_step_loss(np.zeros(n), sigma, q, mu) == pytest.approx(floor(sigma), rel=1e-12)
    assert wasserstein_step_loss(np.ones(n), 2.0, q, mu) > wasserstein_step_loss(np.ones(n), 1.0, q, mu)


def test_accountant_additive_and_delta_round_trip():
    acc = WassersteinAccountant(order=16, beta=32)
    rng = np.random.default_rng(1)
    losses = [acc.step(rng.normal(size=(28, 50)), noise_multiplier=0.5, sample_rate=0.02) for _ in range(4)]
    eps = acc.get_epsilon(1e-5)
    assert eps == pytest.approx(sum(losses) + np.log(1e5) / 32)
    assert acc.get_delta(eps) == pytest.approx(1e-5)
    assert acc.epsilon_history(1e-5)[-1] == pytest.approx(eps) and len(acc) == 4
    compat = WassersteinAccountant(order=16, beta=32, paper_compat=True)
    compat.history = list(acc.history)
    assert compat.get_delta(eps) == pytest.approx(32 * np.exp(sum(losses) - eps))  # the released inverse


def test_paper_compat_overflows_where_log_space_does_not():
    d = np.full(3, 1e4)
    assert np.isfinite(wasserstein_step_loss(d, 5e-4, 0.01, 16.0))
    assert not np.isfinite(wasserstein_step_loss(d, 5e-4, 0.01, 16.0, paper_compat=True))
    small = np.array([0.1, 0.2])
    assert wasserstein_step_loss(small, 1.0, 0.1, 16.0, paper_compat=True) == pytest.approx(
        wasserstein_step_loss(small, 1.0, 0.1, 16.0), rel=1e-5
    )


def test_pair_differences():
    g = np.arange(12.0).reshape(4, 3)
    diffs = all_pair_differences(g)
    assert diffs.shape == (6, 3) and np.allclose(diffs[0], g[0] - g[1])


@pytest.mark.parametrize("sigma, q, alpha", [(0.1, 1e-3, 17), (1.3, 0.05, 5), (0.8, 0.3, 9)])
def test_binomial_moment_contains_the_moments_accountant_of_opacus(sigma, q, alpha):
    from affect_lib.privacy.accountants import _log_binom_expect

    rdp = compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=[alpha])[0]
    r = np.array([1 / (2 * sigma**2)])
    assert _log_binom_expect(r, q, alpha, -1)[0] == pytest.approx((alpha - 1) * rdp, rel=1e-9)
    # the Bayesian cost is the max over both directions, never below the forward (Abadi) one
    assert log_binomial_moment([1.0], sigma, q, alpha - 1)[0] >= (alpha - 1) * rdp * (1 - 1e-12)


def test_bayesian_accountant_identical_pairs_and_bound():
    acc = BayesianAccountant(order=16, confidence=0.95)
    c = acc.step(distances=np.full(10, 0.5), noise_multiplier=1.0, sample_rate=0.05)
    assert c == pytest.approx(
        log_binomial_moment([0.5], 1.0, 0.05, 16)[0]
    )  # zero spread: the bound is the mean
    assert acc.get_epsilon(1e-5) == pytest.approx((c + np.log(1e5)) / 16)
    rng = np.random.default_rng(2)
    c2 = BayesianAccountant(16, 0.95).step(distances=rng.random(20), noise_multiplier=1.0, sample_rate=0.05)
    assert c2 < log_binomial_moment([1.0], 1.0, 0.05, 16)[0]


def test_rdp_accountant_matches_opacus_and_reference_values():
    acc = RDPAccountant()
    acc.step(noise_multiplier=1.0, sample_rate=0.01, steps=600)
    acc.step(noise_multiplier=1.0, sample_rate=0.01, steps=400)
    assert acc.history == [(1.0, 0.01, 1000)] and len(acc) == 1000
    assert acc.get_epsilon(1e-5) == pytest.approx(2.10137, abs=1e-5)
    orders = list(acc.orders)
    rdp = compute_rdp(q=0.01, noise_multiplier=1.0, steps=1000, orders=orders)
    assert acc.get_epsilon(1e-5) == pytest.approx(get_privacy_spent(orders=orders, rdp=rdp, delta=1e-5)[0])
    basic = RDPAccountant(orders=[17.0], conversion="basic")
    basic.step(noise_multiplier=0.1, sample_rate=1e-3, steps=10)
    r17 = compute_rdp(q=1e-3, noise_multiplier=0.1, steps=10, orders=[17.0])[0]
    assert basic.get_epsilon(1e-5) == pytest.approx(r17 + np.log(1e5) / 16)


def test_pld_matches_prv_and_reference():
    pld = PLDAccountant()
    pld.step(noise_multiplier=1.0, sample_rate=0.01, steps=1000)
    assert pld.get_epsilon(1e-5) == pytest.approx(1.82824, abs=2e-4)
    prv = PRVAccountant()
    prv.history = [(1.0, 0.01, 1000)]
    assert pld.get_epsilon(1e-5) <= prv.get_epsilon(1e-5) + 1e-6


def test_make_accountant_names():
    assert make_accountant("wdp", order=8).order == 8
    assert make_accountant("prv").mechanism() == "prv"
    with pytest.raises(ValueError, match="name"):
        make_accountant("zcdp")


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: WassersteinAccountant(order=0.5), "order"),
        (lambda: WassersteinAccountant(beta=0), "beta"),
        (lambda: WassersteinAccountant().get_epsilon(1.0), "delta"),
        (
            lambda: WassersteinAccountant().step(np.ones((2, 3)), noise_multiplier=1, sample_rate=1.5),
            "sample_rate",
        ),
        (
            lambda: WassersteinAccountant().step(np.ones((2, 3)), noise_multiplier=0, sample_rate=0.1),
            "noise_mult",
        ),
        (
            lambda: WassersteinAccountant().step(
                np.full((2, 3), np.nan), noise_multiplier=1, sample_rate=0.1
            ),
            "NaN",
        ),
        (lambda: WassersteinAccountant().step(noise_multiplier=1, sample_rate=0.1), "exactly one"),
        (lambda: BayesianAccountant(order=2.5), "integer"),
        (
            lambda: BayesianAccountant().step(distances=[1.0], noise_multiplier=1, sample_rate=0.1),
            "at least 2",
        ),
        (lambda: RDPAccountant(conversion="x"), "conversion"),
        (lambda: RDPAccountant().step(noise_multiplier=1, sample_rate=-0.1), "sample_rate"),
        (lambda: PLDAccountant().get_epsilon(0.0), "delta"),
    ],
)
def test_bad_input(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_mismatched_shapes():
    from affect_lib.privacy import pair_distances

    with pytest.raises(ValueError, match="same shape"):
        pair_distances(np.ones((2, 3)), np.ones((2, 4)))
