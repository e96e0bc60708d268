"""From a recipe (plain data, :mod:`affect_lib.recipes`) to a model, a trainer configuration and a fitted model.

:func:`build_model` and :func:`train_config` read a recipe; :func:`new_model`, :func:`new_trainer` and :func:`fit_model` are the steps of every training run (seed, then
build; the shared :class:`~affect_lib.train.Trainer` with the recipe's loss and metrics; fit), used by
:func:`affect_lib.runs.train_recipe` and by the unimodal pretraining stage (:mod:`affect_lib.runs.pretrain`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn
from torch.utils.data import DataLoader

from affect_lib import kernels, recipes
from affect_lib.models import build_model as build
from affect_lib.models import fused_attention
from affect_lib.runs.data import loss_and_metrics
from affect_lib.runtime import seed_everything
from affect_lib.train import History, TrainConfig, Trainer, TrainingDiverged


def build_model(recipe: recipes.Recipe, **overrides: Any) -> nn.Module:
    """The recipe's model (``overrides`` replace model arguments, e.g. the dims of the corpus actually read)."""
    return build(recipe.model, **{**recipe.model_kwargs(), **overrides})


def fast_paths(recipe: recipes.Recipe) -> str:
    """One line saying which of the library's fast paths a CPU run of ``recipe`` takes here: the fused attention
    kernel (or its PyTorch reference where it cannot be built, or the encoders' own attention with the path off)
    and, for the audio-visual models, channels-last 3-D convolutions."""
    if not fused_attention.enabled():
        attention = "the encoders' own attention and torch's dropout draws (fused path off)"
    elif kernels.available():
        attention = "the fused attention kernel, hashed dropout draws"
    else:
        attention = "the fused attention's PyTorch reference (no kernel here), hashed dropout draws"
    line = f"MulT encoders on the CPU: {attention}"
    if recipe.model in recipes.AV_MODELS:
        layout = "channels-last" if dict(recipe.model_args).get("channels_last") else "channels-first"
        line += f"; 3-D convolutions {layout}"
    return line


def train_config(recipe: recipes.Recipe, **runtime: Any) -> TrainConfig:
    """The :class:`~affect_lib.train.TrainConfig` of the recipe; ``runtime`` adds device, seed, checkpoint_dir..."""
    t = recipe.train
    return TrainConfig(
        epochs=t.epochs,
        lr=t.lr,
        weight_decay=t.weight_decay,
        grad_clip=t.grad_clip,
        patience=t.patience,
        lr_factor=t.lr_factor,
        lr_patience=t.lr_patience,
        monitor=t.monitor,
        mode=t.mode,
        **runtime,
    )


def new_model(
    recipe: recipes.Recipe, seed: int, *, deterministic: bool = True, **overrides: Any
) -> nn.Module:
    """Seed everything from ``seed``, then build the recipe's model: the same seed gives the same weights."""
    seed_everything(seed, deterministic=deterministic)
    return build_model(recipe, **overrides)


def new_trainer(model: nn.Module, recipe: recipes.Recipe, config: TrainConfig) -> Trainer:
    """The shared :class:`~affect_lib.train.Trainer` for ``model`` with the recipe's loss and metrics."""
    loss_fn, metrics_fn = loss_and_metrics(recipe)
    return Trainer(model, loss_fn, config, metrics_fn=metrics_fn)


def fit_model(
    trainer: Trainer,
    recipe: recipes.Recipe,
    loaders: Mapping[str, DataLoader],
    *,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    watch: DataLoader | None = None,
) -> History:
    """Train on ``loaders["train"]``, selecting the epoch on ``loaders["valid"]`` (``watch``: also scored every
    epoch, never selecting); the trainer's model ends at the best epoch.

    Raises:
        TrainingDiverged: no epoch had a finite validation score (or a training loss became non-finite).
    """
    history = trainer.fit(loaders["train"], loaders["valid"], on_epoch=on_epoch, watch=watch)
    if history.best_epoch is None:
        raise TrainingDiverged(f"{recipe.name}: no epoch had a finite validation {trainer.config.monitor}")
    return history
