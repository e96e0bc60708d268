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
