"""The command line of the book and its library: ``affect-lib`` (or ``python -m affect_lib``).

affect-lib train MODEL --dataset NAME [--data-dir PATH] ...   train one recipe (torchrun works unchanged)
affect-lib train ganimation --data-dir PATH [--resume] ...    GANimation on a face folder (its own options)
affect-lib evaluate --checkpoint RUN/model.pt [--split test]   re-score a saved model
affect-lib chapter NAME [--profile paper] [--data-dir PATH]    execute one chapter (papermill)
affect-lib full [--data-root PATH]                             every chapter on the paper profile
affect-lib list | record                                       list the chapters | write the run-record pages
affect-lib rehearse                                            full-size dress rehearsal of the paper profile
affect-lib convert-csd --dataset NAME --out DIR [--splits S.json]  SDK .csd files to a MulT pickle

``train`` resolves a recipe (:mod:`affect_lib.recipes`; ``--print-recipe`` shows it), checks the run folder before
any work (a folder of another run is refused, naming the field that differs), trains with the shared trainer,
evaluates the test split once and writes ``run.json``, ``metrics.json``, ``history.json``/``.csv``, TensorBoard
logs and a self-describing ``model.pt`` atomically. The default profile is ``paper`` when a data folder is given
(``--data-dir`` or ``$AFFECT_DATA_DIR``) and ``quick`` (the chapters' stand-in) otherwise.

RAVDESS runs take ``--protocol released|msaf|proper`` (:mod:`affect_lib.protocols`; the released two select the
epoch on the test fold, as released), ``--fold i|all`` (``all``: ``OUT/fold_<i>`` for every fold and the k-fold
mean ± std with its t-interval in ``OUT/metrics.json``) and ``--init unimodal|scratch`` (fusion models: fine-tune
from per-fold unimodal classifiers trained first into ``FOLDER/pretrain``, :mod:`affect_lib.pretrain`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "affect_lib.model/1"
"""The ``format`` key of a ``model.pt`` written by ``affect-lib train``."""
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


class CommandError(Exception):
    """A user error: printed as one ``error: ...`` line, exit status 2 (3 for a diverged run)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def interrupted(checkpoint: Path, *, started: bool) -> CommandError:
    """The one line of a training run stopped by SIGINT (Ctrl-C), exit status 130: where its last complete epoch
    is (``checkpoint``) and how to continue (``started``: the run folder holds the run's ``run.json``)."""
    if checkpoint.exists():
        where = (
            f"{checkpoint} holds the last complete epoch; the same command with --resume continues the run"
        )
    elif started:
        where = "no epoch had completed; the same command with --resume starts the run again"
    else:
        where = "nothing was written"
    return CommandError(f"interrupted: {where}", status=130)


# ---- argument types ------------------------------------------------------------------------------------------
def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``, else a one-line error naming the value."""
    words = "a positive integer" if low == 1 else "a non-negative integer"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}")
        return value

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def _fold(text: str) -> int | str:
    return "all" if text == "all" else _non_negative_int(text)


def _setting(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be SECTION.FIELD=VALUE (e.g. train.epochs=3), got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, tuple(value) if isinstance(value, list) else value


def _add_manifest_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-manifest-check",
        dest="manifest_check",
        action="store_false",
        help="accept a MulT file whose split sizes or dims differ from the released file's (another packaging)",
    )


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``affect-lib train`` (see the README's "Training without notebooks")."""
    from affect_lib.recipes import DATASETS, MODELS, VARIANTS

    p.add_argument("model", choices=list(MODELS))
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--data-dir", default=None, help="the MulT pickles' or RAVDESS's folder")
    p.add_argument(
        "--profile",
        default=None,
        choices=("quick", "paper"),
        help="default: paper with a data folder, else quick",
    )
    p.add_argument("--variant", default=None, choices=list(VARIANTS), help="a named recipe variant")
    p.add_argument("--unaligned", action="store_true", help="the *_noalign.pkl corpus (MulT datasets)")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_setting,
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field, e.g. --set train.patience=10 --set model.layers=3",
    )
    p.add_argument("--epochs", type=_positive_int, default=None)
    p.add_argument("--batch-size", type=_positive_int, default=None, help="the whole batch over all ranks")
    p.add_argument("--lr", type=_positive_float, default=None)
    p.add_argument("--max-steps", type=_positive_int, default=None, help="at most N training steps per epoch")
    p.add_argument("--seed", type=_non_negative_int, default=None, help="one seed (default 1337)")
    p.add_argument(
        "--seeds", type=_non_negative_int, nargs="+", default=None, help="several seeds: mean ± std"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--amp", nargs="?", const="bf16", default=None, choices=("bf16", "fp16"), help="autocast")
    p.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="deterministic kernels (default); --no-deterministic enables cuDNN autotuning",
    )
    p.add_argument("--workers", type=_non_negative_int, default=0, help="data-loader worker processes")
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under DDP (CUDA)")
    p.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="per-epoch TensorBoard logs under OUT/tensorboard (default on when installed)",
    )
    p.add_argument("--out", default=None, help="run folder (default: runs/PROFILE/RECIPE)")
    intent = p.add_mutually_exclusive_group()
    intent.add_argument("--resume", action="store_true", help="continue the run in --out")
    intent.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--print-recipe", action="store_true", help="print the merged recipe and exit")
    _add_manifest_argument(p)
    p.add_argument(
        "--protocol",
        default=None,
        choices=("released", "msaf", "proper"),
        help="RAVDESS folds: released (CFN-SR's 5, selected on the test fold), msaf (6, likewise) or proper "
        "(the recipe's split with validation actors); default: the recipe's data.split",
    )
    p.add_argument(
        "--fold",
        type=_fold,
        default=None,
        help="RAVDESS: fold i (0-based, default the recipe's data.fold) or all (every fold and the k-fold "
        "mean ± std with its t-interval in OUT/metrics.json)",
    )
    p.add_argument(
        "--init",
        default=None,
        choices=("unimodal", "scratch"),
        help="fusion models: start from per-fold unimodal classifiers (the release's protocol) or from scratch; "
        "default: the recipe's train.init",
    )


