"""The A/V preprocessing on synthetic RAVDESS-format files, the synthetic corpus and the dataset."""

import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile
import torch

from affect_lib.data import av_preprocess
from affect_lib.data.av_preprocess import (
    SAMPLE_RATE,
    PreprocessConfig,
    clip_mfcc,
    decode_clip,
    preprocess_clip,
    preprocess_corpus,
    uniform_frame_indices,
)
from affect_lib.data.ravdess import IMAGENET_MEAN, IMAGENET_STD, RavdessClips, list_clips, parse_ravdess_name
from affect_lib.data.synthetic_ravdess import (
    AUDIO_RATE,
    PROSODY,
    draw_actor,
    draw_take,
    synth_voice,
    write_mp4,
    write_synthetic_ravdess,
)

CONFIG = PreprocessConfig(n_frames=4, size=32, mfcc_offset=0.1, mfcc_duration=0.8)


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ravdess")
    write_synthetic_ravdess(root, actors=(2,), repetitions=(1,), duration=1.2, fps=5, height=64)
    return root


pytestmark = pytest.mark.usefixtures("private_cache")


def test_corpus_follows_ravdess_layout(corpus_root):
    clips = list_clips(corpus_root)
    assert len(clips) == 30 and {p.parent.name for p in clips} == {"Actor_02"}
    names = [parse_ravdess_name(p) for p in clips]
    counts = np.bincount([n.label for n in names], minlength=8)
    assert counts.tolist() == [2] + [4] * 7  # neutral has no strong intensity
    assert not any(n.emotion == 1 and n.intensity == 2 for n in names)
    wavs = sorted(corpus_root.glob("Actor_02/03-01-*.wav"))
    assert len(wavs) == 30
    info = soundfile.info(wavs[0])
    assert (info.samplerate, info.subtype, info.channels) == (48_000, "PCM_16", 1)


def test_decode_gives_frames_and_resampled_audio(corpus_root):
    clip = decode_clip(list_clips(corpus_root)[0])
    assert clip.frames.dtype == np.uint8 and clip.frames.shape[1:] == (64, 114, 3)
    assert len(clip.frames) == 6 and clip.duration == pytest.approx(1.2, abs=1e-6)
    assert abs(len(clip.audio) / SAMPLE_RATE - 1.2) < 0.1  # AAC priming/padding adds a few ms


def test_uniform_indices_match_the_released_times():
    times = np.arange(90) / 30  # a 3-s clip at 30 fps
    idx = uniform_frame_indices(times, 3.0, 30)
    np.testing.assert_array_equal(idx, np.arange(0, 90, 3))
    assert uniform_frame_indices(times, 3.0, 4).tolist() == [
        0,
        22,
        45,
        67,
    ]  # times 0, .75, 1.5, 2.25 s; ties go to the earlier frame


