"""A folder of photographs -> a GANimation data folder (:class:`affect_lib.data.emotionet.FaceAUs`'s layout).

:func:`prepare_faces` reads every file directly inside ``src`` (sub-folders are not searched), in name order, and
for each photograph:

1. BlazeFace (:mod:`affect_lib.faces.detect`) finds the faces; a photograph must hold exactly one (at score
   ``min_score`` or more);
2. mediapipe's face mesh (:mod:`affect_lib.faces.mesh`) runs on the square of 1.5 × the face's box and gives the
   rig's landmarks, carried back to the photograph's pixels;
3. the face is aligned by its eye centres (:func:`affect_lib.faces.images.align_by_eyes`: eyes at columns 0.36 and
   0.64, row 0.40, the framing of the book's rig faces) and cut as a ``size`` × ``size`` square from the whole
   photograph (bicubic; where the square leaves the photograph its edge is repeated);
4. its 17 AU intensities (0-5) are **estimated** by :class:`affect_lib.faces.au_estimate.AUEstimator` from the mesh
   of the aligned face, not measured by OpenFace (not available here). By default they are measured against the
   book's neutral face, another person: the estimate then mixes the subject's face shape with the expression (on
   rig renders of two LFW faces it erred by 1.8 and 2.0 on the 0-5 scale, where answering 0 errs by 0.33), so they
   are placeholders that let ``train ganimation`` run. ``neutral=PHOTO``, a neutral photograph of the person the
   folder shows, measures each face against that person instead (on rig renders an error of 0.20-0.24, see
   :mod:`~affect_lib.faces.au_estimate`; an LFW face in two other framings read at most 0.53 against its own
   photograph, while against the book's face its 17 AUs summed to 44). For real training, run OpenFace on
   ``OUT/imgs`` (``FaceLandmarkImg -fdir OUT/imgs -aus -out_dir OUT/processed``) and train with
   ``--aus OUT/processed``.

Files that are not images (by their extension), unreadable images, and photographs with no face or several faces
are skipped and listed, with the reason, in ``prepare.json``; nothing is written unless at least two faces remain
(one per split). The written folder ``OUT``::

    imgs/<id>.png         the aligned faces, size × size RGB; <id> is the file's name without its extension,
                          characters other than letters, digits, '.', '_' and '-' replaced by '_'
    aus_openface.csv      filename, AU01_r ... AU45_r (OpenFace's columns and 0-5 scale), estimator
    train_ids.csv         the training faces' file names, one a line
    test_ids.csv          the test faces' (round(test_fraction × n), at least 1), drawn by a generator seeded
                          with ``seed`` from the faces in name order
    prepare.json          the settings, the AU source, each face's source file, id, split, detection score and
                          inter-ocular distance in the photograph, and the skipped files with their reasons

Everything is read and checked before anything is written, and ``OUT`` is never overwritten: the folder is written
under a temporary name next to it and renamed when complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from affect_lib.data.emotionet import AU_COLUMNS
from affect_lib.faces import detect, mesh
from affect_lib.faces.au_estimate import AUEstimator
from affect_lib.faces.images import Face, align_by_eyes, read_image, to_tensor

FORMAT = "affect_lib.prepared_faces/1"
"""The ``format`` key of ``prepare.json``."""
MIN_MESH_LOGIT = 0.0
"""The face mesh's presence logit below which a detected face is skipped (probability 0.5)."""
ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class Prepared:
    """What :func:`prepare_faces` wrote: ``out``, the faces (one dict per face: ``file``, ``id``, ``split``,
    ``score``, ``interocular_px``) and the skipped files (``file``, ``reason``)."""

    out: Path
    faces: list[dict[str, object]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Faces per split and skipped files."""
        splits = [f["split"] for f in self.faces]
        return {"train": splits.count("train"), "test": splits.count("test"), "skipped": len(self.skipped)}


def face_id(name: str) -> str:
    """The image id of a source file name: its stem with unsafe characters replaced (``"Smith, J.jpg"`` ->
    ``"Smith__J"``); split files and the AU CSV separate fields by commas and tabs."""
    return ID_UNSAFE.sub("_", Path(name).stem) or "_"


def align_photo(image: np.ndarray, size: int, min_score: float) -> tuple[Face, detect.Detection]:
    """The one face of a photograph (H, W, 3) uint8, aligned at ``size`` px, and its detection.

    Raises ``ValueError`` (the reason, no file name) when BlazeFace finds no face or several, or the mesh finds
    no face in the detected square.
    """
    faces = detect.detect_faces(image, min_score)
    if len(faces) != 1:
        raise ValueError("no face found" if not faces else f"{len(faces)} faces found (one is needed)")
    face = faces[0]
    left, top, _ = face.square()
    crop = detect.square_around(image, face).astype(np.float64) / 255.0
    marks = mesh.rig_landmarks(crop, min_score=MIN_MESH_LOGIT)
    shift = np.array([left, top], dtype=np.float64)
    return align_by_eyes(image, {n: xy + shift for n, xy in marks.items()}, size, "photo"), face


def _check_settings(size: int, test_fraction: float, seed: int, min_score: float) -> None:
    if not isinstance(size, int) or not 16 <= size <= 1024:
        raise ValueError(f"size must be an integer in [16, 1024], got {size!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0 < min_score <= 1:
        raise ValueError(f"min_score must lie in (0, 1], got {min_score!r}")


def _ids(files: list[Path]) -> dict[Path, str]:
    """Each source file's image id; two files with the same id are refused."""
    ids: dict[str, Path] = {}
    for path in files:
        key = face_id(path.name)
        if key in ids:
            raise ValueError(
                f"{ids[key]} and {path} would both be written as imgs/{key}.png: rename one of them"
            )
        ids[key] = path
    return {path: key for key, path in ids.items()}


def _reference(neutral: Path | None, size: int, min_score: float) -> AUEstimator:
    if neutral is None:
        return AUEstimator.default()
    try:
        face, _ = align_photo(read_image(neutral), size, min_score)
    except ValueError as err:
        raise ValueError(f"{neutral}: the neutral photograph is not usable ({err})") from None
    return AUEstimator.for_image(face.image)


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((image.clip(0, 1) * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def prepare_faces(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    size: int = 128,
    test_fraction: float = 0.1,
    seed: int = 0,
    min_score: float = 0.5,
    neutral: str | os.PathLike[str] | None = None,
) -> Prepared:
    """Detect, align and crop the one face of every photograph in ``src``; write a GANimation data folder ``out``
    with estimated AUs and a seeded train/test split (module docstring).

    Args:
        src: a folder of photographs (its files, not its sub-folders).
        out: the data folder to create; it must not exist.
        size: side of the written faces in pixels (16-1024; ``train ganimation``'s paper recipe uses 128).
        test_fraction: share of the faces in ``test_ids.csv``.
        seed: seeds the split.
        min_score: BlazeFace's detection threshold (a probability; mediapipe's default 0.5).
        neutral: a neutral photograph of the person the folder shows; the AUs are measured against it (default:
            against the book's neutral face).

    Returns:
        What was written (:class:`Prepared`).

    Raises:
        FileNotFoundError: ``src`` (or ``neutral``) does not exist or ``src`` is not a folder.
        FileExistsError: ``out`` exists.
        ValueError: bad settings, two files that map to the same id, an unusable neutral photograph, or fewer
            than two faces found (each naming the file or folder).
    """
    _check_settings(size, test_fraction, seed, min_score)
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder of photographs")
    if out.exists():
        raise FileExistsError(f"{out} exists: choose another output folder (it is never overwritten)")
    if neutral is not None and not Path(neutral).is_file():
        raise FileNotFoundError(f"{neutral}: no such neutral photograph")
    suffixes = set(Image.registered_extensions())
    entries = sorted(src.iterdir())
    report = Prepared(out)
    files = []
    for path in entries:
        if path.is_dir():
            report.skipped.append({"file": path.name, "reason": "a folder (sub-folders are not searched)"})
        elif path.suffix.lower() not in suffixes:
            report.skipped.append({"file": path.name, "reason": "not an image file (by its extension)"})
        else:
            files.append(path)
    ids = _ids(files)
    estimator = _reference(None if neutral is None else Path(neutral), size, min_score)
    written: dict[str, tuple[bytes, np.ndarray]] = {}
    for path in files:
        try:
            face, found = align_photo(read_image(path), size, min_score)
        except ValueError as err:
            reason = str(err).removeprefix(f"{path}: ")
            report.skipped.append({"file": path.name, "reason": reason})
            continue
        aus = estimator.estimate(to_tensor(face.image))[0]
        left, right = (found.keypoints[i] for i in (0, 1))
        written[ids[path]] = (_png(face.image), aus)
        report.faces.append(
            {
                "file": path.name,
                "id": ids[path],
                "score": round(found.score, 4),
                "interocular_px": round(float(np.linalg.norm(right - left)), 1),
            }
        )
    if len(written) < 2:
        raise ValueError(
            f"{src}: faces found in {len(written)} of {len(files)} image files; at least 2 are needed "
            "(one per split); nothing was written"
        )
    n_test = max(1, round(test_fraction * len(written)))
    n_test = min(n_test, len(written) - 1)
    order = np.random.default_rng(seed).permutation(len(written))
    test = {report.faces[i]["id"] for i in order[:n_test]}
    for entry in report.faces:
        entry["split"] = "test" if entry["id"] in test else "train"
    _write(report, written, src, size, test_fraction, seed, min_score, neutral)
    return report


def _write(
    report: Prepared,
    written: dict[str, tuple[bytes, np.ndarray]],
    src: Path,
    size: int,
    test_fraction: float,
    seed: int,
    min_score: float,
    neutral: str | os.PathLike[str] | None,
) -> None:
    """Write the folder under a temporary name beside ``report.out``, then rename it."""
    out = report.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    reference = (
        "the book's neutral face" if neutral is None else f"the neutral photograph {Path(neutral).name}"
    )
    estimator = f"estimated from mesh landmarks against {reference}"
    try:
        (tmp / "imgs").mkdir()
        for key, (png, _) in written.items():
            (tmp / "imgs" / f"{key}.png").write_bytes(png)
        with (tmp / "aus_openface.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["filename", *AU_COLUMNS, "estimator"])
            for key, (_, aus) in written.items():
                writer.writerow([f"{key}.png", *(f"{a:.4f}" for a in aus), estimator])
        for split in ("train", "test"):
            names = sorted(f"{f['id']}.png" for f in report.faces if f["split"] == split)
            (tmp / f"{split}_ids.csv").write_text("".join(f"{n}\n" for n in names))
        summary = {
            "format": FORMAT,
            "source": str(src.resolve()),
            "settings": {"size": size, "test_fraction": test_fraction, "seed": seed, "min_score": min_score},
            "aus": f"{estimator} (affect_lib.faces.au_estimate), not by OpenFace; for training, OpenFace's are better "
            "(FaceLandmarkImg -fdir imgs -aus -out_dir processed, then train with --aus processed)",
            "counts": report.counts(),
            "faces": report.faces,
            "skipped": report.skipped,
        }
        (tmp / "prepare.json").write_text(json.dumps(summary, indent=1) + "\n")
        if out.exists():
            raise FileExistsError(f"{out} appeared while the faces were prepared: it is never overwritten")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