# ---- recipe and data -----------------------------------------------------------------------------------------
def resolve_recipe(args: argparse.Namespace) -> Any:
    """The recipe of a ``train`` command line, with ``--set``, ``--epochs``, ``--batch-size``, ``--lr`` applied."""
    from affect_lib import recipes
    from affect_lib.runtime import DATA_DIR_ENV

    profile = args.profile
    if profile is None:
        profile = "paper" if args.data_dir is not None or os.environ.get(DATA_DIR_ENV) else "quick"
    aligned = None if args.dataset == "ravdess" and not args.unaligned else not args.unaligned
    try:
        recipe = recipes.get(args.model, args.dataset, profile, aligned=aligned, variant=args.variant)
        overrides = dict(args.settings)
        for key, value in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr)):
            if value is not None:
                overrides[f"train.{key}"] = value
        overrides.update(_protocol_overrides(args, recipe))
        recipe = recipe.replace(**overrides) if overrides else recipe
        _check_train_settings(recipe)
        if args.dataset == "ravdess":
            from affect_lib.protocols import check_fold

            check_fold(recipe.data.split, recipe.data.fold)
            if args.protocol == "proper" and recipe.data.split != "proper":
                print(
                    f"note: --protocol proper on the {recipe.profile} profile runs its split with validation "
                    f"actors, {recipe.data.split} (the fixed actors of proper need all 24); --set "
                    "data.split=proper forces the fixed split",
                    file=sys.stderr,
                )
        return recipe
    except ValueError as err:
        raise CommandError(str(err)) from None


def _check_train_settings(recipe: Any) -> None:
    """Build the recipe's training configuration (and its pretraining stage's) now, so that a bad ``train`` value
    (``--set train.lr=NaN``, ``train.epochs=0``) is refused by name before anything is written.

    Raises:
        ValueError: naming the field.
    """
    from affect_lib.recipes import train_config

    try:
        train_config(recipe)
    except ValueError as err:
        raise ValueError(f"recipe {recipe.name}: train.{err} (set by --set, --epochs or --lr)") from None
    if recipe.train.init == "unimodal":
        from affect_lib.pretrain import unimodal_recipe

        try:
            train_config(unimodal_recipe(recipe, "video_only"))
        except ValueError as err:
            raise ValueError(
                f"recipe {recipe.name}: the unimodal pretraining stage's {err} (train.pretrain_epochs and "
                "train.pretrain_lr, or train.epochs and train.lr when those are unset)"
            ) from None


def _protocol_overrides(args: argparse.Namespace, recipe: Any) -> dict[str, Any]:
    """``data.split`` / ``data.fold`` / ``train.init`` from ``--protocol``, ``--fold i`` and ``--init``."""
    from affect_lib.protocols import PROPER_SPLITS

    given = [f"--{k}" for k in ("protocol", "fold") if getattr(args, k, None) is not None]
    if args.dataset != "ravdess" and given:
        raise CommandError(f"{' and '.join(given)} apply to ravdess only, not to {args.dataset}")
    overrides: dict[str, Any] = {}
    if args.protocol in ("released", "msaf"):
        overrides["data.split"] = args.protocol
    elif args.protocol == "proper" and recipe.data.split not in PROPER_SPLITS:
        overrides["data.split"] = "proper"
    if isinstance(args.fold, int):
        overrides["data.fold"] = args.fold
    if args.init is not None:
        overrides["train.init"] = args.init
    return overrides


@dataclass
class RunData:
    """What a recipe trains on: loaders, the corpus's dims (MulT), a summary of the source and split."""

    loaders: dict[str, Any]
    dims: tuple[int, int, int] | None
    summary: dict[str, Any]


def locate_data(recipe: Any, data_dir: str | None) -> Path | None:
    """The recipe's data folder (``None``: the quick profile's stand-in), checked before any work is done.

    Raises:
        CommandError: the paper profile without a folder, or a folder that lacks the files (both named).
    """
    from affect_lib.recipes import MultData
    from affect_lib.runtime import DATA_DIR_ENV, resolve_data_dir

    mult = isinstance(recipe.data, MultData)
    wanted = recipe.data.file if mult else "Actor_XX/*.mp4"
    label = recipe.dataset if mult else "RAVDESS"
    if recipe.profile == "paper" and data_dir is None and not os.environ.get(DATA_DIR_ENV):
        raise CommandError(
            f"the paper profile trains on the real {label} data: pass --data-dir FOLDER holding {wanted} "
            f"(or set ${DATA_DIR_ENV} to a folder with {label}/{wanted})"
        )
    try:
        return resolve_data_dir(
            data_dir,
            profile=recipe.profile,
            dataset=label,
            required=[recipe.data.file if mult else "Actor_*"],
        )
    except FileNotFoundError as err:
        raise CommandError(f"{err} (looked for {wanted})") from None


