"""The MulT pickle loader, its validation and the synthetic stand-ins written in the same format."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeCV

from affect_lib.data.mult import load_mult_pickle, make_loaders, mult_filename, restricted_load
from affect_lib.data.synthetic_mult import standin_corpus, write_standin

SMALL = {"train": 24, "valid": 8, "test": 8}


def small(tmp_path, dataset="mosei", aligned=True, **kwargs):
    lengths = kwargs.pop("lengths", (12, 12, 12) if aligned else (12, 30, 36))
    return write_standin(tmp_path, dataset, aligned=aligned, sizes=SMALL, lengths=lengths, **kwargs)


@pytest.mark.parametrize("dataset", ["mosi", "mosei", "iemocap"])
@pytest.mark.parametrize("aligned", [True, False])
def test_standin_round_trip(tmp_path, dataset, aligned):
    path = small(tmp_path, dataset, aligned)
    assert path.name == mult_filename(dataset, aligned)
    corpus = load_mult_pickle(path)
    assert corpus.dataset == dataset and corpus.aligned == aligned
    assert corpus.dims == {"mosi": (300, 5, 20)}.get(dataset, (300, 74, 35))
    assert corpus.lengths == ((12, 12, 12) if aligned else (12, 30, 36))
    assert corpus.sizes() == SMALL
    train = corpus["train"]
    assert train.text.dtype == np.float32 and np.isfinite(train.audio).all()
    if dataset == "iemocap":
        assert train.ids is None
        assert train.labels.shape == (24, 4) and train.labels.dtype == np.int64
        assert (train.labels.sum(1) == 1).all()  # each utterance has exactly one of the four emotions
    else:
        assert train.labels.shape == (24, 1) and np.abs(train.labels).max() <= 3
        assert train.ids.shape == (24, 3) and train.ids[0, 0] == f"synthetic_{dataset}_train_00000"


def test_minus_inf_audio_is_zeroed_like_the_original_loader(tmp_path):
    raw = standin_corpus("mosei", aligned=True, sizes=SMALL, lengths=(12, 12, 12))
    hit = raw["train"]["audio"] == -np.inf
    assert hit.any()
    loaded = load_mult_pickle(small(tmp_path))["train"].audio
    assert (loaded[hit] == 0).all()
    assert np.array_equal(loaded[~hit], raw["train"]["audio"][~hit])


def test_mosi_ids_are_bytes_on_disk_and_str_after_loading(tmp_path):
    raw = standin_corpus("mosi", aligned=True, sizes=SMALL, lengths=(12, 12, 12))
    assert raw["train"]["id"].dtype.kind == "S"
    assert load_mult_pickle(small(tmp_path, "mosi"))["valid"].ids.dtype.kind == "U"


def test_standin_is_deterministic(tmp_path):
    a = small(tmp_path / "a", seed=3).read_bytes()
    b = small(tmp_path / "b", seed=3).read_bytes()
    c = small(tmp_path / "c", seed=4).read_bytes()
    assert a == b and a != c


def test_left_zero_padding_and_unaligned_lengths(tmp_path):
    raw = standin_corpus("mosi", aligned=False, sizes=SMALL)
    assert raw["train"]["audio"].shape[1:] == (375, 5) and raw["train"]["vision"].shape[1:] == (500, 20)
    text = raw["train"]["text"]
    padded = (text == 0).all(-1)
    # padding only at the start: once a step is real, every later step is real
    assert not (np.diff(padded.astype(int), axis=1) > 0).any()
    assert padded.any() and not padded[:, -1].any()


def _projections(x: np.ndarray, k: int) -> np.ndarray:
    """(n, T, k): each step projected on the top-k principal directions of the non-padding steps."""
    x = np.nan_to_num(x, neginf=0.0)
    steps = x.reshape(-1, x.shape[-1])
    steps = steps[np.abs(steps).sum(1) > 0]
    _, _, vt = np.linalg.svd(steps - steps.mean(0), full_matrices=False)
    return (x - steps.mean(0)) @ vt[:k].T * (np.abs(x).sum(-1, keepdims=True) > 0)


def test_the_label_needs_words_paired_with_tones():
    """The sarcasm story: per-step products of text and audio explain the score far better than the modalities'
    sums alone (an additive story, or tones not on the words' steps, would fail this)."""
    raw = standin_corpus(
        "mosei", aligned=True, sizes={"train": 1500, "valid": 8, "test": 8}, lengths=(12, 12, 12)
    )
    split = raw["train"]
    y = split["labels"].ravel()
    text, audio, vision = (_projections(split[m], k) for m, k in (("text", 1), ("audio", 2), ("vision", 1)))
    additive = np.concatenate([text.sum(1), audio.sum(1), vision.sum(1)], axis=1)
    products = (text * audio).sum(1)  # word x (arousal, tone) on the same step

    def r2(x):
        return RidgeCV(alphas=np.logspace(-2, 3, 12)).fit(x[:1000], y[:1000]).score(x[1000:], y[1000:])

    assert r2(np.concatenate([additive, products], axis=1)) > r2(additive) + 0.15


def test_bayes_bound_is_above_a_plugin_rule_and_the_weaker_observers():
    """The Bayes observer beats (slightly) a plug-in rule that sees the same exact readings, and the observers that
    see less rank below it; a sign error or a leak of the true labels into the bound would break one of these."""
    from affect_lib.data import synthetic_mult as sm

    bound = {t: sm.bayes_accuracy("mosei", n=40_000, seed=3, tones=t)["non0_acc2"] for t in sm.TONES}
    rng = np.random.default_rng(11)
    labels, values = sm._draw_story(rng, 40_000, "sentiment")
    meaning = (values[1][1] * values[0][0]).mean(1)  # each word's tone times its literal valence
    guess = sm.SENTIMENT_WEIGHTS @ np.stack([meaning, values[1][0].mean(1), values[2][0].mean(1)])
    y = labels.ravel()
    plugin = np.mean((guess > 0)[y != 0] == (y > 0)[y != 0])
    assert plugin < bound["paired"].high + 0.005  # no rule beats the Bayes classifier
    assert bound["paired"].value - plugin < 0.03
    assert bound["paired"].value > bound["unpaired"].high > bound["unpaired"].value > bound["hidden"].high
    assert 0.5 < bound["hidden"].value and bound["paired"].value < 1.0
    with pytest.raises(ValueError, match="tones"):
        sm.bayes_accuracy("mosei", tones="yes")


def test_bayes_bound_for_emotions_beats_the_absent_baseline_and_ranks_the_observers():
    from affect_lib.data import synthetic_mult as sm

    bound = {t: sm.bayes_accuracy("iemocap", n=20_000, seed=1, tones=t)["mean_acc"] for t in sm.TONES}
    absent = 1 - np.mean(sm.EMOTION_PRIOR)  # answering "absent" for every emotion
    assert bound["paired"].value > bound["unpaired"].value > bound["hidden"].value > absent + 0.1


def test_loaders_batches(tmp_path):
    loaders = make_loaders(load_mult_pickle(small(tmp_path, "iemocap", False)), batch_size=5)
    (text, audio, vision), labels = next(iter(loaders["train"]))
    assert text.shape == (5, 12, 300) and audio.shape == (5, 30, 74) and vision.shape == (5, 36, 35)
    assert labels.shape == (5, 4) and labels.dtype == torch.int64
    assert sum(len(b[1]) for b in loaders["test"]) == SMALL["test"]
    with pytest.raises(ValueError, match="batch_size"):
        make_loaders(load_mult_pickle(small(tmp_path, "iemocap", False)), batch_size=0)


def test_mosi_74_35_variant_is_accepted(tmp_path):
    corpus = load_mult_pickle(small(tmp_path, "mosi", dims=(300, 74, 35)))
    assert corpus.dims == (300, 74, 35)


# ---- bad input ----------------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="mosi_data.pkl"):
        load_mult_pickle(tmp_path / "mosi_data.pkl")


def test_truncated_pickle(tmp_path):
    path = small(tmp_path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated"):
        load_mult_pickle(path)


def test_not_a_pickle(tmp_path):
    path = tmp_path / "mosei_senti_data.pkl"
    path.write_text("this is not a pickle")
    with pytest.raises(ValueError, match="mosei_senti_data.pkl"):
        load_mult_pickle(path)


def test_wrong_structure(tmp_path, dump):
    with pytest.raises(ValueError, match="splits"):
        load_mult_pickle(dump(tmp_path / "mosi_data.pkl", [1, 2, 3]))
    raw = standin_corpus("mosi", aligned=True, sizes=SMALL, lengths=(12, 12, 12))
    del raw["valid"]["vision"]
    with pytest.raises(ValueError, match="vision"):
        load_mult_pickle(dump(tmp_path / "mosi_data.pkl", raw))


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, dump):
    sentinel = tmp_path / "pwned"
    raw = standin_corpus("mosi", aligned=True, sizes=SMALL, lengths=(12, 12, 12))
    raw["train"]["id"] = _Exploit(sentinel)
    path = dump(tmp_path / "mosi_data.pkl", raw)
    with pytest.raises(
        ValueError, match=r"refusing to load global (io|builtins)\.open.*nothing was executed"
    ):
        load_mult_pickle(path)
    assert not sentinel.exists()
    with pytest.raises(ValueError, match="posix.system|os.system"):
        restricted_load(dump(tmp_path / "x.pkl", _SystemCall()))


class _SystemCall:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_wrong_feature_dimension(tmp_path):
    with pytest.raises(ValueError, match=r"feature dims.*\(300, 74, 20\).*mosei"):
        load_mult_pickle(small(tmp_path, "mosei", dims=(300, 74, 20)))


def test_wrong_label_shape(tmp_path, dump):
    raw = standin_corpus("iemocap", aligned=True, sizes=SMALL, lengths=(12, 12, 12))
    raw["test"]["labels"] = raw["test"]["labels"].argmax(-1)
    with pytest.raises(ValueError, match=r"labels must have shape \(N, 4, 2\)"):
        load_mult_pickle(dump(tmp_path / "iemocap_data.pkl", raw))
    raw = standin_corpus("mosei", aligned=True, sizes=SMALL, lengths=(12, 12, 12))
    raw["train"]["labels"] = np.zeros((24, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"labels must have shape \(N, 1, 1\)"):
        load_mult_pickle(dump(tmp_path / "mosei_senti_data.pkl", raw))


def test_inconsistent_counts_lengths_and_values(tmp_path, dump):
    raw = standin_corpus("mosei", aligned=True, sizes=SMALL, lengths=(12, 12, 12))
    raw["train"]["audio"] = raw["train"]["audio"][:-1]
    with pytest.raises(ValueError, match="number of samples"):
        load_mult_pickle(dump(tmp_path / "mosei_senti_data.pkl", raw))
    raw = standin_corpus("mosei", aligned=False, sizes=SMALL, lengths=(12, 30, 30))
    with pytest.raises(ValueError, match="aligned corpus needs equal lengths"):
        load_mult_pickle(dump(tmp_path / "mosei_senti_data.pkl", raw))
    with pytest.raises(ValueError, match="cannot tell the dataset"):
        load_mult_pickle(dump(tmp_path / "features.pkl", raw))


def test_a_folder_in_place_of_the_pickle_is_named(tmp_path):
    (tmp_path / "mosi_data.pkl").mkdir()
    with pytest.raises(ValueError, match=r"MulT pickle .*mosi_data\.pkl is a folder, not a file"):
        load_mult_pickle(tmp_path / "mosi_data.pkl")
    with pytest.raises(FileNotFoundError, match=r"MulT pickle not found: .*mosei_senti_data\.pkl"):
        load_mult_pickle(tmp_path / "mosei_senti_data.pkl")


def test_restricted_load_errors_name_the_file_not_a_mult_pickle(tmp_path, dump):
    # restricted_load also reads other pickles (EmotioNet's aus_openface.pkl): its errors name that file
    (tmp_path / "aus_openface.pkl").mkdir()
    with pytest.raises(ValueError, match=r"^pickle .*aus_openface\.pkl is a folder") as err:
        restricted_load(tmp_path / "aus_openface.pkl")
    assert "MulT" not in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"^AU pickle not found: .*other\.pkl") as err:
        restricted_load(tmp_path / "other.pkl", what="AU pickle")
    assert "MulT" not in str(err.value)
    with pytest.raises(ValueError, match=r"x\.pkl is not a plain data pickle: refusing to load global"):
        restricted_load(dump(tmp_path / "x.pkl", _SystemCall()))


def test_the_control_removes_only_the_tone_events():
    """tones=False: every split identical except the audio, which loses a rank-one part (the tone direction)."""
    sizes = {"train": 40, "valid": 8, "test": 8}
    with_, without = (
        standin_corpus("mosei", aligned=False, sizes=sizes, lengths=(12, 36, 36), tones=t)
        for t in ("paired", "removed")
    )
    for split in ("train", "valid", "test"):
        for key in ("text", "vision", "labels", "id"):
            assert np.array_equal(with_[split][key], without[split][key]), (split, key)
        a, b = with_[split]["audio"], without[split]["audio"]
        frames = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)  # silent frames hold -inf in both
        diff = a[frames] - b[frames]
        singular = np.linalg.svd(diff, compute_uv=False)
        assert singular[0] > 1.0 and singular[1] < 1e-3 * singular[0]  # one direction only


