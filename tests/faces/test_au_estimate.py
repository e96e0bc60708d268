"""The mesh-based AU estimator against known AUs: rig faces rendered with random AU combinations, and edits by the rig
against leaving the face unchanged (skipped without ai-edge-litert and mediapipe's model files)."""

import numpy as np
import pytest
import torch

from affect_lib.faces import facs, mesh
from affect_lib.faces.images import load_face

pytest.importorskip("ai_edge_litert.interpreter")
try:
    mesh.mesh_model_path()
except FileNotFoundError:
    pytest.skip("mediapipe's model files are not installed", allow_module_level=True)

from affect_lib.faces.au_estimate import (  # noqa: E402 (after the skip)
    AUEstimator,
    au_recovery,
    random_aus,
    rig_recovery,
    score_edits,
    score_faces,
)
from affect_lib.faces.rig import FaceRig  # noqa: E402

RECOVERED = ("AU1", "AU2", "AU4", "AU26", "AU45")
"""AUs whose estimate correlated 0.90 or more with the truth on all four faces measured (module docstring)."""


@pytest.fixture(scope="module")
def lfw_rig() -> FaceRig:
    return FaceRig(mesh.fit_face(load_face("lfw", size=192, index=40).image, size=128), neutral=True)


def test_known_aus_of_another_face_are_recovered(lfw_rig):
    truth, estimated = rig_recovery(lfw_rig, n=40, seed=1)
    assert estimated.shape == truth.shape == (40, facs.N_AUS)
    rows = {row["au"]: row for row in au_recovery(truth, estimated)}
    for label in RECOVERED:
        assert rows[label]["r"] > 0.8, (label, rows[label])
    error, zero = np.abs(truth - estimated).mean(), np.abs(truth).mean()
    assert error < 0.85 * zero  # better than answering 0 everywhere
    # an AU that no face shows is estimated near 0: the fit does not spread motion over unused AUs
    assert np.abs(estimated[truth == 0]).mean() < 0.2


def test_the_reference_reads_as_its_own_aus(lfw_rig):
    smiling = np.zeros(facs.N_AUS)
    smiling[facs.AU_CODES.index(12)] = 2.0
    estimator = AUEstimator.from_rig(lfw_rig, smiling, levels=(5.0,))
    with torch.no_grad():
        neutral_render = lfw_rig(torch.zeros(1, facs.N_AUS))
    np.testing.assert_allclose(estimator.estimate(neutral_render)[0], smiling, atol=1e-6)


def test_score_edits_tells_the_rig_from_leaving_the_face_unchanged():
    rig = FaceRig.default(128)
    estimator = AUEstimator.default()
    targets = random_aus(24, seed=2)
    with torch.no_grad():
        base = rig(torch.zeros(1, facs.N_AUS))
    rig_score = score_edits(rig, targets, estimator, batch_size=10)
    still = score_edits(lambda aus: base.expand(len(aus), -1, -1, -1), targets, estimator)
    # the unchanged face is estimated as the reference's AUs, so its measured error is the predicted one
    np.testing.assert_allclose(still.error, still.unchanged, atol=0.05)
    np.testing.assert_allclose(still.unchanged, np.abs(targets).mean(0))
    assert rig_score.mean < 0.7 * still.mean
    assert [row["au"] for row in rig_score.rows()] == list(facs.AU_LABELS)


def test_score_faces_pools_several_faces_each_against_itself():
    from affect_lib.faces.images import Face, to_tensor

    faces = torch.cat(
        [to_tensor(mesh.fit_face(load_face("lfw", size=192, index=i).image).image) for i in (3, 7)]
    )
    targets = np.stack([random_aus(12, seed=4), random_aus(12, seed=5)])

    def rig_edit(face: torch.Tensor, aus: torch.Tensor) -> torch.Tensor:
        image = face.permute(1, 2, 0).numpy()
        return FaceRig(Face(image, mesh.rig_landmarks(image), "mesh"), neutral=True)(aus)

    edited = score_faces(rig_edit, faces, np.zeros((2, facs.N_AUS)), targets)
    assert edited.targets.shape == edited.estimated.shape == (24, facs.N_AUS)
    np.testing.assert_allclose(edited.unchanged, np.abs(targets.reshape(-1, 17)).mean(0))
    assert edited.mean < 0.7 * edited.unchanged.mean()
    with pytest.raises(ValueError, match="must be"):
        score_faces(rig_edit, faces, np.zeros((1, 17)), targets)


def test_au_recovery_by_hand():
    truth = np.zeros((3, facs.N_AUS))
    truth[:, 0] = [0.0, 1.0, 2.0]
    estimated = truth.copy()
    estimated[:, 0] = [0.0, 2.0, 4.0]
    rows = au_recovery(truth, estimated)
    assert rows[0] == {"au": "AU1", "r": pytest.approx(1.0), "mae": 1.0, "zero_mae": 1.0}
    assert np.isnan(rows[1]["r"]) and rows[1]["mae"] == 0.0


def test_bad_input_is_refused(lfw_rig):
    with pytest.raises(ValueError, match="levels"):
        AUEstimator.from_rig(lfw_rig, levels=(0.0,))
    with pytest.raises(ValueError, match="aus must be one"):
        AUEstimator.from_rig(lfw_rig, np.full(facs.N_AUS, 6.0))
    estimator = AUEstimator.default()
    with pytest.raises(ValueError, match="C in"):
        estimator.estimate(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="targets"):
        score_edits(lambda a: a, np.zeros((2, 5)), estimator)
