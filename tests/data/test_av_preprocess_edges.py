"""Real-data edge cases of the RAVDESS preprocessing: short audio, missed faces, OpenFace landmark crops, and the
training crop's area range."""

import dataclasses
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from affect_lib.data import av_preprocess
from affect_lib.data.av_preprocess import (
    SAMPLE_RATE,
    PreprocessConfig,
    clip_mfcc,
    decode_clip,
    fill_from_nearest,
    find_landmark_csv,
    preprocess_clip,
    preprocess_corpus,
    read_openface_landmarks,
)
from affect_lib.data.ravdess import DEFAULT_AUGMENT_SCALE, RELEASED_AUGMENT_SCALE, RavdessClips
from affect_lib.data.synthetic_ravdess import AUDIO_RATE, write_mp4

WINDOW = int(2.45 * SAMPLE_RATE)  # 108,045 samples from 0.5 s: the released window ends at 2.95 s
SAMPLED = [0, 2, 3, 5, 7, 8]  # frames nearest to arange(0, 1, 1/6) s in a 10-frame clip at 10 fps


pytestmark = pytest.mark.usefixtures("private_cache")


def _clip(
    path: Path, seconds: float, *, n: int = 10, fps: int = 10, height: int = 64, width: int = 96
) -> Path:
    """A noise clip (distinct pixels everywhere) with ``seconds`` of noise audio, under ``Actor_XX/``."""
    rng = np.random.default_rng(sum(path.name.encode()) + n)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = rng.integers(0, 256, size=(n, height, width, 3), dtype=np.uint8)
    audio = (0.1 * rng.normal(size=int(seconds * AUDIO_RATE))).astype(np.float32)
    write_mp4(path, frames, fps, audio)
    return path


class Scripted:
    """A fake detector: the ``i``-th call returns ``boxes[i]`` (``None``: no face)."""

    def __init__(self, boxes):
        self.boxes, self.calls = list(boxes), 0

    def __call__(self, frame):
        self.calls += 1
        return self.boxes[self.calls - 1]


# ---- short clips ---------------------------------------------------------------------------------------------
def test_short_audio_is_zero_padded_at_the_end():
    audio = np.random.default_rng(1).normal(size=int(2.90 * SAMPLE_RATE)).astype(np.float32)
    mfcc = clip_mfcc(audio, PreprocessConfig())
    tail = audio[int(0.5 * SAMPLE_RATE) :]
    expected = librosa.feature.mfcc(
        y=np.concatenate([tail, np.zeros(WINDOW - len(tail))]), sr=SAMPLE_RATE, n_mfcc=13
    )
    assert mfcc.shape == (13, 212)
    np.testing.assert_allclose(mfcc, expected, rtol=1e-5, atol=1e-4)


def test_short_clip_is_padded_counted_and_warned_once(tmp_path):
    short = _clip(tmp_path / "Actor_01" / "01-01-03-01-01-01-01.mp4", 2.90, n=29)
    normal = _clip(tmp_path / "Actor_01" / "01-01-04-01-01-01-01.mp4", 3.30, n=33)
    config = PreprocessConfig(n_frames=4, size=16)  # the released MFCC window
    with pytest.warns(UserWarning) as caught:
        corpus = preprocess_corpus([short, normal], config)
    padding = [str(w.message) for w in caught if "zero-padded" in str(w.message)]
    assert len(padding) == 1 and "1 of 2 clips" in padding[0] and short.name in padding[0]
    decoded = decode_clip(short).audio
    tail = decoded[int(0.5 * SAMPLE_RATE) :]
    assert 0 < WINDOW - len(tail) < 0.06 * SAMPLE_RATE  # the decoded track is 2.90 s plus AAC's few ms
    assert f"{len(decoded) / SAMPLE_RATE:.3f} s" in padding[0]
    assert corpus.padded == 1 and corpus.audio_seconds[1] > 2.95
    padded = np.concatenate([tail, np.zeros(WINDOW - len(tail), np.float32)])
    expected = librosa.feature.mfcc(y=padded, sr=SAMPLE_RATE, n_mfcc=13)
    np.testing.assert_allclose(corpus.mfcc[0], expected, rtol=1e-5, atol=1e-4)


