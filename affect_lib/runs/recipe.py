"""One function trains a recipe: :func:`train_recipe`, for the command line, the chapters and the rehearsal alike.

``seed -> model -> (unimodal pretraining) -> Trainer -> fit -> test``: the seed fixes the initial weights, every
epoch's shuffle and dropout; ``recipe.train.init = "unimodal"`` first trains the fold's unimodal classifiers
(:mod:`affect_lib.runs.pretrain`); the epoch is selected on the validation split and the test split is scored once
with those weights. With a run folder ``out`` the run keeps its resumable checkpoint in ``out/checkpoint``, its
pretraining in ``out/pretrain`` and its per-epoch logs (:class:`~affect_lib.runs.folder.EpochLogger`); with
``out=None`` it writes nothing (the chapters' jobs). :func:`write_run` writes a finished run's ``model.pt``,
``metrics.json`` and ``history.json``; :func:`seed_summary` and :func:`fold_summary` aggregate seeds and folds.
GANimation recipes train through the same entry point (:func:`affect_lib.runs.ganimation.train`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import affect_lib.runs.ganimation as ganimation
from affect_lib import __version__, recipes
from affect_lib.data.emotionet import FaceAUs
from affect_lib.models import fused_attention as fused
from affect_lib.runs.build import build_model, fit_model, new_model, new_trainer, train_config
from affect_lib.runs.data import RunData, metric_names
from affect_lib.runs.folder import FORMAT, EpochLogger
from affect_lib.runs.pretrain import initialise, unimodal_recipe
from affect_lib.runtime import source_commit
from affect_lib.stats import summarize
from affect_lib.train import History, TrainConfig, Trainer, atomic_save, atomic_write_text, world

RANK_REPORT_ENV = "AFFECT_RANK_REPORT"
"""A folder where every rank writes ``rank<r>-<run>.json`` (its history and a digest of its weights), so that a
rehearsal can check that the ranks agree; unset in normal runs (rank 0 alone writes)."""


@dataclass
class RecipeRun:
    """A trained run: the trainer (its model holds the selected epoch's weights; GANimation's holds G and D), the
    per-epoch history and the test split's metrics (``None`` when not scored)."""

    trainer: Trainer | ganimation.gan.Trainer
    history: History | list[dict[str, float]]
    test: dict[str, float] | None = field(default=None)


def check_recipe(recipe: recipes.Recipe | recipes.GanimationRecipe) -> None:
    """Refuse, by name and before any work, a model field the model does not take or sizes it refuses (the model
    is built on the meta device: no memory, no compute) and a training value the trainer refuses
    (``train.lr=NaN``, ``train.epochs=0``), the unimodal pretraining stage's included.

    Raises:
        ValueError: naming the recipe and the field.
    """
    if isinstance(recipe, recipes.GanimationRecipe):
        ganimation.check_sizes(recipe)
        return
    try:
        with torch.device("meta"):
            build_model(recipe)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"recipe {recipe.name}: a model field is not an argument of {recipe.model}: {err}"
        ) from err
    try:
        train_config(recipe)
    except ValueError as err:
        raise ValueError(f"recipe {recipe.name}: train.{err} (set by --set, --epochs or --lr)") from None
    names = metric_names(recipe)
    if recipe.train.monitor not in names:
        raise ValueError(
            f"recipe {recipe.name}: train.monitor {recipe.train.monitor!r} is not a validation metric of this "
            f"recipe (one of: {', '.join(names)})"
        )
    if recipe.train.init == "unimodal":
        try:
            train_config(unimodal_recipe(recipe, "video_only"))
        except ValueError as err:
            raise ValueError(
                f"recipe {recipe.name}: the unimodal pretraining stage's {err} (train.pretrain_epochs and "
                "train.pretrain_lr, or train.epochs and train.lr when those are unset)"
            ) from None


