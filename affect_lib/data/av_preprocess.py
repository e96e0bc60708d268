"""From a RAVDESS-style ``.mp4`` to model inputs: face crops of uniformly sampled frames and an MFCC.

The pipeline, for real and synthetic clips alike:

1. decode video and audio with PyAV (the audio resampled to mono 44.1 kHz, as moviepy did for the release);
2. take ``n_frames`` frames spread uniformly over the clip (times ``arange(0, d, d / n)``, nearest frame);
3. find the face with OpenCV's Haar cascade (shipped in the opencv wheel) and cut a square crop around it;
   a frame without a detection falls back to a centre crop, and the fallbacks are counted and warned about;
4. resize the crop to ``size`` x ``size``;
5. compute the MFCC with librosa from the *decoded* track at the released settings (offset 0.5 s, 2.45 s,
   13 coefficients, n_fft 2048, hop 512: 13 x 212 at 44.1 kHz).

Results are cached per clip under :func:`affect_lib.runtime.cache_dir` (keyed by the file's content and the
settings), so a second run only reads ``.npz`` files. The released order "squash the whole frame to 224²,
then crop" is the option ``squash_first=True``.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import librosa
import numpy as np
from torch.utils.data import DataLoader, Subset

from affect_lib.data.ravdess import (
    PROPER_TEST_ACTORS,
    PROPER_VALID_ACTORS,
    ActorSplit,
    RavdessClips,
    parse_ravdess_name,
    proper_folds,
    proper_split,
)
from affect_lib.progress import progress
from affect_lib.runtime import cache_dir

SAMPLE_RATE = 44_100


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of :func:`preprocess_clip`; the defaults are the released ones (30 x 224², 13 x 212 MFCC).

    Attributes:
        n_frames: frames sampled uniformly over the clip.
        size: side of the square face crop, pixels.
        mfcc_offset, mfcc_duration: the audio window, seconds (0.5 and 2.45 in the release).
        n_mfcc: MFCC coefficients (librosa defaults otherwise: n_fft 2048, hop 512, centred frames).
        face_margin: the detector box is enlarged by this fraction on each side before cropping.
        squash_first: released quirk: resize the whole frame to ``size`` x ``size`` (aspect ratio lost) before
            detecting and cropping, so the face is cut from a down-scaled frame and up-scaled again.
    """

    n_frames: int = 30
    size: int = 224
    mfcc_offset: float = 0.5
    mfcc_duration: float = 2.45
    n_mfcc: int = 13
    face_margin: float = 0.1
    squash_first: bool = False

    def __post_init__(self) -> None:
        if self.n_frames < 1 or self.size < 8 or self.n_mfcc < 1:
            raise ValueError(f"n_frames >= 1, size >= 8 and n_mfcc >= 1 required, got {self}")
        if self.mfcc_offset < 0 or self.mfcc_duration <= 0:
            raise ValueError(f"mfcc_offset must be >= 0 and mfcc_duration > 0, got {self}")

    @property
    def mfcc_frames(self) -> int:
        """MFCC frames of the window: 1 + samples // 512 (212 for the released window)."""
        return 1 + int(self.mfcc_duration * SAMPLE_RATE) // 512

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


PROFILES: dict[str, PreprocessConfig] = {
    "paper": PreprocessConfig(),
    "quick": PreprocessConfig(n_frames=8, size=48, mfcc_offset=0.25, mfcc_duration=1.5),
}
"""The Part IV chapter's settings: the released ones, and 8 x 48² with a 1.5-s window for 2-s stand-in clips."""


@dataclass
class DecodedClip:
    """frames (T, H, W, 3) uint8 RGB; times (T,) seconds; audio (S,) float32 mono at 44.1 kHz."""

    frames: np.ndarray
    times: np.ndarray
    audio: np.ndarray
    duration: float


