"""The .csd -> MulT converter on small computational sequences written with h5py in the SDK's layout.

Every expected array is computed by hand from the frame grid below (which frames a word covers is written out, not
derived with the converter's overlap rule), or, word-aligned, made by CMU-MultimodalSDK's own ``align``
(``csd_reference/``, see its README).
"""

import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from affect_lib.data.csd import csd_to_mult, read_csd, standard_folds
from affect_lib.data.mult import MODALITIES, load_mult_pickle

RNG = np.random.default_rng(0)
# video A: words (seconds) [0, .2], [.2, .5], [.5, .5] (zero length), [.6, 1], [1.2, 1.6]; labels [0, 1] and [1, 2]
WORDS_A = np.array([[0.0, 0.2], [0.2, 0.5], [0.5, 0.5], [0.6, 1.0], [1.2, 1.6]])
TEXT_A = RNG.normal(size=(5, 300))
AUDIO_IV = np.array([[k / 10, (k + 1) / 10] for k in range(20)])  # 10 Hz over [0, 2]
VISION_IV = np.array([[k / 5, (k + 1) / 5] for k in range(10)])  # 5 Hz over [0, 2]
AUDIO_A = RNG.normal(size=(20, 74))
VISION_A = RNG.normal(size=(10, 35))
LABELS_A = np.array([[1.5, 0, 0, 0, 0, 0, 0], [-2.0, 1, 0, 0, 0, 0, 0]])
# video B: words [0, .5], [.5, 1]; audio frames only over [0, .5], so the second word has no audio
WORDS_B = np.array([[0.0, 0.5], [0.5, 1.0]])
TEXT_B = RNG.normal(size=(2, 300))
AUDIO_B = RNG.normal(size=(5, 74))
VISION_B = RNG.normal(size=(5, 35))
SPLITS = {"train": ["vidA[0]"], "valid": ["vidB"], "test": ["vidA[1]"]}


def write_csd(path, root, entries, *, metadata=True):
    """A computational sequence in the SDK's layout: <root>/data/<video>/{features,intervals}, <root>/metadata."""
    with h5py.File(path, "w") as h5:
        data = h5.create_group(root).create_group("data")
        for video, (intervals, features) in entries.items():
            group = data.create_group(video)
            group.create_dataset("features", data=features)
            group.create_dataset("intervals", data=intervals)
        if metadata:
            meta = h5[root].create_group("metadata")
            for key, value in {"root name": root, "dataset name": "synthetic"}.items():
                meta.create_dataset(key, (1,), dtype=h5py.string_dtype())[0] = json.dumps(value)
    return path


def mosei_sources(folder, **replace):
    entries = {
        "text": {"vidA": (WORDS_A, TEXT_A), "vidB": (WORDS_B, TEXT_B)},
        "audio": {"vidA": (AUDIO_IV, AUDIO_A), "vidB": (AUDIO_IV[:5], AUDIO_B)},
        "vision": {"vidA": (VISION_IV, VISION_A), "vidB": (VISION_IV[:5], VISION_B)},
        "labels": {
            "vidA": (np.array([[0.0, 1.0], [1.0, 2.0]]), LABELS_A),
            "vidB": (np.array([[0.0, 1.0]]), LABELS_A[:1]),
        },
    }
    entries.update(replace)
    roots = {"text": "glove_vectors", "audio": "COVAREP", "vision": "FACET 4.2", "labels": "All Labels"}
    return {k: write_csd(folder / f"{k}.csd", roots[k], entries[k]) for k in entries}


def test_read_csd_returns_intervals_and_features_sorted_by_start(tmp_path):
    shuffled = [2, 0, 1]
    path = write_csd(tmp_path / "a.csd", "COVAREP", {"v": (AUDIO_IV[shuffled], AUDIO_A[shuffled])})
    data = read_csd(path)
    assert list(data) == ["v"]
    intervals, features = data["v"]
    assert np.array_equal(intervals, AUDIO_IV[:3]) and np.array_equal(features, AUDIO_A[:3])


