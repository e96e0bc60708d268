"""The unimodal pretraining stage of the CFN-SR release (MSAF's protocol), and fusion runs that start from it.

The release does not train CFN-SR from scratch: in each fold it loads a video-only 3D ResNeXt and an MFCC-only
CNN, both trained on that fold first (MSAF's per-fold checkpoints), copies their branches into the fusion model
and fine-tunes everything end to end with Adam (nothing frozen). Here:

- :func:`unimodal_recipe` derives the recipe of each unimodal model from the fusion recipe (its sizes, data,
  fold and optimiser; the stage's own ``train.pretrain_epochs`` / ``train.pretrain_lr`` when set);
- :func:`pretrain_unimodal` trains both on the fusion run's loaders (the same fold, the same epoch selection)
  and returns their state dicts; with ``out`` it saves them atomically and reuses them on the next call;
- :func:`initialise` starts a built fusion model as ``recipe.train.init`` says (``"scratch"``: unchanged;
  ``"unimodal"``: pretrain, then :func:`~affect_lib.models.cfn_sr.init_from_unimodal`).

Comparing fine-tuning with training from scratch at one seed::

    video, audio = pretrain_unimodal(recipe, loaders, seed=seed)
    for init in ("scratch", "unimodal"):
        seed_everything(seed)
        model = build_model(recipe)  # the same head and cross-modal weights in both runs
        if init == "unimodal":
            init_from_unimodal(model, video, audio)
        fit_model(new_trainer(model, recipe, train_config(recipe, seed=seed)), recipe, loaders)

Files under ``out``: ``video_only.pt`` and ``audio_only.pt`` (``format``, ``fingerprint``, ``state_dict``,
``history``, ``best_epoch``), read with ``weights_only=True``; while a model trains, its resumable per-epoch
checkpoint sits in ``<name>.partial/``. A file of another run (other recipe, seed, data or settings) is refused,
naming the field, and never overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from affect_lib import recipes
from affect_lib.models.cfn_sr import CFNSRConfig, init_from_unimodal
from affect_lib.runs.build import fit_model, new_model, new_trainer, train_config
from affect_lib.train import atomic_save, atomic_write_text, barrier, world

FORMAT = "affect_lib.unimodal/1"
"""The ``format`` key of a ``video_only.pt`` / ``audio_only.pt`` written by :func:`pretrain_unimodal`."""
FINGERPRINT_NAME = "fingerprint.json"
State = dict[str, torch.Tensor]


def unimodal_recipe(recipe: recipes.Recipe, model: str) -> recipes.Recipe:
    """The recipe of unimodal ``model`` (``"video_only"`` or ``"audio_only"``) for fusion ``recipe``.

    It keeps the fusion recipe's data (preprocessing, split, fold), variant and training settings, the size
    arguments (:class:`~affect_lib.models.cfn_sr.CFNSRConfig` fields and ``channels_last``; not the fusion
    options such as ``stem_relu``: the unimodal ResNeXt has its ReLU), and takes ``train.pretrain_epochs`` /
    ``train.pretrain_lr`` as its epochs and learning rate when they are set.
    """
    if model not in recipes.UNIMODAL_MODELS:
        raise ValueError(f"model must be one of {recipes.UNIMODAL_MODELS}, got {model!r}")
    if recipe.model not in recipes.AV_MODELS or recipe.model in recipes.UNIMODAL_MODELS:
        raise ValueError(f"recipe {recipe.name} is not an audio-visual fusion recipe")
    sizes = {f.name for f in dataclasses.fields(CFNSRConfig)} | {"channels_last"}
    t = recipe.train
    train = dataclasses.replace(
        t,
        epochs=t.epochs if t.pretrain_epochs is None else t.pretrain_epochs,
        lr=t.lr if t.pretrain_lr is None else t.pretrain_lr,
        init="scratch",
        pretrain_epochs=None,
        pretrain_lr=None,
    )
    args = tuple((k, v) for k, v in recipe.model_args if k in sizes)
    return dataclasses.replace(recipe, model=model, model_args=args, train=train)


def pretrain_unimodal(
    recipe: recipes.Recipe,
    loaders: Mapping[str, DataLoader],
    *,
    seed: int,
    out: str | Path | None = None,
    **runtime: Any,
) -> tuple[State, State]:
    """Train the video-only and the audio-only classifier of fusion ``recipe`` on one fold.

    Args:
        recipe: a fusion recipe (``cfn_sr``, ``av_concat``, ``av_late_fusion``, ...); see :func:`unimodal_recipe`.
        loaders: ``{"train", "valid"}`` loaders of ``((video, mfcc), label)``; ``"valid"`` selects the epoch
            (the test fold itself under the released protocol, as released).
        seed: seeds each model's initial weights and its training (:class:`~affect_lib.train.Trainer`).
        out: folder for ``video_only.pt`` / ``audio_only.pt``; a file of this run there is reused, an
            interrupted stage resumes from its last epoch, a file of another run is refused.
        runtime: :class:`~affect_lib.train.TrainConfig` run options (``device``, ``progress``, ``amp``,
            ``deterministic``, ``max_steps``).

    Returns:
        ``(video_state, audio_state)``: the best epoch's state dicts of :func:`~affect_lib.models.cfn_sr.video_only`
        and :func:`~affect_lib.models.cfn_sr.audio_only`, on the CPU.

    Raises:
        ValueError: a file in ``out`` of another run, or unreadable (named); a run without a finite validation
            score (:class:`~affect_lib.train.TrainingDiverged`).
    """
    if "checkpoint_dir" in runtime:
        raise ValueError("pretrain_unimodal keeps its checkpoints under out; pass out, not checkpoint_dir")
    video, audio = (
        _pretrain_one(unimodal_recipe(recipe, name), loaders, seed, out, runtime)
        for name in recipes.UNIMODAL_MODELS
    )
    return video, audio


def initialise(
    model: nn.Module,
    recipe: recipes.Recipe,
    loaders: Mapping[str, DataLoader],
    *,
    seed: int,
    out: str | Path | None = None,
    **runtime: Any,
) -> nn.Module:
    """Start the freshly built ``model`` of ``recipe`` as ``recipe.train.init`` says; returns ``model``.

    ``"scratch"`` leaves it as built; ``"unimodal"`` runs (or reuses, from ``out``) :func:`pretrain_unimodal`
    and copies both branches into it (:func:`~affect_lib.models.cfn_sr.init_from_unimodal`).
    """
    if recipe.train.init == "unimodal":
        init_from_unimodal(model, *pretrain_unimodal(recipe, loaders, seed=seed, out=out, **runtime))
    return model


# ---- internals -----------------------------------------------------------------------------------------------
def _pretrain_one(
    recipe: recipes.Recipe, loaders: Mapping[str, DataLoader], seed: int, out: Any, runtime: dict
) -> State:
    config = train_config(recipe, seed=seed, **runtime)
    fingerprint = _fingerprint(recipe, config, loaders)
    final = partial = None
    if out is not None:
        final, partial = Path(out) / f"{recipe.model}.pt", Path(out) / f"{recipe.model}.partial"
        if final.exists():
            saved = _load(final)
            _same_run(saved.get("fingerprint"), fingerprint, final)
            return saved["state_dict"]
        if world()[0] == 0:
            _claim(partial, fingerprint)
        barrier()
        config = dataclasses.replace(config, checkpoint_dir=partial)
    trainer = new_trainer(new_model(recipe, seed, deterministic=config.deterministic), recipe, config)
    history = fit_model(trainer, recipe, loaders)
    state = {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}
    if final is not None and partial is not None and world()[0] == 0:
        payload = {
            "format": FORMAT,
            "fingerprint": fingerprint,
            "state_dict": state,
            "history": list(history),
            "best_epoch": history.best_epoch,
        }
        atomic_save(payload, final)
        for name in ("last.pt", FINGERPRINT_NAME):  # this stage's own resumable files, now superseded
            (partial / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # a folder that someone else has put files into stays
            partial.rmdir()
    barrier()
    return state


def _fingerprint(recipe: recipes.Recipe, config: Any, loaders: Mapping[str, DataLoader]) -> dict[str, Any]:
    """What makes two unimodal runs the same: the recipe, the result-changing run options, the data."""
    options = dataclasses.asdict(config)
    for key in ("checkpoint_dir", "device", "progress"):
        options.pop(key)
    data = {}
    for split in ("train", "valid"):
        dataset = loaders[split].dataset
        digest = None
        if isinstance(dataset, Subset):
            digest = hashlib.sha256(np.asarray(dataset.indices, dtype=np.int64).tobytes()).hexdigest()[:16]
        data[split] = {"size": len(dataset), "indices": digest}
    fingerprint = {
        "model": recipe.model,
        "recipe": recipes.recipe_hash(recipe),
        "name": recipe.name,
        "options": options,
        "data": data,
    }
    return json.loads(json.dumps(fingerprint))


def _same_run(saved: Any, fingerprint: dict[str, Any], path: Path) -> None:
    if not isinstance(saved, dict):
        raise ValueError(f"{path} has no fingerprint: not a file of pretrain_unimodal (nothing was changed)")
    for key in fingerprint:
        if saved.get(key) != fingerprint[key]:
            raise ValueError(
                f"{path} holds another unimodal run: its {key} is {saved.get(key)!r}, this run's is "
                f"{fingerprint[key]!r}; choose another out (nothing was changed)"
            )


def _claim(partial: Path, fingerprint: dict[str, Any]) -> None:
    """Create (or re-enter, for the same run) the folder of an unfinished stage; refuse anyone else's."""
    marker = partial / FINGERPRINT_NAME
    if marker.exists():
        try:
            saved = json.loads(marker.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{marker} is unreadable ({type(err).__name__}); choose another out") from None
        _same_run(saved, fingerprint, marker)
        return
    if partial.exists() and (not partial.is_dir() or any(partial.iterdir())):
        raise ValueError(f"{partial} exists and is not an unfinished stage of this run; choose another out")
    partial.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, json.dumps(fingerprint, indent=1) + "\n")


def _load(path: Path) -> dict[str, Any]:
    try:  # the restricted unpickler: tensors and plain data only, nothing in the file can run
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - one clear message for any unreadable file
        raise ValueError(f"{path} was refused ({type(err).__name__}): not a plain-data checkpoint") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or "state_dict" not in saved:
        raise ValueError(f"{path} is not a unimodal checkpoint of pretrain_unimodal (no format {FORMAT!r})")
    return saved
