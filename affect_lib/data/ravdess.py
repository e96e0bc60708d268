"""RAVDESS: file names, actor-based splits and a PyTorch dataset over preprocessed clips.

File names have seven two-digit fields ``MM-VV-EE-II-SS-RR-AA.ext`` (Livingstone & Russo 2018): modality
(01 full-AV, 02 video-only, 03 audio-only), vocal channel (01 speech, 02 song), emotion (01..08), intensity
(01 normal, 02 strong; neutral has no strong), statement (01, 02), repetition (01, 02) and actor (01..24; odd male).

Splits are always by actor, so no speaker is in two parts:

- :func:`released_folds`: CFN-SR's 5 folds of 4 actors (1-20); actors 21-24 are always trained on, never tested.
- :func:`msaf_folds`: MSAF's 6 folds of 4 actors (all 24 evaluated).
- :func:`proper_split` (the default): disjoint train / validation / test actors; select on validation, test once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
"""Emotion names in code order: code ``01`` is ``EMOTIONS[0]``; the class label is ``code - 1``."""
MODALITIES = {1: "full-AV", 2: "video-only", 3: "audio-only"}
VOCAL_CHANNELS = {1: "speech", 2: "song"}
INTENSITIES = {1: "normal", 2: "strong"}
STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
N_ACTORS = 24
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_AUGMENT_SCALE = (0.8, 1.0)
"""Area range of the training crop (:class:`RavdessClips`); the release asks for (0.8, 1.4), see there."""
RELEASED_AUGMENT_SCALE = (0.8, 1.4)
PROPER_TEST_ACTORS = (5, 10, 16, 19)
PROPER_VALID_ACTORS = (11, 13, 18, 22)
"""The fixed actor split of katerynaCh's RAVDESS models (ICPR 2022), used as the default proper split."""

_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_ACTOR_FOLDER = re.compile(r"Actor_(\d{2})")


@dataclass(frozen=True)
class RavdessName:
    """The seven fields of a RAVDESS file name, as integers."""

    modality: int
    vocal_channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def label(self) -> int:
        """Class index in 0..7 (emotion code - 1), as in the released code."""
        return self.emotion - 1

    @property
    def emotion_name(self) -> str:
        return EMOTIONS[self.label]

    @property
    def female(self) -> bool:
        return self.actor % 2 == 0

    def filename(self, ext: str = ".mp4") -> str:
        fields = (self.modality, self.vocal_channel, self.emotion, self.intensity)
        fields += (self.statement, self.repetition, self.actor)
        return "-".join(f"{v:02d}" for v in fields) + ext


def parse_ravdess_name(name: str | Path) -> RavdessName:
    """Parse a RAVDESS file name (a path is fine; the extension is ignored).

    Raises:
        ValueError: the stem is not seven two-digit fields, or a field is out of range (including a strong
            intensity for neutral, which RAVDESS does not record).
    """
    stem = Path(name).name.split(".")[0]
    match = _NAME.match(stem)
    if match is None:
        raise ValueError(f"not a RAVDESS file name (want MM-VV-EE-II-SS-RR-AA.ext): {str(name)!r}")
    parsed = RavdessName(*(int(g) for g in match.groups()))
    checks = {
        "modality": (parsed.modality, MODALITIES),
        "vocal channel": (parsed.vocal_channel, VOCAL_CHANNELS),
        "emotion": (parsed.emotion, range(1, 9)),
        "intensity": (parsed.intensity, INTENSITIES),
        "statement": (parsed.statement, STATEMENTS),
        "repetition": (parsed.repetition, (1, 2)),
        "actor": (parsed.actor, range(1, N_ACTORS + 1)),
    }
    for field, (value, allowed) in checks.items():
        if value not in allowed:
            raise ValueError(f"RAVDESS file name {str(name)!r}: {field} {value:02d} is out of range")
    if parsed.emotion == 1 and parsed.intensity == 2:
        raise ValueError(f"RAVDESS file name {str(name)!r}: neutral has no strong intensity (field 4 = 02)")
    return parsed


