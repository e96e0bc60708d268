"""A synthetic corpus in RAVDESS's exact format: ``Actor_XX/01-01-EE-II-SS-RR-AA.mp4`` (H.264 + AAC) and the
audio-only ``03-01-...wav`` (16-bit, 48 kHz), written with PyAV and soundfile.

It is a stand-in, not RAVDESS: one rendered face (Part II's FACS rig) per actor with an actor-specific tint,
placement and expressiveness, following an emotion-specific action-unit trajectory (onset, apex, offset) while
the mouth opens with the syllables; and a voiced, harmonic "utterance" whose prosody depends on the emotion:

- pitch level and contour (level shift, range in semitones, final rise or fall),
- energy and spectral brightness,
- tempo (syllables per second),

on top of a per-actor pitch (odd actors male, even female, plus an individual offset) and noise at -30 dB.
Intensity 02 ("strong") doubles the deviation from neutral in both modalities; neutral has no strong take.

**Congruence: a part of the task that needs the two modalities together.** Four emotions form two :data:`PAIRS`
(neutral/calm, happy/surprised). A take of a pair's *first* emotion shows the face and the voice of the same member
of the pair (both first or both second, at random); a take of the *second* emotion shows one member's face and the
other's voice. Either modality alone tells the pair but nothing about which of its two emotions the take is: that
is whether face and voice agree, an interaction. The other four emotions (sad, angry, fearful, disgust) show their
own face and voice, which either modality can recognise alone (the additive part). :func:`accuracy_ceilings` gives
what follows for any classifier (exact, from the label distribution).

**The control: the cue removed.** With ``cue=False`` every take of a pair shows the face and the voice of the *same*
member, drawn at random as before (always congruent), so nothing in a clip tells the pair's two emotions apart; the
files are otherwise the same (the same actors, takes and random draws: a take of a pair's first emotion and every
take outside the pairs is bit-identical to its ``cue=True`` file). A model's accuracy on the corpus with the cue
minus its accuracy on the corpus without it measures what it takes from the face-voice agreement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile
import torch
from torch.nn.functional import interpolate

from affect_lib.data.ravdess import EMOTIONS, RavdessName
from affect_lib.progress import progress
from affect_lib.runtime import intra_op_threads

AUDIO_RATE = 48_000
STORY = "congruence1"
"""Names this version of the generative story: a cached corpus of another story is never reused."""
N_SYLLABLES = 7  # "Kids are talking by the door" / "Dogs are sitting by the door"

Renderer = Callable[[torch.Tensor], torch.Tensor]
"""aus (B, 17) float tensor in [0, 5] -> faces (B, 3, S, S) in [0, 1] (Part II's ``FaceRig``)."""


@dataclass(frozen=True)
class Prosody:
    """Emotion-dependent voice: f0 factor, pitch range (semitones), final slope (semitones), energy, tempo
    (syllables/s), spectral tilt (harmonic k has amplitude k**-tilt)."""

    pitch: float
    range_st: float
    slope_st: float
    energy: float
    tempo: float
    tilt: float


PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(1.00, 2.0, -2.0, 0.50, 3.6, 1.4),
    "calm": Prosody(0.95, 1.5, -2.5, 0.42, 3.2, 1.6),
    "happy": Prosody(1.22, 6.0, 1.0, 0.70, 4.0, 1.1),
    "sad": Prosody(0.88, 1.2, -4.0, 0.32, 2.8, 1.9),
    "angry": Prosody(1.15, 4.5, -3.0, 0.95, 4.3, 0.8),
    "fearful": Prosody(1.35, 3.5, 2.0, 0.60, 4.7, 1.2),
    "disgust": Prosody(0.95, 3.0, -5.0, 0.55, 3.0, 1.3),
    "surprised": Prosody(1.30, 7.0, 6.0, 0.75, 3.8, 1.0),
}