# ---- missed faces --------------------------------------------------------------------------------------------
def test_fill_from_nearest_takes_the_nearest_frame_and_the_earlier_on_ties():
    a, b = (1, 1, 5, 5), (9, 9, 5, 5)
    assert fill_from_nearest([None, a, None, b, None], [0, 2, 4, 6, 8]) == [a, a, a, b, b]
    assert fill_from_nearest([None, a, None, b], [0, 2, 5, 6]) == [a, a, b, b]  # 5 is nearer 6
    assert fill_from_nearest([None, None], [0, 1]) is None


def test_missed_frames_take_the_box_of_the_nearest_detected_frame(tmp_path):
    path = _clip(tmp_path / "Actor_01" / "01-01-01-01-01-01-01.mp4", 1.0)
    boxes = [None, (4, 2, 20, 20), (8, 6, 20, 20), None, (30, 10, 20, 20), None]
    config = PreprocessConfig(n_frames=6, size=20, face_margin=0.0, mfcc_offset=0.1, mfcc_duration=0.8)
    clip = preprocess_clip(path, config, Scripted(boxes))
    decoded = decode_clip(path)
    assert decode_clip(path, 6).indices.tolist() == SAMPLED
    # frame 0 -> frame 2's box; frame 5 is 2 from frames 3 and 7 -> the earlier; frame 8 -> frame 7's
    used = [boxes[1], boxes[1], boxes[2], boxes[2], boxes[4], boxes[4]]
    assert clip.boxes.tolist() == [list(b) for b in used]
    assert (clip.missed, clip.fallbacks) == (3, 0)
    for k, (x, y, w, h) in enumerate(used):  # a 20-pixel box at size 20: the crop is the box's pixels
        np.testing.assert_array_equal(clip.frames[k], decoded.frames[SAMPLED[k], y : y + h, x : x + w])

    nothing = preprocess_clip(path, config, Scripted([None] * 6))
    assert (nothing.missed, nothing.fallbacks) == (0, 6) and np.all(nothing.boxes == -1)


def test_corpus_counts_and_warns_about_missed_frames(tmp_path, monkeypatch):
    path = _clip(tmp_path / "Actor_01" / "01-01-01-01-01-01-01.mp4", 1.0)
    monkeypatch.setattr(av_preprocess, "FaceDetector", lambda: Scripted([None, (4, 2, 20, 20)] * 3))
    config = PreprocessConfig(n_frames=6, size=20, mfcc_offset=0.1, mfcc_duration=0.8)
    with pytest.warns(
        UserWarning, match="no face in 3 of 6 frames; each was cropped around the face of the nearest"
    ):
        corpus = preprocess_corpus([path], config, use_cache=False)
    assert (corpus.missed, corpus.fallbacks, corpus.no_face, corpus.padded) == (3, 0, [], 0)


# ---- OpenFace landmarks --------------------------------------------------------------------------------------
def _landmarks(frame: int) -> np.ndarray:
    """(68, 2) points of ``frame``: x spans 10.6 + f .. 40.3 + f, y spans 5.9 .. 35.2 (truncated: a 30-px box)."""
    rng = np.random.default_rng(frame)
    points = np.column_stack([rng.uniform(12 + frame, 39 + frame, 68), rng.uniform(7, 34, 68)])
    points[3] = (10.6 + frame, 5.9)
    points[40] = (40.3 + frame, 35.2)
    return points


