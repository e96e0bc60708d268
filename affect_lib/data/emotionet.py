"""A GANimation-style face folder (EmotioNet, CelebA crops) with OpenFace action units, as a torch Dataset.

Expected layout of the data folder (that of the official GANimation code and donydchen's replicate)::

    DATA/
      imgs/                 face images <id>.jpg / .jpeg / .png, already cropped to the face and square
                            (e.g. CelebA's or EmotioNet's 128×128 crops; GANimation crops with face_recognition)
      aus_openface.pkl      the official table: a pickled dict <id> -> 17 OpenFace intensities on the 0-5 scale
                            (read by a restricted unpickler: numpy arrays and plain containers only), or
      aus_openface.csv      one OpenFace CSV for all images, with a ``filename`` (or ``file``, ``image``, ``name``,
                            ``id``, ``face``) column naming each row's image, or
      aus/<id>.csv          one ``FaceLandmarkImg -aus`` CSV per image (OpenFace's ``processed/`` folder works too)
      train_ids.csv         optional: one image name per line (with or without the extension) for training,
      test_ids.csv          optional: the same for testing; without train_ids.csv, training takes every
                            image that test_ids.csv does not list (the two files may not share an image)

The AUs are looked for in that order (the first one present is used; ``au_source=`` names a file or folder instead).
From an OpenFace CSV the 17 intensity columns ``AU01_r`` ... ``AU45_r`` are read by name in
:data:`~affect_lib.faces.facs.AU_CODES` order (OpenFace pads its headers with spaces, e.g. ``" AU01_r"``; they are
stripped). Rows with ``success`` 0 or ``confidence`` below ``min_confidence`` are skipped and counted
(:attr:`FaceAUs.skipped`); of several faces in one image the most confident valid row is kept. Intensities must
lie on OpenFace's 0-5 scale, up to :data:`AU_TOLERANCE` (a value beyond it is refused, naming the file and the
entry); they are divided by 5 and clipped to [0, 1] (GANimation's conditioning range). A table whose intensities
are all at most 1 is probably on the 0-1 scale already (and would be divided by 5 again): it is read as it is, with
a warning naming the file.

Each item is ``(image, aus, target)``: the image (3, S, S) in [-1, 1], its AUs (17,) in [0, 1], and the target AUs
of GANimation's recipe: the AUs of a random item of the split (drawn uniformly, the item itself included, as the
official ``_generate_random_cond``) plus U(−``target_noise``, ``target_noise``) noise, not clipped. The draw (and
the optional horizontal flip) comes from a generator seeded by ``(seed, epoch, index)``, so an item is the same in
any worker, order or resumed run; :meth:`FaceAUs.set_epoch` changes the draws per epoch.

Images are assumed to be pre-cropped, square faces: they are resized to S (bilinear). A non-square image is
refused unless ``center_crop=True``, which first cuts the centred square of the shorter side (no landmark
alignment is done here: align and crop the faces beforehand, as GANimation's preprocessing does).
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from affect_lib.data.mult import restricted_load
from affect_lib.faces.facs import AU_CODES, AU_MAX, N_AUS

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
AU_COLUMNS: tuple[str, ...] = tuple(f"AU{code:02d}_r" for code in AU_CODES)
"""OpenFace's intensity columns of the 17 AUs, in :data:`~affect_lib.faces.facs.AU_CODES` order."""
NAME_COLUMNS = ("filename", "file", "image", "name", "id", "face")
"""Columns that may name the image of a row in a single AU CSV (OpenFace's own ``face`` is a face index)."""
AU_SOURCES = ("aus_openface.pkl", "aus_openface.csv", "aus", "processed")
SPLITS = ("train", "test", "all")
AU_TOLERANCE = 0.05
"""How far an intensity may lie outside 0-5 (OpenFace slightly exceeds its range) before it is refused."""


@dataclass
class _Table:
    """AUs by image id on the 0-5 scale, where they came from, and the rows skipped (by reason)."""

    aus: dict[str, np.ndarray]
    source: Path
    skipped: dict[str, int] = field(default_factory=lambda: {"no_success": 0, "low_confidence": 0})


