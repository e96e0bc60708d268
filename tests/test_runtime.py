"""The parameter and seed helpers every chapter starts with."""

import os

import numpy as np
import pytest
import torch

from affect_lib import runtime


def test_setup_returns_validated_config(tmp_path):
    cfg = runtime.setup("quick", 3, "cpu", tmp_path)
    assert cfg.profile == "quick" and cfg.seed == 3
    assert cfg.device == torch.device("cpu")
    assert cfg.data_dir == tmp_path
    assert cfg.pick(quick=1, paper=2) == 1
    assert "profile=quick" in str(cfg)


@pytest.mark.parametrize("profile", ["fast", "", None, "Quick"])
def test_unknown_profile_is_named(profile):
    with pytest.raises(ValueError, match="profile"):
        runtime.check_profile(profile)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "0", None])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(ValueError, match="seed"):
        runtime.check_seed(seed)


def test_seed_everything_repeats_numpy_and_torch_draws():
    a = runtime.seed_everything(7).normal(size=5), torch.rand(5)
    b = runtime.seed_everything(7).normal(size=5), torch.rand(5)
    c = runtime.seed_everything(8).normal(size=5), torch.rand(5)
    np.testing.assert_array_equal(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert not torch.equal(a[1], c[1])


def test_resolve_device_auto_and_explicit():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.resolve_device("auto").type == expected
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    assert runtime.resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="device"):
        runtime.resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        runtime.resolve_device("cuda")


def test_quick_profile_needs_no_data(monkeypatch):
    monkeypatch.delenv(runtime.DATA_DIR_ENV, raising=False)
    assert runtime.resolve_data_dir(None, profile="quick", dataset="mosei") is None


def test_paper_profile_without_data_names_the_dataset(monkeypatch):
    monkeypatch.delenv(runtime.DATA_DIR_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="mosei"):
        runtime.resolve_data_dir(None, profile="paper", dataset="mosei")


def test_data_dir_checks_required_entries(tmp_path):
    (tmp_path / "mosei_senti_data.pkl").write_bytes(b"")
    found = runtime.resolve_data_dir(tmp_path, profile="paper", dataset="mosei", required=["*.pkl"])
    assert found == tmp_path
    with pytest.raises(FileNotFoundError, match="lacks Actor_"):
        runtime.resolve_data_dir(tmp_path, profile="paper", dataset="ravdess", required=["Actor_*"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        runtime.resolve_data_dir(tmp_path / "nope", profile="quick", dataset="x")


def test_data_dir_from_environment(tmp_path, monkeypatch):
    (tmp_path / "iemocap").mkdir()
    monkeypatch.setenv(runtime.DATA_DIR_ENV, str(tmp_path))
    assert runtime.resolve_data_dir(None, profile="paper", dataset="iemocap") == tmp_path / "iemocap"


def test_cache_dir_honours_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(runtime.CACHE_DIR_ENV, str(tmp_path))
    path = runtime.cache_dir("ravdess", "v1")
    assert path == tmp_path / "ravdess" / "v1" and path.is_dir()


def test_available_cores_respects_affinity_and_threads_override(monkeypatch):
    import os

    assert 1 <= runtime.available_cores() <= len(os.sched_getaffinity(0))
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(runtime.THREADS_ENV, "1")
        assert runtime.configure_threads() == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="threads"):
            runtime.configure_threads(0)
    finally:
        torch.set_num_threads(before)


def test_setup_without_data_refuses_a_data_dir(tmp_path):
    from affect_lib import runtime

    cfg = runtime.setup("paper", 0, "cpu", None, dataset=None)
    assert cfg.data_dir is None and cfg.profile == "paper"
    with pytest.raises(ValueError, match="reads no data"):
        runtime.setup("paper", 0, "cpu", tmp_path, dataset=None)


def test_environment_sets_variables_for_the_block_and_restores_them(monkeypatch):
    from affect_lib.runtime import environment

    monkeypatch.setenv("AFFECT_TEST_KEPT", "before")
    monkeypatch.delenv("AFFECT_TEST_NEW", raising=False)
    with pytest.raises(RuntimeError), environment({"AFFECT_TEST_KEPT": "inside", "AFFECT_TEST_NEW": "1"}):
        assert os.environ["AFFECT_TEST_KEPT"] == "inside" and os.environ["AFFECT_TEST_NEW"] == "1"
        raise RuntimeError("the block fails")
    assert os.environ["AFFECT_TEST_KEPT"] == "before" and "AFFECT_TEST_NEW" not in os.environ


def test_intra_op_threads_sets_the_count_for_the_block_and_restores_it():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), runtime.intra_op_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("the block fails")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