FACE_EXPRESSION = {e: e for e in ("neutral", "happy", "sad", "angry", "disgust")}
FACE_EXPRESSION |= {"fearful": "fear", "surprised": "surprise", "calm": "happy"}
"""RAVDESS emotion -> the rig's prototype; calm is a soft neutral (a faint smile, see ``APEX``)."""
APEX = {"neutral": 0.0, "calm": 0.4}
"""Apex AU intensity at normal intensity (1.2 unless listed); strong takes double it."""
PAIRS = (("neutral", "calm"), ("happy", "surprised"))
"""The congruence pairs: (first, second) emotion of each; the other emotions show themselves."""

JAW_DROP = 16 - 1  # 0-based positions in the rig's 17-AU vector (AU25 lips part, AU26 jaw drop, AU45 blink)
LIPS_PART = 15 - 1
BLINK = 17 - 1


@dataclass(frozen=True)
class Actor:
    """Per-actor traits drawn from the corpus seed."""

    f0: float
    expressiveness: float
    tint: np.ndarray
    offset: tuple[float, float]
    scale: float


def draw_actor(actor: int, seed: int) -> Actor:
    """Deterministic traits of ``actor`` (odd male ~120 Hz, even female ~210 Hz)."""
    rng = np.random.default_rng([seed, actor])
    f0 = (210.0 if actor % 2 == 0 else 120.0) * 2 ** (rng.normal(0, 3.0) / 12)
    return Actor(
        f0=f0,
        expressiveness=float(rng.uniform(0.5, 1.3)),
        tint=rng.uniform(0.85, 1.1, size=3),
        offset=(float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.06, 0.06))),
        scale=float(rng.uniform(0.72, 0.85)),
    )


@dataclass(frozen=True)
class Take:
    """Per-take variation: tempo and energy factors, pitch shift (semitones), expression apex factor."""

    tempo: float
    pitch_st: float
    energy: float
    apex: float


def draw_take(rng: np.random.Generator) -> Take:
    """Random variation of one take (a repetition is never identical to the other)."""
    return Take(
        tempo=float(rng.uniform(0.85, 1.15)),
        pitch_st=float(rng.normal(0, 1.5)),
        energy=float(rng.uniform(0.75, 1.25)),
        apex=float(rng.uniform(0.6, 1.2)),
    )


def shown_emotions(emotion: str, rng: np.random.Generator, cue: bool = True) -> tuple[str, str]:
    """The (face, voice) emotions a take of ``emotion`` shows: the same member of its pair (first emotion) or
    different members (second), the face's member drawn at random; an emotion outside the pairs shows itself.
    ``cue=False`` (the control): the same member in both modalities for either emotion of a pair."""
    face = int(rng.integers(2))  # drawn for every take, so that each take's random stream has the same layout
    pair = next((p for p in PAIRS if emotion in p), None)
    if pair is None:
        return emotion, emotion
    return pair[face], pair[face ^ (pair.index(emotion) if cue else 0)]


