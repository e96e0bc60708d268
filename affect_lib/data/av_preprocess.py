"""From a RAVDESS-style ``.mp4`` to model inputs: face crops of uniformly sampled frames and an MFCC.

The pipeline, for real and synthetic clips alike:

1. decode video and audio with PyAV (the audio resampled to mono 44.1 kHz, as moviepy did for the release);
2. take ``n_frames`` frames spread uniformly over the clip (times ``arange(0, d, d / n)``, nearest frame);
3. find the face and crop it. With ``crop="detector"`` (the default): OpenCV's Haar cascade (shipped in the
   opencv wheel) and a square crop around its box enlarged by ``face_margin``; a frame without a detection takes
   the box of the nearest frame of the same clip that has one (:func:`fill_from_nearest`), and a clip without
   any detection is centre-cropped. With ``crop="landmarks"`` (the release's crop): the bounding box of the 68
   OpenFace 2.0 landmarks of the RAVDESS FacialTracking CSVs (:func:`find_landmark_csv` gives the layouts),
   without margin, as released; a clip without a CSV is cropped with the detector instead. ``crop="blazeface"``
   is ``"detector"`` with mediapipe's BlazeFace (:mod:`affect_lib.faces.detect`) in place of the cascade;
4. resize the crop to ``size`` x ``size``;
5. compute the MFCC with librosa from the *decoded* track at the released settings (offset 0.5 s, 2.45 s,
   13 coefficients, n_fft 2048, hop 512: 13 x 212 at 44.1 kHz). Audio that ends before the window does (RAVDESS
   audio goes down to about 2.94 s, the window ends at 2.95 s) is zero-padded at the end; the release had no
   padding and a fixed-width classifier, so such a clip would have broken it.

Every irregular case is counted on the :class:`ProcessedCorpus` and :func:`preprocess_corpus` warns once per kind:
frames that took a neighbour's box, clips centre-cropped (named), clips zero-padded (with the shortest), clips
without landmarks (named).

Results are cached per clip under :func:`affect_lib.runtime.cache_dir` (keyed by the file's content and the
settings), so a second run only reads ``.npz`` files. The released order "squash the whole frame to 224²,
then crop" is the option ``squash_first=True``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import cv2
import librosa
import numpy as np
from torch.utils.data import DataLoader, Subset

from affect_lib.data.ravdess import (
    DEFAULT_AUGMENT_SCALE,
    ActorSplit,
    RavdessClips,
    check_no_missing_actors,
    parse_ravdess_name,
    proper_folds,
    proper_split,
)
from affect_lib.progress import progress
from affect_lib.runtime import cache_dir

SAMPLE_RATE = 44_100
N_LANDMARKS = 68
LANDMARK_COLUMNS = ("frame", "success", *(f"{c}_{i}" for c in "xy" for i in range(N_LANDMARKS)))
"""The OpenFace 2.0 columns the landmark crop reads (by name, so the other columns may be anything)."""
CROPS = ("detector", "landmarks", "blazeface")
Box = tuple[int, int, int, int]
"""A face box (x, y, w, h) in pixels of the frame it is cut from."""


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
        crop: ``"detector"`` (the Haar cascade, square crop with ``face_margin``) or ``"landmarks"`` (the
            release: the bounding box of the OpenFace landmarks, no margin, its aspect ratio lost in the resize;
            the detector for a clip without a CSV) or ``"blazeface"`` (as ``"detector"``, the face found by
            BlazeFace).
    """

    n_frames: int = 30
    size: int = 224
    mfcc_offset: float = 0.5
    mfcc_duration: float = 2.45
    n_mfcc: int = 13
    face_margin: float = 0.1
    squash_first: bool = False
    crop: str = "detector"

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {self.crop!r}")
        if self.n_frames < 1 or self.size < 8 or self.n_mfcc < 1:
            raise ValueError(f"n_frames >= 1, size >= 8 and n_mfcc >= 1 required, got {self}")
        if self.mfcc_offset < 0 or self.mfcc_duration <= 0:
            raise ValueError(f"mfcc_offset must be >= 0 and mfcc_duration > 0, got {self}")

    @property
    def mfcc_frames(self) -> int:
        """MFCC frames of the window: 1 + samples // 512 (212 for the released window)."""
        return 1 + int(self.mfcc_duration * SAMPLE_RATE) // 512

    @property
    def window_end(self) -> int:
        """The sample (at 44.1 kHz) where the MFCC window ends; shorter audio is zero-padded up to it."""
        return int(self.mfcc_offset * SAMPLE_RATE) + int(self.mfcc_duration * SAMPLE_RATE)

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class DecodedClip:
    """frames (T, H, W, 3) uint8 RGB; times (T,) seconds; audio (S,) float32 mono at 44.1 kHz; indices (T,)
    the 0-based positions of the frames in the video (OpenFace's ``frame`` column is ``index + 1``)."""

    frames: np.ndarray
    times: np.ndarray
    audio: np.ndarray
    duration: float
    indices: np.ndarray


