"""Any face in: mediapipe's 468-point face mesh (a TFLite model) gives the rig its landmarks on a new face.

The ``mediapipe`` 0.10.21 wheel ships ``mediapipe/modules/face_landmark/face_landmark.tflite``; it is installed
without its dependencies (``pip install --no-deps mediapipe==0.10.21``: the package pins numpy < 2 and pulls jax)
and never imported. The model runs through ``ai-edge-litert``: a 192×192 RGB input in [0, 1] of a face-centred
crop, 468 (x, y, z) points in input pixels, and a face-presence logit. The rig's 34 named landmarks are read off
the mesh (:data:`RIG_MESH_POINTS`); the face is then aligned by its eye centres exactly as
:func:`affect_lib.faces.images.load_face` aligns the astronaut.

The mesh model expects a face that fills most of its input: scikit-image's LFW faces and aligned crops do.
"""

from __future__ import annotations

import importlib.metadata
from functools import cache
from pathlib import Path

import numpy as np
from skimage import transform

from affect_lib.faces.images import Face, align_by_eyes

MESH_FILE = "mediapipe/modules/face_landmark/face_landmark.tflite"
MESH_INPUT = 192
INSTALL_HINT = (
    "pip install ai-edge-litert && pip install --no-deps mediapipe==0.10.21 (never import mediapipe)"
)

RIG_MESH_POINTS: dict[str, tuple[int, ...]] = {
    "brow_outer_l": (46,),
    "brow_mid_l": (52,),
    "brow_inner_l": (107,),
    "brow_inner_r": (336,),
    "brow_mid_r": (282,),
    "brow_outer_r": (276,),
    "eye_outer_l": (33,),
    "eye_inner_l": (133,),
    "eye_upper_l": (159,),
    "eye_lower_l": (145,),
    "eye_l": (33, 133, 159, 145),
    "eye_inner_r": (362,),
    "eye_outer_r": (263,),
    "eye_upper_r": (386,),
    "eye_lower_r": (374,),
    "eye_r": (263, 362, 386, 374),
    "nose_bridge": (197,),
    "nose_tip": (4,),
    "nostril_l": (44,),
    "nostril_r": (274,),
    "mouth_l": (61,),
    "mouth_r": (291,),
    "lip_upper": (0,),
    "lip_lower": (17,),
    "lip_inner_upper": (13,),
    "lip_inner_lower": (14,),
    "fold_l": (206,),
    "fold_r": (426,),
    "cheek_l": (36,),
    "cheek_r": (266,),
    "jaw_l": (136,),
    "jaw_r": (365,),
    "chin": (175,),
    "forehead": (10,),
}
"""Mesh indices whose mean is each rig landmark (``_l`` = the image's left, the subject's right; symmetric pairs
of the canonical mediapipe mesh)."""


def mediapipe_model_path(file: str) -> Path:
    """The model ``file`` (a path inside the wheel) of the installed ``mediapipe`` wheel, found through its metadata."""
    try:
        dist = importlib.metadata.distribution("mediapipe")
    except importlib.metadata.PackageNotFoundError as err:
        raise FileNotFoundError(f"the mediapipe model files are not installed: {INSTALL_HINT}") from err
    path = Path(str(dist.locate_file(file)))
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {INSTALL_HINT}")
    return path


def mesh_model_path() -> Path:
    """``face_landmark.tflite`` of the installed ``mediapipe`` wheel."""
    return mediapipe_model_path(MESH_FILE)


@cache
def tflite_interpreter(file: str = MESH_FILE):  # noqa: ANN201 (an ai_edge_litert Interpreter)
    """An allocated ``ai_edge_litert`` interpreter of the wheel's model ``file`` (one per file and process)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        raise ImportError(f"running {Path(file).name} needs ai-edge-litert: {INSTALL_HINT}") from err
    interpreter = Interpreter(model_path=str(mediapipe_model_path(file)))
    interpreter.allocate_tensors()
    return interpreter


def face_mesh(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The 468 mesh points (468, 2) in the pixels of ``image`` (H, W, 3) in [0, 1], and the face-presence logit."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or not np.isfinite(image).all():
        raise ValueError(f"image must be a finite (H, W, 3) RGB array in [0, 1], got shape {image.shape}")
    h, w = image.shape[:2]
    x = transform.resize(image.clip(0, 1), (MESH_INPUT, MESH_INPUT), order=1, anti_aliasing=True)
    it = tflite_interpreter()
    it.set_tensor(it.get_input_details()[0]["index"], x[None].astype(np.float32))
    it.invoke()
    points, score = (it.get_tensor(d["index"]) for d in it.get_output_details())
    xy = points.reshape(-1, 3)[:, :2] * np.array([w / MESH_INPUT, h / MESH_INPUT])
    return xy.astype(np.float64), float(np.ravel(score)[0])


def rig_landmarks(image: np.ndarray, min_score: float = 0.0) -> dict[str, np.ndarray]:
    """The rig's named landmarks on ``image`` (H, W, 3) in [0, 1], from the face mesh.

    Raises ``ValueError`` when the mesh's face-presence logit is below ``min_score`` (no face found).
    """
    points, score = face_mesh(image)
    if score < min_score:
        raise ValueError(f"the face mesh found no face (presence logit {score:.2f} < {min_score})")
    return {name: points[list(idx)].mean(0) for name, idx in RIG_MESH_POINTS.items()}


def fit_face(image: np.ndarray, size: int = 128) -> Face:
    """Any frontal face as an aligned rig face: landmarks from the mesh, eyes moved to the standard positions."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = np.asarray(image, dtype=np.float64)
    if image.max() > 1.0:
        image = image / 255.0
    return align_by_eyes(image, rig_landmarks(image), size, "mesh")
