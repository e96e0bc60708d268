"""Synthetic stand-ins for the MulT corpora, written as real MulT pickles, and their Bayes-optimal accuracy.

The real CMU-MOSI, CMU-MOSEI and IEMOCAP features cannot be obtained offline, so the quick profile trains on corpora
with the same keys, dtypes, feature dimensions, (aligned or unaligned) lengths, left zero padding, ``-inf`` audio
entries, bytes ids (MOSI) and label formats, written to ``.pkl`` files and read back through
:func:`affect_lib.data.mult.load_mult_pickle`.

**The generative story ("sarcasm").** An utterance has three *words* that carry sentiment, at three moments
(one per third of the utterance). Word ``e`` has a literal valence ``v_e`` and a tone ``s_e``: sincere (+1) or, with
probability :data:`P_SARCASM`, sarcastic (-1), which flips what the word means. The text shows each word's literal
valence; the audio shows its tone (along a direction of its own) at the same moment. So the meaning of a word needs
text *and* audio, paired in time: the **cross-modal interaction**. Beside it there is an **additive part**: the audio
also carries the arousal ``c_1`` and the vision a third factor ``c_2``.

- Sentiment (MOSI, MOSEI): ``v_e = c_0 + N(0, 0.5^2)``, ``c ~ N(0, I_3)``, and the score is
  ``y = 1.2 mean_e(s_e v_e) + 1.0 c_1 + 0.8 c_2 + N(0, 0.2^2)``, rounded to thirds and clipped to [-3, 3] (like
  averaged annotator scores, so exact zeros occur).
- IEMOCAP: one of four emotions is drawn, ``(valence, arousal)`` scatters around its centre (neutral (0, -0.6),
  happy (1, 0.8), sad (-1, -0.8), angry (-1, 1)) with s.d. 0.35; a word's literal valence is
  ``s_e (valence + N(0, 0.5^2))`` (a sarcastic "great" from an angry speaker); the audio carries arousal and the
  tones; the vision a mix ``0.3 valence + 0.6 arousal``.

Each piece of evidence is an *event*: the features move along a fixed unit direction by :data:`EVENT_GAIN` times the
value (plus per-event noise of s.d. 0.5 for arousal and vision), on background noise N(0, I) around a fixed offset.
Sequences are left-padded with zeros to a common length, with a random real length of 60-100 %. *Aligned* corpora
put the audio and vision events at exactly the word's step; *unaligned* corpora have longer audio and vision
sequences in which each event lags the word by a random 0-15 % of the utterance (per sample and modality) and spreads
over the frames of one word, so a model must look across time to pair a tone with its word.

**Bayes-optimal accuracy.** :func:`bayes_accuracy` estimates, by Monte Carlo over the same story, the accuracy of
the Bayes classifier of an observer that also knows where every event is and reads each event's value separately
(projected on its direction: the value plus Gaussian noise of variance 1 / (frames x gain^2)). It has at least the
information any model of the files has, so its accuracy is an **upper bound** for every model (events that happen to
overlap in time only make the files harder). The same observer with the tones hidden (the words taken at face value)
gives a second line: a model above it must have paired tones with words.
"""

from __future__ import annotations

import itertools
import math
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm

from affect_lib.data.manifest import STANDIN_KEY
from affect_lib.data.mult import EMOTIONS, SPLITS, dataset_spec, mult_filename

DEFAULT_SIZES = {"train": 384, "valid": 96, "test": 192}
CONTROLS = ("paired", "removed", "shuffled")
"""The audio's tone events in a written corpus: the story's, or one of the two controls (:func:`standin_corpus`)."""
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
EVENT_GAIN = 12.0
EVENT_NOISE = 0.5
"""s.d. of the per-event noise of the arousal and vision events (the words and tones carry none)."""
WORD_SPREAD = 0.5
"""s.d. of a word's literal valence around the utterance's valence."""
P_SARCASM = 0.4
MAX_LAG = 0.15
EVENT_SPAN = 0.85
"""Events start within the first 85 % of the real span, one per third of it, so a lag never pushes one out."""
EMOTION_PRIOR = (0.32, 0.26, 0.20, 0.22)
EMOTION_CENTRES = np.array([(0.0, -0.6), (1.0, 0.8), (-1.0, -0.8), (-1.0, 1.0)])
EMOTION_SPREAD = 0.35
SENTIMENT_WEIGHTS = np.array([1.2, 1.0, 0.8])
VISION_MIX = np.array([0.3, 0.6])
SCORE_NOISE = 0.2


@dataclass(frozen=True)
class Bound:
    """A Monte Carlo estimate: ``value`` with its 95% interval ``[low, high]`` from ``n`` simulated utterances."""

    value: float
    low: float
    high: float
    n: int

    def format(self, digits: int = 1, scale: float = 100.0) -> str:
        """``"value [low, high]"``, scaled (default: percent)."""
        return (
            f"{scale * self.value:.{digits}f} [{scale * self.low:.{digits}f}, {scale * self.high:.{digits}f}]"
        )