def image_id(name: str) -> str:
    """``"000001.jpg"`` -> ``"000001"``; a name without an image extension is kept as it is."""
    path = Path(name.strip())
    return path.stem if path.suffix.lower() in IMAGE_EXTS else path.name


def _float(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: column {column!r} holds {text!r}, not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: column {column!r} holds a non-finite value ({text!r})")
    return value


def _read_openface_csv(
    path: Path, min_confidence: float, skipped: dict[str, int]
) -> tuple[list[str], list[tuple[dict, float]]]:
    """The stripped header and the valid rows (row, confidence) of an OpenFace CSV; failed or unsure faces are
    skipped and counted in ``skipped``."""
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh, skipinitialspace=True)
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: not a readable CSV ({err})") from None
    missing = [c for c in AU_COLUMNS if c not in header]
    if missing:
        raise ValueError(
            f"{path}: no AU intensity columns {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} "
            f"(an OpenFace FaceLandmarkImg -aus CSV has the 17 columns {AU_COLUMNS[0]} ... {AU_COLUMNS[-1]})"
        )
    valid = []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"{path} line {number}"
        if "success" in row and _float(row["success"], where, "success") == 0:
            skipped["no_success"] += 1
            continue
        confidence = _float(row["confidence"], where, "confidence") if "confidence" in row else 1.0
        if confidence < min_confidence:
            skipped["low_confidence"] += 1
            continue
        row["_where"] = where
        valid.append((row, confidence))
    return header, valid


def _au_vector(row: dict[str, str]) -> np.ndarray:
    return np.array([_float(row[c], row["_where"], c) for c in AU_COLUMNS])


def _best(rows: list[tuple[dict, float]]) -> np.ndarray:
    return _au_vector(max(rows, key=lambda r: r[1])[0])


def _table_from_pickle(path: Path) -> _Table:
    table = restricted_load(path)
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected a dict image id -> 17 AU intensities, got {type(table).__name__}")
    aus = {}
    for key, value in table.items():
        try:
            vector = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: entry {key!r} is not a numeric AU vector") from None
        if vector.shape != (N_AUS,):
            raise ValueError(
                f"{path}: entry {key!r} has {vector.size} values, expected {N_AUS} AU intensities"
            )
        if not np.isfinite(vector).all():
            raise ValueError(f"{path}: entry {key!r} holds non-finite AU values")
        aus[image_id(str(key))] = vector
    return _Table(aus, path)


def _table_from_csv(path: Path, min_confidence: float) -> _Table:
    table = _Table({}, path)
    header, rows = _read_openface_csv(path, min_confidence, table.skipped)
    column = next((c for c in NAME_COLUMNS if c in header), None)
    if column == "face" and rows and all(r["face"].strip().isdigit() for r, _ in rows):
        column = None  # OpenFace's face index, not a file name
    if column is None:
        raise ValueError(
            f"{path}: no column naming the images (one of {', '.join(NAME_COLUMNS[:-1])}; a 'face' column of "
            "integers is OpenFace's face index); for one CSV per image use a folder aus/<id>.csv"
        )
    by_id: dict[str, list[tuple[dict, float]]] = {}
    for row, confidence in rows:
        by_id.setdefault(image_id(row[column]), []).append((row, confidence))
    table.aus = {key: _best(group) for key, group in by_id.items()}
    return table


def _table_from_folder(folder: Path, ids: list[str], min_confidence: float) -> _Table:
    table = _Table({}, folder)
    for key in ids:
        path = folder / f"{key}.csv"
        if path.is_file():
            _, rows = _read_openface_csv(path, min_confidence, table.skipped)
            if rows:
                table.aus[key] = _best(rows)
    return table


