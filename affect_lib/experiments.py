"""Chapter 40's training runs as jobs: one function that trains one audio-visual model on one actor split.

:func:`train_av` is what :func:`affect_lib.pool.run_jobs` sends to its workers: every argument is plain data (a
stand-in folder, preprocessing settings, an :class:`~affect_lib.data.ravdess.ActorSplit`, a seed, recipe
overrides), the corpus is read from the preprocessing cache (memory-mapped, so two workers share it), and the run
seeds itself, so its result does not depend on the worker that ran it. The result is a :class:`AVRun` (picklable).

>>> from affect_lib.data.ravdess import ActorSplit
>>> job = dict(model="cfn_sr", root="...", split=ActorSplit((1, 2), (3,), (4,)), seed=0)  # doctest: +SKIP
>>> run_jobs(train_av, [job])[0].accuracy  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from affect_lib import recipes
from affect_lib.data.av_preprocess import PreprocessConfig, ProcessedCorpus, preprocess_corpus
from affect_lib.data.ravdess import ActorSplit, RavdessClips, list_clips
from affect_lib.runs import RunData, train_recipe
from affect_lib.runs.data import released_quirks


@dataclass(frozen=True)
class AVRun:
    """One trained model's test result: ``pred``/``true`` class indices of the test clips (in corpus order),
    ``valid``/``watch`` the validation and test accuracy after every epoch (the test never selects unless the
    run selected on the test fold), ``best_epoch`` the selected epoch, ``steps`` its optimiser steps in all
    (the unimodal pretraining's included); ``controls`` the predictions on the test clips re-paired by each
    control (by name, in the order of ``pred``)."""

    accuracy: float
    pred: tuple[int, ...]
    true: tuple[int, ...]
    valid: tuple[float, ...]
    watch: tuple[float, ...]
    best_epoch: int
    steps: int
    controls: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def load_corpus(root: str, preprocess: PreprocessConfig) -> ProcessedCorpus:
    """The preprocessed clips under ``root`` (from the cache after the first call; one copy per process)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the chapter prints the corpus's warnings once, where it builds it
        return preprocess_corpus(list_clips(root), preprocess)


def av_recipe(
    model: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    variant: str | None = None,
    profile: str = "quick",
) -> recipes.Recipe:
    """The recipe of ``model`` on RAVDESS for ``profile`` with ``{"section.field": value}`` overrides."""
    recipe = recipes.get(model, "ravdess", profile, variant=variant)
    return recipe.replace(**dict(overrides)) if overrides else recipe


def train_av(
    *,
    model: str,
    root: str | Path,
    split: ActorSplit,
    seed: int,
    overrides: Mapping[str, Any] | None = None,
    variant: str | None = None,
    select_on_test: bool = False,
    watch: bool = False,
    controls: Mapping[str, tuple[Any, Any]] | None = None,
    profile: str = "quick",
    device: str = "cpu",
) -> AVRun:
    """Train ``model`` (a recipe name: ``cfn_sr``, ``av_concat``, ``av_late_fusion``, ``msaf``) on the training
    actors of ``split`` from ``seed`` and report its test actors once.

    The epoch is selected on the validation actors (on the test actors when ``select_on_test``: the released
    protocol); ``train.init = "unimodal"`` in ``overrides`` first trains a video-only and an audio-only model on
    the same fold (:func:`~affect_lib.runs.pretrain.initialise`). The preprocessing is the recipe's. ``watch``
    also evaluates the test actors after every epoch (``AVRun.watch``; never used for selection). ``controls``:
    test-time re-pairings scored by the same trained weights, ``{name: (video_from, audio_from)}`` with two
    (N,) int arrays over the corpus (test clip ``i`` shows the face of clip ``video_from[i]`` and the voice
    of clip ``audio_from[i]``; identity arrays leave it unchanged), e.g. from
    :func:`~affect_lib.data.synthetic_ravdess.swap_orders`. ``profile``
    and ``device``: the recipe's profile (``"paper"``: the released sizes) and where to train.
    """
    recipe = av_recipe(model, overrides, variant=variant, profile=profile)
    corpus = load_corpus(str(root), recipe.data.preprocess_config())
    train_idx, valid_idx, test_idx = split.indices(corpus.actors)
    if select_on_test:
        valid_idx = test_idx
    if not (len(train_idx) and len(valid_idx) and len(test_idx)):
        raise ValueError(f"split {split} leaves a part without clips in {root}")
    quirks = released_quirks(recipe)  # as the command line's loaders: on for the released variant only
    plain = RavdessClips(corpus.frames, corpus.mfcc, corpus.labels, bgr_input=quirks["bgr_input"])
    train_set = RavdessClips(
        corpus.frames,
        corpus.mfcc,
        corpus.labels,
        augment=recipe.data.augment,
        augment_scale=recipe.data.augment_scale,
        **quirks,
    )
    t = recipe.train
    loaders = {
        "train": DataLoader(
            Subset(train_set, train_idx.tolist()),
            batch_size=t.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        ),
        "valid": DataLoader(Subset(plain, valid_idx.tolist()), batch_size=t.eval_batch_size),
        "test": DataLoader(Subset(plain, test_idx.tolist()), batch_size=t.eval_batch_size),
    }
    run = train_recipe(
        recipe, RunData(loaders, None, {}), seed=seed, device=device, progress=False, watch=watch, test=False
    )
    trainer, history = run.trainer, run.history
    outputs, targets = trainer.predict(loaders["test"])
    pred, true = outputs.argmax(1).numpy(), targets.numpy()
    repaired = {}
    for name, (video_from, audio_from) in (controls or {}).items():
        v, a = np.asarray(video_from)[test_idx], np.asarray(audio_from)[test_idx]
        if (corpus.actors[v] != corpus.actors[test_idx]).any() or (
            corpus.actors[a] != corpus.actors[test_idx]
        ).any():
            raise ValueError(f"control {name!r} takes a test clip's face or voice from another actor")
        clips = RavdessClips(corpus.frames[v], corpus.mfcc[a], corpus.labels[test_idx])
        scores, _ = trainer.predict(DataLoader(clips, batch_size=t.eval_batch_size))
        repaired[name] = tuple(int(x) for x in scores.argmax(1))
    cols = history.columns()
    per_epoch = len(loaders["train"])
    pretrain = 2 * (t.pretrain_epochs or t.epochs) if t.init == "unimodal" else 0
    return AVRun(
        accuracy=float(np.mean(pred == true)),
        pred=tuple(int(x) for x in pred),
        true=tuple(int(x) for x in true),
        valid=tuple(float(x) for x in cols["valid_accuracy"]),
        watch=tuple(float(x) for x in cols.get("watch_accuracy", ())),
        best_epoch=int(history.best_epoch or 0),
        steps=per_epoch * (pretrain + len(history)),
        controls=repaired,
    )


def control_accuracy(run: AVRun, control: str | None = None, keep: Any = None) -> float:
    """The accuracy of ``run`` on its test clips (``keep``: a boolean mask over them, default all), as tested
    (``control=None``) or under a control: the mean over the re-pairings named ``"<control> <k>"`` in
    ``run.controls`` (:func:`train_av`'s ``controls``)."""
    true = np.asarray(run.true)
    keep = np.ones(len(true), bool) if keep is None else np.asarray(keep, bool)
    if control is None:
        return float(np.mean((np.asarray(run.pred) == true)[keep]))
    names = [name for name in run.controls if name.rsplit(" ", 1)[0] == control]
    if not names:
        raise ValueError(f"run has no re-pairings named {control!r} <k>; it has {sorted(run.controls)}")
    return float(np.mean([np.mean((np.asarray(run.controls[n]) == true)[keep]) for n in names]))


def constant_accuracy(train_labels: Any, test_labels: Any) -> float:
    """The test accuracy of the constant predictor that always says the most frequent training label (the
    smallest label on a tie): what a model that learnt nothing from the clips scores on the same test items."""
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    majority = int(np.bincount(train_labels).argmax())
    return float(np.mean(test_labels == majority))


def majority_baseline(labels: Any, actors: Any, splits: Any) -> float:
    """The mean over actor ``splits`` of :func:`constant_accuracy` (training labels -> test labels), for clips
    with these ``labels`` and ``actors``."""
    labels = np.asarray(labels)
    parts = [split.indices(actors) for split in splits]
    return float(np.mean([constant_accuracy(labels[a], labels[c]) for a, _, c in parts]))
