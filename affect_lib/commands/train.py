"""``affect-lib train MODEL --dataset NAME`` and ``affect-lib evaluate --checkpoint RUN/model.pt``.

``train`` resolves a recipe (:mod:`affect_lib.recipes`; ``--print-recipe`` shows it), checks the recipe, the data
and the run folder before any work (a folder of another run is refused, naming the field that differs), trains
every fold and seed through :func:`affect_lib.runs.train_recipe`, evaluates the test split once and writes
``run.json``, ``metrics.json``, ``history.json``/``.csv``, TensorBoard logs and a self-describing ``model.pt``
atomically (:mod:`affect_lib.runs.folder`). The default profile is ``paper`` when a data folder is given
(``--data-dir`` or ``$AFFECT_DATA_DIR``) and ``quick`` (the chapters' stand-in) otherwise.

RAVDESS runs take ``--protocol released|msaf|proper`` (:mod:`affect_lib.protocols`; the released two select the
epoch on the test fold, as released), ``--fold i|all`` (``all``: ``OUT/fold_<i>`` for every fold and the k-fold
mean ± std with its t-interval in ``OUT/metrics.json``) and ``--init unimodal|scratch`` (fusion models: fine-tune
from per-fold unimodal classifiers trained first into ``FOLDER/pretrain``, :mod:`affect_lib.runs.pretrain`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from affect_lib.commands.common import (
    CommandError,
    add_settings_argument,
    interrupted,
    non_negative_int,
    positive_float,
    positive_int,
    user_errors,
)


def add_manifest_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-manifest-check",
        dest="manifest_check",
        action="store_false",
        help="accept a MulT file whose split sizes or dims differ from the released file's (another packaging)",
    )


def _fold(text: str) -> int | str:
    return "all" if text == "all" else non_negative_int(text)


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
    add_settings_argument(p, "--set train.patience=10 --set model.layers=3")
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--batch-size", type=positive_int, default=None, help="the whole batch over all ranks")
    p.add_argument("--lr", type=positive_float, default=None)
    p.add_argument("--max-steps", type=positive_int, default=None, help="at most N training steps per epoch")
    p.add_argument("--seed", type=non_negative_int, default=None, help="one seed (default 1337)")
    p.add_argument(
        "--seeds", type=non_negative_int, nargs="+", default=None, help="several seeds: mean ± std"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--amp", nargs="?", const="bf16", default=None, choices=("bf16", "fp16"), help="autocast")
    p.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="deterministic kernels (default); --no-deterministic enables cuDNN autotuning",
    )
    p.add_argument(
        "--fused-attention",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="MulT encoders (MulT, LMR-CBT, CFN-SR's audio) on the CPU: the fused attention kernel and its hashed "
        "dropout draws (default: on unless $AFFECT_FUSED_ATTENTION=0); --no-fused-attention: the encoders' own "
        "attention with torch's dropout draws (the same function, other draws, so other numbers). Where the kernel "
        "cannot be built, one warning line and the PyTorch reference path with the same draws",
    )
    p.add_argument("--workers", type=non_negative_int, default=0, help="data-loader worker processes")
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
    add_manifest_argument(p)
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


def resolve_recipe(args: argparse.Namespace) -> Any:
    """The recipe of a ``train`` command line, with ``--set``, ``--epochs``, ``--batch-size``, ``--lr`` applied."""
    from affect_lib import recipes
    from affect_lib.runs import check_recipe
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
        check_recipe(recipe)
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
    from affect_lib.models import fused_attention
    from affect_lib.protocols import N_FOLDS
    from affect_lib.runs import load_data, locate_data
    from affect_lib.runs.data import fingerprint
    from affect_lib.runs.folder import check_run_folder, default_out, prepare_run_folder
    from affect_lib.runs.recipe import fold_summary
    from affect_lib.train import atomic_write_text, barrier

    if recipe.train.batch_size % world_size:
        raise CommandError(
            f"--batch-size {recipe.train.batch_size} is not divisible by the world size {world_size}: "
            f"pass a multiple of {world_size} (each rank trains on batch size / world size)"
        )
    seeds = args.seeds if args.seeds is not None else [1337 if args.seed is None else args.seed]
    out = Path(args.out) if args.out is not None else default_out(recipe)
    every_fold = getattr(args, "fold", None) == "all"
    with user_errors():
        root = locate_data(recipe, args.data_dir)
        fp = fingerprint(
            recipe,
            root,
            seeds=seeds,
            world_size=world_size,
            max_steps=args.max_steps,
            amp=args.amp,
            every_fold=every_fold,
        )
        # other dropout draws: another run; recorded as resolved (the flag, else the environment's setting)
        fp["fused_attention"] = (
            fused_attention.enabled() if args.fused_attention is None else args.fused_attention
        )
        check_run_folder(out, fp, resume=args.resume, overwrite=args.overwrite)
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
    with user_errors():
        data = load_data(fold_recipes[0], root, **loader_options)
    barrier()  # every rank has checked the folder and the data before rank 0 writes into it
    if rank == 0:
        print(
            f"recipe {recipe.name} ({recipes.recipe_hash(recipe)}):\n{recipes.describe(recipe)}", flush=True
        )
        with user_errors():
            prepare_run_folder(out, {"fingerprint": fp, "recipe": recipe.to_dict()}, overwrite=args.overwrite)
    barrier()
    if not every_fold:
        result = _train_fold(args, recipe, out, data, device, seeds)
    else:  # every fold of the protocol in OUT/fold_<i>, then the k-fold aggregate
        results = {}
        for i, fold_recipe in enumerate(fold_recipes):
            if i:
                with user_errors():
                    data = load_data(fold_recipe, root, **loader_options)
            results[i] = _train_fold(args, fold_recipe, out / f"fold_{i}", data, device, seeds)
        result = fold_summary(results)
        if rank == 0:
            atomic_write_text(out / "metrics.json", json.dumps(result, indent=1) + "\n")
    if rank == 0:
        print(json.dumps(result, indent=1))
    return 0


def _train_fold(
    args: argparse.Namespace, recipe: Any, out: Path, data: Any, device: Any, seeds: Sequence[int]
) -> dict[str, Any]:
    """Train ``recipe`` (one fold) on ``data`` once per seed into ``out`` (``out/seed_<s>`` for several); returns
    its summary (the seeds' mean ± std for several)."""
    from affect_lib.runs import train_recipe
    from affect_lib.runs.recipe import run_summary, seed_summary, write_run
    from affect_lib.train import CHECKPOINT_NAME, TrainingDiverged, atomic_write_text, world

    runs = {}
    for seed in seeds:
        folder = out if len(seeds) == 1 else out / f"seed_{seed}"
        if world()[0] == 0:
            folder.mkdir(parents=True, exist_ok=True)
        try:
            run = train_recipe(
                recipe,
                data,
                seed=seed,
                device=device,
                out=folder,
                amp=args.amp,
                deterministic=args.deterministic,
                max_steps=args.max_steps,
                tensorboard=args.tensorboard,
                sync_bn=args.sync_bn,
                fused_attention=args.fused_attention,
            )
        except TrainingDiverged as err:
            raise CommandError(
                f"{err}; the run folder keeps the last good epoch's checkpoint", status=3
            ) from None
        except ValueError as err:
            raise CommandError(str(err)) from None
        except KeyboardInterrupt:
            raise interrupted(folder / "checkpoint" / CHECKPOINT_NAME, started=True) from None
        runs[seed] = run_summary(recipe, run, data, seed=seed)
        write_run(folder, recipe, run, runs[seed])
    result = runs[seeds[0]] if len(seeds) == 1 else seed_summary(runs)
    if world()[0] == 0 and len(seeds) > 1:
        atomic_write_text(out / "metrics.json", json.dumps(result, indent=1) + "\n")
    return result


def evaluate_command(args: argparse.Namespace) -> int:
    """``affect-lib evaluate --checkpoint RUN/model.pt``: rebuild the recipe's model and data, re-score a split."""
    from affect_lib import recipes
    from affect_lib.runs import load_data, locate_data
    from affect_lib.runs.recipe import evaluate_saved, load_model_file
    from affect_lib.runtime import resolve_device

    with user_errors():
        saved = load_model_file(args.checkpoint)
    try:
        recipe = recipes.from_dict(saved["recipe"])
        device = resolve_device(args.device)
    except ValueError as err:
        raise CommandError(f"{args.checkpoint}: {err}") from None
    with user_errors():
        data = load_data(recipe, locate_data(recipe, args.data_dir), manifest=args.manifest_check)
        scores = evaluate_saved(saved, data, args.split, device, source=str(args.checkpoint))
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``evaluate`` to the main parser's subcommands."""
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
    add_manifest_argument(e)
    e.add_argument("--device", default="auto")
    e.set_defaults(func=evaluate_command)