def decode_clip(path: str | Path, n_frames: int | None = None) -> DecodedClip:
    """Decode the video frames and the first audio track (mono, 44.1 kHz) of ``path`` with PyAV.

    With ``n_frames`` only the frames of :func:`uniform_frame_indices` are converted to RGB (every frame is still
    decoded, as H.264 requires, but the costly colour conversion is done for the kept ones only): ``frames`` and
    ``times`` then hold those ``n_frames``.

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
        vstream.thread_type = "AUTO"  # frame-parallel decoding: the same frames, sooner
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        frames, times, chunks = [], [], []
        try:
            for packet in container.demux(vstream, astream):
                for frame in packet.decode():
                    if packet.stream is vstream:
                        frames.append(frame if n_frames is not None else frame.to_ndarray(format="rgb24"))
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
    keep = np.arange(len(frames))
    if n_frames is not None:
        keep = uniform_frame_indices(times_arr, duration, n_frames)
        frames, times_arr = [frames[i].to_ndarray(format="rgb24") for i in keep], times_arr[keep]
    return DecodedClip(np.stack(frames), times_arr, audio, duration, keep)


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
        self.detect_height = 360

    def __call__(self, rgb: np.ndarray) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) of the largest face in an (H, W, 3) uint8 frame, or ``None``.

        Frames taller than :attr:`detect_height` are searched at that height (a face fills a fifth of the frame or
        more, so it stays far above the cascade's 24-pixel window) and the box is scaled back: about 4x faster on
        RAVDESS's 1280 x 720 frames; smaller frames are searched as they are.
        """
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = 1.0
        if gray.shape[0] > self.detect_height:
            scale = gray.shape[0] / self.detect_height
            size = (round(gray.shape[1] / scale), self.detect_height)
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        size = max(self.min_size, min(gray.shape) // 5)
        boxes = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(size, size))
        if len(boxes) == 0:
            return None
        x, y, w, h = (int(round(v * scale)) for v in max(boxes, key=lambda b: b[2] * b[3]))
        return x, y, w, h


def default_detector(config: PreprocessConfig) -> Detector:
    """The detector ``config.crop`` names: BlazeFace's largest face for ``"blazeface"``, else :class:`FaceDetector`."""
    if config.crop == "blazeface":
        from affect_lib.faces.detect import largest_box

        return largest_box
    return FaceDetector()


def square_crop(frame: np.ndarray, box: Box | None, margin: float) -> np.ndarray:
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


