"""The MulT loader's edge cases: NaN/inf counted and zeroed, in-place conversion (peak memory), the manifest check."""

import tracemalloc
import warnings

import numpy as np
import pytest

from affect_lib.data.manifest import MANIFEST, STANDIN_KEY, check_manifest
from affect_lib.data.mult import dataset_spec, load_mult_pickle, mult_filename


def corpus(sizes=(6, 2, 2), lengths=(8, 8, 8), dims=(300, 5, 20), dtype=np.float32, seed=0):
    """A MOSI-format corpus of random features (``audio[..., 1]`` has a few ``-inf``, as COVAREP's log(0))."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in zip(("train", "valid", "test"), sizes, strict=True):
        d = {
            m: rng.normal(size=(n, t, k)).astype(dtype)
            for m, t, k in zip(("text", "audio", "vision"), lengths, dims, strict=True)
        }
        d["audio"][:, ::3, 1] = -np.inf
        d["labels"] = np.clip(rng.normal(size=(n, 1, 1)), -3, 3).astype(np.float32)
        d["id"] = np.array([(f"v{i}", "0.0", "1.0") for i in range(n)], dtype="S")
        out[split] = d
    return out


def test_nan_and_inf_are_zeroed_counted_per_modality_and_reported(tmp_path, dump):
    raw = corpus()
    raw["train"]["vision"][0, 2, :3] = np.nan
    raw["test"]["vision"][1, 0, 0] = np.inf
    raw["valid"]["text"][0, 1, 7] = -np.inf  # -inf outside audio is not COVAREP's log(0): counted
    raw["train"]["audio"][0, 4, 0] = np.nan
    path = dump(tmp_path / "mosi_data.pkl", raw)
    with pytest.warns(UserWarning, match=r"mosi_data\.pkl: set NaN or infinite .*text 1, audio 1, vision 4"):
        loaded = load_mult_pickle(path)
    assert loaded.zeroed == {"text": 1, "audio": 1, "vision": 4}
    assert loaded["train"].zeroed == {"text": 0, "audio": 1, "vision": 3}
    assert (loaded["train"].vision[0, 2, :3] == 0).all() and loaded["test"].vision[1, 0, 0] == 0
    assert loaded["valid"].text[0, 1, 7] == 0
    for split in ("train", "valid", "test"):  # everything else is the file's values, and finite
        for m in ("text", "audio", "vision"):
            x, y = raw[split][m], getattr(loaded[split], m)
            assert np.isfinite(y).all()
            np.testing.assert_array_equal(y[np.isfinite(x)], x[np.isfinite(x)])


def test_minus_inf_audio_alone_is_zeroed_without_a_warning_and_counted(tmp_path, dump):
    raw = corpus()
    assert (raw["train"]["audio"] == -np.inf).sum() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_mult_pickle(dump(tmp_path / "mosi_data.pkl", raw))
    assert loaded.zeroed == {"text": 0, "audio": 0, "vision": 0}
    assert loaded.audio_minus_inf == sum(int((raw[s]["audio"] == -np.inf).sum()) for s in raw) > 0
    assert (loaded["train"].audio[raw["train"]["audio"] == -np.inf] == 0).all()


@pytest.mark.parametrize(("split", "key", "value"), [("train", "audio", -np.inf), ("test", "text", np.nan)])
def test_a_modality_without_one_finite_value_is_refused(tmp_path, dump, split, key, value):
    raw = corpus()
    raw[split][key][:] = value
    raw["valid"]["vision"][0, 0, 0] = np.nan  # partly cleaned elsewhere: still accepted on its own
    with pytest.raises(
        ValueError, match=rf"mosi_data\.pkl\['{split}'\]: every '{key}' value .* is NaN or infinite"
    ):
        load_mult_pickle(dump(tmp_path / "mosi_data.pkl", raw))


def test_features_of_another_dtype_name_it(tmp_path, dump):
    raw = corpus()
    raw["train"]["vision"] = raw["train"]["vision"].astype(object)
    with pytest.raises(
        ValueError, match=r"'vision' must be a numeric array \(N, T, d\), got shape .*, dtype object"
    ):
        load_mult_pickle(dump(tmp_path / "mosi_data.pkl", raw))


def test_nan_labels_are_still_refused(tmp_path, dump):
    raw = corpus()
    raw["valid"]["labels"][1] = np.nan
    with pytest.raises(ValueError, match=r"mosi_data\.pkl\['valid'\].*finite"):
        load_mult_pickle(dump(tmp_path / "mosi_data.pkl", raw))


@pytest.mark.parametrize(("dtype", "protocol", "limit"), [(np.float32, 4, 1.15), (np.float64, 4, 1.35)])
def test_peak_memory_is_about_one_copy_of_the_file(tmp_path, dump, dtype, protocol, limit):
    # ~32 MB of float32 features (twice that as float64); the old loader (bytes read whole, then float32 copies
    # beside the unpickled arrays) peaked at 2.0x the file size for both
    path = dump(tmp_path / "mosi_data.pkl", corpus((300, 100, 100), (50, 50, 50), dtype=dtype), protocol)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        loaded = load_mult_pickle(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded["train"].text.dtype == np.float32
    assert peak < limit * size, f"peak {peak / size:.2f}x the file"


# ---- manifest ------------------------------------------------------------------------------------------------
def test_manifest_names_and_dims_agree_with_the_loader():
    assert len(MANIFEST) == 6
    for (dataset, aligned), entry in MANIFEST.items():
        assert entry.file == mult_filename(dataset, aligned)
        assert entry.dims in dataset_spec(dataset).dims
        assert entry.aligned == (len(set(entry.lengths)) == 1)
        assert entry.sha256 == "unknown" or len(entry.sha256) == 64


@pytest.mark.parametrize(
    ("dataset", "aligned", "sizes", "dims", "lengths"),
    [
        ("mosei", True, (16265, 1869, 4643), (300, 74, 35), (50, 50, 50)),
        ("mosei", False, (16326, 1871, 4659), (300, 74, 35), (50, 500, 500)),
        ("mosi", True, (1284, 229, 686), (300, 5, 20), (50, 50, 50)),
        ("mosi", False, (1284, 229, 686), (300, 5, 20), (50, 375, 500)),
        ("iemocap", True, (2717, 798, 938), (300, 74, 35), (20, 20, 20)),
        ("iemocap", True, (2717, 789, 938), (300, 74, 35), (20, 20, 20)),  # MulT issue #6's count
        ("iemocap", False, (2717, 798, 938), (300, 74, 35), (20, 400, 500)),
    ],
)
def test_the_released_files_pass_the_manifest(dataset, aligned, sizes, dims, lengths):
    check_manifest(
        "x.pkl", dataset, aligned, dict(zip(("train", "valid", "test"), sizes, strict=True)), dims, lengths
    )


def test_manifest_mismatches_name_the_file_and_field():
    sizes = {"train": 16265, "valid": 1869, "test": 4643}
    with pytest.raises(
        ValueError, match=r"m\.pkl: split 'valid' has 1868 samples, the released .* has 1,869"
    ):
        check_manifest("m.pkl", "mosei", True, {**sizes, "valid": 1868}, (300, 74, 35), (50, 50, 50))
    with pytest.raises(ValueError, match=r"m\.pkl: feature dims .* \(300, 74, 47\), the released"):
        check_manifest("m.pkl", "mosei", True, sizes, (300, 74, 47), (50, 50, 50))
    with pytest.raises(ValueError, match=r"m\.pkl: lengths .* \(40, 40, 40\)"):
        check_manifest("m.pkl", "mosei", True, sizes, (300, 74, 35), (40, 40, 40))
    unaligned = {"train": 16326, "valid": 1871, "test": 4659}
    with pytest.warns(UserWarning, match=r"m\.pkl: lengths .*unverified"):  # recalled lengths only warn
        check_manifest("m.pkl", "mosei", False, unaligned, (300, 74, 35), (50, 400, 400))


def test_the_loader_checks_the_manifest_when_asked_and_exempts_stand_ins(tmp_path, dump):
    path = dump(tmp_path / "mosi_data.pkl", corpus())
    assert load_mult_pickle(path).sizes() == {"train": 6, "valid": 2, "test": 2}  # off by default
    with pytest.raises(
        ValueError, match=r"mosi_data\.pkl: split 'train' has 6 samples, the released mosi_data"
    ):
        load_mult_pickle(path, check_manifest=True)
    (tmp_path / "standin").mkdir()
    marked = dump(tmp_path / "standin" / "mosi_data.pkl", {**corpus(), STANDIN_KEY: {"seed": 0}})
    loaded = load_mult_pickle(marked, check_manifest=True)
    assert loaded.standin and loaded.sizes() == {"train": 6, "valid": 2, "test": 2}
