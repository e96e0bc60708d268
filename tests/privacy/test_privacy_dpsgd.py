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
    # real DP-SGD pairs are clipped per example: ||d|| <= 2C bounds each step's mean shift
    assert max(a.wdp_step_losses) < 50


def test_released_semantics_runs_and_rejects_bad_names():
    run = train_dpsgd(0.01, epochs=1, semantics="released", accountants=("wdp", "bdp"))
    assert run.steps == int(np.ceil(1437 / 64)) and np.isfinite(run.epsilon["wdp"][0])
    with pytest.raises(ValueError, match="semantics"):
        train_dpsgd(1.0, semantics="fast")