def _nearest(hits: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query, the index into ``hits`` (ascending) of the nearest value; ties go to the earlier one."""
    return np.abs(hits[None, :] - queries[:, None]).argmin(axis=1)


def fill_from_nearest(boxes: Sequence[Box | None], positions: Sequence[int]) -> list[Box] | None:
    """``boxes`` with every ``None`` replaced by the box at the nearest ``position`` (frame index, ascending)
    that has one, ties to the earlier frame; ``None`` when no frame has a box."""
    hits = [i for i, b in enumerate(boxes) if b is not None]
    if not hits:
        return None
    pos = np.asarray(positions)
    nearest = np.asarray(hits)[_nearest(pos[hits], pos)]
    return [b if b is not None else boxes[nearest[i]] for i, b in enumerate(boxes)]


def find_landmark_csv(clip: str | Path) -> Path | None:
    """The OpenFace CSV of ``clip`` (``<root>/Actor_XX/<stem>.mp4``), first found of:

    1. ``<root>/Actor_XX/<stem>.csv``, next to the clip;
    2. ``<root>/landmarks/Actor_XX/<stem>.csv``;
    3. ``<root>/landmarks/<stem>.csv``: the release's layout (``FacialTracking_Actors_01-24.zip`` from Zenodo
       record 3255102 unzipped into ``landmarks/``).

    ``None`` if there is none.
    """
    clip = Path(clip)
    root = clip.parent.parent / "landmarks"
    for candidate in (
        clip.with_suffix(".csv"),
        root / clip.parent.name / f"{clip.stem}.csv",
        root / f"{clip.stem}.csv",
    ):
        if candidate.is_file():
            return candidate
    return None


def read_openface_landmarks(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 2D landmarks of an OpenFace 2.0 CSV (header ``frame, face_id, timestamp, confidence, success, ...,
    x_0..x_67, y_0..y_67, ...``; the spaces after the commas are allowed; columns are found by name).

    Returns:
        frame (R,) int (1-based frame numbers), success (R,) bool (False also for a row with a non-finite
        landmark), points (R, 68, 2) float64 (x, y) in pixels of the video frame.

    Raises:
        ValueError: no header, a required column is missing, or a value is not a number (file, line, column).
    """
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.reader(f, skipinitialspace=True)
        header = [name.strip() for name in next(reader, [])]
        columns = {name: i for i, name in enumerate(header)}
        missing = [name for name in LANDMARK_COLUMNS if name not in columns]
        if missing:
            raise ValueError(
                f"landmark CSV {path}: no column {missing[0]!r} (OpenFace 2.0 output has frame, success, "
                "x_0..x_67 and y_0..y_67)"
            )
        index = [columns[name] for name in LANDMARK_COLUMNS]
        rows = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            values = []
            for name, i in zip(LANDMARK_COLUMNS, index, strict=True):
                try:
                    values.append(float(row[i]))
                except (ValueError, IndexError):
                    value = repr(row[i]) if i < len(row) else "nothing"
                    raise ValueError(
                        f"landmark CSV {path}: line {line}, column {name!r}: {value} is not a number"
                    ) from None
            rows.append(values)
    data = np.asarray(rows, dtype=np.float64).reshape(-1, len(LANDMARK_COLUMNS))
    points = np.stack([data[:, 2 : 2 + N_LANDMARKS], data[:, 2 + N_LANDMARKS :]], axis=-1)
    success = (data[:, 1] > 0) & np.isfinite(points).all(axis=(1, 2))
    return data[:, 0].astype(np.int64), success, points


def landmark_boxes(
    path: str | Path, indices: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)
) -> tuple[list[Box], int] | None:
    """The landmarks' bounding box for the frames at 0-based ``indices``, and how many of them took the box of
    the nearest tracked frame (no row, or ``success`` 0); ``None`` if no row is tracked.

    As released, the box is the min/max of the 68 points without margin, each edge truncated to whole pixels
    (``int``); ``scale`` (x, y) maps video pixels to the frame that is cropped (``squash_first``). The release
    took CSV rows ``ceil(arange(0, n, n / 30))``; here the row is the sampled frame's own (``frame = index + 1``).
    """
    frame, success, points = read_openface_landmarks(path)
    order = np.argsort(frame[success], kind="stable")
    tracked, points = frame[success][order], points[success][order] * np.asarray(scale)
    if len(tracked) == 0:
        return None
    wanted = np.asarray(indices) + 1
    rows = _nearest(tracked, wanted)
    boxes = []
    for row in rows:
        (x0, y0), (x1, y1) = points[row].min(axis=0).astype(int), points[row].max(axis=0).astype(int)
        boxes.append((int(x0), int(y0), max(int(x1 - x0), 1), max(int(y1 - y0), 1)))
    return boxes, int(np.sum(tracked[rows] != wanted))


