"""The MulT pickles of CMU-MOSI, CMU-MOSEI and IEMOCAP: safe loading, validation and a torch data layer.

The files (``mosi_data.pkl``, ``mosi_data_noalign.pkl``, ``mosei_senti_data.pkl``, ``..._noalign.pkl``,
``iemocap_data.pkl``, ``iemocap_data_noalign.pkl``) hold ``dict(train=..., valid=..., test=...)``; each split is a
dict of numpy arrays ``text`` (N, T_l, 300), ``audio`` (N, T_a, d_a), ``vision`` (N, T_v, d_v), ``labels`` and,
except for IEMOCAP, ``id``. Labels are sentiment scores in [-3, 3] of shape (N, 1, 1) for MOSI/MOSEI and a 2-way
one-hot (N, 4, 2) over the emotions Neutral, Happy, Sad, Angry for IEMOCAP.

:func:`load_mult_pickle` reads such a file through a restricted unpickler (numpy arrays and plain containers only:
a pickle that references anything else is refused before any of it runs), validates dimensions, lengths, labels
and values, and applies the original loader's cleaning (float32; ``audio == -inf`` set to 0, counted). NaN and
other infinite features are set to 0 as the SDK-based loaders do (``np.nan_to_num`` in the CMU-MultimodalSDK
tutorials' MOSI/MOSEI loaders), counted per modality and reported. A modality without one finite value in a split
is refused: it would train on zeros. Arrays are converted in place and each raw array is released as soon as it is
converted, so the peak memory is about one copy of the file (measured, tracemalloc: 1.0x the file
for float32 arrays pickled with protocol 4, 1.2x for float64, 1.45x for protocol 2, whose array bytes pass through a
latin-1 string; the earlier loader peaked at 2.0-2.45x). With ``check_manifest=True`` the file is also compared
with its entry in :mod:`affect_lib.data.manifest` (split sizes, dims, lengths).
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from affect_lib.data.manifest import STANDIN_KEY
from affect_lib.data.manifest import check_manifest as check_against_manifest

SPLITS = ("train", "valid", "test")
MODALITIES = ("text", "audio", "vision")
EMOTIONS = ("neutral", "happy", "sad", "angry")
"""IEMOCAP's four binary tasks, in the order of the label axis."""


@dataclass(frozen=True)
class MultDatasetSpec:
    """What a MulT corpus must look like (its training settings are recipes: :mod:`affect_lib.recipes`).

    Attributes:
        name: ``"mosi"``, ``"mosei"`` or ``"iemocap"``.
        file_stem: the file-name prefix (``mosei_senti`` for MOSEI).
        dims: accepted ``(d_text, d_audio, d_vision)`` combinations; the first is the standard one.
        task: ``"sentiment"`` (regression, labels (N, 1, 1)) or ``"emotions"`` (labels (N, 4, 2)).
        out_dim: model output width (1, or 4 emotions x 2 logits).
    """

    name: str
    file_stem: str
    dims: tuple[tuple[int, int, int], ...]
    task: str
    out_dim: int

    @property
    def default_dims(self) -> tuple[int, int, int]:
        return self.dims[0]


DATASETS: dict[str, MultDatasetSpec] = {
    "mosi": MultDatasetSpec(
        "mosi",
        "mosi",
        # 5/20 (COVAREP/Facet subsets, the MulT pickles), 74/35 (MulT's appendix), 74/47 (other packagings)
        dims=((300, 5, 20), (300, 74, 35), (300, 74, 47)),
        task="sentiment",
        out_dim=1,
    ),
    "mosei": MultDatasetSpec(
        "mosei",
        "mosei_senti",
        dims=((300, 74, 35),),
        task="sentiment",
        out_dim=1,
    ),
    "iemocap": MultDatasetSpec(
        "iemocap",
        "iemocap",
        dims=((300, 74, 35),),
        task="emotions",
        out_dim=2 * len(EMOTIONS),
    ),
}
_ALIASES = {"mosei_senti": "mosei"}


def dataset_spec(name: str) -> MultDatasetSpec:
    """The :class:`MultDatasetSpec` of ``name`` (``mosi``, ``mosei``/``mosei_senti``, ``iemocap``)."""
    key = _ALIASES.get(name, name)
    if key not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[key]


def mult_filename(dataset: str, aligned: bool) -> str:
    """The MulT file name: ``mosei_senti_data.pkl`` (aligned) or ``mosei_senti_data_noalign.pkl``."""
    return f"{dataset_spec(dataset).file_stem}_data{'' if aligned else '_noalign'}.pkl"