def train_recipe(
    recipe: recipes.Recipe | recipes.GanimationRecipe,
    data: RunData | FaceAUs,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    out: Path | None = None,
    amp: str | None = None,
    deterministic: bool = True,
    max_steps: int | None = None,
    progress: bool = True,
    tensorboard: bool = False,
    sync_bn: bool = False,
    watch: bool = False,
    test: bool = True,
    workers: int = 0,
    resume: bool = False,
    stop_epoch: int | None = None,
    fused_attention: bool | None = None,
) -> RecipeRun:
    """Train ``recipe`` on ``data.loaders`` (``"train"``, ``"valid"``, and ``"test"`` when ``test`` or ``watch``);
    a GANimation recipe on a face folder's training split (``data``: :func:`affect_lib.runs.ganimation.dataset`)
    through :func:`affect_lib.runs.ganimation.train`, with a run folder ``out``.

    Args:
        seed: seeds the initial weights, the pretraining, every epoch's shuffle and dropout.
        out: the run folder (its checkpoint, pretraining and logs on rank 0); ``None``: nothing is written.
        amp, deterministic, max_steps, progress: :class:`~affect_lib.train.TrainConfig` options.
        tensorboard: TensorBoard scalars under ``out/tensorboard`` (with ``out``).
        sync_bn: SyncBatchNorm under DDP.
        watch: also score the test split after every epoch (``watch_*`` history columns; never selects).
        test: score the test split once with the selected weights (:attr:`RecipeRun.test`).
        workers, resume, stop_epoch: GANimation only (the others take their loaders from ``data`` and resume from
            the checkpoint in ``out``): loader processes, continue the run in ``out``, stop after this epoch.
        fused_attention: MulT encoders on the CPU use the fused attention kernel and its hashed dropout draws
            (True) or not (False), for this run only (:func:`affect_lib.models.fused_attention.enable`); None:
            the current setting (on unless ``AFFECT_FUSED_ATTENTION=0``).

    Raises:
        TrainingDiverged: a non-finite training loss, or no finite validation score.
        ValueError: a pretraining file of another run under ``out/pretrain``, bad settings.
    """
    if isinstance(recipe, recipes.GanimationRecipe):
        if out is None:
            raise ValueError("GANimation trains into a run folder: pass out")
        trainer, history = ganimation.train(
            recipe,
            data,
            out,
            resume=resume,
            epochs=stop_epoch,
            seed=seed,
            device=device,
            workers=workers,
            max_steps=max_steps,
            progress=progress,
        )
        return RecipeRun(trainer, history)
    switch = nullcontext() if fused_attention is None else fused.enable(fused_attention)
    with switch:
        runtime = {"device": device, "amp": amp, "deterministic": deterministic, "progress": progress}
        checkpoint = None if out is None else out / "checkpoint"
        config = train_config(recipe, checkpoint_dir=checkpoint, seed=seed, max_steps=max_steps, **runtime)
        model = new_model(recipe, seed, deterministic=deterministic, **_dims(data))
        pretrain = None if out is None else out / "pretrain"
        model = initialise(
            model, recipe, data.loaders, seed=seed, out=pretrain, max_steps=max_steps, **runtime
        )
        if sync_bn and world()[1] > 1:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        generator = getattr(data.loaders["train"], "generator", None)
        if generator is not None:  # a pretraining drew from it: the fusion run shuffles as one from scratch
            generator.manual_seed(seed)
        trainer = new_trainer(model, recipe, config)
        logger = EpochLogger(out, trainer, tensorboard) if out is not None and world()[0] == 0 else None
        try:
            history = fit_model(
                trainer, recipe, data.loaders, on_epoch=logger, watch=data.loaders["test"] if watch else None
            )
        finally:
            if logger is not None:
                logger.close()
        scores = trainer.evaluate(data.loaders["test"], split="test") if test else None
        return RecipeRun(trainer, history, scores)


def _dims(data: RunData) -> dict[str, Any]:
    return {"dims": data.dims} if data.dims is not None else {}


def run_summary(recipe: recipes.Recipe, run: RecipeRun, data: RunData, *, seed: int) -> dict[str, Any]:
    """A run's ``metrics.json``: the recipe, the seed, the data's summary, the selected epoch and the test metrics."""
    return {
        "recipe": recipe.name,
        "recipe_hash": recipes.recipe_hash(recipe),
        "model": recipe.model,
        "dataset": recipe.dataset,
        "aligned": recipe.aligned,
        "profile": recipe.profile,
        "seed": seed,
        "world_size": world()[1],
        "init": recipe.train.init,
        **data.summary,
        "best_epoch": run.history.best_epoch,
        "epochs_run": len(run.history),
        "test": run.test,
    }


