"""Synthetic stand-ins for the MulT corpora, written as real MulT pickles.

The real CMU-MOSI, CMU-MOSEI and IEMOCAP features cannot be obtained offline, so the quick profile trains on corpora
with the same keys, dtypes, feature dimensions, (aligned or unaligned) lengths, left zero padding, ``-inf`` audio
entries, bytes ids (MOSI) and label formats, written to ``.pkl`` files and read back through
:func:`affect_lib.data.mult.load_mult_pickle`.

**The generative story.** Every sample has a latent state ``c``. Sentiment corpora (MOSI, MOSEI): three independent
standard-normal factors, and the label is ``y = 1.2 c_0 + 1.0 c_1 + 0.8 c_2`` plus a little noise, rounded to
thirds and clipped to [-3, 3] (like averaged annotator scores, so exact zeros occur). IEMOCAP: one of the four
emotions is drawn, and ``c = (valence, arousal)`` scatters around the emotion's centre (neutral (0, -0.6), happy
(1, 0.8), sad (-1, -0.8), angry (-1, 1)).

Each modality sees only part of ``c``: text carries ``c_0`` (valence), audio ``c_1`` (arousal), vision ``c_2``
(for IEMOCAP a weaker mix of valence and arousal). So no single modality predicts the label: the angry/sad or
happy/angry distinctions, or the full sentiment score, need two or three modalities together, which is what makes
fusion matter. The evidence arrives in a few short *events*: a sequence is background noise around a fixed offset,
and at three random moments ("sentiment words", a frown, a raised voice) the features move along a fixed
direction by an amount proportional to the modality's share of ``c``, with per-event noise. Sequences are
left-padded with zeros to a common length, with a random real length of 60-100 %.

*Aligned* corpora put the audio and vision events at exactly the text event's step (word-level averaging).
*Unaligned* corpora have longer audio and vision sequences in which each event lags the text by a random
0-15 % of the utterance per sample and modality and spreads over the frames of one word; a model must look across
time to pair them up.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from affect_lib.data.mult import EMOTIONS, SPLITS, dataset_spec, mult_filename

DEFAULT_SIZES = {"train": 384, "valid": 96, "test": 192}
DEFAULT_LENGTHS = {
    # (text, audio, vision): the MulT pickles' lengths
    ("mosi", True): (50, 50, 50),
    ("mosi", False): (50, 375, 500),
    ("mosei", True): (50, 50, 50),
    ("mosei", False): (50, 500, 500),
    ("iemocap", True): (20, 20, 20),
    ("iemocap", False): (20, 400, 500),
}
N_EVENTS = 3
EVENT_GAIN = 3.0
EMOTION_PRIOR = (0.32, 0.26, 0.20, 0.22)
EMOTION_CENTRES = np.array([(0.0, -0.6), (1.0, 0.8), (-1.0, -0.8), (-1.0, 1.0)])
SENTIMENT_WEIGHTS = np.array([1.2, 1.0, 0.8])
# loadings[modality] @ c is the signal a modality's events carry
LOADINGS = {
    "sentiment": np.eye(3),
    "emotions": np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]]),
}


def standin_corpus(
    dataset: str,
    *,
    aligned: bool,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    lengths: tuple[int, int, int] | None = None,
    dims: tuple[int, int, int] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """A synthetic corpus in the MulT pickle layout ``{split: {"text", "audio", "vision", "labels"[, "id"]}}``.

    Args:
        dataset: ``mosi``, ``mosei`` or ``iemocap``.
        aligned: equal lengths and synchronous events, or longer, lagging audio/vision (see the module docstring).
        seed: one seed fixes the whole corpus (the modalities' directions and every split).
        sizes: samples per split (default :data:`DEFAULT_SIZES`).
        lengths: ``(T_text, T_audio, T_vision)`` (default: the real pickles', :data:`DEFAULT_LENGTHS`).
        dims: feature dims (default: the dataset's standard ones, 300/5/20 for MOSI).
    """
    spec = dataset_spec(dataset)
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    lengths = lengths or DEFAULT_LENGTHS[spec.name, aligned]
    dims = dims or spec.default_dims
    if aligned and len(set(lengths)) != 1:
        raise ValueError(f"an aligned corpus needs equal lengths, got {lengths}")
    if min(lengths) < 4 or min(dims) < 2 or min(sizes.values()) < 1:
        raise ValueError(f"lengths must be >= 4, dims >= 2 and sizes >= 1; got {lengths}, {dims}, {sizes}")
    rng = np.random.default_rng([seed, sum(map(ord, spec.name)), int(aligned)])
    loadings = LOADINGS[spec.task]
    # the fixed "world": one unit event direction and one feature offset per modality
    directions = [_unit(rng.normal(size=d)) for d in dims]
    offsets = [rng.normal(0.0, 0.5, size=d) for d in dims]
    corpus = {}
    for split in SPLITS:
        n = sizes[split]
        if spec.task == "sentiment":
            latent = rng.normal(size=(n, 3))
            score = latent @ SENTIMENT_WEIGHTS + rng.normal(0.0, 0.2, size=n)
            labels = (np.clip(np.round(3 * score) / 3, -3, 3)).astype(np.float32).reshape(n, 1, 1)
        else:
            emotion = rng.choice(len(EMOTIONS), size=n, p=EMOTION_PRIOR)
            latent = EMOTION_CENTRES[emotion] + rng.normal(0.0, 0.35, size=(n, 2))
            labels = np.zeros((n, len(EMOTIONS), 2), dtype=np.float32)
            labels[:, :, 0] = 1
            labels[np.arange(n), emotion] = (0, 1)
        real_fraction = rng.uniform(0.6, 1.0, size=n)
        event_times = rng.uniform(0.0, 1.0, size=(n, N_EVENTS))
        split_data = {}
        for m, key in enumerate(("text", "audio", "vision")):
            signal = latent @ loadings[m]
            lag = 0.0 if aligned or m == 0 else rng.uniform(0.0, 0.15, size=(n, 1))
            width = 1 if aligned else max(1, round(lengths[m] / lengths[0]))
            split_data[key] = _sequences(
                rng, n, lengths[m], directions[m], offsets[m], real_fraction, event_times + lag, width, signal
            )
        audio = split_data["audio"]
        silent = (rng.random(audio.shape[:2]) < 0.02) & (audio[:, :, 0] != 0)
        audio[:, :, 1][silent] = -np.inf  # COVAREP's log(0) at silent frames; the loader zeroes it
        split_data["labels"] = labels
        if spec.name != "iemocap":
            split_data["id"] = _ids(spec.name, split, n, rng)
        corpus[split] = split_data
    return corpus


def write_standin(
    folder: str | os.PathLike[str], dataset: str, *, aligned: bool, seed: int = 0, **kwargs
) -> Path:
    """Write :func:`standin_corpus` to ``folder/<MulT file name>`` and return the path (``kwargs``: sizes,
    lengths, dims). An existing file with the same settings is overwritten with identical bytes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / mult_filename(dataset, aligned)
    corpus = standin_corpus(dataset, aligned=aligned, seed=seed, **kwargs)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(corpus, fh, protocol=4)
    tmp.replace(path)
    return path


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _sequences(
    rng: np.random.Generator,
    n: int,
    length: int,
    direction: np.ndarray,
    offset: np.ndarray,
    real_fraction: np.ndarray,
    event_times: np.ndarray,
    width: int,
    signal: np.ndarray,
) -> np.ndarray:
    """(n, length, d) float32 features: noise around ``offset``, events along ``direction``, left zero padding."""
    d = len(direction)
    x = offset + rng.normal(size=(n, length, d))
    real = np.maximum(np.round(real_fraction * length).astype(int), width + 1)
    start = length - real  # first real step (left padding before it)
    # event e of sample i covers `width` frames from its start time inside the real span
    first = start[:, None] + np.floor(np.clip(event_times, 0, 0.999) * (real[:, None] - width + 1)).astype(
        int
    )
    steps = first[..., None] + np.arange(width)  # (n, events, width)
    amplitude = EVENT_GAIN * (signal[:, None] + rng.normal(0.0, 0.5, size=event_times.shape))
    rows = np.broadcast_to(np.arange(n)[:, None, None], steps.shape)
    np.add.at(x, (rows.ravel(), steps.ravel()), np.repeat(amplitude.ravel(), width)[:, None] * direction)
    x[np.arange(length) < start[:, None]] = 0.0
    return x.astype(np.float32)


def _ids(dataset: str, split: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) ids (video, start, end) as in the MulT pickles: bytes for MOSI, str for MOSEI."""
    begin = np.round(rng.uniform(0, 60, size=n), 2)
    rows = [(f"synthetic_{dataset}_{split}_{i:05d}", f"{b:.2f}", f"{b + 4:.2f}") for i, b in enumerate(begin)]
    return np.array(rows, dtype="S" if dataset == "mosi" else "U")