def decode_clip(path: str | Path) -> DecodedClip:
    """Decode every video frame and the first audio track (mono, 44.1 kHz) of ``path`` with PyAV.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be decoded, or has no video or no audio track.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"clip {path} does not exist")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise ValueError(f"clip {path} is not a readable media file: {err}") from err
    with container:
        if not container.streams.video:
            raise ValueError(f"clip {path} has no video track")
        if not container.streams.audio:
            raise ValueError(f"clip {path} has no audio track")
        vstream, astream = container.streams.video[0], container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        frames, times, chunks = [], [], []
        try:
            for packet in container.demux(vstream, astream):
                for frame in packet.decode():
                    if packet.stream is vstream:
                        frames.append(frame.to_ndarray(format="rgb24"))
                        times.append(float(frame.time or 0.0))
                    else:
                        chunks.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(frame))
            chunks.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(None))
        except av.FFmpegError as err:
            raise ValueError(f"clip {path} could not be decoded: {err}") from err
    if not frames:
        raise ValueError(f"clip {path} has no decodable video frame")
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    times_arr = np.asarray(times)
    step = np.median(np.diff(times_arr)) if len(times_arr) > 1 else 0.0
    duration = float(times_arr[-1] + step)
    return DecodedClip(np.stack(frames), times_arr, audio, duration)


def uniform_frame_indices(times: np.ndarray, duration: float, n: int) -> np.ndarray:
    """Indices of the frames nearest to the times ``arange(0, duration, duration / n)`` (n of them)."""
    targets = np.arange(n) * (duration / n)
    return np.abs(np.asarray(times)[None, :] - targets[:, None]).argmin(axis=1)


class FaceDetector:
    """OpenCV's frontal-face Haar cascade (from the opencv-python wheel); returns the largest face box."""

    def __init__(self, min_size: int = 20) -> None:
        xml = (
            Path(getattr(getattr(cv2, "data", None), "haarcascades", ""))
            / "haarcascade_frontalface_default.xml"
        )
        if not hasattr(cv2, "CascadeClassifier") or not xml.is_file():
            raise RuntimeError(
                f"OpenCV {cv2.__version__} has no usable Haar cascade; install opencv-python<5"
            )
        self.cascade = cv2.CascadeClassifier(str(xml))
        self.min_size = min_size

    def __call__(self, rgb: np.ndarray) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) of the largest face in an (H, W, 3) uint8 frame, or ``None``."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        size = max(self.min_size, min(gray.shape) // 5)
        boxes = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(size, size))
        if len(boxes) == 0:
            return None
        x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
        return int(x), int(y), int(w), int(h)


def square_crop(frame: np.ndarray, box: tuple[int, int, int, int] | None, margin: float) -> np.ndarray:
    """A square crop around ``box`` (x, y, w, h) enlarged by ``margin``; the centre square if ``box`` is None."""
    h, w = frame.shape[:2]
    if box is None:
        side = min(h, w)
        cx, cy = w / 2, h / 2
    else:
        bx, by, bw, bh = box
        side = min(max(bw, bh) * (1 + 2 * margin), h, w)
        cx, cy = bx + bw / 2, by + bh / 2
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(cy - side / 2, 0), h - side)))
    s = int(round(side))
    return frame[y0 : y0 + s, x0 : x0 + s]


def clip_mfcc(audio: np.ndarray, config: PreprocessConfig, *, name: str = "clip") -> np.ndarray:
    """(n_mfcc, config.mfcc_frames) float32 MFCC of the window [offset, offset + duration) of 44.1 kHz audio.

    Raises:
        ValueError: the audio is shorter than ``offset + duration``.
    """
    start = int(config.mfcc_offset * SAMPLE_RATE)
    length = int(config.mfcc_duration * SAMPLE_RATE)
    if len(audio) < start + length:
        raise ValueError(
            f"{name}: audio of {len(audio) / SAMPLE_RATE:.2f} s is too short for the MFCC window "
            f"{config.mfcc_offset} s + {config.mfcc_duration} s"
        )
    window = np.asarray(audio[start : start + length], dtype=np.float32)
    return librosa.feature.mfcc(y=window, sr=SAMPLE_RATE, n_mfcc=config.n_mfcc).astype(np.float32)


@dataclass
class ProcessedClip:
    """frames (n_frames, size, size, 3) uint8 RGB face crops; mfcc (n_mfcc, F) float32; fallbacks: frames
    whose face was not found and were centre-cropped instead."""

    frames: np.ndarray
    mfcc: np.ndarray
    fallbacks: int