def test_aligned_averages_the_frames_of_each_word(tmp_path):
    report = csd_to_mult(mosei_sources(tmp_path), "mosei", True, SPLITS, tmp_path / "out", lengths=(4, 4, 4))
    raw = pickle.loads(report.path.read_bytes())
    assert report.path.name == "mosei_senti_data.pkl"
    train = raw["train"]  # segment [0, 1]: words 0, 1 and 3 (word 2 has zero length), one padding step first
    assert train["text"].shape == (1, 4, 300) and train["text"].dtype == np.float32
    assert (train["text"][0, 0] == 0).all() and (train["audio"][0, 0] == 0).all()
    np.testing.assert_allclose(train["text"][0, 1:], TEXT_A[[0, 1, 3]], rtol=1e-6)
    # word [0, .2]: audio frames 0-1, vision frame 0; [.2, .5]: audio 2-4, vision 1-2 ([.2,.4], [.4,.6]);
    # [.6, 1]: audio 6-9, vision 3-4. Frame [.1, .2] only touches [.2, .5] and is not part of it.
    audio = [
        (AUDIO_A[0] + AUDIO_A[1]) / 2,
        (AUDIO_A[2] + AUDIO_A[3] + AUDIO_A[4]) / 3,
        AUDIO_A[6:10].sum(0) / 4,
    ]
    vision = [VISION_A[0], (VISION_A[1] + VISION_A[2]) / 2, (VISION_A[3] + VISION_A[4]) / 2]
    np.testing.assert_allclose(train["audio"][0, 1:], audio, rtol=1e-5)
    np.testing.assert_allclose(train["vision"][0, 1:], vision, rtol=1e-5)
    assert train["labels"].shape == (1, 1, 1) and train["labels"][0, 0, 0] == 1.5
    assert train["id"].tolist() == [["vidA", "0.0", "1.0"]]
    test = raw["test"]  # segment [1, 2]: word [1.2, 1.6] -> audio 12-15, vision 6-7
    np.testing.assert_allclose(test["audio"][0, 3], AUDIO_A[12:16].sum(0) / 4, rtol=1e-5)
    np.testing.assert_allclose(test["vision"][0, 3], (VISION_A[6] + VISION_A[7]) / 2, rtol=1e-5)
    assert (test["text"][0, :3] == 0).all() and test["labels"][0, 0, 0] == -2.0
    valid = raw[
        "valid"
    ]  # video B: the word [.5, 1] has no audio frame, so its audio step is zeros (the SDK's impute)
    np.testing.assert_allclose(valid["text"][0, 2:], TEXT_B, rtol=1e-6)
    assert (valid["text"][0, :2] == 0).all()
    np.testing.assert_allclose(valid["audio"][0, 2], AUDIO_B.mean(0), rtol=1e-5)
    assert (valid["audio"][0, 3] == 0).all()
    # vision frames [0, .2], [.2, .4], [.4, .6] for the first word; [.4, .6], [.6, .8], [.8, 1] for the second
    np.testing.assert_allclose(valid["vision"][0, 2], VISION_B[0:3].mean(0), rtol=1e-5)
    np.testing.assert_allclose(valid["vision"][0, 3], VISION_B[2:5].mean(0), rtol=1e-5)
    assert report.zero_filled_words == {"audio": 1, "vision": 0} and report.dropped_words == 0
    assert report.sizes == {"train": 1, "valid": 1, "test": 1}


def test_frameless_words_can_be_dropped_from_all_three_and_counted(tmp_path):
    report = csd_to_mult(
        mosei_sources(tmp_path), "mosei", True, SPLITS, tmp_path, lengths=(4, 4, 4), drop_frameless_words=True
    )
    valid = pickle.loads(report.path.read_bytes())["valid"]  # video B: the word [.5, 1] (no audio) is dropped
    np.testing.assert_allclose(valid["text"][0, 3], TEXT_B[0], rtol=1e-6)
    assert (valid["text"][0, :3] == 0).all() and (valid["vision"][0, :3] == 0).all()
    np.testing.assert_allclose(valid["audio"][0, 3], AUDIO_B.mean(0), rtol=1e-5)
    np.testing.assert_allclose(valid["vision"][0, 3], VISION_B[0:3].mean(0), rtol=1e-5)
    assert report.dropped_words == 1 and report.zero_filled_words == {"audio": 0, "vision": 0}