def load_data(
    recipe: Any, root: Path | None, *, workers: int = 0, pin_memory: bool = False, manifest: bool = True
) -> RunData:
    """Loaders for ``recipe`` from ``root`` (``None``: the quick profile's stand-in, written by rank 0 alone); a
    real MulT file is checked against the manifest of the released files unless ``manifest`` is false."""
    from affect_lib.recipes import MultData
    from affect_lib.runtime import cache_dir
    from affect_lib.train import barrier, world

    rank = world()[0]
    try:
        if isinstance(recipe.data, MultData):
            return _mult_data(recipe, root, workers, pin_memory, rank, cache_dir, barrier, manifest)
        return _ravdess_data(recipe, root, workers, pin_memory, rank, barrier)
    except (FileNotFoundError, ValueError) as err:
        raise CommandError(str(err)) from None


def _mult_data(recipe, root, workers, pin_memory, rank, cache_dir, barrier, manifest) -> RunData:
    from affect_lib.data.manifest import check_manifest
    from affect_lib.data.mult import load_mult_pickle, make_loaders
    from affect_lib.data.synthetic_mult import write_standin

    if root is None:
        folder = cache_dir("mult_standin", "seed0")  # the chapter's stand-in at seed 0
        if rank == 0:
            write_standin(
                folder, recipe.dataset, aligned=recipe.aligned, seed=0, **recipe.data.standin_kwargs()
            )
        barrier()
        path, source = folder / recipe.data.file, "synthetic stand-in"
    else:
        path, source = root / recipe.data.file, str(root / recipe.data.file)
    corpus = load_mult_pickle(path, dataset=recipe.dataset, aligned=recipe.aligned)
    # a real data folder is checked against the manifest (split sizes, dims); stand-ins carry a marker
    if root is not None and manifest and not corpus.standin:
        try:
            check_manifest(path, corpus.dataset, corpus.aligned, corpus.sizes(), corpus.dims, corpus.lengths)
        except ValueError as err:
            # the library's advice (check_manifest=False) is for Python callers
            found = str(err).split("; a different packaging?")[0]
            raise CommandError(
                f"{found}; to train on another packaging of {corpus.dataset} on purpose, pass "
                "--no-manifest-check (its numbers will not compare with the papers')"
            ) from None
    empty = [name for name, n in corpus.sizes().items() if n == 0]
    if empty:
        raise CommandError(
            f"{path}: split {empty[0]!r} holds no sample (sizes {corpus.sizes()}): training needs samples in "
            "train, valid and test; rebuild the file with every split filled (affect-lib convert-csd --splits)"
        )
    t = recipe.train
    loaders = make_loaders(
        corpus, t.batch_size, eval_batch_size=t.eval_batch_size, num_workers=workers, pin_memory=pin_memory
    )
    summary = {"source": source, "sizes": corpus.sizes(), "lengths": corpus.lengths}
    cleaned = {"nan_or_inf": corpus.zeroed, "audio_minus_inf": corpus.audio_minus_inf}
    return RunData(loaders, corpus.dims, {**summary, "zeroed": cleaned})


def _ravdess_data(recipe, root, workers, pin_memory, rank, barrier) -> RunData:
    from affect_lib.data.av_preprocess import ravdess_loaders
    from affect_lib.data.ravdess import list_clips, parse_ravdess_name
    from affect_lib.data.synthetic_ravdess import standin_folder, write_synthetic_ravdess
    from affect_lib.protocols import protocol_fold, selects_on_test

    if root is None:
        root = standin_folder(0, **recipe.data.standin_kwargs())  # the chapter's stand-in at seed 0
        if rank == 0:
            write_synthetic_ravdess(root, **recipe.data.standin_kwargs(), seed=0)
        barrier()
        source = "synthetic stand-in"
    else:
        source = str(root)
    d, t = recipe.data, recipe.train
    clips = list_clips(root)
    actors = [parse_ravdess_name(c).actor for c in clips]
    fold = protocol_fold(d.split, d.fold, actors, real=recipe.profile == "paper")
    loaders, split = ravdess_loaders(
        clips,
        d.preprocess_config(),
        batch_size=t.batch_size,
        eval_batch_size=t.eval_batch_size,
        split=fold,
        augment=d.augment,
        augment_scale=d.augment_scale,
        per_frame_augmentation=recipe.variant == "released",
        bgr_input=recipe.variant == "released",
        num_workers=workers,
        pin_memory=pin_memory,
    )
    split_actors = {"train": list(split.train), "valid": list(split.valid), "test": list(split.test)}
    if selects_on_test(split):  # the released protocols: the epoch is selected on the test fold itself
        loaders["valid"], split_actors["valid"] = loaders["test"], list(split.test)
    sizes = {name: len(loader.dataset) for name, loader in loaders.items()}
    summary = {"source": source, "sizes": sizes, "split": split_actors, "protocol": d.split, "fold": d.fold}
    return RunData(loaders, None, {**summary, "selected_on_test": selects_on_test(split)})


