"""What the real MulT pickles must look like: file names, split sizes, feature dims, lengths and checksums.

One :class:`ManifestEntry` per dataset and alignment (:data:`MANIFEST`), with where each number comes from
(``/work/shared/reference/emotion.md`` §3 and the issue threads it cites). :func:`check_manifest` compares a loaded
file against its entry; :func:`affect_lib.data.mult.load_mult_pickle` calls it when asked (``check_manifest=True``,
which the command line sets for a real data folder). Stand-ins written by :mod:`affect_lib.data.synthetic_mult`
have other sizes by design and carry the top-level key :data:`STANDIN_KEY`, which exempts them.

No SHA-256 of the released pickles is published by their authors, so every ``sha256`` is ``"unknown"``; a hash is
checked only where one is known.

The module also names the CMU-MultimodalSDK computational sequences (``.csd``) the MulT pickles were built from
(:data:`CSD_FILES`, :data:`CSD_DIMS`) and the COVAREP/Facet columns the MOSI pickles keep (:data:`MULT_COLUMNS`),
for :mod:`affect_lib.data.csd`.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

STANDIN_KEY = "standin"
"""Top-level key of a stand-in pickle (any value): such a file is exempt from :func:`check_manifest`."""
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ManifestEntry:
    """The expected content of one MulT pickle.

    Attributes:
        dataset: ``mosi``, ``mosei`` or ``iemocap``.
        aligned: word-aligned (``*_data.pkl``) or not (``*_data_noalign.pkl``).
        file: the file name.
        sizes: accepted sample counts per split (more than one where the sources disagree).
        dims: ``(d_text, d_audio, d_vision)``.
        lengths: ``(T_text, T_audio, T_vision)``.
        lengths_verified: whether a source confirms ``lengths`` (else a mismatch only warns).
        sha256: hex digest of the file, or ``"unknown"``.
        source: where the numbers come from.
    """

    dataset: str
    aligned: bool
    file: str
    sizes: dict[str, tuple[int, ...]]
    dims: tuple[int, int, int]
    lengths: tuple[int, int, int]
    lengths_verified: bool
    sha256: str
    source: str


_MOSI_SIZES = {"train": (1284,), "valid": (229,), "test": (686,)}
_IEMOCAP_SIZES = {"train": (2717,), "valid": (798, 789), "test": (938,)}


def _entry(
    dataset: str,
    aligned: bool,
    file: str,
    sizes: dict[str, tuple[int, ...]],
    dims: tuple[int, int, int],
    lengths: tuple[int, int, int],
    verified: bool,
    source: str,
) -> ManifestEntry:
    return ManifestEntry(dataset, aligned, file, sizes, dims, lengths, verified, UNKNOWN, source)


# fmt: off
MANIFEST: dict[tuple[str, bool], ManifestEntry] = {
    (e.dataset, e.aligned): e
    for e in (
        _entry(
            "mosi", True, "mosi_data.pkl", _MOSI_SIZES, (300, 5, 20), (50, 50, 50), True,
            "sizes: MulT paper; dims 5/20: SDK issue #172; lengths: the seq_length_50 folder",
        ),
        _entry(
            "mosi", False, "mosi_data_noalign.pkl", _MOSI_SIZES, (300, 5, 20), (50, 375, 500), True,
            "sizes: MulT paper; dims: SDK issue #172; lengths 50/375/500: MulT issue #3",
        ),
        _entry(
            "mosei", True, "mosei_senti_data.pkl", {"train": (16265,), "valid": (1869,), "test": (4643,)},
            (300, 74, 35), (50, 50, 50), True,
            "sizes: MulT paper (train/test also from the LMR-CBT logs' k/N analysis); lengths: seq_length_50",
        ),
        _entry(
            "mosei", False, "mosei_senti_data_noalign.pkl",
            {"train": (16326,), "valid": (1871,), "test": (4659,)}, (300, 74, 35), (50, 500, 500), False,
            "train/test: the LMR-CBT logs' k/N analysis and batch counts; valid and lengths recalled (unverified)",
        ),
        _entry(
            "iemocap", True, "iemocap_data.pkl", _IEMOCAP_SIZES, (300, 74, 35), (20, 20, 20), True,
            "sizes: SDK issue #200 (valid 798; MulT issue #6 reports 789); length 20: SDK issue #302",
        ),
        _entry(
            "iemocap", False, "iemocap_data_noalign.pkl", _IEMOCAP_SIZES, (300, 74, 35), (20, 400, 500), False,
            "sizes as aligned (SDK #200, MulT #6); lengths 20/400/500 recalled (unverified)",
        ),
    )
}
# fmt: on

CSD_FILES: dict[str, dict[str, str]] = {
    # the SDK's standard computational sequences (mmsdk/mmdatasdk/dataset/standard_datasets); IEMOCAP has none
    "mosi": {
        "text": "CMU_MOSI_TimestampedWordVectors.csd",
        "audio": "CMU_MOSI_COVAREP.csd",
        "vision": "CMU_MOSI_Visual_Facet_41.csd",
        "labels": "CMU_MOSI_Opinion_Labels.csd",
    },
    "mosei": {
        "text": "CMU_MOSEI_TimestampedWordVectors.csd",
        "audio": "CMU_MOSEI_COVAREP.csd",
        "vision": "CMU_MOSEI_VisualFacet42.csd",
        "labels": "CMU_MOSEI_Labels.csd",
    },
}
CSD_DIMS: dict[str, dict[str, int]] = {
    # feature widths of the computational sequences: GloVe 300, COVAREP 74, Facet 4.1 47 (MOSI) / Facet 4.2 35
    "mosi": {"text": 300, "audio": 74, "vision": 47},
    "mosei": {"text": 300, "audio": 74, "vision": 35},
    "iemocap": {"text": 300, "audio": 74, "vision": 35},
}
MULT_COLUMNS: dict[str, dict[str, tuple[int, ...]]] = {
    # the feature columns the MulT MOSI pickles keep (SDK issue #172): 5 of COVAREP's 74, 20 of Facet 4.1's 47
    "mosi": {
        "audio": (1, 3, 6, 25, 60),
        "vision": (0, 2, 5, 10, 11, 12, 14, 17, 20, 21, 22, 24, 25, 29, 30, 31, 32, 36, 37, 40),
    },
}


def manifest_entry(dataset: str, aligned: bool) -> ManifestEntry:
    """The :class:`ManifestEntry` of ``dataset`` (``mosi``, ``mosei``, ``iemocap``) and alignment."""
    key = (dataset, bool(aligned))
    if key not in MANIFEST:
        raise ValueError(
            f"no manifest entry for dataset {dataset!r} (one of {sorted({d for d, _ in MANIFEST})})"
        )
    return MANIFEST[key]


def sha256_of(path: str | os.PathLike[str], chunk: int = 1 << 24) -> str:
    """Hex SHA-256 of a file, read in ``chunk``-byte pieces."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_manifest(
    path: str | os.PathLike[str],
    dataset: str,
    aligned: bool,
    sizes: dict[str, int],
    dims: tuple[int, int, int],
    lengths: tuple[int, int, int],
) -> ManifestEntry:
    """Compare a loaded MulT file with its manifest entry.

    Args:
        path: the file (named in every message; its SHA-256 is checked where the manifest knows it).
        dataset, aligned: which entry.
        sizes: samples per split; dims, lengths: ``(text, audio, vision)``.

    Returns:
        The entry.

    Raises:
        ValueError: split sizes, dims or verified lengths differ, or a known SHA-256 does not match (one line
            naming the file and the field). Unverified lengths that differ give a warning instead.
    """
    entry = manifest_entry(dataset, aligned)
    name = Path(path)
    for split, accepted in entry.sizes.items():
        if sizes.get(split) not in accepted:
            want = " or ".join(f"{n:,}" for n in accepted)
            raise ValueError(
                f"{name}: split {split!r} has {sizes.get(split)} samples, the released {entry.file} has {want} "
                f"({entry.source}); a different packaging? load it with check_manifest=False"
            )
    if tuple(dims) != entry.dims:
        raise ValueError(
            f"{name}: feature dims (text, audio, vision) = {tuple(dims)}, the released {entry.file} has "
            f"{entry.dims}; a different packaging? load it with check_manifest=False"
        )
    if tuple(lengths) != entry.lengths:
        message = (
            f"{name}: lengths (text, audio, vision) = {tuple(lengths)}, the manifest has {entry.lengths}"
        )
        if entry.lengths_verified:
            raise ValueError(f"{message} ({entry.source})")
        warnings.warn(f"{message} (unverified: {entry.source})", stacklevel=3)
    if entry.sha256 != UNKNOWN and sha256_of(path) != entry.sha256:
        raise ValueError(f"{name}: SHA-256 differs from the released {entry.file}'s {entry.sha256}")
    return entry
