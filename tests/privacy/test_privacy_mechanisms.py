import numpy as np
import pytest
from dp_accounting import dp_event
from dp_accounting.rdp import rdp_privacy_accountant as dpa_rdp

from affect_lib.privacy import (
    attack_success_probability,
    dp_gaussian,
    dp_laplace,
    exact_wdp_additive,
    rdp_gaussian,
    rdp_laplace,
    wdp_gaussian,
    wdp_laplace,
)


def test_table1_values_by_hand():
    assert float(wdp_gaussian(1, 5)) == pytest.approx(0.1, rel=1e-12)
    assert float(wdp_gaussian(2, 0.5)) == pytest.approx(0.5 * np.sqrt(2), rel=1e-12)
    kl = 1 / 2 + np.exp(-1 / 2) - 1
    assert float(wdp_laplace(3, 2, sensitivity=2)) == pytest.approx((2 * kl) ** (1 / 6), rel=1e-12)
    assert float(rdp_laplace(1, 2)) == pytest.approx(kl, rel=1e-12)
    a = 3.0
    by_hand = np.log(a / (2 * a - 1) * np.exp((a - 1) / 2) + (a - 1) / (2 * a - 1) * np.exp(-a / 2)) / (a - 1)
    assert float(rdp_laplace(a, 2)) == pytest.approx(by_hand, rel=1e-12)
    assert float(rdp_gaussian(4, 2)) == pytest.approx(0.5)
    assert float(dp_laplace(4, 2)) == 0.5 and np.isinf(dp_gaussian(3.0))


def test_vectorised_and_continuous_at_alpha_one():
    orders = np.linspace(1, 10, 100)
    assert rdp_laplace(orders, 3.0).shape == (100,)
    assert float(rdp_laplace(1 + 1e-7, 3.0)) == pytest.approx(float(rdp_laplace(1, 3.0)), rel=1e-5)
    assert wdp_gaussian(orders[:, None], np.array([1, 2, 3, 5])).shape == (100, 4)


def test_laplace_rdp_matches_dp_accounting():
    for scale in (0.5, 1.0, 3.0):
        acc = dpa_rdp.RdpAccountant(orders=[1.5, 2.0, 8.0])
        acc.compose(dp_event.LaplaceDpEvent(scale))
        np.testing.assert_allclose(rdp_laplace([1.5, 2.0, 8.0], scale), acc._rdp, rtol=1e-9)


def test_table1_is_not_the_wasserstein_distance():
    # exact OT (POT) between independent samples of the two output laws approaches Delta = 2, and the dual bound
    # W_1 >= |difference of the sample means| holds; the Table-1 formula lies below both
    import ot

    rng = np.random.default_rng(0)
    for noise in (rng.normal(0, 3, (2, 20000)), rng.laplace(0, 3, (2, 20000))):
        x, y = noise[0], 2.0 + noise[1]
        w1 = ot.wasserstein_1d(x, y, p=1)
        w2 = np.sqrt(ot.wasserstein_1d(x, y, p=2))
        assert abs(y.mean() - x.mean()) <= w1 + 1e-12 <= w2 + 2e-12
        assert w1 == pytest.approx(float(exact_wdp_additive(1, 2.0)), abs=0.1)
        assert w2 == pytest.approx(float(exact_wdp_additive(2, 2.0)), abs=0.15)
    assert exact_wdp_additive(np.linspace(1, 10, 5), 2.0).shape == (5,)
    assert float(wdp_gaussian(1, 5)) < float(exact_wdp_additive(1))
    assert float(wdp_gaussian(10, 0.5)) < float(wdp_gaussian(1, 0.5))  # decreasing in the order for sigma < 1


def test_attack_probability():
    np.testing.assert_allclose(
        attack_success_probability([0.87, 0.4]), [0.7047456979980911, 0.598687660112452]
    )


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: wdp_gaussian(0.5, 1.0), "order"),
        (lambda: wdp_laplace(2, 0.0), "scale"),
        (lambda: rdp_gaussian(2, -1.0), "sigma"),
        (lambda: rdp_laplace(np.nan, 1.0), "alpha"),
        (lambda: attack_success_probability(-1), "epsilon"),
    ],
)
def test_bad_input(call, word):
    with pytest.raises(ValueError, match=word):
        call()
