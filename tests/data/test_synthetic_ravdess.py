"""The RAVDESS stand-in's congruence story and the accuracy ceilings that follow from it."""

import numpy as np
import pytest

from affect_lib.data.synthetic_ravdess import PAIRS, accuracy_ceilings, shown_emotions


def test_a_pair_member_is_the_agreement_of_face_and_voice():
    rng = np.random.default_rng(0)
    for first, second in PAIRS:
        shown_first = {shown_emotions(first, rng) for _ in range(50)}
        shown_second = {shown_emotions(second, rng) for _ in range(50)}
        assert shown_first == {(first, first), (second, second)}  # both members occur, always agreeing
        assert shown_second == {(first, second), (second, first)}
    assert shown_emotions("sad", rng) == ("sad", "sad")


def test_ceilings_by_hand():
    """Equal numbers of neutral, calm and sad: the pair's cells have probability 1/6 each, sad 1/3.
    One modality: one of the two pair emotions at best (1/3 + 1/3); additive scores: three of the pair's four
    cells (1/3 + 1/2); both modalities together: everything."""
    labels = ["neutral"] * 4 + ["calm"] * 4 + ["sad"] * 4
    got = accuracy_ceilings(labels)
    assert got["joint"] == pytest.approx(1.0)
    assert got["unimodal"] == pytest.approx(2 / 3)
    assert got["additive"] == pytest.approx(5 / 6)


def test_ceilings_with_ravdess_frequencies():
    """Neutral has half the takes of calm (no strong intensity): within that pair the unimodal guess is calm
    (2/3) and the additive rule gives up one neutral cell (5/6)."""
    labels = ["neutral"] * 2 + ["calm"] * 4 + ["happy", "surprised"] * 4 + ["angry"] * 4
    n = len(labels)
    assert accuracy_ceilings(labels)["unimodal"] == pytest.approx((4 + 4 + 4) / n)
    assert accuracy_ceilings(labels)["additive"] == pytest.approx((5 + 6 + 4) / n)


def test_ceilings_refuse_unknown_labels():
    with pytest.raises(ValueError, match="emotion names"):
        accuracy_ceilings(["bored"])


def test_the_cache_folder_names_the_settings():
    """Existing clips in a folder are kept, so other settings (here the frame rate) must get another folder."""
    from affect_lib.data.synthetic_ravdess import standin_folder

    base = {"actors": (1, 2), "fps": 10, "height": 80}
    assert standin_folder(0, **base) == standin_folder(0, **dict(reversed(base.items())))
    assert standin_folder(0, **base) != standin_folder(0, **{**base, "fps": 8})
    assert standin_folder(0, **base) != standin_folder(1, **base)


def test_the_control_removes_the_cue_and_nothing_else():
    """Without the cue both emotions of a pair show the same member in face and voice, with the same random draw
    as with the cue: a first emotion's take and every take outside the pairs are unchanged."""
    for emotion in ("neutral", "calm", "happy", "surprised", "sad"):
        for seed in range(20):
            with_cue = shown_emotions(emotion, np.random.default_rng(seed))
            without = shown_emotions(emotion, np.random.default_rng(seed), cue=False)
            assert without[0] == with_cue[0] and without[0] == without[1]  # the same face, congruent
            if emotion in ("neutral", "happy", "sad"):
                assert without == with_cue


def test_control_ceilings_are_the_one_modality_ceiling():
    labels = ["neutral"] * 2 + ["calm"] * 4 + ["happy", "surprised"] * 4 + ["angry"] * 4
    control = accuracy_ceilings(labels, cue=False)
    assert control["joint"] == control["additive"] == control["unimodal"]
    assert control["joint"] == pytest.approx(accuracy_ceilings(labels)["unimodal"])


