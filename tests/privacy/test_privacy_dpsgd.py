import numpy as np
import pytest

from affect_lib.privacy.dpsgd import load_digits_tensors, train_dpsgd


def test_digits_split_shapes_and_range():
    x_tr, y_tr, x_te, y_te = load_digits_tensors(0)
    assert x_tr.shape[1] == 64 and len(x_tr) + len(x_te) == 1797
    assert float(x_tr.max()) <= 1.0 and set(np.unique(y_te.numpy())) == set(range(10))


def test_dpsgd_run_is_seeded_learns_and_accounts():
    a = train_dpsgd(1.0, epochs=2, seed=3, accountants=("wdp", "rdp"))
    b = train_dpsgd(1.0, epochs=2, seed=3, accountants=("wdp", "rdp"))
    assert a.accuracy == b.accuracy and a.epsilon == b.epsilon
    assert a.accuracy[-1] > 0.5
    assert a.epsilon["rdp"][1] > a.epsilon["rdp"][0] > 0
    assert len(a.wdp_step_losses) == a.steps
    for clock in (a.seconds, a.cpu_seconds):  # the accounting is timed inside the whole run
        assert (
            0 < clock["steps"] and 0 < clock["queries"] and clock["steps"] + clock["queries"] < clock["total"]
        )
        assert 0 < clock["wdp"] <= clock["steps"]  # the Wasserstein accountant's part of the accounting
    # opacus's Poisson rate: 1 / len(loader) = 1 / ceil(1437 / 64) = 1 / 23, not 64 / 1437
    assert a.sample_rate == 1 / 23
    # real DP-SGD pairs are differences of per-example gradients clipped to C: ||d|| <= 2C
    assert 0 < a.max_pair_distance <= 2 * 1.0 + 1e-6
    # hence floor <= W_t <= 28^(1/16) (q 2C + s (E|Z|^16)^(1/16)) by Minkowski, s = sqrt(2(1 - q + q^2)) z C
    q, s = 1 / 23, np.sqrt(2 * (1 - 1 / 23 + 1 / 23**2))
    floor = 28 ** (1 / 16) * s * 2027025 ** (1 / 16)
    assert floor * (1 - 1e-9) <= min(a.wdp_step_losses)
    assert max(a.wdp_step_losses) <= 28 ** (1 / 16) * (2 * q + s * 2027025 ** (1 / 16))


def test_released_semantics_runs_and_rejects_bad_names():
    run = train_dpsgd(0.01, epochs=1, semantics="released", accountants=("wdp", "bdp"))
    assert run.steps == int(np.ceil(1437 / 64)) and np.isfinite(run.epsilon["wdp"][0])
    assert run.sample_rate == 64 / 1437  # the released scripts' q = B/N
    with pytest.raises(ValueError, match="semantics"):
        train_dpsgd(1.0, semantics="fast")