def accuracy_ceilings(labels: Sequence[str], cue: bool = True) -> dict[str, float]:
    """The best accuracy any classifier can reach on takes with these emotion ``labels`` (their frequencies),
    under the congruence story (``cue=False``: the control without the cue, where all three are the one-modality
    ceiling), for three kinds of classifier (fractions in [0, 1]):

    - ``joint``: sees which pair member the face and the voice show (the Bayes-optimal accuracy given those cues;
      an upper bound for every model of the clips);
    - ``additive``: class scores that are a sum of a face term and a voice term (a linear layer on concatenated
      unimodal features, or averaged unimodal logits); found by searching all additive sign patterns;
    - ``unimodal``: one modality only.
    """
    counts = {e: sum(label == e for label in labels) for e in EMOTIONS}
    total = sum(counts.values())
    if total == 0 or total != len(labels):
        raise ValueError(f"labels must be RAVDESS emotion names, got {sorted(set(labels))}")
    grid = (-3.0, -1.0, 1.0, 3.0)
    alone = sum(counts[e] for e in EMOTIONS if not any(e in p for p in PAIRS)) / total
    joint = additive = unimodal = alone  # an emotion outside the pairs is recognisable from either modality
    for first, second in PAIRS:
        # cell (face member f, voice member v) has probability P(label) / 2; the label is first iff f == v
        cell = {
            (f, v): (counts[first] if f == v else counts[second]) / (2 * total)
            for f in (0, 1)
            for v in (0, 1)
        }
        if not cue:  # both emotions show the same congruent faces and voices: the likelier label is the best
            best_label = max(counts[first], counts[second]) / total
            joint, additive, unimodal = joint + best_label, additive + best_label, unimodal + best_label
            continue
        joint += sum(cell.values())
        unimodal += sum(max(cell[f, f], cell[f, 1 - f]) for f in (0, 1))  # face member f: the better guess
        best = 0.0
        for a0, a1, b0, b1 in np.array(np.meshgrid(grid, grid, grid, grid)).reshape(4, -1).T:
            score = {(f, v): (a0, a1)[f] + (b0, b1)[v] for f in (0, 1) for v in (0, 1)}  # > 0: say "first"
            best = max(best, sum(p for (f, v), p in cell.items() if (score[f, v] > 0) == (f == v)))
        additive += best
    return {"joint": joint, "additive": additive, "unimodal": unimodal}


SWAP_GROUPS = ("actor", "pair")
"""How :func:`swap_orders` groups clips: by actor and statement, or by actor, congruence pair and intensity."""


def swap_orders(names: Sequence[RavdessName], within: str, orders: int = 3) -> list[np.ndarray]:
    """Re-pairings for test-time controls: ``orders`` int arrays ``src`` over the positions of ``names``, where
    clip ``i`` keeps one modality and takes the other from clip ``src[i]`` of its group (never itself, unless its
    group has one clip).

    ``within="actor"``: the clips of one actor and statement (another emotion's voice or face, of the same person
    saying the same sentence). ``within="pair"``: the clips of one actor, congruence pair and intensity (clips
    outside the :data:`PAIRS` keep their own). Within such a group the member a face shows and the member a voice
    shows are independent of the label, so each group keeps what either modality alone tells (the intensity, which
    rules out neutral when strong, included) and only whether face and voice agree becomes random. Order ``k``
    (1-based) takes, for each clip, the ``((k - 1) mod (n - 1)) + 1``-th next member of its group of ``n`` (file
    order).
    """
    if within not in SWAP_GROUPS:
        raise ValueError(f"within must be one of {SWAP_GROUPS}, got {within!r}")
    groups: dict[tuple, list[int]] = {}
    for i, name in enumerate(names):
        pair = next((p for p in PAIRS if name.emotion_name in p), None)
        if within == "actor":
            key: tuple = (name.actor, name.statement)
        else:
            key = ("self", i) if pair is None else (name.actor, pair, name.intensity)
        groups.setdefault(key, []).append(i)
    result = []
    for k in range(1, orders + 1):
        src = np.arange(len(names))
        for members in groups.values():
            n = len(members)
            if n > 1:
                shift = (k - 1) % (n - 1) + 1
                src[members] = [members[(j + shift) % n] for j in range(n)]
        result.append(src)
    return result


def syllable_envelope(t: np.ndarray, tempo: float, start: float = 0.25) -> np.ndarray:
    """(len(t),) in [0, 1]: N_SYLLABLES raised-cosine syllables at ``tempo`` per second from ``start``."""
    phase = (t - start) * tempo
    inside = (phase >= 0) & (phase < N_SYLLABLES)
    return np.where(inside, np.sin(np.pi * np.mod(phase, 1.0)) ** 2, 0.0)