# ---- restricted unpickling -----------------------------------------------------------------------------------
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # protocol-2 pickles store array bytes as latin-1 text
    ("collections", "OrderedDict"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays, dtypes and plain containers; any other global is refused before it is created."""

    def find_class(self, module: str, name: str) -> Any:
        module = re.sub(r"^numpy\.core\b", "numpy._core", module)  # pickles written by numpy < 2
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def restricted_load(path: str | os.PathLike[str], *, what: str = "pickle") -> Any:
    """Unpickle ``path`` admitting only numpy arrays and plain containers.

    ``what`` names the file in the errors (e.g. ``"MulT pickle"``, ``"AU pickle"``); every error names ``path``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is truncated, not a pickle, or references anything but numpy arrays (refused
            without running it).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder, not a file: point to the .pkl file itself")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with path.open("rb") as fh:  # streamed: the file's bytes are never held beside the arrays
            return _NumpyOnlyUnpickler(fh).load()
    except pickle.UnpicklingError as err:
        if str(err).startswith("refusing"):
            raise ValueError(
                f"{path} is not a plain data pickle: {err}, which could run code; nothing was executed"
            ) from err
        raise ValueError(f"{path} is not a readable pickle ({err})") from err
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError) as err:
        raise ValueError(f"{path} is truncated or not a pickle ({type(err).__name__}: {err})") from err


# ---- validated corpus ----------------------------------------------------------------------------------------
@dataclass
class MultSplit:
    """One split: float32 arrays ``text`` (N, T_l, d_l), ``audio`` (N, T_a, d_a), ``vision`` (N, T_v, d_v);
    ``labels`` float32 (N, 1) sentiment or int64 (N, 4) emotion presence (0/1); ``ids`` (N, ...) str or None;
    ``zeroed``: per modality, how many NaN or infinite feature values were set to 0 (audio ``-inf`` aside);
    ``audio_minus_inf``: how many audio ``-inf`` values were set to 0 (the original loader's cleaning)."""

    text: np.ndarray
    audio: np.ndarray
    vision: np.ndarray
    labels: np.ndarray
    ids: np.ndarray | None = None
    zeroed: dict[str, int] = field(default_factory=dict)
    audio_minus_inf: int = 0

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class MultCorpus:
    """A validated MulT corpus: ``corpus["train"]`` etc. are :class:`MultSplit`; ``standin``: the file carries the
    stand-in marker (:data:`affect_lib.data.manifest.STANDIN_KEY`)."""

    dataset: str
    aligned: bool
    splits: dict[str, MultSplit]
    standin: bool = False

    def __getitem__(self, split: str) -> MultSplit:
        if split not in self.splits:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.splits[split]

    @property
    def dims(self) -> tuple[int, int, int]:
        """``(d_text, d_audio, d_vision)``."""
        s = self.splits["train"]
        return s.text.shape[2], s.audio.shape[2], s.vision.shape[2]

    @property
    def lengths(self) -> tuple[int, int, int]:
        """``(T_text, T_audio, T_vision)``."""
        s = self.splits["train"]
        return s.text.shape[1], s.audio.shape[1], s.vision.shape[1]

    def sizes(self) -> dict[str, int]:
        return {name: len(split) for name, split in self.splits.items()}

    @property
    def zeroed(self) -> dict[str, int]:
        """NaN or infinite feature values set to 0, per modality over all splits (audio ``-inf`` aside)."""
        return {m: sum(s.zeroed.get(m, 0) for s in self.splits.values()) for m in MODALITIES}

    @property
    def audio_minus_inf(self) -> int:
        """Audio ``-inf`` values set to 0 over all splits (the original loader's cleaning of COVAREP's log(0))."""
        return sum(s.audio_minus_inf for s in self.splits.values())


def _infer_from_name(path: Path) -> tuple[str | None, bool | None]:
    match = re.fullmatch(r"(mosi|mosei_senti|iemocap)_data(_noalign)?", path.stem)
    if match is None:
        return None, None
    return _ALIASES.get(match.group(1), match.group(1)), match.group(2) is None


