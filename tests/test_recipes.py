"""Recipes: layering, typed fields rejected by name, a stable hash, round trips, and the papers' settings."""

import pytest
import torch

from affect_lib import recipes, runs
from affect_lib.models.cfn_sr import count_parameters


def test_layers_merge_dataset_model_profile_variant():
    paper = recipes.get("lmr_cbt", "iemocap", "paper")
    assert (paper.train.batch_size, paper.train.lr, paper.train.epochs) == (32, 2e-3, 120)
    assert (paper.train.grad_clip, paper.train.lr_patience) == (1.0, 20)
    assert paper.data.file == "iemocap_data.pkl" and paper.data.out_dim == 8
    quick = recipes.get("lmr_cbt", "mosei", "quick", aligned=False)
    assert (quick.train.epochs, quick.train.batch_size, quick.train.lr, quick.train.lr_patience) == (
        10,
        64,
        3e-3,
        None,
    )
    assert quick.model_kwargs()["layers"] == 2 and quick.data.standin_lengths == (12, 36, 36)
    assert quick.data.standin_sizes == (2000, 400, 1000)  # chapter 30's sized corpus (mult_sizing.json)
    assert recipes.CHAPTER_CORPORA["quick"] == (("mosei", False),) and recipes.CHAPTER_SEEDS >= 3
    assert recipes.get("mult", "mosei", "quick").model_kwargs()["layers"] == 1
    assert recipes.get("mult", "mosi", "paper").data.dims == (300, 5, 20)
    av = recipes.get("cfn_sr", "ravdess", "paper")
    assert (av.train.epochs, av.train.batch_size, av.train.monitor, av.data.split) == (
        70,
        16,
        "accuracy",
        "proper",
    )
    released = recipes.get("cfn_sr", "ravdess", "paper", variant="released")
    assert released.model_kwargs()["batch_coupled_attention"] and released.data.preprocess.squash_first
    assert (av.data.augment_scale, released.data.augment_scale) == ((0.8, 1.0), (0.8, 1.4))
    assert released.data.preprocess.crop == av.data.preprocess.crop == "detector"
    assert released.name == "cfn_sr-ravdess-paper+released"


def test_paper_recipe_builds_the_paper_model():
    assert (
        round(count_parameters(runs.build_model(recipes.get("cfn_sr", "ravdess", "paper"))) / 1e6, 2) == 26.30
    )
    quick = recipes.get("cfn_sr", "ravdess", "quick")
    model = runs.build_model(quick)
    assert model.config.frames == quick.data.preprocess.n_frames == 4
    assert model.config.mfcc_frames == quick.data.preprocess_config().mfcc_frames == 130


def test_unknown_fields_are_rejected_by_name():
    recipe = recipes.get("lmr_cbt", "mosei")
    with pytest.raises(ValueError, match="unknown train field train.epoch "):
        recipe.replace(**{"train.epoch": 3})
    with pytest.raises(ValueError, match="unknown data field data.frames"):
        recipes.get("cfn_sr", "ravdess").replace(**{"data.frames": 3})
    deep = recipe.replace(**{"model.depth": 3})  # plain data: the model judges its own fields ...
    with pytest.raises(ValueError, match="depth"):
        runs.check_recipe(deep)  # ... before any run (the command line calls this first)
    with pytest.raises(ValueError, match="train.monitor 'nosuch' is not a validation metric.*mae"):
        runs.check_recipe(recipe.replace(**{"train.monitor": "nosuch"}))  # before any epoch, not after one
    with pytest.raises(ValueError, match="'train.X', 'data.X' or 'model.X'"):
        recipe.replace(epochs=3)
    for args, words in [
        (("lmrcbt", "mosei"), "unknown model"),
        (("lmr_cbt", "mosey"), "unknown dataset"),
        (("lmr_cbt", "mosei", "fast"), "profile"),
        (("cfn_sr", "mosei"), "trains on ravdess"),
    ]:
        with pytest.raises(ValueError, match=words):
            recipes.get(*args)
    with pytest.raises(ValueError, match="unknown variant"):
        recipes.get("cfn_sr", "ravdess", variant="faster")


def test_metric_names_are_the_keys_a_real_shaped_random_batch_reports():
    g = torch.Generator().manual_seed(0)
    batches = {  # (model, dataset): (outputs, targets) as the models and loaders give them
        ("lmr_cbt", "mosi"): (torch.randn(16, 1, generator=g), torch.randn(16, 1, 1, generator=g)),
        ("lmr_cbt", "iemocap"): (
            torch.randn(16, 8, generator=g),
            torch.nn.functional.one_hot(torch.randint(2, (16, 4), generator=g), 2),
        ),
        ("cfn_sr", "ravdess"): (torch.randn(16, 8, generator=g), torch.randint(8, (16,), generator=g)),
    }
    for (model, dataset), (outputs, targets) in batches.items():
        r = recipes.get(model, dataset)
        _, metrics = runs.data.loss_and_metrics(r)
        assert runs.data.metric_names(r) == ("loss", *metrics(outputs, targets))
        assert r.train.monitor in runs.data.metric_names(r)


def test_hash_is_stable_and_tracks_every_setting():
    a, b = recipes.get("mult", "mosi"), recipes.get("mult", "mosi")
    assert recipes.recipe_hash(a) == recipes.recipe_hash(b) and len(recipes.recipe_hash(a)) == 12
    changed = {
        recipes.recipe_hash(r)
        for r in (
            a,
            a.replace(**{"train.lr": 1e-4}),
            a.replace(**{"model.layers": 2}),
            recipes.get("mult", "mosi", aligned=False),
            recipes.get("mult", "mosi", "paper"),
        )
    }
    assert len(changed) == 5


def test_stored_recipe_round_trips_and_detects_edits():
    recipe = recipes.get("cfn_sr", "ravdess", "quick", variant="no_residual")
    stored = recipe.to_dict()
    assert recipes.from_dict(stored) == recipe
    stored["train"]["lr"] = 0.5
    with pytest.raises(ValueError, match="does not hash"):
        recipes.from_dict(stored)
    with pytest.raises(ValueError, match="not a stored recipe"):
        recipes.from_dict({"model": "x"})


def test_describe_is_json_with_name_and_hash():
    import json

    shown = json.loads(recipes.describe(recipes.get("late_fusion", "iemocap", "quick")))
    assert shown["name"] == "late_fusion-iemocap-aligned-quick" and shown["train"]["epochs"] == 10