def standin_corpus(
    dataset: str,
    *,
    aligned: bool,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    lengths: tuple[int, int, int] | None = None,
    dims: tuple[int, int, int] | None = None,
    tones: str = "paired",
) -> dict[str, dict[str, np.ndarray]]:
    """A synthetic corpus in the MulT pickle layout ``{split: {"text", "audio", "vision", "labels"[, "id"]}}``.

    Args:
        dataset: ``mosi``, ``mosei`` or ``iemocap``.
        aligned: equal lengths and synchronous events, or longer, lagging audio/vision (see the module docstring).
        seed: one seed fixes the whole corpus (the modalities' directions and every split).
        sizes: samples per split (default :data:`DEFAULT_SIZES`).
        lengths: ``(T_text, T_audio, T_vision)`` (default: the real pickles', :data:`DEFAULT_LENGTHS`).
        dims: feature dims (default: the dataset's standard ones, 300/5/20 for MOSI).
        tones: the audio's tone events. ``"paired"``: each word's own tone (the story). The two **controls** write
            the same corpus (every random draw, label, word, arousal and vision event identical) with the cue
            changed: ``"removed"`` leaves the tone events out, so a word's meaning can no longer be read from the
            files; ``"shuffled"`` permutes each utterance's tones across its words (a separate random stream), so
            the tones are all there but a tone no longer sits with its own word.
    """
    spec = dataset_spec(dataset)
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    lengths = lengths or DEFAULT_LENGTHS[spec.name, aligned]
    dims = dims or spec.default_dims
    if aligned and len(set(lengths)) != 1:
        raise ValueError(f"an aligned corpus needs equal lengths, got {lengths}")
    if min(lengths) < 4 or min(dims) < 2 or min(sizes.values()) < 1:
        raise ValueError(f"lengths must be >= 4, dims >= 2 and sizes >= 1; got {lengths}, {dims}, {sizes}")
    if tones not in CONTROLS:
        raise ValueError(f"tones must be one of {CONTROLS}, got {tones!r}")
    rng = np.random.default_rng([seed, sum(map(ord, spec.name)), int(aligned)])
    shuffle_rng = np.random.default_rng([seed, 7919])  # only the shuffled control draws from it
    # the fixed "world": unit event directions (audio: arousal and tone, orthogonal) and one offset per modality
    directions = [[_unit(rng.normal(size=d))] for d in dims]
    tone = rng.normal(size=dims[1])
    tone -= (tone @ directions[1][0]) * directions[1][0]
    directions[1].append(_unit(tone))
    offsets = [rng.normal(0.0, 0.5, size=d) for d in dims]
    widths = _widths(lengths, aligned)
    corpus = {}
    for split in SPLITS:
        n = sizes[split]
        labels, values = _draw_story(rng, n, spec.task)
        if tones == "removed":  # amplitude zero: the same draws follow, only the tone events vanish
            values[1][1] = np.zeros_like(values[1][1])
        elif tones == "shuffled":
            values[1][1] = shuffle_rng.permuted(values[1][1], axis=1)
        real_fraction = rng.uniform(0.6, 1.0, size=n)
        slots = (np.arange(N_EVENTS) + rng.uniform(0.0, 1.0, size=(n, N_EVENTS))) / N_EVENTS
        event_times = EVENT_SPAN * slots
        split_data = {}
        for m, key in enumerate(("text", "audio", "vision")):
            lag = 0.0 if aligned or m == 0 else rng.uniform(0.0, MAX_LAG, size=(n, 1))
            split_data[key] = _sequences(
                rng,
                lengths[m],
                directions[m],
                values[m],
                offsets[m],
                real_fraction,
                event_times + lag,
                widths[m],
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
    lengths, dims), with the top-level :data:`~affect_lib.data.manifest.STANDIN_KEY` marking it as a stand-in. An
    existing file with the same settings is overwritten with identical bytes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / mult_filename(dataset, aligned)
    corpus = standin_corpus(dataset, aligned=aligned, seed=seed, **kwargs)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # concurrent writers of one cache do not clash
    with tmp.open("wb") as fh:  # the marker exempts the file from the real corpora's manifest check
        marker = {"seed": seed, "story": "sarcasm", "tones": kwargs.get("tones", "paired")}
        pickle.dump({**corpus, STANDIN_KEY: marker}, fh, protocol=4)
    tmp.replace(path)
    return path


TONES = ("paired", "unpaired", "hidden")
"""What the Bayes observer of :func:`bayes_accuracy` sees of the tones."""


