"""CMU-MultimodalSDK computational sequences (``.csd``) to MulT pickles, with h5py alone (no SDK needed).

A ``.csd`` file is HDF5 with one root group named after the sequence (e.g. ``COVAREP``) holding ``data/<video_id>/
intervals`` (n, 2) start/end seconds and ``data/<video_id>/features`` (n, d), plus ``metadata`` (JSON strings).
Word vectors (GloVe, 300-d) have one row per word, COVAREP audio (74-d) and Facet vision (47-d Facet 4.1 for MOSI,
35-d Facet 4.2) one row per frame, and the labels one row per annotated segment (the sentiment score first).

:func:`csd_to_mult` builds the MulT layout that :func:`affect_lib.data.mult.load_mult_pickle` reads. Aligned, it
gives the arrays of the SDK's pipeline ``align(words, collapse_functions=[avg])``, ``impute(words)``,
``align(labels)``, ``get_tensors`` (upstream CMU-MultimodalSDK; checked against the SDK's own ``align`` on the
cases in ``tests/data/csd_reference``):

- a segment is a label row of a video: ``video[i]``, ``i`` counting the rows of the labels file in the file's
  order (not by start time), the SDK's segment ids; a segment without a step in some modality is left out and
  counted (the SDK's ``get_tensors`` keeps only the segments every modality has);
- a frame or word belongs to an interval when they overlap by more than :data:`EPS` seconds, the SDK's epsilon
  (so words of zero length belong nowhere);
- **aligned**: each *whole* word is collapsed first: the audio and vision frames that overlap it are averaged
  (unweighted, the SDK tutorials' ``avg`` collapse function), and the collapsed word keeps the span of those frames
  (clipped to the word). The word then goes, with that one collapsed value, into every segment its span overlaps,
  not re-averaged over the part inside the segment; steps are in start-time order within each modality;
- a word without a frame in a modality gets zeros there and keeps its own span (the SDK's ``impute``, which fills
  the missing words with zeros); ``drop_frameless_words=True`` drops such words from all three modalities instead
  and counts them. Either way :class:`ConversionReport` counts them;
- **unaligned**: the frames of each modality that overlap the segment, in time order;
- every sequence is left zero-padded, or truncated to its last ``T`` steps, to the standard lengths (the SDK's
  ``get_tensors`` left padding; MulT: "left padding zeroes or truncating");
- MOSI keeps MulT's 5 COVAREP and 20 Facet columns (:data:`affect_lib.data.manifest.MULT_COLUMNS`);
- labels: MOSI/MOSEI sentiment (N, 1, 1) float32; IEMOCAP a (N, 4, 2) one-hot from the four presence columns
  (neutral, happy, sad, angry); ids (N, 3) ``(video, start, end)``, bytes for MOSI, str for MOSEI, none for IEMOCAP.

The standard folds of MOSI and MOSEI (the SDK's ``cmu_mosi_std_folds.py`` / ``cmu_mosei_std_folds.py`` lists of
video ids) ship as ``std_folds.json`` beside this module: :func:`standard_folds`.

NaN and ``-inf`` values are carried over as they are (the loader zeroes and counts them) and counted in the report.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import h5py
import numpy as np

from affect_lib.data.manifest import CSD_DIMS, CSD_FILES, MULT_COLUMNS, manifest_entry
from affect_lib.data.mult import EMOTIONS, MODALITIES, SPLITS, dataset_spec, mult_filename

EPS = 1e-5
"""Seconds: overlaps and interval lengths at or below this count as none (upstream SDK's epsilon)."""
SOURCES = (*MODALITIES, "labels")
FRAMED = ("audio", "vision")
_SEGMENT = re.compile(r"(.+)\[(\d+)\]")


class _Csd:
    """An open ``.csd`` file whose layout has been checked; entries are read on demand (the features of a whole
    corpus need not fit in memory)."""

    def __init__(
        self, path: str | os.PathLike[str], *, dim: int | None = None, what: str = "features"
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"computational sequence not found: {self.path} ({what})")
        try:
            self.h5 = h5py.File(self.path, "r")
        except OSError as err:
            raise ValueError(f"{self.path}: not an HDF5 computational sequence ({err})") from None
        roots = [k for k in self.h5 if isinstance(self.h5[k], h5py.Group)]
        if len(roots) != 1:
            self.h5.close()
            raise ValueError(f"{self.path}: expected one root group named after the sequence, found {roots}")
        self.root = roots[0]
        data = self.h5[self.root].get("data")
        if not isinstance(data, h5py.Group):
            self.h5.close()
            raise ValueError(f"{self.path}: missing group '{self.root}/data'")
        self.data, self.dim = data, dim

    def __contains__(self, video: str) -> bool:
        return video in self.data

    def videos(self) -> list[str]:
        return list(self.data)

    def entry(self, video: str, *, sort: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(intervals (n, 2) float64 seconds, features (n, d))`` of ``video``, sorted by start time (stable) or,
        with ``sort=False``, in the file's order."""
        where = f"{self.root}/data/{video}"
        group = self.data.get(video)
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{self.path}: missing group '{where}'")
        for name in ("intervals", "features"):
            if not isinstance(group.get(name), h5py.Dataset):
                raise ValueError(f"{self.path}: missing dataset '{where}/{name}'")
        intervals, features = group["intervals"][()], group["features"][()]
        if intervals.ndim != 2 or intervals.shape[1] != 2 or not np.issubdtype(intervals.dtype, np.number):
            raise ValueError(
                f"{self.path}: '{where}/intervals' has shape {intervals.shape}, expected (n, 2) start/end seconds"
            )
        if features.ndim != 2 or len(features) != len(intervals):
            raise ValueError(
                f"{self.path}: '{where}/features' has shape {features.shape}, expected ({len(intervals)}, d) "
                "(one row per interval)"
            )
        if not np.issubdtype(features.dtype, np.number):
            raise ValueError(f"{self.path}: '{where}/features' is {features.dtype}, not numeric")
        if self.dim is not None and features.shape[1] != self.dim:
            raise ValueError(
                f"{self.path}: '{where}/features' has width {features.shape[1]}, expected {self.dim}"
            )
        intervals = intervals.astype(np.float64)
        if not np.isfinite(intervals).all() or (intervals[:, 1] < intervals[:, 0]).any():
            raise ValueError(
                f"{self.path}: '{where}/intervals' has non-finite or reversed (end < start) rows"
            )
        if not sort:
            return intervals, features
        order = np.argsort(intervals[:, 0], kind="stable")
        return intervals[order], features[order]

    def close(self) -> None:
        self.h5.close()


def read_csd(
    path: str | os.PathLike[str], *, dim: int | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every entry of a ``.csd`` file: ``{video_id: (intervals (n, 2) float64 seconds, features (n, d))}``, rows
    sorted by start time.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not HDF5, no single root group with a ``data`` group, an entry without ``intervals`` or
            ``features``, intervals not (n, 2), features not (n, d) (or not ``dim`` wide, when given), reversed or
            non-finite intervals (one line naming the file and the field).
    """
    csd = _Csd(path, dim=dim)
    try:
        return {video: csd.entry(video) for video in csd.videos()}
    finally:
        csd.close()


def standard_folds(dataset: str) -> dict[str, list[str]]:
    """The SDK's standard folds of ``mosi`` or ``mosei``: ``{"train", "valid", "test"} -> video ids``.

    They are the lists of ``cmu_mosi_std_folds.py`` / ``cmu_mosei_std_folds.py`` (CMU-MultimodalSDK,
    ``mmsdk/mmdatasdk/dataset/standard_datasets``), shipped as ``std_folds.json``, whose ``source`` entry names the
    copy each was taken from. MOSI 52 / 10 / 31 videos, MOSEI 2,249 / 300 / 678.

    Raises:
        ValueError: a dataset without standard folds (IEMOCAP).
    """
    name = dataset_spec(dataset).name
    folds = json.loads(resources.files("affect_lib.data").joinpath("std_folds.json").read_text())
    if name not in folds:
        raise ValueError(f"the SDK has no standard folds for {name} (only mosi and mosei): give splits")
    return {split: list(folds[name][split]) for split in SPLITS}


@dataclass
class ConversionReport:
    """What :func:`csd_to_mult` wrote, over the whole corpus: ``sizes`` per split; aligned, ``zero_filled_words``
    (per modality: words without a frame there, filled with zeros) and ``dropped_words`` (words without a frame in
    audio or vision, dropped with ``drop_frameless_words=True``), both counted once per segment a word falls in;
    ``empty_segments`` (a modality without any word or frame: left out), ``missing_videos`` (standard folds only:
    fold videos absent from a source, skipped as the SDK does), ``truncated`` sequences per modality and
    ``nonfinite`` NaN/inf values per modality (``-inf`` audio included)."""

    path: Path
    sizes: dict[str, int]
    zero_filled_words: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FRAMED, 0))
    dropped_words: int = 0
    empty_segments: int = 0
    missing_videos: list[str] = field(default_factory=list)
    truncated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODALITIES, 0))
    nonfinite: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODALITIES, 0))


def csd_to_mult(
    sources: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
    dataset: str,
    aligned: bool,
    splits: Mapping[str, Sequence[str]] | None,
    out: str | os.PathLike[str],
    *,
    lengths: tuple[int, int, int] | None = None,
    mult_columns: bool = True,
    drop_frameless_words: bool = False,
    overwrite: bool = False,
) -> ConversionReport:
    """Convert computational sequences to a MulT pickle (see the module docstring for the alignment rules).

    Args:
        sources: a folder holding the SDK's standard files (:data:`affect_lib.data.manifest.CSD_FILES`, MOSI and
            MOSEI), or a mapping ``{"text", "audio", "vision", "labels"} -> .csd path``.
        dataset: ``mosi``, ``mosei`` or ``iemocap``.
        aligned: word-aligned (``*_data.pkl``) or raw frame sequences (``*_data_noalign.pkl``).
        splits: ``{"train", "valid", "test"}`` -> video ids (all their labelled segments, as the SDK's standard
            folds) or segment ids ``video[i]`` (``i``: the label row in the file's order). ``None``: the SDK's
            standard folds (:func:`standard_folds`; MOSI and MOSEI), whose videos missing from a source are
            skipped and listed in the report.
        out: a folder (the file gets the MulT name) or a ``.pkl`` path.
        lengths: ``(T_text, T_audio, T_vision)``; default the manifest's (50/50/50, 50/500/500, ...).
        mult_columns: keep only MulT's COVAREP/Facet columns where it drops some (MOSI: 5 and 20).
        drop_frameless_words: aligned: drop the words without a frame in audio or vision from all three
            modalities (counted) instead of filling them with zeros as the SDK's ``impute`` does.
        overwrite: replace an existing output file.

    Returns:
        A :class:`ConversionReport`.

    Raises:
        FileExistsError: the output exists and ``overwrite`` is false (checked before any work).
        FileNotFoundError: a source file is missing.
        ValueError: a malformed source (see :func:`read_csd`), wrong feature widths, bad split lists, or a video of
            a given split absent from a source (one line naming the file and the field).
    """
    spec = dataset_spec(dataset)
    target = Path(out)
    if target.suffix != ".pkl":
        target = target / mult_filename(spec.name, aligned)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists: pass --overwrite (overwrite=True in Python) to replace it")
    lengths = tuple(lengths or manifest_entry(spec.name, aligned).lengths)
    if len(lengths) != 3 or min(lengths) < 1 or (aligned and len(set(lengths)) != 1):
        raise ValueError(f"lengths must be 3 positive integers (equal when aligned), got {lengths}")
    standard = splits is None
    if standard:
        splits = standard_folds(spec.name)
    paths = _source_paths(sources, spec.name)
    if set(splits) != set(SPLITS):
        raise ValueError(f"splits must have exactly the keys {SPLITS}, got {sorted(splits)}")
    columns = MULT_COLUMNS.get(spec.name, {}) if mult_columns else {}
    dims = CSD_DIMS[spec.name]
    csds = {m: _Csd(paths[m], dim=dims[m], what=m) for m in MODALITIES}
    csds["labels"] = _Csd(paths["labels"], what="labels")
    report = ConversionReport(target, {})
    try:
        segments = _split_segments(splits, csds, report.missing_videos if standard else None)
        corpus = {
            name: _convert_split(
                segments[name], csds, spec.name, aligned, lengths, columns, drop_frameless_words, report
            )
            for name in SPLITS
        }
    finally:
        for csd in csds.values():
            csd.close()
    report.sizes = {name: len(split["labels"]) for name, split in corpus.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(corpus, fh, protocol=4)
    tmp.replace(target)
    return report


def _source_paths(
    sources: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]], dataset: str
) -> dict[str, Path]:
    if isinstance(sources, Mapping):
        missing = [k for k in SOURCES if k not in sources]
        if missing:
            raise ValueError(f"sources lacks {missing}: give a .csd path for each of {SOURCES}")
        return {k: Path(sources[k]) for k in SOURCES}
    folder = Path(sources)
    if dataset not in CSD_FILES:
        raise ValueError(
            f"the SDK has no standard {dataset} files: pass sources={{{', '.join(SOURCES)}: path}}"
        )
    if not folder.is_dir():
        raise FileNotFoundError(f"computational sequence folder not found: {folder}")
    return {k: folder / name for k, name in CSD_FILES[dataset].items()}


def _split_segments(
    splits: Mapping[str, Sequence[str]], csds: dict[str, _Csd], missing: list[str] | None
) -> dict[str, list[tuple[str, int]]]:
    """``{split: [(video, label row)]}``, every video checked against every source. With a ``missing`` list (the
    standard folds), a video absent from a source is skipped and appended to it instead of refused."""
    labels = csds["labels"]
    out: dict[str, list[tuple[str, int]]] = {}
    seen: dict[tuple[str, int], str] = {}
    for name in SPLITS:
        if isinstance(splits[name], str | bytes) or not isinstance(splits[name], Iterable):
            raise ValueError(f"splits[{name!r}] must be a list of video or segment ids, not {splits[name]!r}")
        out[name] = []
        for k, item in enumerate(splits[name]):
            if not isinstance(item, str):
                raise ValueError(f"splits[{name!r}][{k}] is {item!r}, not a video or segment id string")
            match = _SEGMENT.fullmatch(item)
            video = match.group(1) if match else item
            absent = [(key, csd) for key, csd in csds.items() if video not in csd]
            if absent and missing is not None:
                missing.append(video)
                continue
            for key, csd in absent:
                raise ValueError(
                    f"{csd.path}: split {name!r} lists {item!r}, but '{csd.root}/data/{video}' is absent ({key})"
                )
            count = len(labels.entry(video, sort=False)[0])
            indices = [int(match.group(2))] if match else range(count)
            for i in indices:
                if i >= count:
                    raise ValueError(
                        f"{labels.path}: split {name!r} lists {item!r}, but {video} has {count} segments"
                    )
                if (video, i) in seen:
                    raise ValueError(f"segment {video}[{i}] is in both {seen[video, i]!r} and {name!r}")
                seen[video, i] = name
                out[name].append((video, i))
    return out


def _convert_split(
    segments: list[tuple[str, int]],
    csds: dict[str, _Csd],
    dataset: str,
    aligned: bool,
    lengths: tuple[int, ...],
    columns: dict[str, tuple[int, ...]],
    drop_frameless: bool,
    report: ConversionReport,
) -> dict[str, np.ndarray]:
    by_video: dict[str, list[int]] = {}
    for video, i in segments:
        by_video.setdefault(video, []).append(i)
    rows: dict[str, list[np.ndarray]] = {m: [] for m in MODALITIES}
    labels, ids = [], []
    for video, indices in by_video.items():
        entries = {m: csds[m].entry(video) for m in FRAMED}
        for m, cols in columns.items():
            entries[m] = (entries[m][0], entries[m][1][:, list(cols)])
        words = csds["text"].entry(video, sort=not aligned)
        if aligned:
            collapsed = _collapse_words(words, entries, drop_frameless)
        label_iv, label_feat = csds["labels"].entry(video, sort=False)  # segment i: the file's row i
        for i in indices:
            if aligned:
                sequences = _aligned_segment(collapsed, label_iv[i], drop_frameless, report)
            else:
                sequences = _unaligned_segment(words, entries, label_iv[i])
            if sequences is None:
                report.empty_segments += 1
                continue
            for m, length in zip(MODALITIES, lengths, strict=True):
                seq = sequences[m]
                report.truncated[m] += int(len(seq) > length)
                report.nonfinite[m] += int(np.count_nonzero(~np.isfinite(seq)))
                rows[m].append(_left_pad(seq, length))
            labels.append(_label(label_feat[i], dataset, csds["labels"].path, video, i))
            start, end = label_iv[i]
            ids.append((video, str(float(start)), str(float(end))))
    split = {m: _stack(rows[m], lengths[k], csds[m], columns.get(m)) for k, m in enumerate(MODALITIES)}
    if dataset == "iemocap":
        split["labels"] = np.array(labels, dtype=np.float32).reshape(-1, len(EMOTIONS), 2)
    else:
        split["labels"] = np.array(labels, dtype=np.float32).reshape(-1, 1, 1)
        split["id"] = np.array(ids, dtype="S" if dataset == "mosi" else "U").reshape(-1, 3)
    return split


def _overlap(intervals: np.ndarray, start: np.ndarray | float, end: np.ndarray | float) -> np.ndarray:
    """Seconds of overlap between each row of ``intervals`` and ``[start, end]`` (broadcast; negative: none)."""
    return np.minimum(intervals[..., 1], end) - np.maximum(intervals[..., 0], start)


def _unaligned_segment(
    words: tuple[np.ndarray, np.ndarray],
    entries: dict[str, tuple[np.ndarray, np.ndarray]],
    segment: np.ndarray,
) -> dict[str, np.ndarray] | None:
    """The words and the frames of each modality that overlap ``segment``, in time order; ``None`` when a
    modality has none."""
    sequences = {"text": words[1][_overlap(words[0], *segment) > EPS]}
    for m in FRAMED:
        sequences[m] = entries[m][1][_overlap(entries[m][0], *segment) > EPS]
    return sequences if all(len(seq) for seq in sequences.values()) else None


@dataclass
class _Collapsed:
    """The words of one video collapsed per modality: ``spans`` (n, 2) and ``values`` (n, d), ``order`` (the
    word indices in the SDK's step order: by span start, stable over the framed words then the zero-filled ones,
    each in the file's order) and ``frameless`` (n,) for the zero-filled words."""

    spans: np.ndarray
    values: np.ndarray
    order: np.ndarray
    frameless: np.ndarray


def _collapse_words(
    words: tuple[np.ndarray, np.ndarray],
    entries: dict[str, tuple[np.ndarray, np.ndarray]],
    drop_frameless: bool,
) -> dict[str, _Collapsed]:
    """Each whole word (file order; zero-length words left out) collapsed in every modality: text keeps its
    vector and span; audio and vision average the frames overlapping the word by more than :data:`EPS`, the span
    being theirs clipped to the word, or zeros and the word's span without such a frame."""
    spans, vectors = words
    keep = spans[:, 1] - spans[:, 0] > EPS  # a word this short can overlap nothing by more than EPS
    spans, vectors = spans[keep], vectors[keep]
    out = {"text": _Collapsed(spans, vectors, np.zeros(0, dtype=np.intp), np.zeros(len(spans), dtype=bool))}
    for m in FRAMED:
        frames, feats = entries[m]
        # frames are sorted by start: those from `lo` (the running maximum of ends passes the word's start) to
        # `hi` (starts before the word's end) are the only ones that can overlap a word
        hi = np.searchsorted(frames[:, 0], spans[:, 1], side="left")
        lo = (
            np.searchsorted(np.maximum.accumulate(frames[:, 1]), spans[:, 0], side="right")
            if len(frames)
            else hi
        )
        values = np.zeros((len(spans), feats.shape[1]), dtype=np.result_type(feats.dtype, np.float32))
        spans_m, frameless = spans.copy(), np.ones(len(spans), dtype=bool)
        for j, (start, end) in enumerate(spans):
            near = frames[lo[j] : hi[j]]
            hits = _overlap(near, start, end) > EPS
            if hits.any():
                values[j] = feats[lo[j] : hi[j]][hits].mean(0)
                spans_m[j] = np.maximum(near[hits, 0], start).min(), np.minimum(near[hits, 1], end).max()
                frameless[j] = False
        out[m] = _Collapsed(spans_m, values, np.zeros(0, dtype=np.intp), frameless)
    if drop_frameless:
        dropped = out["audio"].frameless | out["vision"].frameless
        for c in out.values():
            c.frameless = dropped  # drop these words everywhere (text included)
    for c in out.values():
        stacked = np.concatenate([np.flatnonzero(~c.frameless), np.flatnonzero(c.frameless)])
        c.order = stacked[np.argsort(c.spans[stacked, 0], kind="stable")]
    return out


def _aligned_segment(
    collapsed: dict[str, _Collapsed], segment: np.ndarray, drop_frameless: bool, report: ConversionReport
) -> dict[str, np.ndarray] | None:
    """The collapsed words of each modality whose span overlaps ``segment`` by more than :data:`EPS`, in step
    order; ``None`` when a modality has none."""
    sequences = {}
    for m, c in collapsed.items():
        members = c.order[_overlap(c.spans[c.order], *segment) > EPS]
        if drop_frameless:
            if m == "text":
                report.dropped_words += int(np.count_nonzero(c.frameless[members]))
            members = members[~c.frameless[members]]
        elif m in FRAMED:
            report.zero_filled_words[m] += int(np.count_nonzero(c.frameless[members]))
        if not len(members):
            return None
        sequences[m] = c.values[members]
    return sequences


def _left_pad(seq: np.ndarray, length: int) -> np.ndarray:
    """``(length, d)`` float32: the last ``length`` steps of ``seq``, zero-padded on the left."""
    out = np.zeros((length, seq.shape[1]), dtype=np.float32)
    tail = seq[-length:]
    out[length - len(tail) :] = tail
    return out


def _stack(rows: list[np.ndarray], length: int, csd: _Csd, cols: tuple[int, ...] | None) -> np.ndarray:
    width = len(cols) if cols else csd.dim
    return np.stack(rows) if rows else np.zeros((0, length, width), dtype=np.float32)


def _label(row: np.ndarray, dataset: str, path: Path, video: str, i: int) -> np.ndarray:
    where = f"{path}: labels of {video}[{i}]"
    if dataset != "iemocap":
        if not np.isfinite(row[0]) or abs(row[0]) > 3:
            raise ValueError(f"{where}: sentiment {row[0]} is not a finite score in [-3, 3]")
        return row[:1]
    if row.shape != (len(EMOTIONS),) or not np.isin(row, (0, 1)).all():
        raise ValueError(f"{where}: expected {len(EMOTIONS)} presence flags (0/1) for {EMOTIONS}, got {row}")
    return np.stack([1 - row, row], axis=-1)