def test_mfcc_at_released_settings_matches_librosa():
    audio = np.random.default_rng(0).normal(size=int(3.2 * SAMPLE_RATE)).astype(np.float32)
    mfcc = clip_mfcc(audio, PreprocessConfig())
    assert mfcc.shape == (13, 212) == (13, PreprocessConfig().mfcc_frames)
    window = audio[int(0.5 * SAMPLE_RATE) :][:108_045]
    np.testing.assert_allclose(mfcc, librosa.feature.mfcc(y=window, sr=SAMPLE_RATE, n_mfcc=13), rtol=1e-5)
    with pytest.raises(ValueError, match="x.mp4: audio of 0.25 s ends before the MFCC window starts"):
        clip_mfcc(audio[: SAMPLE_RATE // 4], PreprocessConfig(), name="x.mp4")


def test_preprocess_corpus_and_cache(corpus_root, monkeypatch):
    clips = list_clips(corpus_root)[:6]
    first = preprocess_corpus(clips, CONFIG)
    assert first.frames.shape == (6, 4, 32, 32, 3) and first.mfcc.shape == (6, 13, CONFIG.mfcc_frames)
    assert first.labels.tolist() == [parse_ravdess_name(p).label for p in clips]
    assert set(first.actors.tolist()) == {2} and first.n_frames_total == 24
    assert first.fallbacks <= 2  # the Haar cascade finds the rig's face on (almost) every frame
    direct = clip_mfcc(decode_clip(clips[0]).audio, CONFIG)
    np.testing.assert_array_equal(first.mfcc[0], direct)  # the features come from the decoded AAC track

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(av_preprocess, "preprocess_clip", fail)
    second = preprocess_corpus(clips, CONFIG)
    np.testing.assert_array_equal(second.frames, first.frames)
    np.testing.assert_array_equal(second.mfcc, first.mfcc)


def test_face_not_found_falls_back_to_a_counted_centre_crop(tmp_path):
    path = tmp_path / "Actor_01" / "01-01-01-01-01-01-01.mp4"
    path.parent.mkdir()
    frames = np.zeros((6, 48, 64, 3), np.uint8)
    frames[:, :, 8:56] = 200  # a bright centre square, no face
    write_mp4(path, frames, 5, np.zeros(int(1.2 * AUDIO_RATE), np.float32))
    clip = preprocess_clip(path, CONFIG)
    assert (clip.fallbacks, clip.missed) == (4, 0) and np.all(clip.boxes == -1)
    assert np.all(clip.frames > 150)  # the centre 48 x 48 square, resized
    with pytest.warns(
        UserWarning, match=r"1 of 1 clips, which were centre-cropped \(4 frames\): 01-01-01-01"
    ):
        corpus = preprocess_corpus([path], CONFIG)
    assert corpus.no_face == [path.name] and (corpus.fallbacks, corpus.missed) == (4, 0)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        decode_clip(tmp_path / "missing.mp4")
    garbage = tmp_path / "01-01-01-01-01-01-01.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(ValueError, match="readable|decoded"):
        decode_clip(garbage)
    import av

    silent = tmp_path / "silent.mp4"
    with av.open(str(silent), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8))))
        container.mux(stream.encode(None))
    with pytest.raises(ValueError, match="no audio track"):
        decode_clip(silent)
    short = tmp_path / "01-01-02-01-01-01-01.mp4"
    write_mp4(short, np.zeros((3, 32, 32, 3), np.uint8), 5, np.zeros(AUDIO_RATE // 5, np.float32))
    late = PreprocessConfig(n_frames=2, size=32, mfcc_offset=0.5, mfcc_duration=0.3)
    with pytest.raises(ValueError, match="ends before the MFCC window starts"):
        preprocess_clip(short, late)
    with pytest.raises(ValueError, match="not a RAVDESS file name"):
        preprocess_corpus([silent], CONFIG)


def test_prosody_depends_on_emotion():
    actor = draw_actor(1, 0)
    take = draw_take(np.random.default_rng(0))
    rms = {}
    for code in (4, 5):  # sad, angry
        name = parse_ravdess_name(f"01-01-0{code}-02-01-01-01.mp4")
        wave = synth_voice(name, actor, take, 2.0, np.random.default_rng(1))
        rms[name.emotion_name] = float(np.sqrt(np.mean(wave**2)))
    assert PROSODY["angry"].energy > PROSODY["sad"].energy and rms["angry"] > 2 * rms["sad"]
    assert draw_actor(2, 0).f0 > draw_actor(1, 0).f0  # even actors are female, higher pitched


def test_dataset_normalisation_and_quirk_options():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    frames = np.broadcast_to(frame, (2, 5, 16, 16, 3)).copy()
    mfcc = rng.normal(size=(2, 13, 20))
    (video, m), label = RavdessClips(frames, mfcc, [3, 4])[1]
    assert video.shape == (3, 5, 16, 16) and m.shape == (13, 20) and int(label) == 4
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    expected = (frame / 255.0 - mean) / std
    np.testing.assert_allclose(video[:, 0].permute(1, 2, 0).numpy(), expected, atol=1e-5)
    (bgr, _), _ = RavdessClips(frames, mfcc, [3, 4], bgr_input=True)[0]
    np.testing.assert_allclose(bgr[0, 0].numpy() * std[0] + mean[0], frame[..., 2] / 255.0, atol=1e-5)
    torch.manual_seed(0)
    (clipwise, _), _ = RavdessClips(frames, mfcc, [3, 4], augment=True)[0]
    assert all(torch.equal(clipwise[:, 0], clipwise[:, t]) for t in range(5))
    torch.manual_seed(0)
    (per_frame, _), _ = RavdessClips(frames, mfcc, [3, 4], augment=True, per_frame_augmentation=True)[0]
    assert not all(torch.equal(per_frame[:, 0], per_frame[:, t]) for t in range(5))
    with pytest.raises(ValueError, match="uint8"):
        RavdessClips(frames.astype(float), mfcc, [3, 4])
    with pytest.raises(ValueError, match="same number"):
        RavdessClips(frames, mfcc, [3])


def test_list_clips_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_clips(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no Actor_XX"):
        list_clips(tmp_path)


def test_writer_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="actors"):
        write_synthetic_ravdess(tmp_path, actors=(0,))
    with pytest.raises(ValueError, match="repetitions"):
        write_synthetic_ravdess(tmp_path, repetitions=(3,))


def test_warning_free_when_faces_are_found(corpus_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corpus = preprocess_corpus(list_clips(corpus_root)[:2], CONFIG)
    assert corpus.fallbacks == 0


def test_selective_decode_keeps_exactly_the_uniform_frames(corpus_root):
    clip = list_clips(corpus_root)[0]
    full = decode_clip(clip)
    kept = decode_clip(clip, 4)
    index = uniform_frame_indices(full.times, full.duration, 4)
    np.testing.assert_array_equal(kept.frames, full.frames[index])
    np.testing.assert_array_equal(kept.audio, full.audio)


def test_stacked_cache_is_memory_mapped_and_workers_give_the_same_corpus(corpus_root, tmp_path, monkeypatch):
    clips = list_clips(corpus_root)[:4]
    serial = preprocess_corpus(clips, CONFIG, use_cache=False)
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(tmp_path / "parallel"))
    parallel = preprocess_corpus(clips, CONFIG, workers=2)
    assert isinstance(parallel.frames, np.memmap) and not parallel.frames.flags.writeable
    np.testing.assert_array_equal(parallel.frames, serial.frames)
    np.testing.assert_array_equal(parallel.mfcc, serial.mfcc)
    assert not list((tmp_path / "parallel").rglob("*.tmp*"))  # temporary names were all renamed
    item = RavdessClips(parallel.frames, parallel.mfcc, parallel.labels)[0]
    assert item[0][0].shape == (3, 4, 32, 32)


def test_interrupted_preprocessing_resumes_from_the_clip_cache(corpus_root, monkeypatch):
    clips = list_clips(corpus_root)[:3]
    preprocess_corpus(clips[:2], CONFIG)  # "interrupted" after two clips
    calls = []
    original = av_preprocess.preprocess_clip
    monkeypatch.setattr(
        av_preprocess, "preprocess_clip", lambda *a, **k: calls.append(a[0]) or original(*a, **k)
    )
    preprocess_corpus(clips, CONFIG)
    assert calls == [clips[2]]


def test_actor_folders_without_video_are_refused(tmp_path, corpus_root):
    import shutil

    root = tmp_path / "ravdess"
    shutil.copytree(corpus_root, root)
    (root / "Actor_07").mkdir()
    (root / "Actor_07" / "03-01-01-01-01-01-07.wav").write_bytes(b"")
    with pytest.raises(ValueError, match=r"Actor_07 \(holds \.wav\).*would drop out"):
        list_clips(root)
    (root / "Actor_07" / "03-01-01-01-01-01-07.wav").unlink()
    with pytest.raises(ValueError, match=r"Actor_07 \(holds nothing\)"):
        list_clips(root)


def test_missing_fixed_split_actor_is_refused(corpus_root):
    from affect_lib.data.ravdess import proper_split

    with pytest.raises(ValueError, match=r"actor\(s\) \[19\] have no clip"):
        proper_split([a for a in range(1, 25) if a != 19])
    with pytest.raises(ValueError, match="split must be"):
        av_preprocess.ravdess_loaders(list_clips(corpus_root)[:2], CONFIG, batch_size=2, split="random")


def test_augment_scale_reaches_the_training_transform_only(corpus_root):
    from affect_lib.data.ravdess import RELEASED_AUGMENT_SCALE, ActorSplit

    loaders, _ = av_preprocess.ravdess_loaders(
        list_clips(corpus_root)[:2],
        CONFIG,
        batch_size=2,
        split=ActorSplit((2,), (), (2,)),
        augment=True,
        augment_scale=RELEASED_AUGMENT_SCALE,
    )
    train, test = loaders["train"].dataset.dataset, loaders["test"].dataset.dataset
    assert train.augment and train.transform.transforms[0].scale == (0.8, 1.4)
    assert not test.augment
