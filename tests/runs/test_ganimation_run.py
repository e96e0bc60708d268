"""GANimation's training run on a face folder: the official schedule, a tiny run and its files, an interrupted run
resumed to the same weights, run folders that are never overwritten, the command line."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from affect_lib import commands, recipes, runs
from affect_lib.faces import ganimation as gan
from affect_lib.faces.rig import FaceRig
from affect_lib.runs import ganimation as ganimation_run

OPENFACE_AUS = "01 02 04 05 06 07 09 10 12 14 15 17 20 23 25 26 45".split()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """8 rig faces (32 px PNGs) with one OpenFace CSV each (padded headers, intensities on the 0-5 scale)."""
    root = tmp_path_factory.mktemp("faces")
    (root / "imgs").mkdir()
    (root / "aus").mkdir()
    aus = np.random.default_rng(0).uniform(0, 5, (8, 17)).round(2)
    images = FaceRig.default(32)(torch.tensor(aus, dtype=torch.float32))
    header = "face, confidence, " + ", ".join(f"AU{a}_r" for a in OPENFACE_AUS)
    for i, (image, row) in enumerate(zip(images, aus, strict=True)):
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(root / "imgs" / f"{i:06d}.png")
        (root / "aus" / f"{i:06d}.csv").write_text(f"{header}\n0, 0.98, " + ", ".join(map(str, row)) + "\n")
    return root


TINY = {
    "model.ngf": 8,
    "model.n_res": 1,
    "model.ndf": 8,
    "train.batch_size": 4,
    "train.lr": 1e-4,
    "train.au_regressor_steps": 2,
}
"""Smaller than the quick profile (chapter 21's run), so that the tests take seconds."""


def _quick(**overrides):
    return recipes.ganimation("quick").replace(**(TINY | overrides))


def _train(recipe, folder, out, *, seed=1337, epochs=None, resume=False):
    """A run through the library's one entry point, as the command line makes it."""
    data = ganimation_run.dataset(recipe, folder, seed=seed)
    run = runs.train_recipe(
        recipe, data, seed=seed, out=out, stop_epoch=epochs, resume=resume, progress=False
    )
    return run.history


def _weights(path):
    return torch.load(path, weights_only=True)


def test_lr_schedule_is_the_official_one():
    # the official loop: lr drops by lr0/nepochs_decay after every 1-based epoch above nepochs_no_decay
    lr, official = 1.0, []
    for i_epoch in range(1, 31):
        official.append(lr)
        if i_epoch > 20:
            lr -= 1 / 10
    assert [gan.lr_factor(e, 20, 10) for e in range(30)] == pytest.approx(official)
    with pytest.raises(ValueError, match="outside the schedule"):
        gan.lr_factor(30, 20, 10)
    # the last epoch runs at 1/epochs_decay of the rate, never at 0, and the docstring says so
    assert gan.lr_factor(29, 20, 10) == pytest.approx(0.1) and min(official) > 0
    doc = " ".join(gan.lr_factor.__doc__.split())
    assert "reaching 0" not in doc and "1 / epochs_decay" in doc


def test_paper_recipe_is_the_official_setup():
    r = recipes.ganimation("paper")
    assert r.generator_kwargs() == {
        "ngf": 64,
        "n_res": 6,
        "layout": "official",
        "init": "normal",
        "attention_start": None,
        "colour_residual": False,
    }
    assert r.critic_kwargs() == {"image_size": 128, "ndf": 64, "n_layers": 6, "init": "normal"}
    t = r.train
    assert (t.epochs_const, t.epochs_decay, t.batch_size, t.lr, t.betas, t.n_critic, t.weights) == (
        20,
        10,
        25,
        1e-4,
        (0.5, 0.999),
        5,
        "official",
    )
    assert r.data.flip and r.data.target_noise == 0.1
    with pytest.raises(ValueError, match="model.width"):
        r.replace(**{"model.width": 3})


def test_one_epoch_run_writes_loadable_official_checkpoints(folder, tmp_path):
    out = tmp_path / "run"
    history = _train(_quick(), folder, out, epochs=1, seed=0)
    assert len(history) == 1 and history[0]["epoch"] == 1 and history[0]["lr"] == pytest.approx(1e-4)
    assert history[0]["steps"] == 2  # 8 images, batch 4
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and float(rows[0]["critic_au_mse"]) == pytest.approx(history[0]["critic_au_mse"])
    G = gan.load_checkpoint(
        out / "checkpoints" / "1_net_gen.pth", gan.Generator(**_quick().generator_kwargs())
    )
    D = gan.load_checkpoint(out / "checkpoints" / "1_net_dis.pth", gan.Critic(32, 8, 3))
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and state["trainer"]["steps"] == 2
    for key, value in G.state_dict().items():
        assert torch.equal(value, state["trainer"]["generator"][key])
    torch.manual_seed(0)  # the run's initial weights: seeded, G then D
    gan.Generator(ngf=8, n_res=1)
    initial = gan.Critic(32, 8, 3).state_dict()
    assert not all(torch.equal(v, initial[k]) for k, v in D.state_dict().items())  # training moved D
    assert D(torch.zeros(1, 3, 32, 32))[1].shape == (1, 17)
    run = json.loads((out / "run.json").read_text())
    assert run["fingerprint"]["images"] == 8 and run["recipe"]["hash"] == recipes.recipe_hash(_quick())


def test_resume_after_an_interrupted_epoch_gives_the_uninterrupted_weights(folder, tmp_path, monkeypatch):
    recipe = _quick(
        **{"train.epochs_const": 1, "train.epochs_decay": 2, "train.batch_size": 8}
    )  # 1 step/epoch
    whole = _train(recipe, folder, tmp_path / "whole", seed=3)
    step, calls = gan.Trainer.step, []

    def crash_in_epoch_two(self, *args):
        calls.append(1)
        if len(calls) == 2:  # the step of epoch 2
            raise KeyboardInterrupt
        return step(self, *args)

    monkeypatch.setattr(gan.Trainer, "step", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        _train(recipe, folder, tmp_path / "parts", seed=3)
    monkeypatch.setattr(gan.Trainer, "step", step)
    assert torch.load(tmp_path / "parts" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = _train(recipe, folder, tmp_path / "parts", seed=3, resume=True)

    drop = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert drop(resumed) == drop(whole) and [r["lr"] for r in whole] == pytest.approx([1e-4, 1e-4, 5e-5])
    for name in ("3_net_gen.pth", "3_net_dis.pth"):
        a, b = (
            _weights(tmp_path / "whole" / "checkpoints" / name),
            _weights(tmp_path / "parts" / "checkpoints" / name),
        )
        assert all(torch.equal(a[k], b[k]) for k in a)
    other = _train(recipe, folder, tmp_path / "other", seed=4, epochs=1)
    assert drop(other)[0] != drop(whole)[0]  # another seed: another run (the comparison above can fail)


def test_run_folders_are_never_overwritten(folder, tmp_path):
    out = tmp_path / "run"
    _train(_quick(), folder, out, epochs=1, seed=0)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="already holds this run: pass --resume"):
        _train(_quick(), folder, out, epochs=1, seed=0)
    with pytest.raises(FileExistsError, match="its recipe is"):
        _train(_quick(**{"train.lr": 3e-4}), folder, out, epochs=1, seed=0, resume=True)
    with pytest.raises(FileExistsError, match="its seed is 0, this run's is 1"):
        _train(_quick(), folder, out, epochs=1, seed=1, resume=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty and holds no run.json"):
        _train(_quick(), folder, tmp_path / "busy", epochs=1)
    with pytest.raises(ValueError, match="fewer than one batch of 25"):
        _train(recipes.ganimation("paper"), folder, tmp_path / "paper")


def test_resume_on_changed_images_is_refused(folder, tmp_path):
    import shutil

    data, out = tmp_path / "faces", tmp_path / "run"
    shutil.copytree(folder, data)
    _train(_quick(), data, out, epochs=1, seed=0)
    image = data / "imgs" / "000003.png"
    Image.fromarray(255 - np.asarray(Image.open(image))).save(image)  # as many images, one of them other
    with pytest.raises(FileExistsError, match="its data_sha256 is '"):
        _train(_quick(), data, out, epochs=2, seed=0, resume=True)


def test_resume_needs_an_existing_run(folder, tmp_path):
    for out in (tmp_path / "missing", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        with pytest.raises(FileNotFoundError, match=rf"--resume: {out} holds no run \(no run\.json"):
            _train(_quick(), folder, out, epochs=1, seed=0, resume=True)
    assert not (tmp_path / "missing").exists() and not any((tmp_path / "empty").iterdir())


def test_command_line(folder, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["train", "ganimation", "--data-dir", str(folder), "--profile", "quick", "--out", str(out)]
    argv += [f"--set={key}={value}" for key, value in TINY.items()]
    assert commands.main([*argv, "--epochs", "1", "--no-progress", "--seed", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1
    assert commands.main([*argv, "--epochs", "1", "--no-progress", "--seed", "0"]) == 2
    assert "pass --resume" in capsys.readouterr().err
    gone = tmp_path / "gone"
    assert (
        commands.main(
            [*argv, "--out", str(gone), "--resume", "--epochs", "1", "--no-progress", "--seed", "0"]
        )
        == 2
    )
    assert f"--resume: {gone} holds no run" in capsys.readouterr().err and not gone.exists()
    assert commands.main(["train", "ganimation", "--print-recipe", "--set", "model.ngf=16"]) == 0
    assert json.loads(capsys.readouterr().out)["model_args"]["ngf"] == 16
    assert (
        commands.main(
            ["train", "ganimation", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "x")]
        )
        == 2
    )
    assert "imgs" in capsys.readouterr().err and not (tmp_path / "x").exists()
