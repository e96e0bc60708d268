"""Real faces that ship with scikit-image, aligned and cropped, image files, and input checks for image batches.

- ``"astronaut"``: ``skimage.data.astronaut()`` (a 512×512 RGB portrait). Its landmarks were annotated by this project
  (``astronaut_landmarks.json``, package data); the face is aligned by a similarity transform that puts the eye
  centres at fixed positions.
- ``"lfw"``: ``skimage.data.lfw_subset()``, 25×25 grey faces (indices 0-99 are faces, 100-199 non-faces), already
  roughly aligned; they are upsampled and carry no landmarks.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from skimage import data, transform

EYE_Y = 0.40
"""Aligned faces have both eye centres on this row (fraction of the size) ..."""
EYE_X = (0.36, 0.64)
"""... at these columns, so the inter-ocular distance is 0.28 of the size."""
SOURCES = ("astronaut", "lfw")
N_LFW_FACES = 100
MAX_PIXELS = 25_000_000
"""The largest image :func:`read_image` decodes: a 24-megapixel photograph fits (a face needs a few hundred pixels;
larger images took minutes in face detection)."""


@dataclass(frozen=True)
class Face:
    """An aligned face: ``image`` (H, W, 3) float32 in [0, 1]; ``landmarks`` name -> (x, y) pixels, or empty."""

    image: np.ndarray
    landmarks: dict[str, np.ndarray]
    source: str

    @property
    def size(self) -> int:
        return self.image.shape[0]

    @property
    def interocular(self) -> float:
        """Distance between the eye centres, in pixels."""
        return float(np.linalg.norm(self.landmarks["eye_r"] - self.landmarks["eye_l"]))


@cache
def astronaut_landmarks() -> dict[str, np.ndarray]:
    """The shipped landmark annotation: name -> (x, y) pixel coordinates in the 512×512 astronaut image."""
    text = resources.files("affect_lib.faces").joinpath("astronaut_landmarks.json").read_text()
    return {name: np.asarray(xy, dtype=np.float64) for name, xy in json.loads(text)["landmarks"].items()}


def load_face(source: str = "astronaut", *, size: int = 128, index: int = 0) -> Face:
    """Load a real face from scikit-image, aligned and cropped to ``size`` × ``size``.

    Args:
        source: one of :data:`SOURCES`.
        size: output side in pixels (16 to 1024).
        index: which LFW face (0-99); ignored for the astronaut.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if not isinstance(size, int) or not 16 <= size <= 1024:
        raise ValueError(f"size must be an integer in [16, 1024], got {size!r}")
    if source == "lfw":
        if not 0 <= index < N_LFW_FACES:
            raise ValueError(f"index must be in [0, {N_LFW_FACES}) for LFW faces, got {index!r}")
        grey = data.lfw_subset()[index].astype(np.float32)
        grey = transform.resize(grey, (size, size), order=3, anti_aliasing=False).clip(0, 1)
        return Face(np.repeat(grey[..., None], 3, axis=2).astype(np.float32), {}, "lfw")
    return align_by_eyes(data.astronaut(), astronaut_landmarks(), size, "astronaut")


def align_by_eyes(image: np.ndarray, landmarks: dict[str, np.ndarray], size: int, source: str) -> Face:
    """The ``size`` × ``size`` face of ``image`` (H, W, 3), uint8 or float in [0, 1], whose landmarks (name ->
    (x, y) pixels, with ``eye_l`` and ``eye_r``) are given: a similarity transform puts the eye centres at
    (:data:`EYE_X`, :data:`EYE_Y`) of the frame (bicubic, edges repeated); the landmarks are moved with it."""
    src = np.stack([landmarks["eye_l"], landmarks["eye_r"]])
    dst = np.array([[EYE_X[0] * size, EYE_Y * size], [EYE_X[1] * size, EYE_Y * size]])
    tform = transform.SimilarityTransform.from_estimate(src, dst)
    aligned = transform.warp(image, tform.inverse, output_shape=(size, size), order=3, mode="edge")
    moved = {name: tform(xy[None])[0] for name, xy in landmarks.items()}
    return Face(aligned.clip(0, 1).astype(np.float32), moved, source)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (grey, 16-bit and float files converted, alpha dropped).

    Raises:
        ValueError: the file is not a readable image, or has more than :data:`MAX_PIXELS` pixels (read from its
            header, before anything is decoded).
    """
    from PIL import Image
    from skimage import io, util

    path = Path(path)
    limit = f"this command reads at most {MAX_PIXELS / 1e6:.0f} megapixels: downscale it first"
    try:
        with warnings.catch_warnings():  # the size is checked here, against a lower limit than PIL's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as header:
                width, height = header.size
    except Image.DecompressionBombError:
        raise ValueError(f"{path}: larger than PIL decodes safely; {limit}") from None
    except OSError as err:  # PIL.UnidentifiedImageError included
        raise ValueError(f"{path}: not a readable image ({type(err).__name__})") from None
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"{path}: {width} x {height} pixels ({width * height / 1e6:.0f} megapixels); {limit}"
        )
    try:
        image = io.imread(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None
    if image.ndim == 3 and image.shape[2] < 3:  # grey with alpha
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3:
        raise ValueError(f"{path}: not one still image (it decodes to shape {image.shape})")
    return util.img_as_ubyte(image[..., :3])


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) array in [0, 1] -> (1, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()


def check_image_batch(images: torch.Tensor, name: str = "images", channels: tuple[int, ...] = (1, 3)) -> None:
    """Raise ``ValueError`` unless ``images`` is a float tensor (B, C, H, W) with C in ``channels``, values in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be a float tensor with values in [0, 1], got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[1] not in channels:
        raise ValueError(
            f"{name} must have shape (B, C, H, W) with C in {channels}, got {tuple(images.shape)}"
        )
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise ValueError(f"{name} must hold finite values in [0, 1]")
