"""One seeded training run of a MulT-corpus recipe, as a plain function that a worker process can run.

Chapter 30 trains every (model, corpus, condition, seed) through :func:`train_mult_run`, spread over the cores
with :func:`affect_lib.pool.run_jobs`; each run reads its corpus from the pickle file, seeds itself and returns
plain data, so its result does not depend on the process that ran it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from affect_lib import recipes
from affect_lib.data.mult import load_mult_pickle, make_loaders
from affect_lib.runs import RunData, train_recipe
from affect_lib.train import History


@dataclass(frozen=True)
class MultRun:
    """A finished run: the test metrics of the validation-selected epoch, the per-epoch history (with the
    watched test split's ``watch_*`` columns), the training time in seconds (wall clock, not checked) and the same
    weights' metrics on the test splits of other files (``other_tests``, by the names they were given)."""

    test: dict[str, float]
    history: History = field(repr=False)
    seconds: float
    other_tests: dict[str, dict[str, float]] = field(default_factory=dict)


def train_mult_run(
    model: str,
    dataset: str,
    path: str | os.PathLike[str],
    *,
    aligned: bool,
    seed: int,
    profile: str = "quick",
    device: str = "cpu",
    watch: bool = False,
    other_tests: dict[str, str | os.PathLike[str]] | None = None,
    overrides: dict[str, Any] | None = None,
) -> MultRun:
    """Train ``model``'s recipe on the MulT pickle at ``path`` from ``seed``; score the test split.

    Args:
        model, dataset, aligned, profile: select the recipe (:func:`affect_lib.recipes.get`).
        path: the corpus (a real MulT pickle or a stand-in written by
            :func:`~affect_lib.data.synthetic_mult.write_standin`).
        seed: seeds the initial weights, every epoch's shuffle and dropout.
        watch: also score the test split after every epoch (``watch_*`` history columns), only to report the
            best-test-epoch figure that the LMR-CBT logs quote; it never selects an epoch.
        other_tests: ``{name: pickle}``: also score the selected weights on these files' test splits (e.g. the
            same test utterances with a cue removed: a test-time ablation of the trained model).
        overrides: ``{"train.epochs": 4, ...}`` recipe overrides.
    """
    recipe = recipes.get(model, dataset, profile, aligned=aligned)
    if overrides:
        recipe = recipe.replace(**overrides)
    corpus = load_mult_pickle(path, dataset, aligned)
    loaders = make_loaders(corpus, recipe.train.batch_size, eval_batch_size=recipe.train.eval_batch_size)
    run = train_recipe(
        recipe, RunData(loaders, corpus.dims, {}), seed=seed, device=device, progress=False, watch=watch
    )
    others = {}
    for name, other in (other_tests or {}).items():
        split = make_loaders(load_mult_pickle(other, dataset, aligned), recipe.train.eval_batch_size)["test"]
        others[name] = run.trainer.evaluate(split)
    return MultRun(run.test, run.history, sum(r["seconds"] for r in run.history), others)
