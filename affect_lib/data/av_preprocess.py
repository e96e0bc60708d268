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
import os
import shutil
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


@dataclass
class DecodedClip:
    """frames (T, H, W, 3) uint8 RGB; times (T,) seconds; audio (S,) float32 mono at 44.1 kHz."""

    frames: np.ndarray
    times: np.ndarray
    audio: np.ndarray
    duration: float


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
    if n_frames is not None:
        keep = uniform_frame_indices(times_arr, duration, n_frames)
        frames, times_arr = [frames[i].to_ndarray(format="rgb24") for i in keep], times_arr[keep]
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
    clip = decode_clip(path, config.n_frames)
    mfcc = clip_mfcc(clip.audio, config, name=str(path))
    crops, fallbacks = [], 0
    for frame in clip.frames:
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


def _corpus_key(paths: Sequence[Path], config: PreprocessConfig) -> str:
    """Names, sizes and modification times of the clips, and the settings: the key of a stacked corpus cache."""
    h = hashlib.sha1(config.key().encode())
    for path in paths:
        st = path.stat()
        h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def preprocess_corpus(
    paths: Sequence[str | Path], config: PreprocessConfig, *, use_cache: bool = True, workers: int = 0
) -> ProcessedCorpus:
    """Preprocess RAVDESS-named clips through the cache; warns once with the number of centre-crop fallbacks.

    The cache has two levels under :func:`~affect_lib.runtime.cache_dir`: one ``.npz`` per clip (keyed by its
    content), so that an interrupted run resumes where it stopped, and the stacked corpus (``frames`` as a
    ``.npy`` that is **memory-mapped**, read-only, so that no process holds the corpus in RAM). Writes go to
    per-process temporary names and are renamed into place. Under ``torch.distributed``, rank 0 builds the cache
    while the other ranks wait at a barrier, then every rank maps the same files. ``workers > 1`` processes the
    clips missing from the cache in that many processes (one per core).
    """
    if not paths:
        raise ValueError("paths is empty: no clip to preprocess")
    paths = [Path(p) for p in paths]
    names = [parse_ravdess_name(p) for p in paths]
    labels, actors = np.array([n.label for n in names]), np.array([n.actor for n in names])
    total = len(paths) * config.n_frames
    if not use_cache:
        frames, mfcc, fallbacks = _process(paths, config, None, None)
    else:
        frames, mfcc, fallbacks = _cached_corpus(paths, config, workers)
    if fallbacks:
        warnings.warn(
            f"face detector missed {fallbacks} of {total} frames; they were centre-cropped", stacklevel=2
        )
    return ProcessedCorpus(frames, mfcc, labels, actors, [p.name for p in paths], fallbacks, total)


def _cached_corpus(
    paths: list[Path], config: PreprocessConfig, workers: int
) -> tuple[np.ndarray, np.ndarray, int]:
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
        _, mfcc, fallbacks = _process(paths, config, folder, tmp / "frames.npy")
        np.save(tmp / "mfcc.npy", mfcc)
        (tmp / "meta.json").write_text(json.dumps({"fallbacks": fallbacks, "clips": [p.name for p in paths]}))
        if stacked.exists():  # another run finished first: keep its identical copy
            shutil.rmtree(tmp)
        else:
            tmp.replace(stacked)
    if distributed and rank == 0:
        dist.barrier()
    meta = json.loads((stacked / "meta.json").read_text())
    frames = np.load(stacked / "frames.npy", mmap_mode="r")
    return frames, np.load(stacked / "mfcc.npy"), int(meta["fallbacks"])


def _clip_cache_path(folder: Path, path: Path) -> Path:
    return folder / f"{path.stem}-{_file_digest(path)}.npz"


def _fill_clip_cache(paths: list[Path], config: PreprocessConfig, folder: Path, workers: int) -> None:
    """Preprocess the clips missing from the per-clip cache in ``workers`` processes."""
    import concurrent.futures
    import multiprocessing

    todo = [p for p in paths if not _clip_cache_path(folder, p).exists()]
    if not todo:
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        done = pool.map(_cache_clip, todo, [config] * len(todo), [folder] * len(todo))
        for _ in progress(done, desc="preprocess clips", total=len(todo)):
            pass


def _cache_clip(path: Path, config: PreprocessConfig, folder: Path) -> None:
    cv2.setNumThreads(1)
    clip = preprocess_clip(path, config)
    cached = _clip_cache_path(folder, path)
    tmp = cached.with_name(f".{cached.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, frames=clip.frames, mfcc=clip.mfcc, fallbacks=clip.fallbacks)
    tmp.replace(cached)


def _process(
    paths: list[Path], config: PreprocessConfig, folder: Path | None, frames_file: Path | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Process every clip, or read it from the per-clip cache in ``folder`` (resumable); frames are written
    into a ``.npy`` at ``frames_file`` when given (never all in RAM), else stacked in memory."""
    detector = FaceDetector()
    frames: np.ndarray | None = None
    mfccs, fallbacks = [], 0
    for i, path in enumerate(progress(paths, desc="preprocess clips", total=len(paths))):
        cached = _clip_cache_path(folder, path) if folder is not None else None
        if cached is not None and cached.exists():
            with np.load(cached, allow_pickle=False) as data:
                clip = ProcessedClip(data["frames"], data["mfcc"], int(data["fallbacks"]))
        else:
            clip = preprocess_clip(path, config, detector)
            if cached is not None:
                tmp = cached.with_name(f".{cached.stem}.{os.getpid()}.tmp.npz")
                np.savez(tmp, frames=clip.frames, mfcc=clip.mfcc, fallbacks=clip.fallbacks)
                tmp.replace(cached)
        if frames is None:
            shape = (len(paths), *clip.frames.shape)
            frames = (
                np.lib.format.open_memmap(frames_file, mode="w+", dtype=np.uint8, shape=shape)
                if frames_file is not None
                else np.empty(shape, dtype=np.uint8)
            )
        frames[i] = clip.frames
        mfccs.append(clip.mfcc)
        fallbacks += clip.fallbacks
    if isinstance(frames, np.memmap):
        frames.flush()
    return frames, np.stack(mfccs), fallbacks


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
    num_workers: int = 0,
    pin_memory: bool = False,
) -> tuple[dict[str, DataLoader], ActorSplit]:
    """``{"train", "valid", "test"}`` loaders of :class:`RavdessClips` over the preprocessed (cached) ``clips``.

    ``split`` is an :class:`ActorSplit`, ``"proper"`` (the fixed test and validation actors of
    :func:`~affect_lib.data.ravdess.proper_split`; a corpus that lacks one of them is refused, never silently
    re-split) or ``"folds3"`` (fold 0 of ``proper_folds(actors, 3)``, for a stand-in with other actors). Only train
    shuffles, with the global torch RNG that the trainer reseeds every epoch, and with ``augment`` it also
    augments (``per_frame_augmentation``, ``bgr_input``: the released quirks). ``num_workers`` and ``pin_memory``
    go to the loaders (the frames are memory-mapped, so workers share them).
    """
    corpus = preprocess_corpus(clips, config, workers=num_workers)
    actors = sorted(set(corpus.actors.tolist()))
    if split == "proper":
        split = proper_split(actors)
    elif split == "folds3":
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