def _check_scale(table: _Table) -> None:
    """Refuse intensities off the 0-5 scale beyond :data:`AU_TOLERANCE`; warn when the whole table is <= 1."""
    for key, vector in table.aus.items():
        off = np.flatnonzero((vector < -AU_TOLERANCE) | (vector > AU_MAX + AU_TOLERANCE))
        if off.size:
            column, value = AU_COLUMNS[off[0]], vector[off[0]]
            raise ValueError(
                f"{table.source}: entry {key!r} has {column} = {value:g}, outside 0-{AU_MAX:g} (OpenFace's "
                f"intensity scale, tolerance {AU_TOLERANCE:g}); {off.size} value(s) of this entry are off the scale"
            )
    if table.aus:
        top = max(float(v.max()) for v in table.aus.values())
        if top <= 1.0:
            warnings.warn(
                f"{table.source}: every AU intensity is at most 1.0 (max {top:g}): the table looks already on "
                f"the 0-1 scale and would be divided by {AU_MAX:g} again; FaceAUs expects OpenFace's 0-{AU_MAX:g} "
                "intensities",
                stacklevel=3,
            )


def _read_ids(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable split file ({err})") from None
    ids = [image_id(line.split(",")[0].split("\t")[0]) for line in lines if line.strip()]
    if not ids:
        raise ValueError(f"{path}: the split file lists no images")
    return ids


class FaceAUs(Dataset):
    """The ``split`` of a GANimation-style folder (see the module docstring): items ``(image, aus, target)``.

    Args:
        root: the data folder (holding ``imgs/``).
        split: ``"train"`` (``train_ids.csv``, or without it every image not in ``test_ids.csv``), ``"test"`` (``test_ids.csv``, required)
            or ``"all"`` (every image in ``imgs/``).
        image_size: S, the side of the returned images (a multiple of 4 for the generator).
        au_source: an AU file (``.pkl`` or ``.csv``) or a folder of per-image CSVs; default: the first of
            :data:`AU_SOURCES` found in ``root``.
        min_confidence: OpenFace rows with a lower ``confidence`` are skipped (0 keeps every successful row).
        skip_missing: leave out images that have no AUs (e.g. OpenFace found no face, or only unsure ones)
            instead of raising; they are counted in ``skipped["no_aus"]``.
        center_crop: cut the centred square of non-square images before resizing (else they are refused).
        flip: random horizontal flip (GANimation's training augmentation).
        target_noise: half-width of the uniform noise added to the target AUs (GANimation: 0.1).
        seed: seeds the per-item draws of the target and the flip.

    Raises:
        FileNotFoundError: no ``imgs/`` folder, no AU source, or a missing split file.
        ValueError: an image without AUs, a CSV without the AU columns, a non-finite value or one off the 0-5
            scale, a bad split file, split files that share an image (each naming the file and the field).

    Warns:
        UserWarning: every intensity of the AU table is at most 1 (likely on the 0-1 scale already).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        image_size: int = 128,
        au_source: str | Path | None = None,
        min_confidence: float = 0.5,
        skip_missing: bool = False,
        center_crop: bool = False,
        flip: bool = False,
        target_noise: float = 0.1,
        seed: int = 0,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not isinstance(image_size, int) or image_size < 4 or image_size % 4:
            raise ValueError(f"image_size must be a positive multiple of 4, got {image_size!r}")
        if not 0 <= target_noise < 1:
            raise ValueError(f"target_noise must lie in [0, 1), got {target_noise!r}")
        self.root = Path(root)
        imgs = self.root / "imgs"
        if not imgs.is_dir():
            raise FileNotFoundError(f"{imgs}: no imgs/ folder of face images in the data folder {self.root}")
        files: dict[str, Path] = {}
        for path in sorted(imgs.iterdir()):
            if path.suffix.lower() in IMAGE_EXTS:
                if path.stem in files:
                    raise ValueError(
                        f"{imgs}: two images share the id {path.stem!r} ({files[path.stem].name}, "
                        f"{path.name})"
                    )
                files[path.stem] = path
        if not files:
            raise FileNotFoundError(f"{imgs}: no {'/'.join(IMAGE_EXTS)} images")
        ids = self._split_ids(split, files)
        table = self._table(au_source, ids, min_confidence)
        _check_scale(table)
        self.skipped = {**table.skipped, "no_aus": 0}
        keep = []
        for key in ids:
            if key in table.aus:
                keep.append(key)
            elif skip_missing:
                self.skipped["no_aus"] += 1
            else:
                raise ValueError(
                    f"image {files[key]} has no AUs in {table.source} (no row, or only rows with success 0 or "
                    f"confidence < {min_confidence}); pass skip_missing=True (--skip-missing-aus) to leave such "
                    "images out"
                )
        if not keep:
            raise ValueError(f"no image of the {split} split of {self.root} has AUs in {table.source}")
        self.ids, self.paths = keep, [files[k] for k in keep]
        self.aus = torch.tensor(
            np.clip(np.stack([table.aus[k] for k in keep]) / AU_MAX, 0, 1), dtype=torch.float32
        )
        self.au_source, self.split = table.source, split
        self.image_size, self.center_crop, self.flip = image_size, center_crop, flip
        self.target_noise, self.seed, self.epoch = target_noise, seed, 0

    def _split_ids(self, split: str, files: dict[str, Path]) -> list[str]:
        path = self.root / f"{split}_ids.csv"
        if split == "all":
            return list(files)
        if split == "train" and not path.exists():  # every image that is not a test image
            test = self.root / "test_ids.csv"
            held_out = set(_read_ids(test)) if test.is_file() else set()
            return [k for k in files if k not in held_out]
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the {split} split needs this file (one image name per line)")
        ids = list(dict.fromkeys(_read_ids(path)))
        other = self.root / ("test_ids.csv" if split == "train" else "train_ids.csv")
        if other.is_file():
            train_path, test_path = (path, other) if split == "train" else (other, path)
            listed = set(_read_ids(other))
            shared = [k for k in ids if k in listed]
            if shared:
                raise ValueError(
                    f"{train_path} and {test_path} share {len(shared)} image(s), e.g. "
                    f"{', '.join(map(repr, shared[:3]))}: an image may be in only one split"
                )
        absent = [k for k in ids if k not in files]
        if absent:
            raise ValueError(f"{path}: {len(absent)} listed image(s) are not in imgs/, e.g. {absent[0]!r}")
        return ids

    def _table(self, au_source: str | Path | None, ids: list[str], min_confidence: float) -> _Table:
        if au_source is None:
            found = next((self.root / n for n in AU_SOURCES if (self.root / n).exists()), None)
            if found is None:
                raise FileNotFoundError(f"{self.root}: no AUs found (looked for {', '.join(AU_SOURCES)})")
            source = found
        else:
            source = Path(au_source)
            if not source.exists():
                raise FileNotFoundError(f"AU source {source} does not exist")
        if source.is_dir():
            return _table_from_folder(source, ids, min_confidence)
        if source.suffix == ".pkl":
            return _table_from_pickle(source)
        return _table_from_csv(source, min_confidence)

    def __len__(self) -> int:
        return len(self.ids)

    def set_epoch(self, epoch: int) -> None:
        """Draw the targets and flips of epoch ``epoch`` (as ``DistributedSampler.set_epoch``)."""
        self.epoch = epoch

    def load_image(self, index: int) -> torch.Tensor:
        """Image ``index`` as (3, S, S) in [-1, 1] (centre-cropped if asked, resized, not flipped)."""
        path = self.paths[index]
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                w, h = im.size
                if w != h:
                    if not self.center_crop:
                        raise ValueError(
                            f"image {path} is {w}×{h}, not square: crop the faces first or pass center_crop=True"
                        )
                    side = min(w, h)
                    left, top = (w - side) // 2, (h - side) // 2
                    im = im.crop((left, top, left + side, top + side))
                if im.size != (self.image_size, self.image_size):
                    im = im.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
                pixels = np.asarray(im, dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError, SyntaxError) as err:
            raise ValueError(f"image {path} is unreadable ({type(err).__name__}: {err})") from None
        return torch.from_numpy(pixels.transpose(2, 0, 1).copy()) * 2 - 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        other = int(rng.integers(len(self)))
        noise = rng.uniform(-self.target_noise, self.target_noise, N_AUS)
        target = self.aus[other] + torch.from_numpy(noise).float()
        image = self.load_image(index)
        if self.flip and rng.random() < 0.5:
            image = image.flip(-1)
        return image, self.aus[index], target

    def summary(self) -> dict[str, Any]:
        """What was read: folder, split, items, AU source and skipped rows or images."""
        return {
            "root": str(self.root),
            "split": self.split,
            "items": len(self),
            "au_source": str(self.au_source),
            "skipped": dict(self.skipped),
        }