def _write_csv(path: Path, frames=range(1, 11), untracked=(6,), shift: float = 0.0) -> Path:
    """An OpenFace-2.0-style CSV (spaces after commas, extra columns around the landmarks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    xs, ys = [f"x_{i}" for i in range(68)], [f"y_{i}" for i in range(68)]
    lines = [
        ", ".join(["frame", "face_id", "timestamp", "confidence", "success", "pose_Tx", *xs, *ys, "AU01_r"])
    ]
    for f in frames:
        p = _landmarks(f) + (shift, 0) if f not in untracked else np.zeros((68, 2))
        values = [f, 0, (f - 1) / 10, 0.98, int(f not in untracked), 1.5, *p[:, 0], *p[:, 1], 0.2]
        lines.append(", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values))
    path.write_text("\n".join(lines) + "\n")
    return path


def _fail(frame):
    raise AssertionError("the detector must not run when the landmarks are there")


def test_landmark_crop_is_the_bounding_box_of_the_sampled_frame(tmp_path):
    path = _clip(tmp_path / "Actor_01" / "01-01-01-01-01-01-01.mp4", 1.0, height=72, width=128)
    _write_csv(tmp_path / "landmarks" / "Actor_01" / f"{path.stem}.csv")
    config = PreprocessConfig(n_frames=6, size=30, crop="landmarks", mfcc_offset=0.1, mfcc_duration=0.8)
    clip = preprocess_clip(path, config, _fail)
    frames = [i + 1 for i in SAMPLED]  # OpenFace numbers frames from 1; frame 6 is untracked:
    frames[3] = 5  # frames 5 and 7 are as near, and the earlier wins
    assert clip.boxes.tolist() == [[10 + f, 5, 30, 30] for f in frames]
    assert (clip.missed, clip.fallbacks, clip.landmarks_missing) == (1, 0, False)
    decoded = decode_clip(path)
    for k, f in enumerate(frames):  # a 30 x 30 box at size 30: the crop is the box's pixels, no margin
        np.testing.assert_array_equal(clip.frames[k], decoded.frames[SAMPLED[k], 5:35, 10 + f : 40 + f])

    squashed = preprocess_clip(path, dataclasses.replace(config, squash_first=True), _fail)
    x0, x1 = int((10.6 + 1) * 30 / 128), int((40.3 + 1) * 30 / 128)  # frame 1 on the 30 x 30 squashed frame
    y0, y1 = int(5.9 * 30 / 72), int(35.2 * 30 / 72)
    assert squashed.boxes[0].tolist() == [x0, y0, x1 - x0, y1 - y0]


def test_landmark_layouts_and_the_detector_for_a_missing_csv(tmp_path, monkeypatch):
    with_csv = _clip(tmp_path / "Actor_02" / "01-01-02-01-01-01-02.mp4", 1.0)
    without = _clip(tmp_path / "Actor_02" / "01-01-03-01-01-01-02.mp4", 1.0)
    assert find_landmark_csv(with_csv) is None
    flat = _write_csv(tmp_path / "landmarks" / f"{with_csv.stem}.csv")  # the release's layout
    assert find_landmark_csv(with_csv) == flat
    nested = _write_csv(tmp_path / "landmarks" / "Actor_02" / f"{with_csv.stem}.csv")
    assert find_landmark_csv(with_csv) == nested
    beside = _write_csv(with_csv.with_suffix(".csv"))
    assert find_landmark_csv(with_csv) == beside
    monkeypatch.setattr(av_preprocess, "FaceDetector", lambda: Scripted([(4, 2, 20, 20)] * 6))
    config = PreprocessConfig(n_frames=6, size=16, crop="landmarks", mfcc_offset=0.1, mfcc_duration=0.8)
    with pytest.warns(UserWarning) as caught:
        corpus = preprocess_corpus([with_csv, without], config)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2 and messages[0].startswith("crop='landmarks': no OpenFace CSV (or no tracked")
    assert messages[0].endswith(f"1 of 2 clips, which were cropped with the face detector: {without.name}")
    assert messages[1].startswith("no face in 1 of 12 frames")
    assert corpus.no_landmarks == [without.name] and corpus.missed == 1  # frame 6 of the CSV is untracked

    _write_csv(beside, shift=7.0, untracked=())  # an edited CSV must not be served from the cache
    with pytest.warns(UserWarning, match="no OpenFace CSV"):
        again = preprocess_corpus([with_csv, without], config)
    assert again.missed == 0 and not np.array_equal(again.frames[0], corpus.frames[0])
    np.testing.assert_array_equal(again.frames[1], corpus.frames[1])


def test_bad_landmark_csv_names_file_and_column(tmp_path):
    good = _write_csv(tmp_path / "good.csv")
    frame, success, points = read_openface_landmarks(good)
    assert frame.tolist() == list(range(1, 11)) and success.tolist() == [f != 6 for f in range(1, 11)]
    np.testing.assert_allclose(points[0], _landmarks(1), atol=1e-4)  # %g keeps 6 significant digits
    lines = good.read_text().splitlines()
    dropped = tmp_path / "dropped.csv"
    dropped.write_text("\n".join(line.rsplit(", ", 2)[0] for line in lines))  # y_67 and AU01_r gone
    with pytest.raises(ValueError, match=r"landmark CSV .*dropped.csv: no column 'y_67'"):
        read_openface_landmarks(dropped)
    garbled = tmp_path / "garbled.csv"
    garbled.write_text("\n".join([*lines[:3], lines[3].replace(", 1.5, ", ", 1.5, abc, ", 1), *lines[4:]]))
    with pytest.raises(ValueError, match=r"garbled.csv: line 4, column 'x_0': 'abc' is not a number"):
        read_openface_landmarks(garbled)
    with pytest.raises(ValueError, match="crop must be one of"):
        PreprocessConfig(crop="openface")


def test_crop_mode_is_part_of_the_cache_key():
    assert PreprocessConfig(crop="landmarks").key() != PreprocessConfig().key()


# ---- the training crop's area range --------------------------------------------------------------------------
def test_augment_scale_reaches_the_transform():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(1, 3, 24, 24, 3), dtype=np.uint8)
    plain = torch.from_numpy(frames[0]).permute(3, 0, 1, 2).float() / 255.0

    def augmented(scale):
        data = RavdessClips(frames, np.zeros((1, 13, 4)), [0], augment=True, augment_scale=scale)
        mean, std = data.mean, data.std
        return [data[0][0][0] * std + mean for _ in range(20)]

    torch.manual_seed(0)
    whole = augmented((1.0, 1.0))  # the area of the frame: every crop is the whole frame, maybe mirrored
    assert all(
        torch.allclose(v, plain, atol=1e-5) or torch.allclose(v, plain.flip(-1), atol=1e-5) for v in whole
    )
    torch.manual_seed(0)
    cropped = augmented(DEFAULT_AUGMENT_SCALE)
    assert (
        sum(
            torch.allclose(v, plain, atol=1e-5) or torch.allclose(v, plain.flip(-1), atol=1e-5)
            for v in cropped
        )
        < 5
    )


def test_released_scale_mostly_falls_back_to_the_whole_frame():
    from torchvision.transforms import v2

    frame = torch.zeros(3, 224, 224)
    torch.manual_seed(0)
    rates = {}
    for scale in (DEFAULT_AUGMENT_SCALE, RELEASED_AUGMENT_SCALE):
        crop = v2.RandomResizedCrop(224, scale=scale)
        draws = [crop.make_params([frame]) for _ in range(2000)]
        rates[scale] = np.mean([(d["height"], d["width"]) == (224, 224) for d in draws])
        assert max(d["height"] * d["width"] for d in draws) <= 224 * 224  # nothing larger than the frame
    # an area above 1 never fits, so with (0.8, 1.4) 87% of the tries fail and 0.87^10 = 25% of the crops
    # are the whole frame (the documented fallback after 10 tries); with (0.8, 1.0) under 2%
    assert 0.21 < rates[RELEASED_AUGMENT_SCALE] < 0.29 and rates[DEFAULT_AUGMENT_SCALE] < 0.02