def box_crop(frame: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of ``box`` (x, y, w, h), clipped to the frame (at least one pixel)."""
    h, w = frame.shape[:2]
    x, y, bw, bh = box
    x0, y0 = min(max(x, 0), w - 1), min(max(y, 0), h - 1)
    return frame[y0 : max(y + bh, y0 + 1), x0 : max(x + bw, x0 + 1)]


def clip_mfcc(audio: np.ndarray, config: PreprocessConfig, *, name: str = "clip") -> np.ndarray:
    """(n_mfcc, config.mfcc_frames) float32 MFCC of the window [offset, offset + duration) of 44.1 kHz audio;
    audio that ends inside the window is zero-padded at the end.

    Raises:
        ValueError: the audio ends before the window starts.
    """
    start = int(config.mfcc_offset * SAMPLE_RATE)
    length = int(config.mfcc_duration * SAMPLE_RATE)
    if len(audio) <= start:
        raise ValueError(
            f"{name}: audio of {len(audio) / SAMPLE_RATE:.2f} s ends before the MFCC window starts at "
            f"{config.mfcc_offset} s"
        )
    window = np.asarray(audio[start : start + length], dtype=np.float32)
    window = np.pad(window, (0, length - len(window)))
    return librosa.feature.mfcc(y=window, sr=SAMPLE_RATE, n_mfcc=config.n_mfcc).astype(np.float32)


Detector = Callable[[np.ndarray], Box | None]
"""A face detector: (H, W, 3) uint8 RGB frame to a box (x, y, w, h), or ``None``."""
_STATS = ("missed", "fallbacks", "audio_samples", "landmarks_missing")


@dataclass
class ProcessedClip:
    """One preprocessed clip.

    Attributes:
        frames: (n_frames, size, size, 3) uint8 RGB face crops.
        mfcc: (n_mfcc, F) float32.
        boxes: (n_frames, 4) int64 face box (x, y, w, h) each frame was cropped around, in pixels of the frame
            as cropped (squashed with ``squash_first``); -1 for a centre crop.
        missed: frames without a face (or a tracked landmark row) of their own, cropped around the nearest one.
        fallbacks: centre-cropped frames: all of them when no sampled frame of the clip had a face, else 0.
        audio_samples: length of the decoded audio at 44.1 kHz (shorter than ``config.window_end``: padded).
        landmarks_missing: ``crop="landmarks"`` found no CSV (or no tracked row), so the detector cropped.
    """

    frames: np.ndarray
    mfcc: np.ndarray
    boxes: np.ndarray
    missed: int = 0
    fallbacks: int = 0
    audio_samples: int = 0
    landmarks_missing: bool = False


def preprocess_clip(
    path: str | Path, config: PreprocessConfig, detector: Detector | None = None
) -> ProcessedClip:
    """Decode, sample, find the face, crop, resize and compute the MFCC of one clip (no cache).

    ``detector`` (default :func:`default_detector`) is called once per sampled frame, in order, when the crop
    comes from the detector.
    """
    path = Path(path)
    clip = decode_clip(path, config.n_frames)
    mfcc = clip_mfcc(clip.audio, config, name=str(path))
    frames = list(clip.frames)
    if config.squash_first:
        frames = [cv2.resize(f, (config.size, config.size), interpolation=cv2.INTER_AREA) for f in frames]
    found = None
    if config.crop == "landmarks" and (csv_path := find_landmark_csv(path)) is not None:
        height, width = clip.frames.shape[1:3]
        scale = (config.size / width, config.size / height) if config.squash_first else (1.0, 1.0)
        found = landmark_boxes(csv_path, clip.indices, scale)
    landmarks = found is not None
    if landmarks:
        boxes, missed = found
    else:
        detector = detector or default_detector(config)
        detected = [detector(frame) for frame in frames]
        missed = sum(b is None for b in detected)
        boxes = fill_from_nearest(detected, clip.indices)
    fallbacks = 0
    if boxes is None:
        boxes, missed, fallbacks = [None] * len(frames), 0, len(frames)
    crops = []
    for frame, box in zip(frames, boxes, strict=True):
        crop = box_crop(frame, box) if landmarks else square_crop(frame, box, config.face_margin)
        interp = cv2.INTER_AREA if min(crop.shape[:2]) >= config.size else cv2.INTER_LINEAR
        crops.append(cv2.resize(crop, (config.size, config.size), interpolation=interp))
    return ProcessedClip(
        np.stack(crops),
        mfcc,
        np.array([b if b is not None else (-1,) * 4 for b in boxes], dtype=np.int64),
        missed=missed,
        fallbacks=fallbacks,
        audio_samples=len(clip.audio),
        landmarks_missing=config.crop == "landmarks" and not landmarks,
    )


@dataclass
class ProcessedCorpus:
    """Stacked clips: frames (N, T, S, S, 3) uint8, mfcc (N, n_mfcc, F), labels/actors (N,), names, and what
    went wrong: ``fallbacks`` centre-cropped frames out of ``n_frames_total`` (those of the clips in
    ``no_face``), ``missed`` frames cropped around the nearest face of their clip, ``padded`` clips whose audio
    (``audio_seconds``, (N,)) ended inside the MFCC window, and the clips in ``no_landmarks`` that
    ``crop="landmarks"`` cropped with the detector (no CSV, or no tracked row)."""

    frames: np.ndarray
    mfcc: np.ndarray
    labels: np.ndarray
    actors: np.ndarray
    names: list[str]
    fallbacks: int
    n_frames_total: int
    missed: int = 0
    padded: int = 0
    audio_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    no_face: list[str] = field(default_factory=list)
    no_landmarks: list[str] = field(default_factory=list)


def _file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:16]


def _corpus_key(paths: Sequence[Path], config: PreprocessConfig) -> str:
    """Names, sizes and modification times of the clips (and, for ``crop="landmarks"``, of their CSVs), and the
    settings: the key of a stacked corpus cache."""
    h = hashlib.sha1(config.key().encode())
    for path in paths:
        files = [path]
        if config.crop == "landmarks":
            files.append(find_landmark_csv(path))
        for file in files:
            st = file.stat() if file is not None else None
            h.update(f"{file}:{st.st_size}:{st.st_mtime_ns};".encode() if st else b"-;")
    return h.hexdigest()[:16]


def _names(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def preprocess_corpus(
    paths: Sequence[str | Path], config: PreprocessConfig, *, use_cache: bool = True, workers: int = 0
) -> ProcessedCorpus:
    """Preprocess RAVDESS-named clips through the cache; warns once per kind of exception (see the module).

    The cache has two levels under :func:`~affect_lib.runtime.cache_dir`: one ``.npz`` per clip (keyed by its
    content, and its landmark CSV's with ``crop="landmarks"``), so that an interrupted run resumes where it
    stopped, and the stacked corpus (``frames`` as a ``.npy`` that is **memory-mapped**, read-only, so that no
    process holds the corpus in RAM). Writes go to per-process temporary names and are renamed into place. Under
    ``torch.distributed``, rank 0 builds the cache while the other ranks wait at a barrier, then every rank maps
    the same files. ``workers > 1`` processes the clips missing from the cache in that many processes (one per
    core).
    """
    if not paths:
        raise ValueError("paths is empty: no clip to preprocess")
    paths = [Path(p) for p in paths]
    names = [parse_ravdess_name(p) for p in paths]
    labels, actors = np.array([n.label for n in names]), np.array([n.actor for n in names])
    total = len(paths) * config.n_frames
    if not use_cache:
        frames, mfcc, stats = _process(paths, config, None, None)
    else:
        frames, mfcc, stats = _cached_corpus(paths, config, workers)
    files = [p.name for p in paths]
    samples = np.asarray(stats["audio_samples"], dtype=np.int64)
    corpus = ProcessedCorpus(
        frames,
        mfcc,
        labels,
        actors,
        files,
        fallbacks=int(sum(stats["fallbacks"])),
        n_frames_total=total,
        missed=int(sum(stats["missed"])),
        padded=int(np.sum(samples < config.window_end)),
        audio_seconds=samples / SAMPLE_RATE,
        no_face=[f for f, n in zip(files, stats["fallbacks"], strict=True) if n],
        no_landmarks=[f for f, m in zip(files, stats["landmarks_missing"], strict=True) if m],
    )
    _warn(corpus, config)
    return corpus


def _warn(corpus: ProcessedCorpus, config: PreprocessConfig) -> None:
    """One warning per kind of exception in ``corpus``."""
    n = len(corpus.names)
    if corpus.missed:
        warnings.warn(
            f"no face in {corpus.missed} of {corpus.n_frames_total} frames; each was cropped around the face "
            "of the nearest frame of its clip",
            stacklevel=3,
        )
    if corpus.no_face:
        warnings.warn(
            f"no face in any sampled frame of {len(corpus.no_face)} of {n} clips, which were centre-cropped "
            f"({corpus.fallbacks} frames): {_names(corpus.no_face)}",
            stacklevel=3,
        )
    if corpus.padded:
        i = int(np.argmin(corpus.audio_seconds))
        warnings.warn(
            f"{corpus.padded} of {n} clips have audio shorter than the MFCC window's end "
            f"({config.window_end / SAMPLE_RATE:.2f} s) and were zero-padded at the end; the shortest, "
            f"{corpus.names[i]}, has {corpus.audio_seconds[i]:.3f} s",
            stacklevel=3,
        )
    if corpus.no_landmarks:
        warnings.warn(
            f"crop='landmarks': no OpenFace CSV (or no tracked frame) for {len(corpus.no_landmarks)} of {n} "
            f"clips, which were cropped with the face detector: {_names(corpus.no_landmarks)}",
            stacklevel=3,
        )


def _cached_corpus(
    paths: list[Path], config: PreprocessConfig, workers: int
) -> tuple[np.ndarray, np.ndarray, dict[str, list]]:
    """The stacked cache (built by rank 0, the others wait), frames memory-mapped read-only."""
    import torch.distributed as dist

    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    folder = cache_dir("ravdess_av", config.key())
    stacked = folder / f"corpus-{_corpus_key(paths, config)}"
    if distributed and rank != 0:
        dist.barrier()  # rank 0 builds the cache first
    elif not (stacked / "meta.json").exists():
        tmp = stacked.with_name(f".{stacked.name}.{os.getpid()}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        if workers > 1:
            _fill_clip_cache(paths, config, folder, workers)
        _, mfcc, stats = _process(paths, config, folder, tmp / "frames.npy")
        np.save(tmp / "mfcc.npy", mfcc)
        (tmp / "meta.json").write_text(json.dumps({"clips": [p.name for p in paths], **stats}))
        if stacked.exists():  # another run finished first: keep its identical copy
            shutil.rmtree(tmp)
        else:
            tmp.replace(stacked)
    if distributed and rank == 0:
        dist.barrier()
    meta = json.loads((stacked / "meta.json").read_text())
    frames = np.load(stacked / "frames.npy", mmap_mode="r")
    return frames, np.load(stacked / "mfcc.npy"), {k: meta[k] for k in _STATS}


def _clip_cache_path(folder: Path, path: Path, config: PreprocessConfig) -> Path:
    key = _file_digest(path)
    if config.crop == "landmarks":
        csv_path = find_landmark_csv(path)
        key += "-" + (_file_digest(csv_path) if csv_path is not None else "nocsv")
    return folder / f"{path.stem}-{key}.npz"


def _fill_clip_cache(paths: list[Path], config: PreprocessConfig, folder: Path, workers: int) -> None:
    """Preprocess the clips missing from the per-clip cache in ``workers`` processes."""
    import concurrent.futures
    import multiprocessing

    todo = [p for p in paths if not _clip_cache_path(folder, p, config).exists()]
    if not todo:
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        done = pool.map(_cache_clip, todo, [config] * len(todo), [folder] * len(todo))
        for _ in progress(done, desc="preprocess clips", total=len(todo)):
            pass


def _save_clip(clip: ProcessedClip, cached: Path) -> None:
    tmp = cached.with_name(f".{cached.stem}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp, frames=clip.frames, mfcc=clip.mfcc, boxes=clip.boxes, **{k: getattr(clip, k) for k in _STATS}
    )
    tmp.replace(cached)


def _load_clip(cached: Path) -> ProcessedClip:
    with np.load(cached, allow_pickle=False) as data:
        stats = {k: data[k].item() for k in _STATS}
        return ProcessedClip(data["frames"], data["mfcc"], data["boxes"], **stats)


def _cache_clip(path: Path, config: PreprocessConfig, folder: Path) -> None:
    cv2.setNumThreads(1)
    _save_clip(preprocess_clip(path, config), _clip_cache_path(folder, path, config))


def _process(
    paths: list[Path], config: PreprocessConfig, folder: Path | None, frames_file: Path | None
) -> tuple[np.ndarray, np.ndarray, dict[str, list]]:
    """Process every clip, or read it from the per-clip cache in ``folder`` (resumable); frames are written
    into a ``.npy`` at ``frames_file`` when given (never all in RAM), else stacked in memory. Returns the
    frames, the MFCCs and the per-clip :data:`_STATS` lists."""
    detector = default_detector(config)
    frames: np.ndarray | None = None
    mfccs: list[np.ndarray] = []
    stats: dict[str, list] = {k: [] for k in _STATS}
    for i, path in enumerate(progress(paths, desc="preprocess clips", total=len(paths))):
        cached = _clip_cache_path(folder, path, config) if folder is not None else None
        if cached is not None and cached.exists():
            clip = _load_clip(cached)
        else:
            clip = preprocess_clip(path, config, detector)
            if cached is not None:
                _save_clip(clip, cached)
        if frames is None:
            shape = (len(paths), *clip.frames.shape)
            frames = (
                np.lib.format.open_memmap(frames_file, mode="w+", dtype=np.uint8, shape=shape)
                if frames_file is not None
                else np.empty(shape, dtype=np.uint8)
            )
        frames[i] = clip.frames
        mfccs.append(clip.mfcc)
        for k in _STATS:
            stats[k].append(getattr(clip, k))
    if isinstance(frames, np.memmap):
        frames.flush()
    return frames, np.stack(mfccs), stats


def ravdess_loaders(
    clips: Sequence[str | Path],
    config: PreprocessConfig,
    *,
    batch_size: int,
    split: ActorSplit | str = "proper",
    augment: bool = False,
    eval_batch_size: int = 64,
    per_frame_augmentation: bool = False,
    bgr_input: bool = False,
    augment_scale: tuple[float, float] = DEFAULT_AUGMENT_SCALE,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> tuple[dict[str, DataLoader], ActorSplit]:
    """``{"train", "valid", "test"}`` loaders of :class:`RavdessClips` over the preprocessed (cached) ``clips``.

    ``split`` is an :class:`ActorSplit`, ``"proper"`` (the fixed test and validation actors of
    :func:`~affect_lib.data.ravdess.proper_split`; a corpus that lacks one of them is refused, never silently
    re-split) or ``"folds3"`` (fold 0 of ``proper_folds(actors, 3)``, for a stand-in with other actors; actors
    missing from 1..n are refused likewise). Only train shuffles, with the global torch RNG that the trainer
    reseeds every epoch, and with ``augment`` it also augments (``augment_scale``: the random resized crop's area
    range, see :class:`RavdessClips`; ``per_frame_augmentation``, ``bgr_input``: the released quirks).
    ``num_workers`` and ``pin_memory`` go to the loaders (the frames are memory-mapped, so workers share them).
    """
    corpus = preprocess_corpus(clips, config, workers=num_workers)
    actors = sorted(set(corpus.actors.tolist()))
    if split == "proper":
        split = proper_split(actors)
    elif split == "folds3":
        check_no_missing_actors(actors, "folds3")
        split = proper_folds(actors, 3)[0]
    elif not isinstance(split, ActorSplit):
        raise ValueError(f"split must be an ActorSplit, 'proper' or 'folds3', got {split!r}")
    plain = RavdessClips(corpus.frames, corpus.mfcc, corpus.labels, bgr_input=bgr_input)
    train = RavdessClips(
        corpus.frames,
        corpus.mfcc,
        corpus.labels,
        augment=augment,
        per_frame_augmentation=per_frame_augmentation,
        bgr_input=bgr_input,
        augment_scale=augment_scale,
    )
    loaders = {
        name: DataLoader(
            Subset(train if name == "train" else plain, idx.tolist()),
            batch_size=batch_size if name == "train" else eval_batch_size,
            shuffle=name == "train",
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=num_workers > 0,
        )
        for name, idx in zip(("train", "valid", "test"), split.indices(corpus.actors), strict=True)
    }
    return loaders, split
