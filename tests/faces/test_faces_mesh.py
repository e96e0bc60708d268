"""mediapipe's face mesh through ai-edge-litert (skipped without them): the mesh against the hand annotation."""

import numpy as np
import pytest

from affect_lib.faces import mesh
from affect_lib.faces.images import load_face

litert = pytest.importorskip("ai_edge_litert.interpreter")
try:
    mesh.mesh_model_path()
except FileNotFoundError:
    pytest.skip("mediapipe's model files are not installed", allow_module_level=True)


def test_mesh_landmarks_agree_with_the_hand_annotated_astronaut():
    face = load_face("astronaut", size=192)
    fitted = mesh.rig_landmarks(face.image)
    errors = {n: np.linalg.norm(fitted[n] - xy) / face.interocular for n, xy in face.landmarks.items()}
    assert np.median(list(errors.values())) < 0.06  # in inter-ocular distances
    for name in ("eye_l", "eye_r", "mouth_l", "mouth_r", "nose_tip"):
        assert errors[name] < 0.08, name
    assert set(fitted) == set(face.landmarks)


def test_fit_face_aligns_an_lfw_face_and_the_rig_moves_it():
    import torch

    from affect_lib.faces import facs
    from affect_lib.faces.images import EYE_X, EYE_Y
    from affect_lib.faces.rig import FaceRig

    face = mesh.fit_face(load_face("lfw", size=192, index=3).image, size=64)
    np.testing.assert_allclose(face.landmarks["eye_l"], [EYE_X[0] * 64, EYE_Y * 64], atol=1e-6)
    rig = FaceRig(face, neutral=True)
    smile = torch.zeros(1, 17)
    smile[0, facs.AU_CODES.index(12)] = 5.0
    moved = rig.landmark_positions(smile)[0] - rig.landmark_positions(torch.zeros(1, 17))[0]
    corner = rig.landmark_names.index("mouth_r")
    assert moved[corner, 0] > 0.5 and moved[corner, 1] < -0.5  # AU12 pulls the corner out and up


def test_no_face_is_reported():
    with pytest.raises(ValueError, match="no face"):
        mesh.rig_landmarks(np.zeros((64, 64, 3), np.float32), min_score=0.0)