def preprocess_clip(
    path: str | Path, config: PreprocessConfig, detector: FaceDetector | None = None
) -> ProcessedClip:
    """Decode, sample, detect, crop, resize and compute the MFCC of one clip (no cache)."""
    detector = detector or FaceDetector()
    clip = decode_clip(path)
    mfcc = clip_mfcc(clip.audio, config, name=str(path))
    picked = clip.frames[uniform_frame_indices(clip.times, clip.duration, config.n_frames)]
    crops, fallbacks = [], 0
    for frame in picked:
        if config.squash_first:
            frame = cv2.resize(frame, (config.size, config.size), interpolation=cv2.INTER_AREA)
        box = detector(frame)
        fallbacks += box is None
        crop = square_crop(frame, box, config.face_margin)
        interp = cv2.INTER_AREA if crop.shape[0] >= config.size else cv2.INTER_LINEAR
        crops.append(cv2.resize(crop, (config.size, config.size), interpolation=interp))
    return ProcessedClip(np.stack(crops), mfcc, fallbacks)


@dataclass
class ProcessedCorpus:
    """Stacked clips: frames (N, T, S, S, 3) uint8, mfcc (N, n_mfcc, F), labels/actors (N,), names;
    ``fallbacks`` centre-cropped frames out of ``n_frames_total``."""

    frames: np.ndarray
    mfcc: np.ndarray
    labels: np.ndarray
    actors: np.ndarray
    names: list[str]
    fallbacks: int
    n_frames_total: int


def _file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:16]


def preprocess_corpus(
    paths: Sequence[str | Path], config: PreprocessConfig, *, use_cache: bool = True
) -> ProcessedCorpus:
    """Preprocess RAVDESS-named clips, reading and writing the per-clip cache; warns once with the number of
    centre-crop fallbacks when the detector missed faces."""
    if not paths:
        raise ValueError("paths is empty: no clip to preprocess")
    folder = cache_dir("ravdess_av", config.key())
    detector = FaceDetector()
    frames, mfccs, labels, actors, names, fallbacks = [], [], [], [], [], 0
    for path in progress([Path(p) for p in paths], desc="preprocess clips", total=len(paths)):
        name = parse_ravdess_name(path)
        cached = folder / f"{path.stem}-{_file_digest(path)}.npz" if use_cache else None
        if cached is not None and cached.exists():
            with np.load(cached, allow_pickle=False) as data:
                clip = ProcessedClip(data["frames"], data["mfcc"], int(data["fallbacks"]))
        else:
            clip = preprocess_clip(path, config, detector)
            if cached is not None:
                tmp = cached.with_suffix(".tmp.npz")
                np.savez(tmp, frames=clip.frames, mfcc=clip.mfcc, fallbacks=clip.fallbacks)
                tmp.replace(cached)
        frames.append(clip.frames)
        mfccs.append(clip.mfcc)
        labels.append(name.label)
        actors.append(name.actor)
        names.append(path.name)
        fallbacks += clip.fallbacks
    total = len(paths) * config.n_frames
    if fallbacks:
        warnings.warn(
            f"face detector missed {fallbacks} of {total} frames; they were centre-cropped", stacklevel=2
        )
    return ProcessedCorpus(
        np.stack(frames), np.stack(mfccs), np.array(labels), np.array(actors), names, fallbacks, total
    )


def ravdess_loaders(
    clips: Sequence[str | Path],
    config: PreprocessConfig,
    *,
    batch_size: int,
    split: ActorSplit | None = None,
    augment: bool = False,
    eval_batch_size: int = 64,
) -> tuple[dict[str, DataLoader], ActorSplit]:
    """``{"train", "valid", "test"}`` loaders of :class:`RavdessClips` over the preprocessed (cached) ``clips``.

    ``split`` defaults to :func:`proper_split` when the corpus has its test and validation actors (RAVDESS), else
    to fold 0 of ``proper_folds(actors, 3)`` (a stand-in with other actors). Only train shuffles, with the global
    torch RNG that the trainer reseeds every epoch, and with ``augment`` it also augments.
    """
    corpus = preprocess_corpus(clips, config)
    actors = sorted(set(corpus.actors.tolist()))
    if split is None:
        proper = set(PROPER_TEST_ACTORS + PROPER_VALID_ACTORS) <= set(actors)
        split = proper_split(actors) if proper else proper_folds(actors, 3)[0]
    plain = RavdessClips(corpus.frames, corpus.mfcc, corpus.labels)
    train = RavdessClips(corpus.frames, corpus.mfcc, corpus.labels, augment=True) if augment else plain
    loaders = {
        name: DataLoader(
            Subset(train if name == "train" else plain, idx.tolist()),
            batch_size=batch_size if name == "train" else eval_batch_size,
            shuffle=name == "train",
        )
        for name, idx in zip(("train", "valid", "test"), split.indices(corpus.actors), strict=True)
    }
    return loaders, split