def synth_voice(
    name: RavdessName,
    actor: Actor,
    take: Take,
    duration: float,
    rng: np.random.Generator,
    rate: int = AUDIO_RATE,
    shown: str | None = None,
) -> np.ndarray:
    """(duration * rate,) float32 waveform in [-1, 1] of one take, with the prosody of ``shown`` (default: the
    take's emotion)."""
    p = PROSODY[shown or name.emotion_name]
    gain = 2.0 if name.intensity == 2 else 1.0
    n = PROSODY["neutral"]
    level = 1 + gain * (p.pitch - 1)
    range_st = n.range_st + gain * (p.range_st - n.range_st)
    slope_st = n.slope_st + gain * (p.slope_st - n.slope_st)
    energy = min(1.0, take.energy * (n.energy + gain * (p.energy - n.energy)))
    tempo = p.tempo * take.tempo
    t = np.arange(int(duration * rate)) / rate
    u = np.clip((t - 0.25) * tempo / N_SYLLABLES, 0, 1)  # utterance progress
    accents = rng.normal(0, 1, N_SYLLABLES + 1) + (1.0 if name.statement == 1 else -1.0) * np.cos(
        np.arange(N_SYLLABLES + 1)
    )
    syllable = np.minimum(((t - 0.25) * tempo).clip(0).astype(int), N_SYLLABLES)
    semitones = range_st * 0.5 * np.tanh(accents[syllable]) + slope_st * u**2
    f0 = actor.f0 * level * 2 ** ((semitones + take.pitch_st) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    k = np.arange(1, 16)[:, None]
    voiced = ((k.astype(float) ** -p.tilt) * np.sin(k * phase[None, :])).sum(0)
    voiced /= np.abs(voiced).max() + 1e-9
    wave = energy * syllable_envelope(t, tempo) * voiced
    noise_rms = 10 ** (-30 / 20) * np.sqrt(np.mean(wave**2) + 1e-12)
    wave = wave + noise_rms * rng.normal(size=t.shape)
    return np.clip(wave, -1, 1).astype(np.float32)


def au_trajectory(
    name: RavdessName,
    actor: Actor,
    take: Take,
    times: np.ndarray,
    prototype: Callable[[str, float], np.ndarray],
    shown: str | None = None,
) -> np.ndarray:
    """(len(times), 17) AU intensities of the expression of ``shown`` (default: the take's emotion): onset to apex
    by 30% of the clip, hold, partial offset; the eyes blink once, and the mouth opens with syllables at the mean
    tempo of the emotion's pair (so the lips tell nothing about which member the voice shows)."""
    shown = shown or name.emotion_name
    gain = 2.0 if name.intensity == 2 else 1.0
    apex = min(5.0, gain * APEX.get(shown, 1.2) * actor.expressiveness * take.apex)
    duration = times[-1] + (times[1] - times[0] if len(times) > 1 else 0.0)
    x = times / duration
    envelope = np.clip(x / 0.3, 0, 1) * (1 - 0.4 * np.clip((x - 0.8) / 0.2, 0, 1))
    aus = envelope[:, None] * prototype(FACE_EXPRESSION[shown], apex)[None, :]
    pair = next((p for p in PAIRS if name.emotion_name in p), (name.emotion_name,))
    mouth = syllable_envelope(times, np.mean([PROSODY[e].tempo for e in pair]) * take.tempo)
    aus[:, LIPS_PART] = np.maximum(aus[:, LIPS_PART], 1.5 * mouth)
    aus[:, JAW_DROP] = np.maximum(aus[:, JAW_DROP], 2.0 * mouth)
    aus[:, BLINK] = 4.0 * np.exp(-(((x - 0.55) / 0.03) ** 2))
    return np.clip(aus, 0.0, 5.0)


def compose_frames(
    faces: np.ndarray, actor: Actor, height: int, width: int, face_size: int | None = None
) -> np.ndarray:
    """Place (T, 3, S, S) faces in [0, 1] on a light background: (T, height, width, 3) uint8 RGB; the face's side
    is ``face_size`` pixels, by default the actor's fraction of ``height``."""
    side = (face_size if face_size is not None else int(round(actor.scale * height))) // 2 * 2
    faces = torch.as_tensor(faces, dtype=torch.float32)
    if faces.shape[-1] != side:
        faces = interpolate(faces, size=(side, side), mode="bilinear", antialias=True)
    small = (faces.numpy().transpose(0, 2, 3, 1) * actor.tint).clip(0, 1)
    # uint8 throughout (a float canvas of a 720p clip would take gigabytes); the same values as rounding a float one
    canvas = np.full((len(faces), height, width, 3), int(0.92 * 255 + 0.5), dtype=np.uint8)
    x0 = int(round((width - side) / 2 + actor.offset[0] * width))
    y0 = int(round((height - side) / 2 + actor.offset[1] * height))
    canvas[:, y0 : y0 + side, x0 : x0 + side] = (small * 255 + 0.5).astype(np.uint8)
    return canvas


def write_mp4(
    path: Path,
    frames: np.ndarray,
    fps: int,
    audio: np.ndarray,
    rate: int = AUDIO_RATE,
    preset: str = "veryfast",
) -> None:
    """Write (T, H, W, 3) uint8 RGB frames (H, W even) and a mono float32 waveform as H.264 + AAC ``.mp4``
    (x264 ``preset``: ``"ultrafast"`` writes full-HD-sized corpora several times faster, in larger files)."""
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "20", "preset": preset})
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        video.codec_context.thread_count = 1  # bit-identical files run to run
        sound = container.add_stream("aac", rate=rate, layout="mono")
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode(None))
        step = sound.codec_context.frame_size or 1024
        for i, start in enumerate(range(0, len(audio), step)):
            chunk = av.AudioFrame.from_ndarray(
                audio[None, start : start + step], format="fltp", layout="mono"
            )
            chunk.sample_rate, chunk.pts, chunk.time_base = rate, i * step, Fraction(1, rate)
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))