def list_clips(root: str | Path, *, modality: int = 1, vocal_channel: int = 1) -> list[Path]:
    """The ``Actor_XX/*.mp4`` clips under ``root`` (``.MP4`` too) with the given modality/channel, sorted by path.

    Raises:
        FileNotFoundError: ``root`` is missing or holds no matching clip.
        ValueError: a folder ``Actor_*`` that is not ``Actor_`` and two digits; a clip whose actor field differs
            from its folder's (a test actor's clip filed under a training actor would leak into training); an
            ``Actor_XX`` folder without a matching clip (e.g. only the audio-only ``.wav`` files): the actor would
            silently drop out of every split.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"RAVDESS root {root} does not exist or is not a folder")
    clips, empty = [], []
    for folder in sorted(p for p in root.glob("Actor_*") if p.is_dir()):
        actor = _ACTOR_FOLDER.fullmatch(folder.name)
        if actor is None:
            raise ValueError(
                f"RAVDESS root {root}: folder {folder.name!r} is not Actor_ and two digits (Actor_01)"
            )
        found = []
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".mp4"):
            name = parse_ravdess_name(path)
            if name.actor != int(actor[1]):
                raise ValueError(
                    f"RAVDESS clip {path}: its actor field (the last, {name.actor:02d}) is not its folder's "
                    f"({folder.name}), so the clip would be split with the wrong actor: move or rename it"
                )
            if name.modality == modality and name.vocal_channel == vocal_channel:
                found.append(path)
        clips.extend(found)
        if not found:
            kinds = sorted({p.suffix for p in folder.iterdir()}) or ["nothing"]
            empty.append(f"{folder.name} (holds {', '.join(kinds)})")
    if not clips:
        raise FileNotFoundError(f"no Actor_XX/*.mp4 clip with modality {modality:02d} under {root}")
    if empty:
        raise ValueError(
            f"RAVDESS root {root}: {'; '.join(empty)} has no {modality:02d}-{vocal_channel:02d}-*.mp4 clip, so the "
            "actor would drop out of the split: add its video clips (Video_Speech_Actor_XX.zip) or remove the folder"
        )
    return clips


@dataclass(frozen=True)
class ActorSplit:
    """Actor ids of one split; ``valid`` is empty under the released protocol (it selects on ``test``)."""

    train: tuple[int, ...]
    valid: tuple[int, ...]
    test: tuple[int, ...]

    def indices(self, actors: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions of the clips (given each clip's actor) that fall in train, valid and test."""
        actors = np.asarray(actors)
        return tuple(np.flatnonzero(np.isin(actors, part)) for part in (self.train, self.valid, self.test))


def _sorted_actors(actors: Iterable[int]) -> list[int]:
    unique = sorted({int(a) for a in actors})
    if len(unique) < 2:
        raise ValueError(f"actors must hold at least 2 distinct ids, got {unique}")
    return unique


def check_no_missing_actors(actors: Iterable[int], protocol: str, n_actors: int | None = None) -> None:
    """Refuse actors with a gap in ``1..n`` (``n``: ``n_actors``, else the highest actor) for a fold ``protocol``.

    The fold rules (:func:`actor_folds`, :func:`proper_folds`) count the sorted actors, so a missing actor would
    shift every later fold silently (without actor 3, CFN-SR's fold 0 would test actors 1, 2, 4, 5).

    Raises:
        ValueError: naming the protocol and the missing actors.
    """
    unique = _sorted_actors(actors)
    missing = sorted(set(range(1, (n_actors or unique[-1]) + 1)) - set(unique))
    if missing:
        folders = ", ".join(f"Actor_{a:02d}" for a in missing)
        one = len(missing) == 1
        raise ValueError(
            f"the {protocol} folds are defined over actors 1..{n_actors or unique[-1]}, but {folders} "
            f"{'has' if one else 'have'} no clip: every fold after {'it' if one else 'them'} would test other "
            "actors. Add the clips, or choose another split explicitly"
        )


def actor_folds(actors: Iterable[int], k_folds: int) -> list[ActorSplit]:
    """The released fold rule: fold i tests actors ``sorted[s*i : s*(i+1)]`` with ``s = n_actors // k_folds``.

    Actors past ``k_folds * s`` are always in training (with 24 actors and k = 5: actors 21-24 are never
    evaluated). There is no validation part: the release picks the best epoch on the test fold.
    """
    unique = _sorted_actors(actors)
    if not 2 <= k_folds <= len(unique):
        raise ValueError(f"k_folds must be in [2, {len(unique)}] for {len(unique)} actors, got {k_folds}")
    s = len(unique) // k_folds
    folds = []
    for i in range(k_folds):
        test = tuple(unique[s * i : s * (i + 1)])
        folds.append(ActorSplit(tuple(a for a in unique if a not in test), (), test))
    return folds


def released_folds(actors: Iterable[int] = range(1, N_ACTORS + 1)) -> list[ActorSplit]:
    """CFN-SR's protocol: 5 folds (actors 1-4, ..., 17-20 on 24 actors)."""
    return actor_folds(actors, 5)


def msaf_folds(actors: Iterable[int] = range(1, N_ACTORS + 1)) -> list[ActorSplit]:
    """MSAF's protocol: 6 folds of 4 actors, every actor evaluated once."""
    return actor_folds(actors, 6)