def test_the_shuffled_control_moves_tones_between_words_only():
    """tones="shuffled": text, vision and labels identical; each utterance's audio keeps its tones' total (the
    projection on the tone direction sums to the same value) but not their order."""
    sizes = {"train": 200, "valid": 8, "test": 8}
    paired, removed, shuffled = (
        standin_corpus("mosei", aligned=True, sizes=sizes, lengths=(12, 12, 12), tones=t)
        for t in ("paired", "removed", "shuffled")
    )
    a, r, s = (c["train"]["audio"].astype(float) for c in (paired, removed, shuffled))
    for key in ("text", "vision", "labels"):
        assert np.array_equal(paired["train"][key], shuffled["train"][key])
    whole = np.isfinite(a).all((1, 2)) & np.isfinite(s).all((1, 2))  # utterances without a silent frame
    tone_paired, tone_shuffled = (x[whole] - r[whole] for x in (a, s))
    assert np.allclose(tone_paired.sum(1), tone_shuffled.sum(1), atol=1e-3)  # the same tones per utterance
    moved = np.abs(tone_paired - tone_shuffled).sum((1, 2)) > 1e-2
    assert 0.3 < moved.mean() < 0.9  # mixed-tone utterances change their pairing; uniform ones cannot
    with pytest.raises(ValueError, match="tones must be one of"):
        standin_corpus("mosei", aligned=True, sizes=sizes, lengths=(12, 12, 12), tones="none")