def standin_folder(seed: int, **settings: Any) -> Path:
    """The cache folder of a stand-in written with ``settings`` (the keyword arguments of
    :func:`write_synthetic_ravdess`) for ``seed``: named after :data:`STORY`, the seed and a hash of the settings,
    so that clips of another story or other settings (a folder's existing files are kept) are never reused."""
    import hashlib
    import json

    from affect_lib.runtime import cache_dir

    if settings.get("cue", True) is True:  # the default story: one folder, whether or not cue=True is named
        settings = {k: v for k, v in settings.items() if k != "cue"}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True, default=list).encode()).hexdigest()[:10]
    return cache_dir("synthetic_ravdess", f"{STORY}-seed{seed}-{key}")


def corpus_names(
    actors: Sequence[int],
    repetitions: Sequence[int] = (1, 2),
    modality: int = 1,
    *,
    statements: Sequence[int] = (1, 2),
    intensities: Sequence[int] = (1, 2),
) -> list[RavdessName]:
    """Every speech take of RAVDESS for ``actors``: neutral x 2 statements, 7 emotions x 2 intensities x 2
    statements, times ``repetitions`` (60 per actor with both repetitions); ``statements`` and ``intensities``
    select a subset (``(1,)`` and ``(1,)``: one take per emotion)."""
    names = []
    for actor in actors:
        for emotion in range(1, 9):
            for intensity in (1,) if emotion == 1 else tuple(intensities):
                for statement in statements:
                    for rep in repetitions:
                        names.append(RavdessName(modality, 1, emotion, intensity, statement, rep, actor))
    return names


