"""The AU-driven face rig: the book's embedded default generator.

It deforms one real face (the aligned scikit-image astronaut) according to 17 AU intensities. Three steps, all
batched and deterministic:

1. **Appearance layers** in the face's own frame (furrows, nose wrinkles, smile lines, forehead lines, a chin boss,
   closed lids), each a fixed colour change weighted by a clipped linear combination of the AUs.
2. **A smooth warp**: every AU moves a few landmarks (``MOTIONS``); Gaussian radial bumps spread the moves to a dense
   displacement field, which a soft cap (``cap`` inter-ocular distances) keeps from folding the face; the image is
   resampled with ``grid_sample``.
3. **The open mouth** for AU25/AU26: a dark cavity with upper teeth, drawn between the moved lips.

The base texture is neutralised once (the astronaut smiles): mouth corners pulled in and down, lips closed over the
teeth, smile lines softened. Lengths in the tables are inter-ocular distances (IOD) at intensity 5.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from affect_lib.faces.facs import AU_CODES, AU_MAX, N_AUS
from affect_lib.faces.images import Face, load_face

Move = tuple[str, float, float, float]
"""(landmark, dx, dy, radius) in IOD. A name ending in ``*`` means both ``_l`` and ``_r``, with dx pointing outward."""

MOTIONS: dict[int, tuple[Move, ...]] = {
    1: (("brow_inner*", 0.0, -0.16, 0.16), ("brow_mid*", 0.0, -0.06, 0.16)),
    2: (("brow_outer*", 0.0, -0.16, 0.18), ("brow_mid*", 0.0, -0.08, 0.16)),
    4: (("brow_inner*", -0.07, 0.12, 0.16), ("brow_mid*", 0.0, 0.07, 0.16)),
    5: (("eye_upper*", 0.0, -0.06, 0.07), ("brow_mid*", 0.0, -0.03, 0.15)),
    6: (("cheek*", 0.0, -0.08, 0.22), ("eye_lower*", 0.0, -0.04, 0.08), ("mouth*", 0.02, -0.03, 0.15)),
    7: (("eye_lower*", 0.0, -0.05, 0.07), ("eye_upper*", 0.0, 0.02, 0.06)),
    9: (("nostril*", 0.02, -0.07, 0.10), ("brow_inner*", -0.02, 0.06, 0.12), ("lip_upper", 0.0, -0.03, 0.10)),
    10: (("lip_upper", 0.0, -0.08, 0.12), ("nostril*", 0.0, -0.03, 0.10), ("mouth*", 0.0, -0.03, 0.10)),
    12: (("mouth*", 0.12, -0.12, 0.15), ("cheek*", 0.0, -0.05, 0.20)),
    14: (("mouth*", 0.06, 0.0, 0.10),),
    15: (("mouth*", -0.01, 0.14, 0.14),),
    17: (("chin", 0.0, -0.10, 0.25), ("lip_lower", 0.0, -0.05, 0.12)),
    20: (("mouth*", 0.14, 0.04, 0.15),),
    23: (("mouth*", -0.06, 0.0, 0.12), ("lip_upper", 0.0, 0.02, 0.08), ("lip_lower", 0.0, -0.02, 0.08)),
    25: (("lip_lower", 0.0, 0.12, 0.14), ("lip_upper", 0.0, -0.03, 0.10)),
    26: (
        ("chin", 0.0, 0.30, 0.30),
        ("lip_lower", 0.0, 0.24, 0.16),
        ("jaw*", 0.0, 0.12, 0.30),
        ("lip_upper", 0.0, -0.06, 0.1),
    ),
    45: (("eye_upper*", 0.0, 0.08, 0.08),),
}
"""Landmark moves of each AU (FACS number) at intensity 5."""

NEUTRALISE: tuple[Move, ...] = (
    ("mouth*", -0.07, 0.14, 0.15),
    ("lip_lower", 0.0, -0.08, 0.16),
    ("cheek*", 0.0, 0.05, 0.20),
    ("eye_lower*", 0.0, 0.02, 0.07),
)
"""The moves that take the smiling astronaut to a neutral mouth and cheeks."""

Stroke = tuple[tuple[tuple[str, float, float], ...], float]
"""A polyline of landmark-relative points ((landmark, dx, dy), ...) and a width, in IOD; mirrored for ``*``."""

LAYERS: dict[str, tuple[dict[int, float], float, tuple[Stroke, ...]]] = {
    "brow furrow": (
        {4: 1.0, 9: 0.3},
        0.45,
        (
            ((("brow_inner*", -0.10, -0.12), ("brow_inner*", -0.08, 0.16)), 0.025),
            ((("brow_inner*", 0.05, 0.02), ("eye_upper*", 0.0, -0.08), ("eye_outer*", -0.05, -0.08)), 0.07),
        ),
    ),
    "nose wrinkles": (
        {9: 1.0, 10: 0.3},
        0.40,
        (
            ((("nose_bridge", -0.12, -0.10), ("nose_bridge", 0.12, -0.10)), 0.02),
            ((("nose_bridge", -0.14, 0.0), ("nose_bridge", 0.14, 0.0)), 0.02),
            ((("eye_inner*", -0.02, 0.12), ("nostril*", -0.06, -0.15)), 0.025),
        ),
    ),
    "smile lines": (
        {12: 0.8, 6: 0.5, 10: 0.4, 9: 0.3, 14: 0.2},
        0.40,
        (
            (
                (
                    ("nostril*", 0.07, -0.02),
                    ("fold*", 0.0, 0.0),
                    ("mouth*", 0.09, 0.06),
                    ("mouth*", 0.06, 0.22),
                ),
                0.035,
            ),
        ),
    ),
    "crow's feet": (
        {6: 1.0, 12: 0.2},
        0.35,
        (
            ((("eye_outer*", 0.06, -0.06), ("eye_outer*", 0.18, -0.12)), 0.02),
            ((("eye_outer*", 0.07, 0.03), ("eye_outer*", 0.19, 0.05)), 0.02),
            ((("eye_lower*", -0.12, 0.09), ("eye_lower*", 0.12, 0.09)), 0.03),
        ),
    ),
    "forehead lines": (
        {1: 0.6, 2: 0.6},
        0.30,
        (
            ((("brow_mid*", 0.05, -0.30), ("brow_inner*", -0.30, -0.34)), 0.02),
            ((("brow_mid*", 0.0, -0.45), ("brow_inner*", -0.30, -0.50)), 0.02),
        ),
    ),
    "chin boss": (
        {17: 1.0, 15: 0.3},
        0.35,
        (((("lip_lower", -0.28, 0.18), ("lip_lower", 0.0, 0.24), ("lip_lower", 0.28, 0.18)), 0.04),),
    ),
}
"""Shading layers: (AU weights on intensity / 5, darkness, strokes)."""

MOUTH_COLOUR = (0.16, 0.04, 0.05)
TEETH_COLOUR = (0.92, 0.89, 0.83)


def _side_points(
    face: Face, name: str, dx: float, dy: float, iod: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Landmark position(s) and offset vector(s) in pixels for a possibly mirrored (``*``) name."""
    if name.endswith("*"):
        base = name[:-1]
        return [
            (face.landmarks[base + "l"], np.array([-dx, dy]) * iod),
            (face.landmarks[base + "r"], np.array([dx, dy]) * iod),
        ]
    return [(face.landmarks[name], np.array([dx, dy]) * iod)]


