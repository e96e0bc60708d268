"""Any face in: BlazeFace (mediapipe's short-range face detector, a TFLite model) finds faces in any photograph.

The ``mediapipe`` 0.10.21 wheel ships ``mediapipe/modules/face_detection/face_detection_short_range.tflite``; like
the face mesh (:mod:`affect_lib.faces.mesh`, which finds the file) it runs through ``ai-edge-litert`` and
``mediapipe`` is never imported. The model's tensors: input (1, 128, 128, 3) float32 RGB in [-1, 1] (its metadata's
normalisation: mean 127.5, std 127.5 of 8-bit pixels); ``regressors`` (1, 896, 16) and ``classificators``
(1, 896, 1). The decoding is that of mediapipe's ``face_detection_short_range`` graph:

1. the image is letterboxed: scaled to fit 128 × 128 with its aspect ratio kept, centred, padded with black;
2. 896 SSD anchors (:func:`ssd_anchors`): strides 8, 16, 16, 16, two anchors per layer and cell, the layers of
   equal stride merged (16 × 16 cells × 2 + 8 × 8 cells × 6), centres at the cell centres, fixed unit size;
3. each regressor row is (dx, dy, w, h) of the box and (dx, dy) of 6 keypoints (:data:`KEYPOINTS`), in input
   pixels relative to its anchor's centre (x_scale = y_scale = w_scale = h_scale = 128);
4. score = sigmoid of the logit clipped to [-100, 100]; rows under ``min_score`` are dropped;
5. weighted non-maximum suppression (IoU > 0.3): each group's box and keypoints are the score-weighted mean of
   its members', with the best member's score;
6. the letterbox is removed, so boxes and keypoints are pixels of the original image.

The short-range model is made for faces within about two metres of the camera. On the astronaut's face pasted
into larger frames, it found faces whose box was 0.12 of the frame's longer side or more (up to the whole frame),
and none at 0.10.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from affect_lib.faces.mesh import tflite_interpreter

DETECTOR_FILE = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
INPUT_SIZE = 128
STRIDES = (8, 16, 16, 16)
ANCHORS_PER_LAYER = 2
"""Aspect ratio 1 plus the interpolated scale (``interpolated_scale_aspect_ratio`` 1) of every layer."""
SCORE_CLIP = 100.0
NMS_IOU = 0.3
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear_tragion", "left_ear_tragion")
"""The subject's right eye is the one on the image's left (the rig's ``eye_l``)."""


@dataclass(frozen=True)
class Detection:
    """One face: ``box`` (x0, y0, x1, y1) and ``keypoints`` (6, 2) (x, y) in pixels of the image, ``score``
    in [0, 1]. Keypoints are in the order of :data:`KEYPOINTS`."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray

    @property
    def area(self) -> float:
        """Box area, square pixels."""
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    def square(self, scale: float = 1.5) -> tuple[int, int, int]:
        """(left, top, side) pixels of the square centred on the box, of side ``scale`` × its longer side."""
        x0, y0, x1, y1 = self.box
        side = max(1, round(scale * max(x1 - x0, y1 - y0)))
        return round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2), side

    def xywh(self) -> tuple[int, int, int, int]:
        """The box as integer (x, y, w, h) pixels, the layout of OpenCV's cascades."""
        x0, y0, x1, y1 = (int(round(v)) for v in self.box)
        return x0, y0, x1 - x0, y1 - y0


def ssd_anchors() -> np.ndarray:
    """The (896, 2) anchor centres (x, y) in [0, 1] of the 128 × 128 input, in the model's output order."""
    centres = []
    layer = 0
    while layer < len(STRIDES):
        stride, per_cell = STRIDES[layer], 0
        while layer < len(STRIDES) and STRIDES[layer] == stride:
            per_cell, layer = per_cell + ANCHORS_PER_LAYER, layer + 1
        cells = -(-INPUT_SIZE // stride)
        y, x = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(x + 0.5) / cells, (y + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) or (H, W) uint8, or float in [0, 1] -> (H, W, 3) float32 in [0, 1]."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
        raise ValueError(
            f"image must be (H, W, 3) RGB or (H, W) grey with H, W >= 8, got shape {image.shape}"
        )
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"image must be uint8 or float in [0, 1], got dtype {image.dtype}")
    if not np.isfinite(image).all():
        raise ValueError("a float image must be finite: it has NaN or infinite pixels")
    if image.min() < 0.0 or image.max() > 1.0:
        raise ValueError(f"a float image must be in [0, 1], got range [{image.min()}, {image.max()}]")
    return image.astype(np.float32)


def _letterbox(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (128, 128, 3) model input in [-1, 1], and the offset (2,) and scale (2,) with
    input pixel = offset + scale * image pixel, for x and y."""
    h, w = rgb.shape[:2]
    fit = INPUT_SIZE / max(h, w)
    nw, nh = max(1, round(w * fit)), max(1, round(h * fit))
    interp = cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR
    small = cv2.resize(rgb, (nw, nh), interpolation=interp)
    x0, y0 = (INPUT_SIZE - nw) // 2, (INPUT_SIZE - nh) // 2
    tensor = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    tensor[y0 : y0 + nh, x0 : x0 + nw] = small
    return tensor * 2.0 - 1.0, np.array([x0, y0], float), np.array([nw / w, nh / h])


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) box (x0, y0, x1, y1) with each of (N, 4)."""
    wh = (np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2])).clip(0)
    inter = wh[:, 0] * wh[:, 1]
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return inter / np.maximum(union, 1e-12)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """mediapipe's weighted non-maximum suppression: repeatedly take the best remaining box and every remaining box
    overlapping it by IoU > ``iou``; the group's box (4,) and keypoints (K, 2) are the score-weighted means, its
    score the best one's. ``boxes`` (N, 4) (x0, y0, x1, y1), ``keypoints`` (N, K, 2), ``scores`` (N,)."""
    remaining = np.argsort(-scores, kind="stable")
    kept = []
    while len(remaining):
        group = _iou(boxes[remaining[0]], boxes[remaining]) > iou
        group[0] = True
        members, remaining = remaining[group], remaining[~group]
        weights = scores[members] / scores[members].sum()
        kept.append(
            (
                np.tensordot(weights, boxes[members], axes=1),
                np.tensordot(weights, keypoints[members], axes=1),
                float(scores[members[0]]),
            )
        )
    return kept