def write_synthetic_ravdess(
    root: str | Path,
    *,
    actors: Sequence[int] = (1, 2, 3, 4, 5, 6),
    repetitions: Sequence[int] = (1, 2),
    statements: Sequence[int] = (1, 2),
    intensities: Sequence[int] = (1, 2),
    duration: float = 3.0,
    fps: int = 30,
    height: int = 144,
    seed: int = 0,
    write_wav: bool = True,
    renderer: Renderer | None = None,
    face_size: int | None = None,
    preset: str = "veryfast",
    cue: bool = True,
    workers: int = 0,
) -> list[Path]:
    """Write the corpus under ``root`` (``Actor_XX/`` folders); existing files are kept (re-runs are free).

    Args:
        actors: actor ids in 1..24 (odd male, even female).
        repetitions: which of RAVDESS's two repetitions to write; statements, intensities: which statements and
            (non-neutral) intensities.
        duration: clip length, seconds; fps: video frame rate; height: frame height (width = 16/9 height).
        renderer: faces from AUs; defaults to Part II's ``FaceRig.default`` at 80% of ``height`` (each
            actor's face is scaled to 72-85% of the frame height, or to ``face_size`` pixels when given: a
            smaller face makes full-HD-sized rehearsal corpora fast to write); preset: x264's (see
            :func:`write_mp4`).
        cue: the congruence cue (the default); ``False`` writes the control, whose pair takes always show the
            same member in face and voice (see the module docstring). Give the control its own ``root``.
        workers: with the default renderer, write the actors in this many processes (one thread each; every
            take draws from its own seeded stream, so the files are the same whatever the count).

    Returns:
        The ``.mp4`` paths, sorted.
    """
    if not actors or any(not 1 <= a <= 24 for a in actors):
        raise ValueError(f"actors must be ids in 1..24, got {list(actors)}")
    for label, values in (
        ("repetitions", repetitions),
        ("statements", statements),
        ("intensities", intensities),
    ):
        if not set(values) <= {1, 2} or not values:
            raise ValueError(f"{label} must be a non-empty subset of (1, 2), got {list(values)}")
    if duration <= 0.5 or fps < 1 or height < 32:
        raise ValueError(f"need duration > 0.5 s, fps >= 1 and height >= 32, got {duration}, {fps}, {height}")
    if workers > 1 and renderer is None and len(actors) > 1:
        from affect_lib.pool import run_jobs

        settings = dict(
            repetitions=tuple(repetitions),
            statements=tuple(statements),
            intensities=tuple(intensities),
            duration=duration,
            fps=fps,
            height=height,
            seed=seed,
            write_wav=write_wav,
            face_size=face_size,
            preset=preset,
            cue=cue,
        )
        shares = [tuple(actors)[i::workers] for i in range(min(workers, len(actors)))]
        jobs = [dict(root=root, actors=a, **settings) for a in shares]
        parts = run_jobs(write_synthetic_ravdess, jobs, workers=workers, desc="write clips")
        return sorted(p for part in parts for p in part)
    from affect_lib.faces.facs import prototype

    if renderer is None:
        from affect_lib.faces.rig import FaceRig

        renderer = FaceRig.default(size=int(0.8 * height))
    height = height // 2 * 2
    width = int(round(height * 16 / 9)) // 2 * 2
    root = Path(root)
    times = np.arange(int(round(duration * fps))) / fps
    paths = []
    with intra_op_threads(1):  # per-clip tensors are small: extra threads only add synchronisation
        takes = corpus_names(actors, repetitions, statements=statements, intensities=intensities)
        for name in progress(takes, desc="write clips"):
            folder = root / f"Actor_{name.actor:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name.filename(".mp4")
            paths.append(path)
            wav = folder / replace(name, modality=3).filename(".wav")
            if path.exists() and (wav.exists() or not write_wav):
                continue
            actor = draw_actor(name.actor, seed)
            rng = np.random.default_rng([seed, *vars(name).values()])
            take = draw_take(rng)
            face_shown, voice_shown = shown_emotions(name.emotion_name, rng, cue)
            audio = synth_voice(name, actor, take, duration, rng, shown=voice_shown)
            aus = au_trajectory(name, actor, take, times, prototype, shown=face_shown)
            with torch.no_grad():
                faces = np.asarray(renderer(torch.as_tensor(aus).float()))
            frames = compose_frames(faces, actor, height, width, face_size)
            tmp = path.with_suffix(".tmp.mp4")
            write_mp4(tmp, frames, fps, audio, preset=preset)
            tmp.replace(path)
            if write_wav:
                soundfile.write(wav, audio, AUDIO_RATE, subtype="PCM_16")
    return sorted(paths)
