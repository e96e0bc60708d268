"""Reference arrays for ``tests/data/test_csd_reference.py``, made with CMU-MultimodalSDK's own ``align``.

Run once, with a throwaway environment holding the SDK (never the book's own environment):

    python3.11 -m venv /tmp/sdkvenv
    /tmp/sdkvenv/bin/pip install cmu-multimodal-sdk==0.0.6 h5py numpy tqdm
    /tmp/sdkvenv/bin/python tests/data/csd_reference/make_reference.py

Each case is one video in a MOSEI-shaped set (GloVe 300, COVAREP 74, Facet 4.2 35, labels 7), written with the SDK's
own ``computational_sequence`` writer and run through upstream's word-aligned pipeline: ``align("text",
collapse_functions=[avg])``, ``impute("text")``, add the labels, ``align("labels")``, ``get_tensors``. PyPI's
``cmu-multimodal-sdk`` 0.0.6 is a third-party copy of the SDK: its ``align`` is upstream's, but its epsilon is 1e-3
(upstream: 1e-5), its ``impute`` fails on Python 3 and it has no ``get_tensors``. So this script sets the epsilon to
upstream's (and checks that 1e-3 gives the same arrays: no overlap in these cases is that small), and does
upstream's ``impute`` (zeros, with the word's interval, for each word a modality has no frame for, in word order)
and ``get_tensors`` (exact-key ``hard_unify``, then left zero padding keeping the last T steps) by hand.

The ``.npz`` files hold the inputs (``<source>_intervals``, ``<source>_features``; the video id is the case name)
and the expected arrays (``expected_<modality>`` (N, T, d), ``expected_labels`` (N, 1, 7), ``segments``: the label
row of each of the N segments, in the SDK's output order).
"""

import importlib.util
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

# mmsdk/__init__.py also imports the model SDK, which needs torch: load the data SDK alone
_sdk = types.ModuleType("mmsdk")
_sdk.__path__ = list(importlib.util.find_spec("mmsdk").submodule_search_locations)
sys.modules["mmsdk"] = _sdk
from mmsdk import mmdatasdk  # noqa: E402

SDK = sys.modules["mmsdk.mmdatasdk.dataset.dataset"]
HERE = Path(__file__).resolve().parent
DIMS = {"text": 300, "audio": 74, "vision": 35}
LENGTH = 6  # T of every modality (word-aligned)
METADATA = [
    "root name",
    "computational sequence description",
    "computational sequence version",
    "alignment compatible",
    "dataset name",
    "dataset version",
    "creator",
    "contact",
    "featureset bib citation",
    "dataset bib citation",
]


def grid(rate, start, stop):
    """Frames of ``1 / rate`` seconds: rows ``[k / rate, (k + 1) / rate]`` for k in [start, stop)."""
    return np.array([[k / rate, (k + 1) / rate] for k in range(start, stop)])


def case(words, audio, vision, labels, sentiments, seed):
    rng = np.random.default_rng(seed)
    text = np.zeros((len(words), DIMS["text"]), dtype=np.float32)
    text[:, :6] = rng.normal(size=(len(words), 6))  # six random columns, the rest zero: keeps the file small
    label_features = np.zeros((len(labels), 7), dtype=np.float32)
    label_features[:, 0] = sentiments
    label_features[:, 1:] = rng.uniform(0, 3, size=(len(labels), 6))
    return {
        "text": (np.array(words, dtype=np.float64), text),
        "audio": (audio, rng.normal(size=(len(audio), DIMS["audio"])).astype(np.float32)),
        "vision": (vision, rng.normal(size=(len(vision), DIMS["vision"])).astype(np.float32)),
        "labels": (np.array(labels, dtype=np.float64), label_features),
    }