def _moves(face: Face, moves: tuple[Move, ...]) -> list[tuple[np.ndarray, np.ndarray, float]]:
    iod = face.interocular
    return [
        (point, offset, radius * iod)
        for name, dx, dy, radius in moves
        for point, offset in _side_points(face, name.replace("*", "_*"), dx, dy, iod)
    ]


def displacement_field(face: Face, moves: tuple[Move, ...]) -> np.ndarray:
    """(H, W, 2) forward displacement in pixels: a sum of Gaussian bumps, one per moved landmark."""
    ys, xs = np.mgrid[0 : face.size, 0 : face.size].astype(np.float64)
    field = np.zeros((face.size, face.size, 2))
    for point, offset, radius in _moves(face, moves):
        weight = np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * radius**2))
        field += weight[..., None] * offset
    return field


def _stroke_alpha(face: Face, stroke: Stroke) -> np.ndarray:
    """(H, W) Gaussian-profile coverage of a (mirrored) polyline."""
    points, width = stroke
    iod = face.interocular
    ys, xs = np.mgrid[0 : face.size, 0 : face.size].astype(np.float64)
    pix = np.stack([xs, ys], axis=-1)
    sides = ("l", "r") if any(name.endswith("*") for name, _, _ in points) else ("",)
    alpha = np.zeros((face.size, face.size))
    for side in sides:
        sign = -1.0 if side == "l" else 1.0
        poly = np.array(
            [
                face.landmarks[n.replace("*", "_" + side)] + np.array([sign * dx, dy]) * iod
                for n, dx, dy in points
            ]
        )
        dist = np.full((face.size, face.size), np.inf)
        for a, b in zip(poly[:-1], poly[1:], strict=True):
            t = np.clip(((pix - a) @ (b - a)) / max(float((b - a) @ (b - a)), 1e-9), 0, 1)
            dist = np.minimum(dist, np.linalg.norm(pix - (a + t[..., None] * (b - a)), axis=-1))
        alpha = np.maximum(alpha, np.exp(-0.5 * (dist / (width * iod)) ** 2))
    return alpha


