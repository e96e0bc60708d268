"""Run folders: what a run folder holds, when it may be written, resumed or replaced, and its logs.

One format and one set of rules for every run that :func:`affect_lib.runs.train_recipe` trains (``affect-lib
train``, ``affect-lib train ganimation``, the rehearsal): a run folder holds ``run.json`` (the run's
*fingerprint*: what makes two runs the same run, the data folder and a SHA-256 of its files included, and the
recipe); :func:`check_run_folder` decides, before anything is written, whether a folder may take a run (a new or
empty folder), must be resumed (it holds this run: ``resume`` required) or is refused (another run, other
files, or ``resume`` where no run is), naming the field that differs. Files are written atomically
(:func:`affect_lib.train.atomic_write_text`): a killed run never leaves half a file. :class:`EpochLogger` writes
the per-epoch ``history.csv`` and TensorBoard scalars.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from affect_lib.train import atomic_write_text

FORMAT = "affect_lib.model/1"
"""The ``format`` key of a ``model.pt`` written by :func:`affect_lib.runs.train_recipe` with a run folder."""
RUN_FILES = (
    "run.json",
    "metrics.json",
    "history.json",
    "history.csv",
    "model.pt",
    "checkpoint",
    "tensorboard",
    "pretrain",
)
"""The files and folders a run writes into its folder (``overwrite`` removes these and ``seed_*``/``fold_*``)."""


def data_digest(files: Iterable[str | os.PathLike[str]]) -> str:
    """SHA-256 over the names and contents of ``files``, in the given order: what a run trained on, so that a
    resumed run cannot continue on other data.

    Raises:
        FileNotFoundError: a file is missing or is a folder.
    """
    digest = hashlib.sha256()
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise FileNotFoundError(
                f"data file {path} is {'a folder, not a file' if path.is_dir() else 'missing'}"
            )
        with path.open("rb") as fh:
            content = hashlib.file_digest(fh, "sha256").digest()
        digest.update(f"{path.name}\0".encode() + content)
    return digest.hexdigest()


def check_run_folder(
    out: str | os.PathLike[str], fp: dict[str, Any], *, resume: bool, overwrite: bool | None = None
) -> bool:
    """Whether ``out`` holds the run of fingerprint ``fp`` (then ``resume`` is required); refuse, touching nothing:

    a file; a folder of another run (naming the first field of ``fp`` that differs); this run without ``resume``;
    ``resume`` where no run is (no folder, or no ``run.json``); a non-empty folder without ``run.json``. With
    ``overwrite`` only a file is refused (the run is replaced); ``overwrite=None``: the command has no such option.

    Raises:
        FileExistsError: a file, another run, this run without ``resume``, or a folder of other files.
        FileNotFoundError: ``resume`` but ``out`` holds no run.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a folder: choose another --out")
    if overwrite:
        return False
    replace = "" if overwrite is None else ", or pass --overwrite to replace it"
    run_file = out / "run.json"
    if not run_file.exists():
        if out.is_dir() and any(out.iterdir()):
            raise FileExistsError(
                f"--out {out} is not empty and holds no run.json: choose a new or empty folder (nothing was changed)"
            )
        if resume:
            raise FileNotFoundError(
                f"--resume: {out} holds no run (no run.json{'' if out.is_dir() else '; the folder does not exist'})"
                " to continue: check --out, or drop --resume to start a new run there"
            )
        return False
    try:
        saved = json.loads(run_file.read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FileExistsError(
            f"{run_file} is unreadable ({type(err).__name__}): choose another --out{replace}"
        ) from None
    for key, value in fp.items():
        if saved.get(key) != value:
            raise FileExistsError(
                f"run folder {out} holds another run: its {key} is {saved.get(key)!r}, this run's is {value!r}; "
                f"choose another --out{replace} (nothing was changed)"
            )
    if not resume:
        afresh = "" if overwrite is None else " or --overwrite to start afresh"
        raise FileExistsError(
            f"run folder {out} already holds this run: pass --resume to continue it{afresh} (nothing was changed)"
        )
    return True


def default_out(recipe: Any) -> Path:
    """``runs/<profile>/<model>-<dataset>[-aligned|-unaligned][+variant]``: quick and paper never share one."""
    return (
        Path("runs")
        / recipe.profile
        / recipe.name.removesuffix(f"-{recipe.profile}").replace(f"-{recipe.profile}+", "+")
    )


def prepare_run_folder(out: Path, run: dict[str, Any], *, overwrite: bool) -> None:
    """Rank 0: clear the files of :data:`RUN_FILES` on ``overwrite``, create the folder, check that it is writable
    and write ``run.json`` (``run``: fingerprint and recipe).

    Raises:
        PermissionError: the folder cannot be written (named).
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for name in (*RUN_FILES, *(p.name for p in (*out.glob("seed_*"), *out.glob("fold_*")))):
                path = out / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        atomic_write_text(out / "run.json", json.dumps(run, indent=1) + "\n")
    except OSError as err:
        raise PermissionError(
            f"--out {out} is not writable ({err.strerror or err}): choose another --out"
        ) from None


def csv_text(records: Sequence[dict[str, float]]) -> str:
    """Records as CSV text with a header of every key, in first-seen order."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


class EpochLogger:
    """Rank 0's per-epoch logs: ``history.csv`` (rewritten atomically) and TensorBoard scalars."""

    def __init__(self, folder: Path, trainer: Any, tensorboard: bool) -> None:
        self.folder, self.trainer, self.writer = folder, trainer, None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print(
                    "note: tensorboard is not installed; per-epoch logs go to history.csv only",
                    file=sys.stderr,
                )
            else:
                self.writer = SummaryWriter(str(folder / "tensorboard"))

    def __call__(self, record: dict[str, float]) -> None:
        atomic_write_text(self.folder / "history.csv", csv_text(list(self.trainer.history)))
        if self.writer is not None:
            for key, value in record.items():
                if key != "epoch":
                    self.writer.add_scalar(key, value, int(record["epoch"]))
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