def load_mult_pickle(
    path: str | os.PathLike[str],
    dataset: str | None = None,
    aligned: bool | None = None,
    *,
    check_manifest: bool = False,
) -> MultCorpus:
    """Read and validate a MulT pickle.

    Args:
        path: the ``.pkl`` file.
        dataset: ``mosi``, ``mosei`` or ``iemocap``; inferred from the standard file names when ``None``.
        aligned: whether the corpus is word-aligned (equal lengths required); inferred from ``_noalign`` in the
            name, else from the lengths.
        check_manifest: also compare split sizes, dims and lengths with the released file's
            (:func:`affect_lib.data.manifest.check_manifest`); a stand-in (top-level key
            :data:`~affect_lib.data.manifest.STANDIN_KEY`) is exempt.

    Returns:
        A :class:`MultCorpus` with float32 features, ``audio == -inf`` replaced by 0 (as the original loader does;
        counted in ``corpus.audio_minus_inf``), other NaN/infinite features replaced by 0 and counted
        (``corpus.zeroed``; a warning names the file and the modalities), labels as float32 (N, 1) or int64
        (N, 4), and MOSI's bytes ids decoded as UTF-8.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a truncated, foreign or malicious pickle; missing splits or keys; features that are not numbers
            or a modality without one finite value in a split; wrong feature dimensions, inconsistent lengths or
            sample counts; labels of the wrong shape or values; with ``check_manifest``, a file that differs from
            its manifest entry.
    """
    path = Path(path)
    named_dataset, named_aligned = _infer_from_name(path)
    dataset = dataset if dataset is not None else named_dataset
    if dataset is None:
        raise ValueError(f"cannot tell the dataset from the file name {path.name!r}: pass dataset=...")
    spec = dataset_spec(dataset)
    aligned = aligned if aligned is not None else named_aligned
    raw = restricted_load(path, what="MulT pickle")
    if not isinstance(raw, dict) or any(s not in raw for s in SPLITS):
        found = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{path}: expected a dict with splits {SPLITS}, found {found}")
    standin = STANDIN_KEY in raw
    # each split dict is taken out of the unpickled object, so its raw arrays die as they are converted
    splits = {name: _validate_split(raw.pop(name), spec, f"{path.name}[{name!r}]") for name in SPLITS}
    del raw

    dims = {name: (s.text.shape[2], s.audio.shape[2], s.vision.shape[2]) for name, s in splits.items()}
    if dims["train"] not in spec.dims:
        raise ValueError(
            f"{path}: feature dims (text, audio, vision) = {dims['train']} do not match {spec.name} "
            f"(expected one of {list(spec.dims)})"
        )
    lengths = {name: (s.text.shape[1], s.audio.shape[1], s.vision.shape[1]) for name, s in splits.items()}
    for name in SPLITS:
        if dims[name] != dims["train"] or lengths[name] != lengths["train"]:
            raise ValueError(
                f"{path}: split {name!r} has dims {dims[name]} and lengths {lengths[name]}, but train has "
                f"{dims['train']} and {lengths['train']}"
            )
    equal = len(set(lengths["train"])) == 1
    if aligned is None:
        aligned = equal
    elif aligned and not equal:
        raise ValueError(
            f"{path}: an aligned corpus needs equal lengths (text, audio, vision), got {lengths['train']}"
        )
    corpus = MultCorpus(spec.name, aligned, splits, standin=standin)
    zeroed = corpus.zeroed
    if any(zeroed.values()):
        counts = ", ".join(f"{m} {n:,}" for m, n in zeroed.items() if n)
        warnings.warn(
            f"{path}: set NaN or infinite feature values to 0 (as the field's loaders do): {counts}",
            stacklevel=2,
        )
    if check_manifest and not standin:
        check_against_manifest(path, spec.name, aligned, corpus.sizes(), corpus.dims, corpus.lengths)
    return corpus


