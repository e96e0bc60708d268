"""The face rig: shapes, determinism, neutral identity, AU effects, the displacement cap, bad input."""

import numpy as np
import pytest
import torch

from affect_lib.faces import facs
from affect_lib.faces.images import load_face
from affect_lib.faces.rig import FaceRig


@pytest.fixture(scope="module")
def rig():
    return FaceRig.default(64)


def test_shapes_range_and_determinism(rig):
    aus = torch.rand(5, 17, generator=torch.Generator().manual_seed(0)) * 5
    a, b = rig(aus), rig(aus)
    assert a.shape == (5, 3, 64, 64) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(rig(aus[2:3]), a[2:3], rtol=0, atol=1e-6)  # batch-independent


def test_zero_aus_render_the_neutral_base(rig):
    out = rig(torch.zeros(1, 17))[0]
    torch.testing.assert_close(out, rig.base, atol=1e-5, rtol=0)


def test_each_au_changes_the_face_locally(rig):
    neutral = rig(torch.zeros(1, 17))
    rows = {1: slice(0, 32), 26: slice(32, 64), 45: slice(16, 36)}  # brows above, jaw below, eyes in between
    for code, rows_expected in rows.items():
        aus = torch.zeros(1, 17)
        aus[0, facs.AU_CODES.index(code)] = 5.0
        diff = (rig(aus) - neutral).abs().sum(1)[0]
        assert diff.sum() > 1.0, code
        assert diff[rows_expected].sum() > 0.7 * diff.sum(), code


def test_landmark_moves_follow_the_facs_directions(rig):
    names = rig.landmark_names
    base = rig.landmark_positions(torch.zeros(1, 17))[0]
    for code, name, axis, sign in [
        (1, "brow_inner_l", 1, -1),
        (26, "chin", 1, 1),
        (12, "mouth_r", 0, 1),
        (15, "mouth_l", 1, 1),
    ]:
        aus = torch.zeros(1, 17)
        aus[0, facs.AU_CODES.index(code)] = 5.0
        moved = rig.landmark_positions(aus)[0]
        assert sign * (moved[names.index(name), axis] - base[names.index(name), axis]) > 0.5, (code, name)


def test_displacement_is_capped(rig):
    everything = torch.full((1, 17), 5.0)
    moves = rig.landmark_positions(everything) - rig.landmark_positions(torch.zeros(1, 17))
    assert moves.norm(dim=-1).max() <= rig.cap_px + 1e-4


def test_out_of_range_aus_are_clipped(rig):
    torch.testing.assert_close(rig(torch.full((1, 17), 9.0)), rig(torch.full((1, 17), 5.0)))


@pytest.mark.parametrize("bad", [torch.zeros(2, 16), torch.zeros(17), torch.full((1, 17), float("nan"))])
def test_bad_aus_raise(rig, bad):
    with pytest.raises(ValueError, match="aus"):
        rig(bad)


def test_rig_needs_landmarks():
    with pytest.raises(ValueError, match="landmarks"):
        FaceRig(load_face("lfw", size=32))


def test_aligned_astronaut_puts_the_eyes_where_asked():
    face = load_face("astronaut", size=100)
    np.testing.assert_allclose(face.landmarks["eye_l"], [36, 40], atol=1e-6)
    np.testing.assert_allclose(face.landmarks["eye_r"], [64, 40], atol=1e-6)
    assert face.image.shape == (100, 100, 3) and 0 <= face.image.min() and face.image.max() <= 1
    with pytest.raises(ValueError, match="source"):
        load_face("celeba")