def test_truncation_keeps_the_last_steps(tmp_path):
    report = csd_to_mult(
        mosei_sources(tmp_path), "mosei", True, SPLITS, tmp_path / "o.pkl", lengths=(2, 2, 2)
    )
    train = pickle.loads(report.path.read_bytes())["train"]
    np.testing.assert_allclose(train["text"][0], TEXT_A[[1, 3]], rtol=1e-6)  # words 1 and 3 of 0, 1, 3
    assert report.truncated == {"text": 1, "audio": 1, "vision": 1}


def test_unaligned_keeps_the_frames_of_the_segment_left_padded(tmp_path):
    report = csd_to_mult(mosei_sources(tmp_path), "mosei", False, SPLITS, tmp_path, lengths=(4, 12, 8))
    assert report.path.name == "mosei_senti_data_noalign.pkl"
    train = pickle.loads(report.path.read_bytes())["train"]
    # segment [0, 1]: audio frames 0-9 (frame [1, 1.1] only touches it), vision frames 0-4
    assert (train["audio"][0, :2] == 0).all()
    np.testing.assert_allclose(train["audio"][0, 2:], AUDIO_A[:10], rtol=1e-6)
    assert (train["vision"][0, :3] == 0).all()
    np.testing.assert_allclose(train["vision"][0, 3:], VISION_A[:5], rtol=1e-6)
    np.testing.assert_allclose(train["text"][0, 1:], TEXT_A[[0, 1, 3]], rtol=1e-6)
    test = pickle.loads(
        csd_to_mult(
            mosei_sources(tmp_path), "mosei", False, SPLITS, tmp_path / "t.pkl", lengths=(4, 8, 8)
        ).path.read_bytes()
    )["test"]
    np.testing.assert_allclose(test["audio"][0], AUDIO_A[12:20], rtol=1e-6)  # the last 8 of frames 10-19


def test_round_trip_through_the_loader(tmp_path):
    report = csd_to_mult(mosei_sources(tmp_path), "mosei", False, SPLITS, tmp_path, lengths=(4, 12, 8))
    corpus = load_mult_pickle(report.path)
    assert corpus.dataset == "mosei" and not corpus.aligned
    assert corpus.dims == (300, 74, 35) and corpus.lengths == (4, 12, 8) and corpus.sizes() == report.sizes
    assert corpus["train"].labels.tolist() == [[1.5]] and corpus["valid"].ids[0, 0] == "vidB"
    aligned = load_mult_pickle(csd_to_mult(mosei_sources(tmp_path), "mosei", True, SPLITS, tmp_path).path)
    assert aligned.aligned and aligned.lengths == (50, 50, 50)  # the manifest's standard lengths by default