def detect_faces(image: np.ndarray, min_score: float = 0.5) -> list[Detection]:
    """Every face BlazeFace finds in ``image``, best first.

    Args:
        image: (H, W, 3) RGB (or (H, W) grey), uint8 or float in [0, 1]; any aspect ratio.
        min_score: detections scoring below it (a probability) are dropped; mediapipe's default is 0.5.
    """
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be in [0, 1], got {min_score!r}")
    tensor, offset, scale = _letterbox(_as_rgb(image))
    it = tflite_interpreter(DETECTOR_FILE)
    it.set_tensor(it.get_input_details()[0]["index"], tensor[None])
    it.invoke()
    outputs = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
    raw, logits = outputs["regressors"][0].astype(np.float64), outputs["classificators"][0, :, 0]
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= min_score
    if not keep.any():
        return []
    anchors = ssd_anchors()[keep] * INPUT_SIZE
    raw, scores = raw[keep], scores[keep]
    centre = anchors + raw[:, :2]
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = anchors[:, None, :] + raw[:, 4:].reshape(-1, len(KEYPOINTS), 2)
    found = []
    for box, points, score in weighted_nms(boxes, keypoints, scores):
        corners = (box.reshape(2, 2) - offset) / scale
        found.append(Detection(tuple(corners.ravel().tolist()), score, (points - offset) / scale))
    return found


def largest_face(image: np.ndarray, min_score: float = 0.5) -> Detection | None:
    """The detection of :func:`detect_faces` with the largest box, or ``None``."""
    faces = detect_faces(image, min_score)
    return max(faces, key=lambda d: d.area) if faces else None


def largest_box(frame: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) pixels of the largest face in an (H, W, 3) uint8 frame, or ``None``: a drop-in for the
    cascade detectors (:data:`affect_lib.data.av_preprocess.Detector`)."""
    face = largest_face(frame)
    return face.xywh() if face is not None else None


def square_around(image: np.ndarray, face: Detection, scale: float = 1.5) -> np.ndarray:
    """A square crop of ``image`` (H, W, ...) centred on the face's box, of side ``scale`` × its longer side;
    parts outside the image repeat its edge. 1.5 is the region mediapipe's face mesh is given."""
    left, top, side = face.square(scale)
    h, w = image.shape[:2]
    pad = [(max(0, -top), max(0, top + side - h)), (max(0, -left), max(0, left + side - w))]
    padded = np.pad(image, pad + [(0, 0)] * (image.ndim - 2), mode="edge")
    top, left = top + pad[0][0], left + pad[1][0]
    return padded[top : top + side, left : left + side]