def proper_split(
    actors: Iterable[int] = range(1, N_ACTORS + 1),
    *,
    test: Sequence[int] = PROPER_TEST_ACTORS,
    valid: Sequence[int] = PROPER_VALID_ACTORS,
) -> ActorSplit:
    """Disjoint train / validation / test actors; the default is katerynaCh's fixed split of the 24 actors."""
    unique = _sorted_actors(actors)
    test, valid = tuple(sorted(test)), tuple(sorted(valid))
    for part, ids in (("test", test), ("valid", valid)):
        missing = sorted(set(ids) - set(unique))
        if not ids or missing:
            raise ValueError(
                f"{part} actors {ids} must be a non-empty subset of the actors {unique}: actor(s) "
                f"{missing} have no clip, and the fixed split will not change silently (add them, or choose "
                "another split explicitly)"
            )
    if set(test) & set(valid):
        raise ValueError(f"test {test} and valid {valid} actors overlap")
    train = tuple(a for a in unique if a not in test and a not in valid)
    if not train:
        raise ValueError("no actor is left for training")
    return ActorSplit(train, valid, test)


def proper_folds(actors: Iterable[int], k_folds: int) -> list[ActorSplit]:
    """Nested version of :func:`actor_folds`: fold i tests block i, validates on block i+1, trains on the rest."""
    blocks = [f.test for f in actor_folds(actors, k_folds)]
    unique = _sorted_actors(actors)
    splits = []
    for i, test in enumerate(blocks):
        valid = blocks[(i + 1) % k_folds]
        splits.append(ActorSplit(tuple(a for a in unique if a not in test + valid), valid, test))
    return splits


class RavdessClips(Dataset):
    """Preprocessed clips as model inputs: item ``i`` is ``((video, mfcc), label)``.

    Args:
        frames: (N, T, H, W, 3) uint8 RGB face crops (see :mod:`affect_lib.data.av_preprocess`).
        mfcc: (N, n_mfcc, F) float MFCC.
        labels: (N,) class indices in 0..7.
        augment: random resized crop + horizontal flip, the same for all frames of a clip.
        per_frame_augmentation: released quirk: draw the crop and flip independently for every frame.
        bgr_input: released quirk: feed BGR channel order (still normalised with RGB ImageNet statistics).
        augment_scale: the crop's area as a fraction of the frame's, ``RandomResizedCrop``'s ``scale``. The
            default (0.8, 1.0) is the corrected form of the release's (0.8, 1.4) (:data:`RELEASED_AUGMENT_SCALE`),
            which does not do what it says: torchvision draws the area and an aspect ratio (3/4 to 4/3) up to
            10 times until the crop fits inside the frame, and otherwise takes the whole frame. An area above 1
            never fits, so with (0.8, 1.4) only about 13% of the draws are accepted and about 25% of the crops
            are the whole frame (no crop; 0.8% with (0.8, 1.0)); the rest are crops of 0.8 to 1.0 of the area
            (median 0.885, against 0.858 with (0.8, 1.0)), measured with torchvision 0.29 on 224² frames.
            Nothing is zoomed out or padded.

    ``video`` is (3, T, H, W) float32, ImageNet-normalised; ``mfcc`` is (n_mfcc, F) float32.
    """

    def __init__(
        self,
        frames: np.ndarray,
        mfcc: np.ndarray,
        labels: Sequence[int],
        *,
        augment: bool = False,
        per_frame_augmentation: bool = False,
        bgr_input: bool = False,
        augment_scale: tuple[float, float] = DEFAULT_AUGMENT_SCALE,
    ) -> None:
        frames, mfcc, labels = np.asarray(frames), np.asarray(mfcc), np.asarray(labels)
        if frames.ndim != 5 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (N, T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        if mfcc.ndim != 3 or not len(frames) == len(mfcc) == len(labels):
            raise ValueError(
                f"frames {frames.shape}, mfcc {mfcc.shape} (want (N, n_mfcc, F)) and labels {labels.shape} "
                "must hold the same number of clips"
            )
        self.frames = frames  # kept as numpy (possibly memory-mapped): items are read one clip at a time
        self.mfcc = torch.from_numpy(mfcc.astype(np.float32))
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.augment, self.per_frame, self.bgr = augment, per_frame_augmentation, bgr_input
        size = frames.shape[2]
        self.transform = v2.Compose(
            [
                v2.RandomResizedCrop(size, scale=tuple(augment_scale), antialias=True),
                v2.RandomHorizontalFlip(),
            ]
        )
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        video = torch.from_numpy(np.array(self.frames[i])).permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
        if self.bgr:
            video = video.flip(1)
        if self.augment:
            video = (
                torch.stack([self.transform(f) for f in video]) if self.per_frame else self.transform(video)
            )
        video = (video.permute(1, 0, 2, 3).float() / 255.0 - self.mean) / self.std
        return (video, self.mfcc[i]), self.labels[i]