def write_run(folder: Path, recipe: recipes.Recipe, run: RecipeRun, summary: dict[str, Any]) -> None:
    """Rank 0: ``history.json``, ``model.pt`` (format, recipe, weights, metrics, library version and commit) and
    ``metrics.json`` into ``folder``, each atomically; every rank writes its report when
    :data:`RANK_REPORT_ENV` is set."""
    _rank_report(folder, run.history, run.trainer.model)
    if world()[0] != 0:
        return
    atomic_write_text(folder / "history.json", json.dumps(list(run.history), indent=1) + "\n")
    payload = {
        "format": FORMAT,
        "recipe": recipe.to_dict(),
        "state_dict": run.trainer.model.state_dict(),
        "metrics": summary,
        "library_version": __version__,
        "commit": source_commit(),
    }
    atomic_save(payload, folder / "model.pt")
    atomic_write_text(folder / "metrics.json", json.dumps(summary, indent=1) + "\n")


def _rank_report(folder: Path, history: History, model: nn.Module) -> None:
    target = os.environ.get(RANK_REPORT_ENV)
    if not target:
        return
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    decisions = [{k: v for k, v in r.items() if k != "seconds"} for r in history]
    report = {
        "rank": world()[0],
        "best_epoch": history.best_epoch,
        "history": decisions,
        "weights": digest.hexdigest(),
    }
    path = Path(target) / f"rank{world()[0]}-{folder.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))


def seed_summary(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std (ddof=1) of every test metric over the seeds (:func:`affect_lib.stats.summarize`)."""
    first = next(iter(runs.values()))
    test = {}
    for key in first["test"]:
        values = [r["test"][key] for r in runs.values()]
        s = summarize(values)
        test[key] = {"mean": s.mean, "std": s.std, "n": s.n, "values": values}
    common = {k: v for k, v in first.items() if k not in ("seed", "test", "best_epoch", "epochs_run")}
    return {**common, "seeds": list(runs), "test": test, "runs": {str(k): v for k, v in runs.items()}}


def fold_summary(folds: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The k-fold aggregate: every test metric's per-fold values (a fold's seed mean when it has several seeds)
    with their mean ± std (ddof=1) and Student-t 95% interval (:func:`affect_lib.stats.summarize`; None where a
    single fold leaves them undefined)."""

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


def load_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``model.pt`` written by :func:`write_run`, read with ``weights_only=True`` (nothing in it can run).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable (the first sentence of torch's reason only: its advice, ``weights_only=False``,
            would run the file's code), or not such a file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist or is not a file")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - one clear line for any unreadable file
        raise ValueError(refused(f"checkpoint {path}", err)) from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(f"{path} is not a model.pt written by affect-lib train (no format {FORMAT!r})")
    return saved


def refused(what: str, err: Exception) -> str:
    """The one line for a file that ``torch.load(..., weights_only=True)`` refused: the first sentence of the
    reason only (torch's message goes on to advise ``weights_only=False``, which would run the file's code)."""
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0][:100]
    return (
        f"{what} was refused ({reason}); it is truncated, corrupt or not a plain-data checkpoint, and nothing in "
        "it was run"
    )


def evaluate_saved(
    saved: dict[str, Any], data: RunData, split: str, device: Any, *, source: str
) -> dict[str, float]:
    """Re-score the weights of a read ``model.pt`` (:func:`load_model_file`; ``source`` names it in errors) on
    ``data.loaders[split]`` with its recipe's metrics."""
    recipe = recipes.from_dict(saved["recipe"])
    model = build_model(recipe, **_dims(data))
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{source}: weights do not fit the recipe's model ({str(err)[:160]})") from None
    config = TrainConfig(epochs=1, lr=1.0, device=device, progress=False)
    return new_trainer(model, recipe, config).evaluate(data.loaders[split], split=split)