def _validate_split(raw: Any, spec: MultDatasetSpec, where: str) -> MultSplit:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a dict of arrays, got {type(raw).__name__}")
    missing = [k for k in (*MODALITIES, "labels") if k not in raw]
    if missing:
        raise ValueError(f"{where}: missing keys {missing} (found {sorted(raw)})")
    arrays, zeroed, minus_inf = {}, {}, 0
    for key in MODALITIES:
        value = raw.pop(key)  # the split no longer holds the raw array: converting it frees it
        if not isinstance(value, np.ndarray) or value.ndim != 3 or not np.issubdtype(value.dtype, np.number):
            kind = (
                f"shape {value.shape}, dtype {value.dtype}"
                if isinstance(value, np.ndarray)
                else type(value).__name__
            )
            raise ValueError(f"{where}: {key!r} must be a numeric array (N, T, d), got {kind}")
        arr = value.astype(np.float32, copy=False)  # no copy when the file already holds float32
        del value
        if not arr.flags.writeable:
            arr = arr.copy()
        cleaned = _clean_in_place(arr, audio=key == "audio")
        if arr.size and cleaned[0] + cleaned[1] == arr.size:
            raise ValueError(
                f"{where}: every {key!r} value ({arr.size:,}) is NaN or infinite, so this modality holds no data "
                "(it would train on zeros): rebuild the file from its source features"
            )
        minus_inf += cleaned[0]
        zeroed[key] = cleaned[1]
        arrays[key] = arr
    n = {key: len(arr) for key, arr in arrays.items()}
    labels = raw["labels"]
    if not isinstance(labels, np.ndarray):
        raise ValueError(f"{where}: 'labels' must be an array, got {type(labels).__name__}")
    n["labels"] = len(labels)
    if len(set(n.values())) != 1:
        raise ValueError(f"{where}: modalities and labels disagree on the number of samples: {n}")
    arrays["labels"] = _validate_labels(labels, spec, where)
    ids = raw.get("id")
    if ids is not None:
        ids = np.asarray(ids)
        if len(ids) != n["labels"]:
            raise ValueError(f"{where}: 'id' has {len(ids)} entries for {n['labels']} samples")
        if ids.dtype.kind == "S" or ids.dtype == object:
            ids = np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v), otypes=[str])(
                ids
            )
    return MultSplit(ids=ids, zeroed=zeroed, audio_minus_inf=minus_inf, **arrays)


def _clean_in_place(arr: np.ndarray, *, audio: bool, block_values: int = 1 << 20) -> tuple[int, int]:
    """Zero ``-inf`` audio (the original loader's cleaning of COVAREP's log(0)), then every other NaN or infinite
    value, a block of samples at a time so the masks stay small; returns the two counts."""
    rows = max(1, block_values // max(1, arr[0].size)) if len(arr) else 1
    minus_inf = count = 0
    for start in range(0, len(arr), rows):
        block = arr[start : start + rows]
        if audio:
            mask = block == -np.inf
            minus_inf += int(np.count_nonzero(mask))
            block[mask] = 0.0
        bad = ~np.isfinite(block)
        n = int(np.count_nonzero(bad))
        if n:
            block[bad] = 0.0
            count += n
    return minus_inf, count


def _validate_labels(labels: np.ndarray, spec: MultDatasetSpec, where: str) -> np.ndarray:
    n = len(labels)
    if spec.task == "sentiment":
        if labels.shape not in ((n, 1, 1), (n, 1), (n,)):
            raise ValueError(f"{where}: {spec.name} labels must have shape (N, 1, 1), got {labels.shape}")
        values = labels.astype(np.float32).reshape(n, 1)
        if not np.isfinite(values).all() or np.abs(values).max(initial=0) > 3:
            raise ValueError(f"{where}: {spec.name} sentiment labels must be finite and within [-3, 3]")
        return values
    if labels.shape != (n, len(EMOTIONS), 2):
        raise ValueError(
            f"{where}: IEMOCAP labels must have shape (N, 4, 2) (one-hot per emotion), got {labels.shape}"
        )
    if not np.isin(labels, (0, 1)).all() or not (labels.sum(-1) == 1).all():
        raise ValueError(f"{where}: IEMOCAP labels must be one-hot over their last axis")
    return labels.argmax(-1).astype(np.int64)


# ---- torch data layer ----------------------------------------------------------------------------------------
class MultDataset(Dataset):
    """Items ``((text, audio, vision), label)`` of one :class:`MultSplit` as float32 / int64 tensors."""

    def __init__(self, split: MultSplit) -> None:
        self.features = tuple(torch.from_numpy(getattr(split, m)) for m in MODALITIES)
        self.labels = torch.from_numpy(split.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        return tuple(f[index] for f in self.features), self.labels[index]


def make_loaders(
    corpus: MultCorpus,
    batch_size: int,
    *,
    eval_batch_size: int | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> dict[str, DataLoader]:
    """``{"train", "valid", "test"}`` loaders; only train shuffles (with the global torch RNG, which the
    trainer reseeds every epoch). ``eval_batch_size`` defaults to ``batch_size``; ``pin_memory`` for CUDA."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return {
        name: DataLoader(
            MultDataset(corpus[name]),
            batch_size=batch_size if name == "train" else (eval_batch_size or batch_size),
            shuffle=name == "train",
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=num_workers > 0,
        )
        for name in SPLITS
    }