def test_the_control_gets_its_own_folder_and_the_default_keeps_its_own():
    from affect_lib.data.synthetic_ravdess import standin_folder

    base = {"actors": (1, 2), "fps": 10, "height": 80}
    assert standin_folder(0, **base, cue=True) == standin_folder(0, **base)
    assert standin_folder(0, **base, cue=False) != standin_folder(0, **base)


def test_control_files_differ_only_in_a_second_emotions_voice(tmp_path):
    """Written clips: with and without the cue, a first emotion's file is byte-identical, a second emotion's
    video track is the same and its audio differs."""
    from affect_lib.data.synthetic_ravdess import write_synthetic_ravdess

    kw = dict(
        actors=(1,), repetitions=(1,), statements=(1,), intensities=(1,), duration=1.0, fps=4, height=48
    )
    a = write_synthetic_ravdess(tmp_path / "cue", **kw, write_wav=True)
    b = write_synthetic_ravdess(tmp_path / "control", **kw, write_wav=True, cue=False)
    by_name = {p.name: p for p in b}
    for path in a:
        emotion = path.name.split("-")[2]
        wav = path.parent / ("03" + path.name[2:]).replace(".mp4", ".wav")
        other = by_name[path.name].parent / wav.name
        same_wav = wav.read_bytes() == other.read_bytes()
        if emotion in ("02", "08"):  # calm, surprised: the pairs' second emotions
            assert not same_wav
        else:
            assert same_wav and path.read_bytes() == by_name[path.name].read_bytes()


def test_swap_orders_stay_inside_their_groups_and_never_keep_a_clip():
    from affect_lib.data.synthetic_ravdess import corpus_names, swap_orders

    names = corpus_names(actors=(1, 2), repetitions=(1,))  # 30 clips per actor
    in_pair = [any(n.emotion_name in p for p in PAIRS) for n in names]
    actor_orders = swap_orders(names, "actor", orders=7)
    pair_orders = swap_orders(names, "pair")
    assert len(actor_orders) == 7 and len(pair_orders) == 3
    for src in actor_orders:
        assert sorted(src) == list(range(len(names)))  # a permutation: every voice (face) used once
        for i, j in enumerate(src):
            assert i != j and (names[i].actor, names[i].statement) == (names[j].actor, names[j].statement)
    for src in pair_orders:
        assert sorted(src) == list(range(len(names)))
        for i, j in enumerate(src):
            if not in_pair[i]:
                assert i == j  # the emotions outside the pairs keep their own voice
                continue
            pair = next(p for p in PAIRS if names[i].emotion_name in p)
            assert i != j and names[j].emotion_name in pair
            assert (names[i].actor, names[i].intensity) == (names[j].actor, names[j].intensity)
    # over the 3 orders a happy clip meets every other happy/surprised clip of its actor and intensity
    first = next(i for i, n in enumerate(names) if n.emotion_name == "happy")
    group = [
        j
        for j, n in enumerate(names)
        if n.emotion_name in ("happy", "surprised") and (n.actor, n.intensity) == (1, names[first].intensity)
    ]
    assert len(group) == 4 and {int(src[first]) for src in pair_orders} == set(group) - {first}
    with pytest.raises(ValueError, match="within"):
        swap_orders(names, "emotion")


def test_writing_in_two_processes_gives_the_same_files(tmp_path):
    from affect_lib.data.synthetic_ravdess import write_synthetic_ravdess

    small = dict(
        actors=(1, 2), repetitions=(1,), statements=(1,), intensities=(1,), duration=1.0, fps=4, height=32
    )
    serial = write_synthetic_ravdess(tmp_path / "serial", **small)
    parallel = write_synthetic_ravdess(tmp_path / "parallel", **small, workers=2)
    assert [p.relative_to(tmp_path / "serial") for p in serial] == [
        p.relative_to(tmp_path / "parallel") for p in parallel
    ]
    for a, b in zip(serial, parallel, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        wav = a.parent / ("03" + a.name[2:-4] + ".wav")
        assert wav.read_bytes() == (b.parent / wav.name).read_bytes()