def test_mosi_keeps_mults_columns_and_bytes_ids_from_the_standard_folder(tmp_path):
    audio, vision = RNG.normal(size=(20, 74)), RNG.normal(size=(10, 47))
    names = {
        "CMU_MOSI_TimestampedWordVectors.csd": ("glove_vectors", {"vidA": (WORDS_A, TEXT_A)}),
        "CMU_MOSI_COVAREP.csd": ("COVAREP", {"vidA": (AUDIO_IV, audio)}),
        "CMU_MOSI_Visual_Facet_41.csd": ("FACET_4.1", {"vidA": (VISION_IV, vision)}),
        "CMU_MOSI_Opinion_Labels.csd": (
            "Opinion Segment Labels",
            {"vidA": (np.array([[0.0, 1.0], [1.0, 2.0]]), LABELS_A[:, :1])},
        ),
    }
    for name, (root, entries) in names.items():
        write_csd(tmp_path / name, root, entries)
    splits = {"train": ["vidA[0]"], "valid": ["vidA[1]"], "test": []}
    report = csd_to_mult(tmp_path, "mosi", True, splits, tmp_path / "out", lengths=(4, 4, 4))
    raw = pickle.loads(report.path.read_bytes())
    a_cols = [1, 3, 6, 25, 60]  # SDK issue #172: MulT's MOSI COVAREP subset
    v_cols = [0, 2, 5, 10, 11, 12, 14, 17, 20, 21, 22, 24, 25, 29, 30, 31, 32, 36, 37, 40]
    np.testing.assert_allclose(raw["train"]["audio"][0, 1], audio[[0, 1]][:, a_cols].mean(0), rtol=1e-5)
    np.testing.assert_allclose(raw["train"]["vision"][0, 3], vision[[3, 4]][:, v_cols].mean(0), rtol=1e-5)
    assert raw["train"]["id"].dtype.kind == "S" and raw["test"]["audio"].shape == (0, 4, 5)
    corpus = load_mult_pickle(report.path)
    assert corpus.dims == (300, 5, 20) and corpus["train"].ids[0, 0] == "vidA"


def test_iemocap_presence_flags_become_one_hot_pairs(tmp_path):
    flags = np.array([[0, 1, 0, 0], [0, 0, 0, 1]])
    sources = mosei_sources(tmp_path, labels={"vidA": (np.array([[0.0, 1.0], [1.0, 2.0]]), flags)})
    splits = {"train": ["vidA[0]"], "valid": [], "test": ["vidA[1]"]}
    report = csd_to_mult(sources, "iemocap", True, splits, tmp_path, lengths=(4, 4, 4))
    raw = pickle.loads(report.path.read_bytes())
    assert "id" not in raw["train"]
    assert raw["train"]["labels"].tolist() == [[[1, 0], [0, 1], [1, 0], [1, 0]]]  # happy present
    assert load_mult_pickle(report.path)["test"].labels.tolist() == [[0, 0, 0, 1]]  # angry


def test_nan_and_minus_inf_are_carried_over_counted_and_zeroed_by_the_loader(tmp_path):
    vision, audio = VISION_A.copy(), AUDIO_A.copy()
    vision[1, 4] = np.nan  # frame 1 belongs to the word [.2, .5]
    audio[6, 2] = -np.inf  # frame 6 belongs to the word [.6, 1]
    sources = mosei_sources(
        tmp_path,
        vision={"vidA": (VISION_IV, vision), "vidB": (VISION_IV[:5], VISION_B)},
        audio={"vidA": (AUDIO_IV, audio), "vidB": (AUDIO_IV[:5], AUDIO_B)},
    )
    report = csd_to_mult(sources, "mosei", True, SPLITS, tmp_path, lengths=(4, 4, 4))
    train = pickle.loads(report.path.read_bytes())["train"]
    assert np.isnan(train["vision"][0, 2, 4]) and train["audio"][0, 3, 2] == -np.inf
    assert report.nonfinite == {"text": 0, "audio": 1, "vision": 1}
    with pytest.warns(UserWarning, match=r"mosei_senti_data\.pkl.*vision 1"):
        corpus = load_mult_pickle(report.path)
    assert corpus.zeroed == {"text": 0, "audio": 0, "vision": 1}  # -inf audio: the original loader's cleaning
    assert corpus["train"].vision[0, 2, 4] == 0 and corpus["train"].audio[0, 3, 2] == 0


# ---- bad input ----------------------------------------------------------------------------------------------
def test_an_existing_output_is_never_overwritten_unless_asked(tmp_path):
    sources = mosei_sources(tmp_path)
    out = tmp_path / "mosei_senti_data.pkl"
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="--overwrite"):
        csd_to_mult(sources, "mosei", True, SPLITS, tmp_path)
    assert out.read_bytes() == b"keep me"
    csd_to_mult(sources, "mosei", True, SPLITS, tmp_path, overwrite=True)
    assert load_mult_pickle(out).sizes() == {"train": 1, "valid": 1, "test": 1}


