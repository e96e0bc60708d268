import numpy as np
import pytest

from affect_lib.privacy import PRVAccountant, wasserstein_noise_floor
from affect_lib.privacy.analysis import pld
from affect_lib.privacy.figure2 import Figure2


def test_tight_dp_is_that_of_the_mechanism_that_ran():
    """Noise 0.2 C_t on a sum that one record moves by C_t: noise multiplier 0.2, tight eps(100) = 31.98, not the
    156.9 of noise multiplier 0.1 (the released baseline's distance 2 C_t)."""
    f = Figure2()
    assert f.noise_multiplier == 0.2 and f.released_noise_multiplier == 0.1
    tight = f.tight_epsilon(100)
    assert tight == pytest.approx(31.978, abs=2e-3)
    prv = PRVAccountant()  # opacus's PRV: an independent upper bound within its eps_error
    prv.step(noise_multiplier=0.2, sample_rate=1e-3, steps=100)
    assert tight <= prv.get_epsilon(1e-5) <= tight + 0.02
    assert f.tight_epsilon(100, "replace_one") == pytest.approx(32.061, abs=2e-3)
    old = pld.pld_epsilon([(f.released_noise_multiplier, 1e-3, 100)], 1e-5, 1e-2)
    assert old == pytest.approx(156.86, abs=0.01) and old / tight > 4.8


def test_run_accounts_the_clipped_pairs_with_the_noise_of_the_mechanism():
    f = Figure2(steps=3)
    wdp, bdp, clip = f.run(0.5, np.random.default_rng([0, 1, 0]))
    assert wdp.shape == bdp.shape == clip.shape == (3,)
    # each W_t sits just above the noise-only floor times C_t (q d << noise)
    per_step = np.diff(wdp, prepend=-np.log(f.delta))
    floor = wasserstein_noise_floor(1225, f.noise_multiplier, f.sample_rate, f.order)
    assert np.all(per_step / clip >= floor) and np.all(per_step / clip < floor * 1.001)
    scaled, _, clip_scaled = f.run(0.5, np.random.default_rng([0, 1, 0]), scale=100.0)
    np.testing.assert_allclose(clip_scaled, 100 * clip, rtol=1e-12)
    np.testing.assert_allclose(scaled + np.log(f.delta), 100 * (wdp + np.log(f.delta)), rtol=1e-9)
