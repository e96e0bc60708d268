"""RAVDESS protocols by name: the released and MSAF folds, the proper splits, fold indices and test selection."""

import pytest

from affect_lib.protocols import N_FOLDS, check_fold, protocol_fold, protocol_folds, selects_on_test

ACTORS = range(1, 25)


def test_released_folds_test_four_actors_each_and_never_evaluate_21_to_24():
    folds = protocol_folds("released", ACTORS)
    assert len(folds) == N_FOLDS["released"] == 5
    for i, fold in enumerate(folds):  # fold i tests actors 4i+1 .. 4i+4 and trains on the other 20
        assert fold.test == (4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4)
        assert fold.valid == () and selects_on_test(fold) and len(fold.train) == 20
        assert {21, 22, 23, 24} <= set(fold.train)
    assert protocol_fold("released", 1, ACTORS).test == (5, 6, 7, 8)


def test_msaf_folds_evaluate_every_actor_once():
    folds = protocol_folds("msaf", ACTORS)
    assert len(folds) == 6 and sorted(a for f in folds for a in f.test) == list(ACTORS)
    assert all(selects_on_test(f) for f in folds)
    # MSAF's fold i is CFN-SR's fold i (the same 4 actors), so per-fold unimodal checkpoints do not leak
    assert [f.test for f in folds[:5]] == [f.test for f in protocol_folds("released", ACTORS)]


def test_proper_splits_hold_out_validation_actors():
    (fixed,) = protocol_folds("proper", ACTORS)
    assert fixed.test == (5, 10, 16, 19) and fixed.valid == (11, 13, 18, 22) and not selects_on_test(fixed)
    assert len(fixed.train) == 16 and not set(fixed.train) & set(fixed.test + fixed.valid)
    nested = protocol_folds("folds3", range(1, 8))  # 7 stand-in actors: blocks of 2, actor 7 always trains
    assert [(f.test, f.valid) for f in nested] == [((1, 2), (3, 4)), ((3, 4), (5, 6)), ((5, 6), (1, 2))]
    assert all(7 in f.train for f in nested)


def test_unknown_split_and_fold_out_of_range_are_refused_by_name():
    with pytest.raises(ValueError, match="data.split must be one of proper, folds3, folds6, released, msaf"):
        protocol_folds("katerynach", ACTORS)
    with pytest.raises(
        ValueError, match=r"data.fold must be in 0\.\.4 for the released split \(5 folds\), got 5"
    ):
        check_fold("released", 5)
    with pytest.raises(ValueError, match=r"0\.\.0 for the proper split \(1 fold\)"):
        protocol_fold("proper", 1, ACTORS)
    with pytest.raises(ValueError, match="k_folds must be in"):  # 6 folds need at least 6 actors
        protocol_folds("msaf", range(1, 5))


def test_fold_rules_refuse_a_missing_actor_instead_of_shifting_every_fold():
    without_3 = [a for a in ACTORS if a != 3]
    for split in ("released", "msaf"):  # fold 0 would test actors 1, 2, 4, 5
        with pytest.raises(
            ValueError, match=f"the {split} folds are defined over actors 1..24, but Actor_03"
        ):
            protocol_fold(split, 0, without_3)
    with pytest.raises(ValueError, match=r"the folds3 folds are defined over actors 1\.\.7, but Actor_03"):
        protocol_folds("folds3", [1, 2, 4, 5, 6, 7])
    # the real corpus without its last actor: msaf's blocks would shrink to 3 actors
    with pytest.raises(ValueError, match="Actor_24 has no clip"):
        protocol_folds("msaf", range(1, 24), real=True)
    assert protocol_folds("msaf", range(1, 8))[1].test == (2,)  # a stand-in's actors 1..7: no gap, accepted
    (fixed,) = protocol_folds("proper", without_3)  # the fixed split keeps refusing only its own actors
    assert 3 not in fixed.train