def test_missing_data_group(tmp_path):
    path = tmp_path / "bad.csd"
    with h5py.File(path, "w") as h5:
        h5.create_group("COVAREP").create_group("metadata")
    with pytest.raises(ValueError, match=r"bad\.csd: missing group 'COVAREP/data'"):
        read_csd(path)


def test_wrong_feature_dimension_names_file_and_field(tmp_path):
    sources = mosei_sources(
        tmp_path, audio={"vidA": (AUDIO_IV, AUDIO_A[:, :73]), "vidB": (AUDIO_IV[:5], AUDIO_B)}
    )
    with pytest.raises(
        ValueError, match=r"audio\.csd: 'COVAREP/data/vidA/features' has width 73, expected 74"
    ):
        csd_to_mult(sources, "mosei", True, SPLITS, tmp_path)


def test_interval_array_of_the_wrong_shape(tmp_path):
    bad = np.concatenate([AUDIO_IV, AUDIO_IV[:, :1]], axis=1)  # (20, 3)
    path = write_csd(tmp_path / "a.csd", "COVAREP", {"v": (bad, AUDIO_A)})
    with pytest.raises(
        ValueError, match=r"a\.csd: 'COVAREP/data/v/intervals' has shape \(20, 3\), expected \(n, 2\)"
    ):
        read_csd(path)
    path = write_csd(tmp_path / "b.csd", "COVAREP", {"v": (AUDIO_IV, AUDIO_A[:19])})
    with pytest.raises(
        ValueError, match=r"b\.csd: 'COVAREP/data/v/features' has shape \(19, 74\), expected \(20, d\)"
    ):
        read_csd(path)
    path = write_csd(tmp_path / "c.csd", "COVAREP", {"v": (AUDIO_IV[:, ::-1], AUDIO_A)})
    with pytest.raises(ValueError, match=r"c\.csd: .*reversed"):
        read_csd(path)


def test_a_split_video_absent_from_a_modality(tmp_path):
    sources = mosei_sources(tmp_path, vision={"vidA": (VISION_IV, VISION_A)})
    with pytest.raises(
        ValueError, match=r"vision\.csd: split 'valid' lists 'vidB', but 'FACET 4\.2/data/vidB' is absent"
    ):
        csd_to_mult(sources, "mosei", True, SPLITS, tmp_path)
    assert not (tmp_path / "mosei_senti_data.pkl").exists()


def test_bad_split_lists_and_files(tmp_path):
    sources = mosei_sources(tmp_path)
    with pytest.raises(ValueError, match="exactly the keys"):
        csd_to_mult(sources, "mosei", True, {"train": ["vidA"]}, tmp_path)
    with pytest.raises(ValueError, match=r"vidA\[0\] is in both 'train' and 'test'"):
        csd_to_mult(sources, "mosei", True, {"train": ["vidA"], "valid": [], "test": ["vidA[0]"]}, tmp_path)
    with pytest.raises(ValueError, match=r"splits\['valid'\]\[1\] is 5, not a video or segment id string"):
        csd_to_mult(sources, "mosei", True, {"train": [], "valid": ["vidB", 5], "test": []}, tmp_path)
    with pytest.raises(ValueError, match=r"labels\.csd: .*'vidA\[5\]', but vidA has 2 segments"):
        csd_to_mult(sources, "mosei", True, {"train": ["vidA[5]"], "valid": [], "test": []}, tmp_path)
    (tmp_path / "junk.csd").write_text("not hdf5")
    with pytest.raises(ValueError, match=r"junk\.csd: not an HDF5"):
        read_csd(tmp_path / "junk.csd")
    with pytest.raises(FileNotFoundError, match="nope.csd"):
        read_csd(tmp_path / "nope.csd")