def _warp_numpy(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Backward warp of an (H, W, 3) image by a forward field: out(x) = in(x - d(x))."""
    size = image.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return cv2.remap(
        image, xs - field[..., 0].astype(np.float32), ys - field[..., 1].astype(np.float32), cv2.INTER_LINEAR
    )


def neutralise(face: Face) -> Face:
    """Turn the smiling astronaut neutral: corners in and down, lips closed over the teeth, folds softened."""
    field = displacement_field(face, NEUTRALISE)
    image = _warp_numpy(face.image, field)
    size = face.size
    moved = {
        name: xy + field[int(round(np.clip(xy[1], 0, size - 1))), int(round(np.clip(xy[0], 0, size - 1)))]
        for name, xy in face.landmarks.items()
    }
    iod = face.interocular
    contact = 0.5 * (moved["lip_inner_upper"] + moved["lip_inner_lower"])
    moved["lip_inner_upper"] = moved["lip_inner_lower"] = contact
    half_w = 0.5 * (moved["mouth_r"][0] - moved["mouth_l"][0])
    mouth = np.zeros((size, size), np.uint8)
    centre, axes = (round(contact[0]), round(contact[1])), (round(1.05 * half_w), round(0.24 * iod))
    cv2.ellipse(mouth, centre, axes, 0, 0, 360, 1, -1)
    skin = cv2.inpaint((image * 255).astype(np.uint8), mouth, round(0.15 * iod), cv2.INPAINT_TELEA) / 255.0
    neutral = Face(skin.astype(np.float32), moved, face.source)
    lip_colour = face.image[round(face.landmarks["lip_lower"][1]), round(face.landmarks["lip_lower"][0])]
    lips = np.maximum(
        _stroke_alpha(
            neutral,
            ((("mouth_l", 0.02, 0.0), ("lip_inner_upper", 0.0, -0.05), ("mouth_r", -0.02, 0.0)), 0.05),
        ),
        _stroke_alpha(
            neutral,
            ((("mouth_l", 0.04, 0.01), ("lip_inner_upper", 0.0, 0.08), ("mouth_r", -0.04, 0.01)), 0.06),
        ),
    )
    line = _stroke_alpha(
        neutral, ((("mouth_l", 0.0, 0.0), ("lip_inner_upper", 0.0, 0.0), ("mouth_r", 0.0, 0.0)), 0.015)
    )
    soft = cv2.GaussianBlur(neutral.image, (0, 0), 0.12 * iod)
    folds = _stroke_alpha(neutral, LAYERS["smile lines"][2][0])
    folds = np.maximum(folds, _stroke_alpha(neutral, ((("cheek*", 0.0, 0.0), ("cheek*", 0.0, 0.05)), 0.15)))
    image = neutral.image * (1 - folds[..., None]) + soft * folds[..., None]
    image = image * (1 - 0.55 * lips[..., None]) + 0.55 * lips[..., None] * lip_colour
    image = image * (1 - 0.4 * line[..., None])
    return Face(image.clip(0, 1).astype(np.float32), moved, face.source)


class FaceRig(nn.Module):
    """Render faces from AU intensities: ``rig(aus)`` maps (B, 17) in [0, 5] to (B, 3, S, S) images in [0, 1].

    Intensities outside [0, 5] are clipped (EvoGAN's unclipped genes stay renderable); NaN or a wrong length
    raises ``ValueError``. ``cap`` bounds every pixel's displacement (in IOD) so that the face never folds over.
    ``neutral``: the face is already neutral; by default it is neutralised first (:func:`neutralise`, made for
    the smiling astronaut).
    """

    def __init__(self, face: Face, cap: float = 0.3, neutral: bool = False) -> None:
        super().__init__()
        if not face.landmarks:
            raise ValueError("face must carry landmarks (the rig places its moves and layers from them)")
        if cap <= 0:
            raise ValueError(f"cap must be positive, got {cap!r}")
        self.face = face if neutral else neutralise(face)
        size, iod = self.face.size, self.face.interocular
        self.size = size
        self.cap_px = cap * iod
        base = torch.from_numpy(self.face.image.transpose(2, 0, 1).copy())
        fields = np.stack([displacement_field(self.face, MOTIONS[code]) for code in AU_CODES])
        names = list(self.face.landmarks)
        marks = np.stack([self.face.landmarks[n] for n in names])
        idx = np.clip(np.round(marks[:, ::-1]).astype(int), 0, size - 1)
        self.landmark_names = tuple(names)
        layer_weights = np.zeros((len(LAYERS), N_AUS))
        deltas = []
        for i, (weights, darkness, strokes) in enumerate(LAYERS.values()):
            for code, w in weights.items():
                layer_weights[i, AU_CODES.index(code)] = w
            alpha = np.maximum.reduce(
                [_stroke_alpha(self.face, (pts, 1.5 * width)) for pts, width in strokes]
            )
            deltas.append(-0.8 * darkness * alpha[None] * self.face.image.transpose(2, 0, 1))
        # closed lids (AU45): the eye is replaced by cheek-coloured skin with a darker lash line
        skin = self.face.image[idx[names.index("cheek_l"), 0], idx[names.index("cheek_l"), 1]]
        lid = _stroke_alpha(self.face, ((("eye_outer*", 0.0, 0.0), ("eye_inner*", 0.0, 0.0)), 0.09))
        lash = _stroke_alpha(self.face, ((("eye_outer*", 0.0, 0.03), ("eye_inner*", 0.0, 0.03)), 0.02))
        closed = skin[:, None, None] * (1 - 0.6 * lash[None])
        deltas.append(np.maximum(lid, lash)[None] * (closed - self.face.image.transpose(2, 0, 1)))
        blink = np.zeros(N_AUS)
        blink[AU_CODES.index(45)] = 1.0
        layer_weights = np.vstack([layer_weights, blink])
        self.register_buffer("base", base.float())
        self.register_buffer("fields", torch.from_numpy(fields).float())
        self.register_buffer("layer_weights", torch.from_numpy(layer_weights).float())
        self.register_buffer("layer_deltas", torch.from_numpy(np.stack(deltas)).float())
        self.register_buffer("landmarks", torch.from_numpy(marks).float())
        self.register_buffer("landmark_moves", torch.from_numpy(fields[:, idx[:, 0], idx[:, 1]]).float())
        ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        self.register_buffer("pixels", torch.stack([xs, ys], dim=-1).float())
        self.register_buffer("mouth_colour", torch.tensor(MOUTH_COLOUR).view(1, 3, 1, 1))
        self.register_buffer("teeth_colour", torch.tensor(TEETH_COLOUR).view(1, 3, 1, 1))

    @classmethod
    def default(cls, size: int = 128) -> FaceRig:
        """The rig of the embedded neutral real face (the aligned astronaut), rendering ``size`` × ``size``."""
        return cls(load_face("astronaut", size=size))

    def _check(self, aus: torch.Tensor) -> torch.Tensor:
        if not isinstance(aus, torch.Tensor):
            aus = torch.as_tensor(np.asarray(aus, dtype=np.float32))
        if aus.ndim != 2 or aus.shape[1] != N_AUS:
            raise ValueError(f"aus must have shape (B, {N_AUS}), got {tuple(aus.shape)}")
        if not torch.isfinite(aus).all():
            raise ValueError("aus contains NaN or infinite values")
        return aus.to(self.base).clamp(0, AU_MAX) / AU_MAX

    def _capped(self, moves: torch.Tensor) -> torch.Tensor:
        """Soft-cap displacement vectors (..., 2) at ``cap`` IOD: cap · tanh(|d| / cap) · d / |d|."""
        norm = moves.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return moves * (self.cap_px * torch.tanh(norm / self.cap_px) / norm)

    def landmark_positions(self, aus: torch.Tensor) -> torch.Tensor:
        """(B, K, 2) landmark pixel positions after the AU moves (order: ``landmark_names``)."""
        return self._moved_landmarks(self._check(aus))

    def _moved_landmarks(self, w: torch.Tensor) -> torch.Tensor:
        return self.landmarks + self._capped(torch.einsum("ba,akc->bkc", w, self.landmark_moves))

    def forward(self, aus: torch.Tensor) -> torch.Tensor:
        """(B, 17) AU intensities in [0, 5] -> (B, 3, S, S) images in [0, 1]."""
        w = self._check(aus)
        layers = (w @ self.layer_weights.T).clamp(0, 1)
        texture = self.base + torch.einsum("bl,lchw->bchw", layers, self.layer_deltas)
        field = self._capped(torch.einsum("ba,ahwc->bhwc", w, self.fields))
        grid = (self.pixels - field + 0.5) * (2.0 / self.size) - 1.0
        image = F.grid_sample(texture, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return self._open_mouth(image, self._moved_landmarks(w)).clamp(0, 1)

    def _open_mouth(self, image: torch.Tensor, marks: torch.Tensor) -> torch.Tensor:
        """Draw the cavity and upper teeth between the moved lips ``marks`` (B, K, 2) (AU25/AU26 open the mouth)."""
        names = self.landmark_names
        contact = self.landmarks[names.index("lip_inner_upper")]
        upper = contact[1] + (
            marks[:, names.index("lip_upper"), 1] - self.landmarks[names.index("lip_upper"), 1]
        )
        lower = contact[1] + (
            marks[:, names.index("lip_lower"), 1] - self.landmarks[names.index("lip_lower"), 1]
        )
        left, right = marks[:, names.index("mouth_l"), 0], marks[:, names.index("mouth_r"), 0]
        cx = (0.5 * (left + right)).view(-1, 1, 1)
        cy = (0.5 * (upper + lower)).view(-1, 1, 1)
        half_h = (0.5 * (lower - upper)).clamp_min(1e-3).view(-1, 1, 1)
        half_w = (0.42 * (right - left)).view(-1, 1, 1)
        x, y = self.pixels[..., 0], self.pixels[..., 1]
        inside = 1 - ((x - cx) / half_w) ** 2 - ((y - cy) / half_h) ** 2
        alpha = torch.sigmoid(inside * 6) * (half_h / 1.5).clamp(0, 1) ** 2
        teeth = torch.sigmoid((cy + 0.1 * half_h - y) / (0.12 * half_h + 0.3)) * torch.sigmoid(
            (half_w * 0.8 - (x - cx).abs()) / 1.0
        )
        colour = self.mouth_colour + teeth[:, None] * (self.teeth_colour - self.mouth_colour)
        alpha = alpha[:, None]
        return image * (1 - alpha) + colour * alpha