CASES = {
    # the word [.3, .7] straddles the segment boundary at .45 and [1, 1.35] the one at 1.1: each goes, with its
    # whole-word average, into both segments
    "straddle": case(
        words=[[0.0, 0.3], [0.3, 0.7], [0.7, 1.0], [1.0, 1.35]],
        audio=grid(10, 0, 15),
        vision=grid(5, 0, 8),
        labels=[[0.0, 0.45], [0.45, 1.1], [1.1, 1.4]],
        sentiments=[1.0, -0.5, 2.0],
        seed=1,
    ),
    # zero-length words inside the segments ([.2, .2], [.9, .9]) and one shorter than the epsilon; the word
    # [.4, .9] straddles the boundary at .6
    "zero_length": case(
        words=[[0.0, 0.4], [0.2, 0.2], [0.4, 0.9], [0.9, 0.9], [0.9, 1.2], [1.0, 1.000004]],
        audio=grid(10, 0, 12),
        vision=grid(5, 0, 6),
        labels=[[0.0, 0.6], [0.6, 1.2]],
        sentiments=[-1.0, 0.5],
        seed=2,
    ),
    # vision lost the face over [.4, .8] and [1, 1.2]: the word [.4, .8] has no vision frame (zeros), the word
    # [.8, 1.2] only the frame [.8, 1], so its vision step spans [.8, 1] and misses the segment [1, 1.6]
    "tracking_gap": case(
        words=[[0.0, 0.4], [0.4, 0.8], [0.8, 1.2], [1.2, 1.6]],
        audio=grid(10, 0, 16),
        vision=np.concatenate([grid(5, 0, 2), grid(5, 4, 5), grid(5, 6, 8)]),
        labels=[[0.0, 1.0], [1.0, 1.6]],
        sentiments=[0.0, -2.5],
        seed=3,
    ),
    # label rows not in start-time order: segment i is the file's row i
    "unsorted_labels": case(
        words=[[0.0, 0.5], [0.5, 1.0], [1.0, 1.5], [1.5, 2.0]],
        audio=grid(10, 0, 20),
        vision=grid(5, 0, 10),
        labels=[[1.0, 2.0], [0.0, 0.5], [0.5, 1.0]],
        sentiments=[2.5, -1.5, 0.5],
        seed=4,
    ),
}


def write_csd(path, root, video, intervals, features):
    """A computational sequence written by the SDK's own writer."""
    seq = mmdatasdk.computational_sequence(root)
    seq.setData({video: {"intervals": intervals, "features": features}}, root)
    seq.setMetadata({key: root if key == "root name" else "synthetic" for key in METADATA}, root)
    seq.deploy(str(path))


def avg(intervals, features):
    return np.average(features, axis=0)


def impute(dataset, reference):
    """Upstream's ``mmdataset.impute`` with ``numpy.zeros``."""
    for key in list(dataset[reference].keys()):
        for other in dataset.keys():
            if other != reference and key not in dataset[other].data:
                rows = dataset[reference][key]["intervals"].shape[0]
                dataset[other].data[key] = {
                    "intervals": dataset[reference][key]["intervals"],
                    "features": np.zeros([rows, DIMS[other]]),
                }


def get_tensors(dataset, seq_len, non_sequences):
    """Upstream's ``mmdataset.get_tensors`` for one fold, left padding: ``(keys, {name: array})``."""
    names = list(dataset.keys())
    shared = set.intersection(*(set(dataset[name].keys()) for name in names))  # hard_unify
    keys = [key for key in dataset[names[0]].keys() if key in shared]
    out = {}
    for name in names:
        rows = []
        for key in keys:
            features = np.asarray(dataset[name][key]["features"])
            if name not in non_sequences:
                pad = np.zeros([seq_len, *features.shape[1:]])
                features = np.concatenate([pad, features], axis=0)[-seq_len:]
            rows.append(features)
        out[name] = np.array(rows)
    return keys, out


def run_sdk(folder, video, epsilon):
    SDK.epsilon = epsilon
    paths = {name: str(folder / f"{name}.csd") for name in ("text", "audio", "vision")}
    dataset = mmdatasdk.mmdataset(paths)
    dataset.align("text", collapse_functions=[avg])
    impute(dataset, "text")
    dataset.add_computational_sequences({"labels": str(folder / "labels.csd")}, str(folder))
    dataset.align("labels")
    keys, tensors = get_tensors(dataset, LENGTH, non_sequences=["labels"])
    segments = np.array([int(key[len(video) + 1 : -1]) for key in keys])
    return segments, tensors


def main():
    for video, sources in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for name, (intervals, features) in sources.items():
                write_csd(folder / f"{name}.csd", name, video, intervals, features)
            segments, tensors = run_sdk(folder, video, 1e-5)
            loose_segments, loose = run_sdk(folder, video, 1e-3)
        assert np.array_equal(segments, loose_segments), video
        assert all(np.array_equal(tensors[k], loose[k]) for k in tensors), video
        arrays = {
            f"{name}_{part}": a
            for name, pair in sources.items()
            for part, a in zip(("intervals", "features"), pair, strict=True)
        }
        arrays["segments"] = segments
        arrays["lengths"] = np.array([LENGTH] * 3)
        for name, array in tensors.items():
            arrays[f"expected_{name}"] = array.astype(np.float32)
        np.savez_compressed(HERE / f"{video}.npz", **arrays)
        shapes = {name: array.shape for name, array in tensors.items()}
        print(f"{video}: segments {segments.tolist()}, {shapes}")


if __name__ == "__main__":
    main()