def test_a_segment_without_words_is_left_out_and_counted(tmp_path):
    segments = np.array([[0.0, 1.0], [1.0, 2.0], [1.7, 1.9]])  # the third holds no word
    labels = {
        "vidA": (segments, np.concatenate([LABELS_A, LABELS_A[:1]])),
        "vidB": (np.array([[0.0, 1.0]]), LABELS_A[:1]),
    }
    splits = {"train": ["vidA"], "valid": ["vidB"], "test": []}
    report = csd_to_mult(
        mosei_sources(tmp_path, labels=labels), "mosei", False, splits, tmp_path, lengths=(4, 4, 4)
    )
    assert report.empty_segments == 1 and report.sizes == {"train": 2, "valid": 1, "test": 0}
    assert load_mult_pickle(report.path)["train"].ids[:, 1].tolist() == ["0.0", "1.0"]


# ---- word-aligned arrays against CMU-MultimodalSDK's own align (csd_reference/make_reference.py) ----------------
REFERENCE = Path(__file__).parent / "csd_reference"
CASES = ("straddle", "zero_length", "tracking_gap", "unsorted_labels")
ROOTS = {"text": "glove_vectors", "audio": "COVAREP", "vision": "FACET 4.2", "labels": "All Labels"}


def reference_case(folder, name):
    """The case's inputs written as .csd files, and its arrays: ``(sources, reference npz)``."""
    ref = np.load(REFERENCE / f"{name}.npz")
    sources = {
        key: write_csd(folder / f"{key}.csd", root, {name: (ref[f"{key}_intervals"], ref[f"{key}_features"])})
        for key, root in ROOTS.items()
    }
    return sources, ref


@pytest.mark.parametrize("name", CASES)
def test_word_aligned_arrays_are_the_sdks(tmp_path, name):
    sources, ref = reference_case(tmp_path, name)
    splits = {"train": [name], "valid": [], "test": []}
    report = csd_to_mult(sources, "mosei", True, splits, tmp_path, lengths=tuple(ref["lengths"]))
    train = pickle.loads(report.path.read_bytes())["train"]
    for m in MODALITIES:
        assert train[m].shape == ref[f"expected_{m}"].shape, m
        np.testing.assert_allclose(train[m], ref[f"expected_{m}"], rtol=1e-6, atol=1e-6, err_msg=m)
    np.testing.assert_array_equal(train["labels"][:, 0, 0], ref["expected_labels"][:, 0, 0])
    rows = ref["labels_intervals"][ref["segments"]]  # the SDK's segment i is the file's row i
    assert train["id"].tolist() == [[name, str(start), str(end)] for start, end in rows]


def test_straddling_words_keep_their_whole_word_average_in_both_segments(tmp_path):
    sources, ref = reference_case(tmp_path, "straddle")
    report = csd_to_mult(
        sources, "mosei", True, {"train": ["straddle"], "valid": [], "test": []}, tmp_path, lengths=(6, 6, 6)
    )
    audio = pickle.loads(report.path.read_bytes())["train"]["audio"]
    whole = ref["audio_features"][3:7].mean(
        0
    )  # the word [.3, .7]: audio frames 3-6, across the boundary at .45
    np.testing.assert_allclose(audio[0, -1], whole, rtol=1e-5)  # last step of [0, .45]
    np.testing.assert_allclose(audio[1, -3], whole, rtol=1e-5)  # first of the three steps of [.45, 1.1]


def test_zero_length_words_are_neither_steps_nor_frameless(tmp_path):
    sources, _ = reference_case(tmp_path, "zero_length")
    splits = {"train": ["zero_length"], "valid": [], "test": []}
    report = csd_to_mult(sources, "mosei", True, splits, tmp_path, lengths=(6, 6, 6))
    assert report.zero_filled_words == {"audio": 0, "vision": 0} and report.empty_segments == 0
    text = pickle.loads(report.path.read_bytes())["train"]["text"]
    assert [int(np.abs(seq).sum(1).astype(bool).sum()) for seq in text] == [2, 2]  # 6 words, 3 of length > 0


