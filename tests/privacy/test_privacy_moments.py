import numpy as np
import pytest
from scipy import integrate, special

from affect_lib.privacy import abs_moment_normal, log_abs_moment_normal


def quadrature(m: float, s: float, mu: float) -> float:
    f = lambda z: abs(m + s * z) ** mu * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    cut = -m / s
    pts = sorted({-40.0, min(max(cut, -40.0), 40.0), 40.0})
    return sum(
        integrate.quad(f, a, b, epsabs=0, epsrel=1e-12, limit=400)[0]
        for a, b in zip(pts, pts[1:], strict=False)
        if b > a
    )


@pytest.mark.parametrize("mu", [1.0, 1.5, 2.0, 3.0, 7.3, 16.0, 16.5])
@pytest.mark.parametrize("m", [0.0, 0.4, 3.0, 12.0])
def test_against_quadrature(mu, m):
    assert float(abs_moment_normal(m, 1.7**2, mu)) == pytest.approx(quadrature(m, 1.7, mu), rel=1e-9)


def test_even_polynomial_and_hypergeometric_branches_agree():
    m = np.array([0.0, 0.3, 5.0, 80.0])
    close = log_abs_moment_normal(m, 2.0, 16.0 + 1e-9)
    np.testing.assert_allclose(log_abs_moment_normal(m, 2.0, 16.0), close, rtol=1e-8)


def test_large_argument_branch_is_continuous():
    mu = 5.5
    edge = max(30.0, 3 * mu)
    below, above = log_abs_moment_normal([edge * (1 - 1e-9), edge * (1 + 1e-9)], 1.0, mu)
    assert above == pytest.approx(below, rel=1e-8)


def test_no_overflow_in_extreme_regimes():
    # (2v)^(mu/2) underflows and 1F1 overflows in a direct float evaluation
    out = log_abs_moment_normal([0.0, 1e3, 1e8], (5e-4) ** 2, 128.0)
    assert np.all(np.isfinite(out))
    assert out[2] == pytest.approx(128 * np.log(1e8), rel=1e-9)
    assert np.all(np.isfinite(log_abs_moment_normal([0.0, 1e3, 1e8], 1e-12, 127.5)))


def test_central_moment_closed_form():
    mu = np.array([1.0, 2.5, 9.0])
    expected = 2 ** (mu / 2) * special.gamma((mu + 1) / 2) / np.sqrt(np.pi)
    got = [float(abs_moment_normal(0.0, 1.0, k)) for k in mu]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "args, word",
    [
        ((0.0, 0.0, 2.0), "var"),
        ((np.nan, 1.0, 2.0), "mean"),
        ((0.0, 1.0, 0.9), "order"),
        ((np.zeros(3), np.ones(2), 2.0), "broadcast"),
    ],
)
def test_bad_input(args, word):
    with pytest.raises(ValueError, match=word):
        log_abs_moment_normal(*args)
