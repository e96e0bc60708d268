"""Runs: one function trains any recipe (:func:`train_recipe`), one folder format holds its results.

- :mod:`affect_lib.runs.build`: a recipe's model, trainer configuration and fit;
- :mod:`affect_lib.runs.data`: a recipe's data folder, loaders, loss and metrics, and a run's fingerprint;
- :mod:`affect_lib.runs.folder`: run folders (fingerprint check, resume rules, atomic files, logs);
- :mod:`affect_lib.runs.pretrain`: the unimodal pretraining stage of the audio-visual fusion recipes;
- :mod:`affect_lib.runs.recipe`: :func:`train_recipe` and what a finished run writes;
- :mod:`affect_lib.runs.ganimation`: GANimation's adversarial training on a face folder.

The command line (:mod:`affect_lib.commands`), the chapters' jobs (:mod:`affect_lib.experiments`,
:mod:`affect_lib.mult_runs`) and the rehearsal all train through :func:`train_recipe`.
"""

from affect_lib.runs.build import build_model, fast_paths, train_config
from affect_lib.runs.data import RunData, load_data, locate_data
from affect_lib.runs.recipe import RecipeRun, check_recipe, train_recipe

__all__ = [
    "RecipeRun",
    "RunData",
    "build_model",
    "check_recipe",
    "fast_paths",
    "load_data",
    "locate_data",
    "train_config",
    "train_recipe",
]