def loss_and_metrics(recipe: Any) -> tuple[Callable, Callable]:
    """The recipe's loss and metrics functions (those of the papers)."""
    import torch.nn.functional as F

    from affect_lib.metrics import classification_metrics, task_loss, task_metrics

    if recipe.dataset == "ravdess":
        return F.cross_entropy, classification_metrics
    return task_loss(recipe.dataset), task_metrics(recipe.dataset)


# ---- run folders ---------------------------------------------------------------------------------------------
def data_files(recipe: Any, root: Path) -> list[Path]:
    """The files of ``root`` that the recipe reads: the MulT pickle, or the RAVDESS clips (and their OpenFace CSVs
    with ``crop="landmarks"``), checked by name (:func:`affect_lib.data.ravdess.list_clips`)."""
    from affect_lib.recipes import MultData

    if isinstance(recipe.data, MultData):
        return [root / recipe.data.file]
    from affect_lib.data.av_preprocess import find_landmark_csv
    from affect_lib.data.ravdess import list_clips

    clips = list_clips(root)
    if recipe.data.preprocess_config().crop != "landmarks":
        return clips
    return [*clips, *filter(None, map(find_landmark_csv, clips))]


def fingerprint(
    recipe: Any, args: argparse.Namespace, seeds: Sequence[int], world_size: int, root: Path | None
) -> dict[str, Any]:
    """What makes two runs the same run: the recipe (its hash, epochs aside: a run may be extended), model,
    dataset, alignment, batch size, world size, seeds, step limit, precision, and the data: its folder and a
    SHA-256 of its files (``None`` for the quick profile's stand-in)."""
    from affect_lib.recipes import recipe_hash
    from affect_lib.runtime import data_digest

    try:
        digest = data_digest(data_files(recipe, root)) if root is not None else None
    except (OSError, ValueError) as err:
        raise CommandError(str(err)) from None
    return {
        "model": recipe.model,
        "dataset": recipe.dataset,
        "aligned": recipe.aligned,
        "profile": recipe.profile,
        "batch_size": recipe.train.batch_size,
        "world_size": world_size,
        "seeds": list(seeds),
        "max_steps": args.max_steps,
        "amp": args.amp,
        "recipe": recipe_hash(recipe.replace(**{"train.epochs": 1})),
        "fold": "all" if getattr(args, "fold", None) == "all" else None,  # one fold: in the recipe
        "data_dir": str(root.resolve()) if root is not None else None,
        "data_sha256": digest,
    }


def default_out(recipe: Any) -> Path:
    """``runs/<profile>/<model>-<dataset>[-aligned|-unaligned][+variant]``: quick and paper never share one."""
    return (
        Path("runs")
        / recipe.profile
        / recipe.name.removesuffix(f"-{recipe.profile}").replace(f"-{recipe.profile}+", "+")
    )


def prepare_run_folder(out: Path, run: dict[str, Any], *, overwrite: bool) -> None:
    """Rank 0: clear this tool's files on ``--overwrite``, create the folder, check that it is writable and write
    ``run.json`` (fingerprint and recipe)."""
    from affect_lib.train import atomic_write_text

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
        raise CommandError(
            f"--out {out} is not writable ({err.strerror or err}): choose another --out"
        ) from None


