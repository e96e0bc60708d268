"""FACS tables, prototypes and target distributions."""

import numpy as np
import pytest

from affect_lib.faces import facs


def test_au_tables_are_aligned_and_in_openface_order():
    assert facs.N_AUS == 17 == len(facs.AU_NAMES) == len(facs.AU_LABELS)
    assert list(facs.AU_CODES) == sorted(facs.AU_CODES)
    assert facs.AU_NAMES[facs.AU_CODES.index(12)] == "lip corner puller"
    assert facs.AU_LABELS[-1] == "AU45"


def test_prototypes_follow_the_emotionet_table():
    assert len(facs.PROTOTYPE_AUS) == 24  # neutral + 6 basic + 17 compound
    happy = facs.prototype("happy", 4.0)
    assert happy.shape == (17,)
    assert set(np.flatnonzero(happy)) == {8, 14}  # AU12, AU25
    assert np.all(happy[happy > 0] == 4.0)
    assert set(np.flatnonzero(facs.prototype("fearfully surprised"))) == {0, 1, 3, 12, 14}
    assert not facs.prototype("neutral").any()
    assert set(np.flatnonzero(facs.prototype("angry"))) == {2, 5}  # AU24 is outside the 17-D space


@pytest.mark.parametrize("bad", ["joyful", ""])
def test_prototype_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="expression"):
        facs.prototype(bad)


def test_prototype_rejects_intensity_out_of_range():
    with pytest.raises(ValueError, match="intensity"):
        facs.prototype("happy", 6.0)


def test_target_distributions():
    np.testing.assert_array_equal(facs.target_distribution("happy"), np.eye(7)[3])
    np.testing.assert_allclose(
        facs.target_distribution("happily surprised"), 0.5 * (np.eye(7)[3] + np.eye(7)[5])
    )
    np.testing.assert_allclose(
        facs.target_distribution({"disgust": 0.2, "fear": 0.8}), [0, 0.2, 0.8, 0, 0, 0, 0]
    )
    # EvoGAN's draft target 2023400 sums to 1.1 and is kept as given unless normalised
    assert facs.target_distribution("2023400").sum() == pytest.approx(1.1)
    assert facs.target_distribution("2023400", normalize=True).sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(
        facs.target_distribution("0000010"), np.eye(7)[5]
    )  # a lone 1 is surprise 1.0
    for code in facs.PAPER_TARGET_CODES:
        assert facs.target_distribution(code).sum() == pytest.approx(1.1 if code == "2023400" else 1.0)
        assert facs.target_distribution(code).shape == (7,)


def test_every_two_word_compound_maps_to_two_distinct_classes():
    for name, (a, b) in facs.COMPOUND_PARTS.items():
        assert a != b and a in facs.EXPRESSIONS and b in facs.EXPRESSIONS, name
    assert facs.COMPOUND_PARTS["disgustedly surprised"] == ("disgust", "surprise")


@pytest.mark.parametrize("bad", [{"joy": 1.0}, {"happy": -0.5}, {"happy": 0.0}, "1234"])
def test_bad_targets_raise(bad):
    with pytest.raises(ValueError):
        facs.target_distribution(bad)


def test_check_aus_rejects_wrong_length_and_nan():
    with pytest.raises(ValueError, match="shape"):
        facs.check_aus(np.zeros(16))
    with pytest.raises(ValueError, match="NaN"):
        facs.check_aus(np.full((2, 17), np.nan))