def test_a_tracking_gap_is_zero_filled_or_dropped_on_request(tmp_path):
    sources, ref = reference_case(tmp_path, "tracking_gap")
    splits = {"train": ["tracking_gap"], "valid": [], "test": []}
    report = csd_to_mult(sources, "mosei", True, splits, tmp_path, lengths=(6, 6, 6))
    assert report.zero_filled_words == {"audio": 0, "vision": 1} and report.dropped_words == 0
    dropped = csd_to_mult(
        sources, "mosei", True, splits, tmp_path / "d.pkl", lengths=(6, 6, 6), drop_frameless_words=True
    )
    assert dropped.dropped_words == 1 and dropped.zero_filled_words == {"audio": 0, "vision": 0}
    train = pickle.loads(dropped.path.read_bytes())["train"]
    text = ref["text_features"].astype(np.float32)
    np.testing.assert_array_equal(
        train["text"][0, -2:], text[[0, 2]]
    )  # the word [.4, .8] is gone from all three
    assert (train["audio"][0, :-2] == 0).all() and (train["vision"][0, :-2] == 0).all()


def test_segment_ids_count_label_rows_in_file_order(tmp_path):
    sources, ref = reference_case(tmp_path, "unsorted_labels")
    splits = {
        "train": ["unsorted_labels[0]"],
        "valid": ["unsorted_labels[2]"],
        "test": ["unsorted_labels[1]"],
    }
    raw = pickle.loads(
        csd_to_mult(sources, "mosei", True, splits, tmp_path, lengths=(6, 6, 6)).path.read_bytes()
    )
    for split, i in (("train", 0), ("valid", 2), ("test", 1)):
        assert raw[split]["id"].tolist() == [["unsorted_labels", *map(str, ref["labels_intervals"][i])]]
        assert raw[split]["labels"][0, 0, 0] == ref["labels_features"][i, 0]
        np.testing.assert_allclose(raw[split]["audio"][0], ref["expected_audio"][i], rtol=1e-6, atol=1e-6)


# ---- the SDK's standard folds ------------------------------------------------------------------------------
def test_the_standard_folds_are_the_sdks_lists():
    sizes = {name: {k: len(v) for k, v in standard_folds(name).items()} for name in ("mosi", "mosei")}
    assert sizes == {
        "mosi": {"train": 52, "valid": 10, "test": 31},
        "mosei": {"train": 2249, "valid": 300, "test": 678},
    }
    for name in ("mosi", "mosei"):
        folds = [set(v) for v in standard_folds(name).values()]
        assert not (folds[0] & folds[1] or folds[0] & folds[2] or folds[1] & folds[2])
    assert standard_folds("mosi")["train"][:2] == ["2iD-tVS8NPw", "8d-gEyoeBzc"]
    assert standard_folds("mosei")["valid"][-1] == "Vuay0mVKkik"
    with pytest.raises(ValueError, match="no standard folds for iemocap"):
        standard_folds("iemocap")


def test_without_splits_the_standard_folds_are_used_and_absent_videos_listed(tmp_path):
    folds = standard_folds("mosei")
    chosen = {"train": folds["train"][0], "valid": folds["valid"][0], "test": folds["test"][0]}
    videos = [*chosen.values(), "not-in-a-fold"]
    entries = {
        "text": {v: (WORDS_A, TEXT_A) for v in videos},
        "audio": {v: (AUDIO_IV, AUDIO_A) for v in videos},
        "vision": {v: (VISION_IV, VISION_A) for v in videos},
        "labels": {v: (np.array([[0.0, 1.0], [1.0, 2.0]]), LABELS_A) for v in videos},
    }
    sources = {k: write_csd(tmp_path / f"{k}.csd", ROOTS[k], entries[k]) for k in entries}
    report = csd_to_mult(sources, "mosei", True, None, tmp_path, lengths=(4, 4, 4))
    assert report.sizes == {"train": 2, "valid": 2, "test": 2}
    assert len(report.missing_videos) == 2249 + 300 + 678 - 3 and chosen["test"] not in report.missing_videos
    corpus = load_mult_pickle(report.path)
    assert {split: corpus[split].ids[0, 0] for split in chosen} == chosen
    with pytest.raises(ValueError, match="no standard folds for iemocap"):
        csd_to_mult(sources, "iemocap", True, None, tmp_path / "i.pkl")