def source_commit() -> str | None:
    """The git commit of the library's checkout (``None`` when installed without one)."""
    repo = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _csv_text(records: Sequence[dict[str, float]]) -> str:
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
        from affect_lib.train import atomic_write_text

        atomic_write_text(self.folder / "history.csv", _csv_text(list(self.trainer.history)))
        if self.writer is not None:
            for key, value in record.items():
                if key != "epoch":
                    self.writer.add_scalar(key, value, int(record["epoch"]))
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ---- train ---------------------------------------------------------------------------------------------------
def train_command(args: argparse.Namespace) -> int:
    """``affect-lib train``: see the module docstring."""
    import torch

    from affect_lib import recipes
    from affect_lib.runtime import resolve_device
    from affect_lib.train import barrier, init_distributed, world

    if args.dataset == "ravdess" and args.unaligned:
        raise CommandError("--unaligned applies to the MulT corpora only, not to ravdess")
    if args.seed is not None and args.seeds is not None:
        raise CommandError("pass --seed or --seeds, not both")
    repeated = sorted({s for s in args.seeds or () if args.seeds.count(s) > 1})
    if repeated:
        raise CommandError(
            f"--seeds {' '.join(map(str, args.seeds))}: seed {', '.join(map(str, repeated))} is given more than "
            "once, and a seed gives the same run every time: pass distinct seeds (e.g. --seeds 0 1 2)"
        )
    recipe = resolve_recipe(args)
    if args.print_recipe:
        print(recipes.describe(recipe))
        return 0
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        raise CommandError(f"--device: {err}") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise CommandError(
            f"--device {args.device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    if args.amp == "fp16" and device.type != "cuda":
        raise CommandError("--amp fp16 needs a CUDA device; use --amp bf16 on the CPU")
    if args.sync_bn and device.type != "cuda":
        raise CommandError(
            "--sync-bn needs CUDA (SyncBatchNorm); on the CPU the trainer already gives every rank rank 0's "
            "BatchNorm statistics before each validation"
        )
    distributed = init_distributed()
    rank, world_size = world()
    try:
        return _train(args, recipe, device, rank, world_size)
    finally:
        if distributed:
            barrier()
            torch.distributed.destroy_process_group()


def _train(args: argparse.Namespace, recipe: Any, device: Any, rank: int, world_size: int) -> int:
    """Check the data and the run folder, then train every fold (one, or ``--fold all``) and write the summary;
    nothing is written before the data of the first fold have passed their checks."""
    from affect_lib import recipes
    from affect_lib.protocols import N_FOLDS
    from affect_lib.runtime import check_run_folder
    from affect_lib.train import atomic_write_text, barrier

    if recipe.train.batch_size % world_size:
        raise CommandError(
            f"--batch-size {recipe.train.batch_size} is not divisible by the world size {world_size}: "
            f"pass a multiple of {world_size} (each rank trains on batch size / world size)"
        )
    seeds = args.seeds if args.seeds is not None else [1337 if args.seed is None else args.seed]
    out = Path(args.out) if args.out is not None else default_out(recipe)
    root = locate_data(recipe, args.data_dir)
    fp = fingerprint(recipe, args, seeds, world_size, root)
    try:
        check_run_folder(out, fp, resume=args.resume, overwrite=args.overwrite)
    except (FileExistsError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    every_fold = getattr(args, "fold", None) == "all"
    fold_recipes = (
        [recipe.replace(**{"data.fold": i}) for i in range(N_FOLDS[recipe.data.split])]
        if every_fold
        else [recipe]
    )
    loader_options = {
        "workers": args.workers,
        "pin_memory": device.type == "cuda",
        "manifest": args.manifest_check,
    }
    data = load_data(fold_recipes[0], root, **loader_options)
    barrier()  # every rank has checked the folder and the data before rank 0 writes into it
    if rank == 0:
        print(
            f"recipe {recipe.name} ({recipes.recipe_hash(recipe)}):\n{recipes.describe(recipe)}", flush=True
        )
        prepare_run_folder(out, {"fingerprint": fp, "recipe": recipe.to_dict()}, overwrite=args.overwrite)
    barrier()
    if not every_fold:
        result = _train_fold(args, recipe, out, data, device, rank, world_size, seeds)
    else:  # every fold of the protocol in OUT/fold_<i>, then the k-fold aggregate
        results = {}
        for i, fold_recipe in enumerate(fold_recipes):
            if i:
                data = load_data(fold_recipe, root, **loader_options)
            results[i] = _train_fold(
                args, fold_recipe, out / f"fold_{i}", data, device, rank, world_size, seeds
            )
        result = _fold_summary(results)
        if rank == 0:
            atomic_write_text(out / "metrics.json", json.dumps(result, indent=1) + "\n")
    if rank == 0:
        print(json.dumps(result, indent=1))
    return 0


def _train_fold(
    args: argparse.Namespace,
    recipe: Any,
    out: Path,
    data: RunData,
    device: Any,
    rank: int,
    world_size: int,
    seeds: Sequence[int],
) -> dict[str, Any]:
    """Train ``recipe`` (one fold) on ``data`` once per seed into ``out`` (``out/seed_<s>`` for several); returns
    its summary (the seeds' mean ± std for several)."""
    import torch

    from affect_lib import __version__, recipes
    from affect_lib.pretrain import initialise
    from affect_lib.runtime import seed_everything
    from affect_lib.train import CHECKPOINT_NAME, Trainer, TrainingDiverged, atomic_save, atomic_write_text

    loss_fn, metrics_fn = loss_and_metrics(recipe)
    runs = {}
    for seed in seeds:
        folder = out if len(seeds) == 1 else out / f"seed_{seed}"
        if rank == 0:
            folder.mkdir(parents=True, exist_ok=True)
        seed_everything(
            seed, deterministic=args.deterministic
        )  # before the model is built: same seed, same run
        model = recipes.build_model(recipe, **({"dims": data.dims} if data.dims is not None else {}))
        runtime = {"device": device, "amp": args.amp, "deterministic": args.deterministic}
        config = recipes.train_config(
            recipe, checkpoint_dir=folder / "checkpoint", seed=seed, max_steps=args.max_steps, **runtime
        )
        try:  # train.init = "unimodal": the fold's unimodal classifiers first (kept in FOLDER/pretrain)
            model = initialise(
                model,
                recipe,
                data.loaders,
                seed=seed,
                out=folder / "pretrain",
                max_steps=args.max_steps,
                **runtime,
            )
            if args.sync_bn and world_size > 1:
                model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            trainer = Trainer(model, loss_fn, config, metrics_fn=metrics_fn)
            logger = EpochLogger(folder, trainer, args.tensorboard) if rank == 0 else None
            try:
                history = trainer.fit(data.loaders["train"], data.loaders["valid"], on_epoch=logger)
            finally:
                if logger is not None:
                    logger.close()
            if history.best_epoch is None:
                raise TrainingDiverged(f"no epoch had a finite validation {recipe.train.monitor}")
            test = trainer.evaluate(data.loaders["test"], split="test")
        except TrainingDiverged as err:
            raise CommandError(
                f"{err}; the run folder keeps the last good epoch's checkpoint", status=3
            ) from None
        except ValueError as err:
            raise CommandError(str(err)) from None
        except KeyboardInterrupt:
            raise interrupted(config.checkpoint_dir / CHECKPOINT_NAME, started=True) from None
        summary = {
            "recipe": recipe.name,
            "recipe_hash": recipes.recipe_hash(recipe),
            "model": recipe.model,
            "dataset": recipe.dataset,
            "aligned": recipe.aligned,
            "profile": recipe.profile,
            "seed": seed,
            "world_size": world_size,
            "init": recipe.train.init,
            **data.summary,
            "best_epoch": history.best_epoch,
            "epochs_run": len(history),
            "test": test,
        }
        runs[seed] = summary
        _rank_report(folder, rank, history, trainer.model)
        if rank == 0:
            atomic_write_text(folder / "history.json", json.dumps(list(history), indent=1) + "\n")
            payload = {
                "format": FORMAT,
                "recipe": recipe.to_dict(),
                "state_dict": trainer.model.state_dict(),
                "metrics": summary,
                "library_version": __version__,
                "commit": source_commit(),
            }
            atomic_save(payload, folder / "model.pt")
            atomic_write_text(folder / "metrics.json", json.dumps(summary, indent=1) + "\n")
    result = runs[seeds[0]] if len(seeds) == 1 else _seed_summary(runs)
    if rank == 0 and len(seeds) > 1:
        atomic_write_text(out / "metrics.json", json.dumps(result, indent=1) + "\n")
    return result


RANK_REPORT_ENV = "AFFECT_RANK_REPORT"
"""A folder where every rank writes ``rank<r>-<run>.json`` (its history and a digest of its weights), so that a
rehearsal can check that the ranks agree; unset in normal runs (rank 0 alone writes)."""


def _rank_report(folder: Path, rank: int, history: Any, model: Any) -> None:
    import hashlib

    target = os.environ.get(RANK_REPORT_ENV)
    if not target:
        return
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    decisions = [{k: v for k, v in r.items() if k != "seconds"} for r in history]
    report = {
        "rank": rank,
        "best_epoch": history.best_epoch,
        "history": decisions,
        "weights": digest.hexdigest(),
    }
    path = Path(target) / f"rank{rank}-{folder.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))


def _seed_summary(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std (ddof=1) of every test metric over the seeds (``affect_lib.stats.summarize``)."""
    from affect_lib.stats import summarize

    first = next(iter(runs.values()))
    keys = list(first["test"])
    test = {}
    for key in keys:
        values = [r["test"][key] for r in runs.values()]
        s = summarize(values)
        test[key] = {"mean": s.mean, "std": s.std, "n": s.n, "values": values}
    common = {k: v for k, v in first.items() if k not in ("seed", "test", "best_epoch", "epochs_run")}
    return {**common, "seeds": list(runs), "test": test, "runs": {str(k): v for k, v in runs.items()}}


def _fold_summary(folds: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The k-fold aggregate: every test metric's per-fold values (a fold's seed mean when it has several seeds)
    with their mean ± std (ddof=1) and Student-t 95% interval (``affect_lib.stats.summarize``; None where a
    single fold leaves them undefined)."""
    import math

    from affect_lib.stats import summarize

    def value(metric: Any) -> float:
        return metric["mean"] if isinstance(metric, dict) else metric

    first = next(iter(folds.values()))
    test = {}
    for key in first["test"]:
        values = [value(r["test"][key]) for r in folds.values()]
        s = summarize(values)
        stats = {"mean": s.mean, "std": s.std, "low": s.low, "high": s.high}
        test[key] = {k: v if math.isfinite(v) else None for k, v in stats.items()}
        test[key] |= {"confidence": s.confidence, "n": s.n, "values": values}
    common = ("recipe", "model", "dataset", "profile", "init", "protocol", "selected_on_test", "world_size")
    return {
        **{k: first[k] for k in common if k in first},
        "folds": list(folds),
        "test": test,
        "runs": {str(i): r for i, r in folds.items()},
    }


# ---- evaluate ------------------------------------------------------------------------------------------------
def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``model.pt`` written by ``affect-lib train``, read with ``weights_only=True`` (nothing in it can run).

    Raises:
        CommandError: the file is missing, unreadable, or not such a checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CommandError(f"checkpoint {path} does not exist or is not a file")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - one clear line for any unreadable file
        raise refused_checkpoint(f"checkpoint {path}", err) from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise CommandError(f"{path} is not a model.pt written by affect-lib train (no format {FORMAT!r})")
    return saved


def refused_checkpoint(what: str, err: Exception) -> CommandError:
    """The one line for a file that ``torch.load(..., weights_only=True)`` refused: the first sentence of the
    reason only (torch's message goes on to advise ``weights_only=False``, which would run the file's code)."""
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0][:100]
    return CommandError(
        f"{what} was refused ({reason}); it is truncated, corrupt or not a plain-data checkpoint, and nothing in "
        "it was run"
    )


def evaluate_command(args: argparse.Namespace) -> int:
    """``affect-lib evaluate --checkpoint RUN/model.pt``: rebuild the recipe's model and data, re-score a split."""
    from affect_lib import recipes
    from affect_lib.runtime import resolve_device
    from affect_lib.train import TrainConfig, Trainer

    saved = load_checkpoint(args.checkpoint)
    try:
        recipe = recipes.from_dict(saved["recipe"])
        device = resolve_device(args.device)
    except ValueError as err:
        raise CommandError(f"{args.checkpoint}: {err}") from None
    data = load_data(recipe, locate_data(recipe, args.data_dir), manifest=args.manifest_check)
    model = recipes.build_model(recipe, **({"dims": data.dims} if data.dims is not None else {}))
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as err:
        raise CommandError(
            f"{args.checkpoint}: weights do not fit the recipe's model ({str(err)[:160]})"
        ) from None
    loss_fn, metrics_fn = loss_and_metrics(recipe)
    trainer = Trainer(
        model, loss_fn, TrainConfig(epochs=1, lr=1.0, device=device, progress=False), metrics_fn
    )
    try:
        scores = trainer.evaluate(data.loaders[args.split], split=args.split)
    except ValueError as err:
        raise CommandError(str(err)) from None
    stored = saved.get("metrics", {}).get("test") if args.split == "test" else None
    print(
        json.dumps(
            {
                "checkpoint": str(args.checkpoint),
                "recipe": recipe.name,
                "split": args.split,
                "metrics": scores,
                "stored_test_metrics": stored,
            },
            indent=1,
        )
    )
    return 0


# ---- chapters (affect_lib.chapters is imported only when a chapter command runs) -----------------------------
def chapter_command(args: argparse.Namespace) -> int:
    from affect_lib import chapters

    if args.data_dir is not None and not Path(args.data_dir).expanduser().is_dir():
        raise CommandError(f"--data-dir {args.data_dir} does not exist or is not a folder (nothing was run)")
    try:
        chapters.execute_chapter(
            args.name, profile=args.profile, data_dir=args.data_dir, seed=args.seed, output=args.output
        )
    except (FileNotFoundError, ValueError) as err:
        raise CommandError(str(err).strip().splitlines()[0]) from None
    if args.store:
        out = args.output or chapters.EXECUTED_DIR / f"{args.name}.ipynb"
        chapters.store_outputs(out, chapters.chapter_source(args.name))
    return 0


def full_command(args: argparse.Namespace) -> int:
    """Run the book's ``tools/run_paper.py`` (book-building code, so it is not in the package)."""
    import runpy

    tool = Path(__file__).resolve().parents[1] / "tools" / "run_paper.py"
    if not tool.is_file():
        raise CommandError(f"full runs every chapter of the book and needs a checkout of it: no {tool}")
    argv = (["--data-root", str(args.data_root)] if args.data_root else []) + (
        ["--output-dir", str(args.output_dir)] if args.output_dir else []
    )
    return int(runpy.run_path(str(tool))["main"](argv))


def list_command(args: argparse.Namespace) -> int:
    from affect_lib import chapters

    print("\n".join(chapters.chapter_names()))
    return 0


def record_command(args: argparse.Namespace) -> int:
    """Run the book's ``tools/book_pages.py`` (book-building code, so it is not in the package)."""
    import runpy

    tool = Path(__file__).resolve().parents[1] / "tools" / "book_pages.py"
    if not tool.is_file():
        raise CommandError(f"record writes the book's pages and needs a checkout of the book: no {tool}")
    return int(runpy.run_path(str(tool))["main"]([]))


def convert_csd_command(args: argparse.Namespace) -> int:
    from affect_lib.data.csd import SOURCES, csd_to_mult

    files = {k: getattr(args, k) for k in SOURCES}
    if not ((args.csd_dir and not any(files.values())) or (args.csd_dir is None and all(files.values()))):
        raise CommandError(
            "give --csd-dir FOLDER (the SDK's file names) or all of --text --audio --vision --labels"
        )
    splits = None  # the SDK's standard folds (MOSI, MOSEI)
    if args.splits is None and args.dataset == "iemocap":
        raise CommandError(
            "convert-csd --dataset iemocap needs --splits FILE: the SDK has no standard IEMOCAP folds"
        )
    if args.splits is not None:
        try:
            splits = json.loads(Path(args.splits).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CommandError(f"--splits {args.splits}: not a readable JSON file ({err})") from None
        if not isinstance(splits, dict) or sorted(splits) != ["test", "train", "valid"]:
            found = sorted(splits) if isinstance(splits, dict) else type(splits).__name__
            raise CommandError(
                f"--splits {args.splits}: expected an object with the keys train, valid, test; got {found}"
            )
        for key, ids in splits.items():
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise CommandError(
                    f"--splits {args.splits}: '{key}' must be a list of video or video[i] id strings"
                )
    try:
        report = csd_to_mult(
            args.csd_dir or files,
            args.dataset,
            not args.unaligned,
            splits,
            args.out,
            lengths=tuple(args.lengths) if args.lengths else None,
            overwrite=args.overwrite,
        )
    except (OSError, ValueError) as err:  # FileNotFoundError, FileExistsError or bad input
        raise CommandError(str(err)) from None
    sizes = " / ".join(f"{k} {n:,}" for k, n in report.sizes.items())
    print(
        f"wrote {report.path}: {sizes}; words without frames zero-filled {report.zero_filled_words}, "
        f"{report.empty_segments} segments with an empty modality left out, {len(report.missing_videos)} fold videos "
        f"absent from the files skipped; non-finite values {report.nonfinite}"
    )
    return 0


def rehearse_command(args: argparse.Namespace) -> int:
    from affect_lib.rehearsal import main as rehearse

    return rehearse(args.rehearsal_args)


# ---- entry point ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``affect-lib`` parser with every subcommand (and ``faces`` when :mod:`affect_lib.faces.cli` exists)."""
    parser = argparse.ArgumentParser(
        prog="affect-lib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train",
        help="train one recipe (torchrun works unchanged)",
        epilog="affect-lib train ganimation --data-dir FOLDER: GANimation on a face folder, with its own options "
        "(affect-lib train ganimation --help)",
    )
    add_train_arguments(p)
    p.set_defaults(func=train_command)

    e = sub.add_parser("evaluate", help="re-score a model.pt written by train")
    e.add_argument("--checkpoint", required=True, help="RUN/model.pt")
    e.add_argument(
        "--data-dir",
        default=None,
        help="the data folder (default: the recipe's stand-in or $AFFECT_DATA_DIR)",
    )
    e.add_argument("--split", default="test", choices=("train", "valid", "test"))
    _add_manifest_argument(e)
    e.add_argument("--device", default="auto")
    e.set_defaults(func=evaluate_command)

    c = sub.add_parser("chapter", help="execute one chapter through papermill")
    c.add_argument("name", help="chapter name, e.g. 00_orientation")
    c.add_argument("--profile", default="quick", choices=("quick", "paper"))
    c.add_argument("--data-dir", default=None, help="folder with the real dataset (paper profile)")
    c.add_argument("--seed", type=_non_negative_int, default=None)
    c.add_argument("--output", default=None, help="executed notebook (default: book/notebooks/NAME.ipynb)")
    c.add_argument("--store", action="store_true", help="also refresh the committed outputs of the pair")
    c.set_defaults(func=chapter_command)

    f = sub.add_parser("full", help="every chapter on the paper profile; chapters without data are skipped")
    f.add_argument("--data-root", default=None, help="folder holding one sub-folder per dataset")
    f.add_argument("--output-dir", default=None, help="default: _build/paper")
    f.set_defaults(func=full_command)

    sub.add_parser("list", help="list the chapters").set_defaults(func=list_command)
    sub.add_parser("record", help="write the generated appendix pages").set_defaults(func=record_command)
    v = sub.add_parser("convert-csd", help="CMU-MultimodalSDK .csd files to a MulT pickle (no SDK needed)")
    v.add_argument("--dataset", required=True, choices=("mosi", "mosei", "iemocap"))
    v.add_argument("--unaligned", action="store_true", help="raw frame sequences (*_data_noalign.pkl)")
    v.add_argument(
        "--splits",
        default=None,
        help='JSON {"train": [video or video[i] ids], "valid": ..., "test": ...}; default (MOSI, MOSEI): the SDK\'s '
        "standard folds (affect_lib/data/std_folds.json), skipping fold videos absent from the files",
    )
    v.add_argument("--out", required=True, help="output folder (MulT file name) or .pkl path")
    v.add_argument("--csd-dir", default=None, help="folder with the SDK's standard .csd files (MOSI, MOSEI)")
    for key in ("text", "audio", "vision", "labels"):
        v.add_argument(f"--{key}", default=None, help=f"the {key} .csd file (instead of --csd-dir)")
    v.add_argument("--lengths", type=_positive_int, nargs=3, default=None, metavar=("T_L", "T_A", "T_V"))
    v.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    v.set_defaults(func=convert_csd_command)
    r = sub.add_parser(
        "rehearse", help="full-size dress rehearsal of the paper profile (see tools/rehearsal.py)"
    )
    r.add_argument("rehearsal_args", nargs=argparse.REMAINDER, help="options of the rehearsal (--help)")
    r.set_defaults(func=rehearse_command)

    try:
        from affect_lib.faces import cli as faces_cli
    except ImportError:
        faces = sub.add_parser("faces", help="Part II's face tools (not available in this checkout)")
        faces.set_defaults(func=_faces_missing)
    else:
        faces_cli.add_subcommands(sub)
    return parser


def _faces_missing(args: argparse.Namespace) -> int:
    raise CommandError("the faces commands need affect_lib.faces.cli, which this installation does not have")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``affect-lib`` command; a user error prints one ``error:`` line and returns its status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # GANimation trains two networks with no validation metric: its own options and run folder
    # (affect_lib.faces.train_ganimation), so it is dispatched before the generic train parser
    if argv[:2] == ["train", "ganimation"]:
        from affect_lib.faces import train_ganimation

        args = train_ganimation.build_parser().parse_args(argv[2:])
        args.func = train_ganimation.command
    else:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not hasattr(args, "func"):
            parser.error(f"the {args.command} command has no action")
    try:
        return int(args.func(args) or 0)
    except CommandError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.status
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
