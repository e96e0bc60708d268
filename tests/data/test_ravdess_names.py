"""RAVDESS file names and actor splits."""

import numpy as np
import pytest

from affect_lib.data.ravdess import (
    RavdessName,
    actor_folds,
    check_no_missing_actors,
    list_clips,
    msaf_folds,
    parse_ravdess_name,
    proper_folds,
    proper_split,
    released_folds,
)


def test_parse_fields_label_and_round_trip(tmp_path):
    name = parse_ravdess_name(tmp_path / "Actor_17" / "01-01-06-02-01-02-17.mp4")
    assert name == RavdessName(1, 1, 6, 2, 1, 2, 17)
    assert (name.label, name.emotion_name, name.female) == (5, "fearful", False)
    assert name.filename(".wav") == "01-01-06-02-01-02-17.wav"
    assert parse_ravdess_name("03-02-08-01-02-01-24.wav").female


@pytest.mark.parametrize(
    "bad, words",
    [
        ("01-01-06-02-01-02.mp4", "not a RAVDESS file name"),
        ("01-01-6-02-01-02-17.mp4", "not a RAVDESS file name"),
        ("clip.mp4", "not a RAVDESS file name"),
        ("04-01-06-02-01-02-17.mp4", "modality 04"),
        ("01-01-09-02-01-02-17.mp4", "emotion 09"),
        ("01-01-06-03-01-02-17.mp4", "intensity 03"),
        ("01-01-06-02-01-02-25.mp4", "actor 25"),
        ("01-01-06-02-01-03-01.mp4", "repetition 03"),
        ("01-01-01-02-01-01-03.mp4", "neutral has no strong"),
    ],
)
def test_malformed_names_are_rejected(bad, words):
    with pytest.raises(ValueError, match=words):
        parse_ravdess_name(bad)


def test_released_folds_leave_out_actors_21_to_24():
    folds = released_folds()
    assert [f.test for f in folds] == [tuple(range(4 * i + 1, 4 * i + 5)) for i in range(5)]
    tested = {a for f in folds for a in f.test}
    assert tested == set(range(1, 21))
    for f in folds:
        assert set(f.train) == set(range(1, 25)) - set(f.test) and f.valid == ()
        assert {21, 22, 23, 24} <= set(f.train)


def test_msaf_folds_test_every_actor_once():
    folds = msaf_folds()
    tests = [a for f in folds for a in f.test]
    assert sorted(tests) == list(range(1, 25)) and len(folds) == 6
    # fold i of the two protocols holds out the same actors, so per-fold checkpoints do not leak
    assert [f.test for f in folds[:5]] == [f.test for f in released_folds()]


def test_proper_split_is_disjoint_and_indexes_clips():
    split = proper_split()
    assert split.test == (5, 10, 16, 19) and split.valid == (11, 13, 18, 22)
    assert set(split.train) | set(split.valid) | set(split.test) == set(range(1, 25))
    assert not set(split.train) & (set(split.valid) | set(split.test))
    actors = np.repeat(np.arange(1, 25), 3)
    train, valid, test = split.indices(actors)
    assert len(train) == 16 * 3 and len(valid) == len(test) == 12
    assert set(actors[test]) == set(split.test)


def test_proper_folds_rotate_test_and_validation():
    folds = proper_folds(range(1, 8), 3)
    assert [(f.test, f.valid) for f in folds] == [((1, 2), (3, 4)), ((3, 4), (5, 6)), ((5, 6), (1, 2))]
    assert all(7 in f.train for f in folds)


def test_bad_split_arguments():
    with pytest.raises(ValueError, match="k_folds"):
        actor_folds(range(1, 5), 5)
    with pytest.raises(ValueError, match="overlap"):
        proper_split(range(1, 9), test=(1, 2), valid=(2, 3))
    with pytest.raises(ValueError, match="subset"):
        proper_split(range(1, 9), test=(30,), valid=(2,))
    with pytest.raises(ValueError, match="at least 2"):
        actor_folds([3, 3], 2)


def test_list_clips_takes_uppercase_mp4_and_checks_each_clip_against_its_folder(tmp_path):
    folder = tmp_path / "Actor_01"
    folder.mkdir()
    for name in ("01-01-01-01-01-01-01.MP4", "01-01-02-01-01-01-01.mp4", "03-01-02-01-01-01-01.wav"):
        (folder / name).touch()
    assert [p.name for p in list_clips(tmp_path)] == ["01-01-01-01-01-01-01.MP4", "01-01-02-01-01-01-01.mp4"]
    (folder / "01-01-03-01-01-01-02.mp4").touch()  # actor 2's clip in actor 1's folder
    with pytest.raises(
        ValueError, match=r"-02\.mp4: its actor field \(the last, 02\) is not its folder's \(Actor_01\)"
    ):
        list_clips(tmp_path)
    (folder / "01-01-03-01-01-01-02.mp4").unlink()
    (tmp_path / "Actor_1").mkdir()
    with pytest.raises(ValueError, match="folder 'Actor_1' is not Actor_ and two digits"):
        list_clips(tmp_path)


def test_a_gap_in_the_actors_is_named():
    check_no_missing_actors([1, 2, 3], "folds3")
    with pytest.raises(
        ValueError, match=r"the released folds are defined over actors 1\.\.24, but Actor_03 has no"
    ):
        check_no_missing_actors([a for a in range(1, 25) if a != 3], "released")
    with pytest.raises(ValueError, match="Actor_23, Actor_24 have no clip"):
        check_no_missing_actors(range(1, 23), "msaf", 24)