def bayes_accuracy(
    dataset: str, *, n: int = 50_000, seed: int = 0, tones: str = "paired"
) -> dict[str, Bound]:
    """Accuracy of the Bayes classifier of the exact event-reading observer (module docstring), by Monte Carlo.

    The same for aligned and unaligned files and any lengths: the observer reads each event's value exactly.

    Args:
        dataset: ``mosi``, ``mosei`` or ``iemocap``.
        n: simulated utterances; seed: the simulation's seed.
        tones: ``"paired"`` (each word's tone), ``"unpaired"`` (the tones, but not which word has which) or
            ``"hidden"`` (no tones: the words at face value).

    Returns:
        Sentiment: ``non0_acc2`` (positive vs negative, zero labels left out) and ``has0_acc2`` (negative vs
        non-negative). IEMOCAP: ``<emotion>_acc`` for each emotion's present/absent decision and ``mean_acc``.
        Fractions in [0, 1], with 95% intervals.
    """
    if tones not in TONES:
        raise ValueError(f"tones must be one of {TONES}, got {tones!r}")
    spec = dataset_spec(dataset)
    rng = np.random.default_rng([seed, 7919, sum(map(ord, spec.name))])
    labels, values = _draw_story(rng, n, spec.task)
    text, arousal, vision = (values[m][0] for m in range(3))
    combos = np.array(np.meshgrid(*[[1.0, -1.0]] * N_EVENTS, indexing="ij")).reshape(N_EVENTS, -1).T  # (8, E)
    log_prior = np.log(np.where(combos > 0, 1 - P_SARCASM, P_SARCASM)).sum(1)  # (8,)
    if tones == "hidden":
        log_w = np.broadcast_to(log_prior, (n, len(combos)))
    else:
        # the tone pattern is known exactly (paired) or up to the order of the words (unpaired: any permutation
        # of the true pattern, all equally likely a priori)
        orders = (
            list(itertools.permutations(range(N_EVENTS))) if tones == "unpaired" else [tuple(range(N_EVENTS))]
        )
        match = np.zeros((n, len(combos)), dtype=bool)
        for order in orders:
            match |= (values[1][1][:, None, list(order)] == combos[None]).all(-1)
        log_w = np.where(match, log_prior, -np.inf)
    log_w = log_w - logsumexp(log_w, axis=1, keepdims=True)  # log P(tone pattern | what the observer sees)
    if spec.task == "sentiment":
        return _bayes_sentiment(labels, text, arousal, vision, combos, log_w)
    return _bayes_emotions(labels, text, arousal, vision, combos, log_w)


def _bayes_sentiment(labels, text, arousal, vision, combos, log_w) -> dict[str, Bound]:
    e = N_EVENTS
    # the words' literal valences are read exactly; arousal c1 and vision c2: each event reads c + N(0, 0.5^2)
    parts = []
    for readings in (arousal, vision):
        r = EVENT_NOISE**2
        post = 1.0 / (1.0 + e / r)
        parts.append((post * readings.sum(1) / r, post))
    a = SENTIMENT_WEIGHTS[0] / e * combos  # (8, E): the words' weights under each tone pattern
    mean = (
        text @ a.T + SENTIMENT_WEIGHTS[1] * parts[0][0][:, None] + SENTIMENT_WEIGHTS[2] * parts[1][0][:, None]
    )
    sd = math.sqrt(
        SENTIMENT_WEIGHTS[1] ** 2 * parts[0][1] + SENTIMENT_WEIGHTS[2] ** 2 * parts[1][1] + SCORE_NOISE**2
    )
    w = np.exp(log_w)
    p_pos = (w * norm.sf((1 / 6 - mean) / sd)).sum(1)  # P(label > 0): the score rounds to at least 1/3
    p_neg = (w * norm.cdf((-1 / 6 - mean) / sd)).sum(1)
    score = labels.reshape(-1)
    nonzero = score != 0
    return {
        "non0_acc2": _bound(((p_pos > p_neg) == (score > 0))[nonzero]),
        "has0_acc2": _bound((p_neg <= 0.5) == (score >= 0)),
    }


def _bayes_emotions(labels, text, arousal, vision, combos, log_w) -> dict[str, Bound]:
    from scipy.stats import multivariate_normal

    e = N_EVENTS
    readings = np.concatenate([text, arousal, vision], axis=1)  # (n, 3E)
    diag = np.repeat([WORD_SPREAD**2, EVENT_NOISE**2, EVENT_NOISE**2], e)  # the readings themselves are exact
    log_post = np.empty((len(readings), len(EMOTIONS)))
    for k, centre in enumerate(EMOTION_CENTRES):
        terms = []
        for c, s in enumerate(combos):
            load = np.zeros((3 * e, 2))
            load[:e, 0] = s  # literal word valence = s_e (valence + spread)
            load[e : 2 * e, 1] = 1.0
            load[2 * e :] = VISION_MIX
            cov = EMOTION_SPREAD**2 * load @ load.T + np.diag(diag)
            terms.append(log_w[:, c] + multivariate_normal(load @ centre, cov).logpdf(readings))
        log_post[:, k] = math.log(EMOTION_PRIOR[k]) + logsumexp(np.stack(terms, 1), axis=1)
    post = np.exp(log_post - logsumexp(log_post, axis=1, keepdims=True))
    emotion = labels[:, :, 1].argmax(1)
    correct = (post > 0.5) == (emotion[:, None] == np.arange(len(EMOTIONS)))
    out = {f"{name}_acc": _bound(correct[:, k]) for k, name in enumerate(EMOTIONS)}
    out["mean_acc"] = _bound(correct.mean(1))
    return out


def _bound(x: np.ndarray) -> Bound:
    x = np.asarray(x, dtype=float)
    half = 1.959963984540054 * x.std(ddof=1) / math.sqrt(x.size)
    return Bound(float(x.mean()), float(x.mean() - half), float(x.mean() + half), int(x.size))


def _widths(lengths: tuple[int, int, int], aligned: bool) -> list[int]:
    """Frames per event in each modality: one word's worth of frames."""
    return [1 if aligned else max(1, round(t / lengths[0])) for t in lengths]


def _draw_story(rng: np.random.Generator, n: int, task: str) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Labels in the pickle format and, per modality and event direction, the (n, events) event values."""
    e = N_EVENTS
    sincere = np.where(rng.random((n, e)) < P_SARCASM, -1.0, 1.0)
    if task == "sentiment":
        c = rng.normal(size=(n, 3))
        words = c[:, :1] + rng.normal(0.0, WORD_SPREAD, size=(n, e))
        meaning = (sincere * words).mean(1)
        score = SENTIMENT_WEIGHTS @ np.stack([meaning, c[:, 1], c[:, 2]]) + rng.normal(0.0, SCORE_NOISE, n)
        labels = np.clip(np.round(3 * score) / 3, -3, 3).astype(np.float32).reshape(n, 1, 1)
        valence, arousal, third = None, c[:, 1], c[:, 2]
    else:
        emotion = rng.choice(len(EMOTIONS), size=n, p=EMOTION_PRIOR)
        valence, arousal = (EMOTION_CENTRES[emotion] + rng.normal(0.0, EMOTION_SPREAD, size=(n, 2))).T
        words = sincere * (valence[:, None] + rng.normal(0.0, WORD_SPREAD, size=(n, e)))
        third = VISION_MIX @ np.stack([valence, arousal])
        labels = np.zeros((n, len(EMOTIONS), 2), dtype=np.float32)
        labels[:, :, 0] = 1
        labels[np.arange(n), emotion] = (0, 1)
    values = [
        [words],
        [arousal[:, None] + rng.normal(0.0, EVENT_NOISE, size=(n, e)), sincere],
        [third[:, None] + rng.normal(0.0, EVENT_NOISE, size=(n, e))],
    ]
    return labels, values


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _sequences(
    rng: np.random.Generator,
    length: int,
    directions: list[np.ndarray],
    values: list[np.ndarray],
    offset: np.ndarray,
    real_fraction: np.ndarray,
    event_times: np.ndarray,
    width: int,
) -> np.ndarray:
    """(n, length, d) float32 features: noise around ``offset``, events along ``directions`` (the value of event
    ``e`` of sample ``i`` times :data:`EVENT_GAIN` on each of its ``width`` frames), left zero padding."""
    n, d = len(real_fraction), len(offset)
    x = offset + rng.normal(size=(n, length, d))
    real = np.maximum(np.round(real_fraction * length).astype(int), width + 1)
    start = length - real  # first real step (left padding before it)
    first = start[:, None] + np.floor(np.clip(event_times, 0, 0.999) * (real[:, None] - width + 1)).astype(
        int
    )
    steps = first[..., None] + np.arange(width)  # (n, events, width)
    rows = np.broadcast_to(np.arange(n)[:, None, None], steps.shape)
    for direction, value in zip(directions, values, strict=True):
        amplitude = EVENT_GAIN * value
        np.add.at(
            x,
            (rows.ravel(), steps.ravel()),
            np.repeat(amplitude.ravel(), width)[:, None] * direction,
        )
    x[np.arange(length) < start[:, None]] = 0.0
    return x.astype(np.float32)


def _ids(dataset: str, split: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) ids (video, start, end) as in the MulT pickles: bytes for MOSI, str for MOSEI."""
    begin = np.round(rng.uniform(0, 60, size=n), 2)
    rows = [(f"synthetic_{dataset}_{split}_{i:05d}", f"{b:.2f}", f"{b + 4:.2f}") for i, b in enumerate(begin)]
    return np.array(rows, dtype="S" if dataset == "mosi" else "U")
