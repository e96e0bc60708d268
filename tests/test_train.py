"""The shared trainer: model selection, early stopping, the lr schedule, resume, DDP and the command line."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from affect_lib.train import History, TrainConfig, Trainer, main


def data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = x @ torch.randn(6, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def loaders(shuffle=True):
    x, y = data()
    return (
        DataLoader(TensorDataset(x[:64], y[:64]), batch_size=8, shuffle=shuffle),
        DataLoader(TensorDataset(x[64:], y[64:]), batch_size=32),
    )


def model(dropout=0.2):
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 1))


def mae(outputs, targets):
    return {"mae": (outputs - targets).abs().mean().item()}


def config(**kwargs):
    return TrainConfig(**{"epochs": 4, "lr": 1e-2, "progress": False, "device": "cpu", **kwargs})


def test_fit_learns_and_restores_the_best_validation_weights():
    train, valid = loaders()
    trainer = Trainer(model(), nn.functional.l1_loss, config(epochs=6), metrics_fn=mae)
    history = trainer.fit(train, valid)
    assert isinstance(history, History) and len(history) == 6
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    best = min(range(6), key=lambda i: history[i]["valid_loss"])
    assert history.best_epoch == best + 1
    assert trainer.evaluate(valid)["loss"] == pytest.approx(history.best()["valid_loss"], rel=1e-6)
    cols = history.columns()
    assert list(cols["epoch"]) == [1, 2, 3, 4, 5, 6] and set(cols) >= {
        "train_loss",
        "valid_mae",
        "lr",
        "seconds",
    }
    outputs, targets = trainer.predict(valid)
    assert outputs.shape == targets.shape == (32, 1)


class Scripted:
    """A metrics_fn whose monitor follows a script, one value per evaluation."""

    def __init__(self, values):
        self.values = list(values)

    def __call__(self, outputs, targets):
        return {"score": self.values.pop(0)}


def test_early_stopping_on_the_monitor():
    train, valid = loaders()
    cfg = config(epochs=20, patience=2, monitor="score", mode="max")
    history = Trainer(model(), nn.functional.l1_loss, cfg, metrics_fn=Scripted([1, 3, 2, 2, 2, 9, 9])).fit(
        train, valid
    )
    assert len(history) == 5 and history.best_epoch == 2 and history.stopped_early


def test_reduce_lr_on_plateau():
    train, valid = loaders()
    cfg = config(epochs=6, lr_patience=1, lr_factor=0.5, monitor="score", mode="min")
    history = Trainer(model(), nn.functional.l1_loss, cfg, metrics_fn=Scripted([5, 4, 4, 4, 4, 4])).fit(
        train, valid
    )
    assert [r["lr"] for r in history] == pytest.approx([1e-2, 1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3])


class Interrupting:
    """Wraps a loader and raises in its `at`-th pass, mid-epoch."""

    def __init__(self, loader, at):
        self.loader, self.at, self.passes = loader, at, 0
        self.sampler, self.dataset, self.batch_size = loader.sampler, loader.dataset, loader.batch_size

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.passes += 1
        for i, batch in enumerate(self.loader):
            if self.passes == self.at and i == 3:
                raise KeyboardInterrupt
            yield batch


def test_resume_after_interruption_loses_at_most_one_epoch_and_matches(tmp_path):
    train, valid = loaders()
    straight = Trainer(model(), nn.functional.l1_loss, config(epochs=5, lr_patience=1), metrics_fn=mae)
    expected = straight.fit(train, valid)
    cfg = config(epochs=5, lr_patience=1, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        Trainer(model(), nn.functional.l1_loss, cfg, metrics_fn=mae).fit(Interrupting(train, at=3), valid)
    resumed_trainer = Trainer(model(), nn.functional.l1_loss, cfg, metrics_fn=mae)
    resumed = resumed_trainer.fit(train, valid)
    assert len(resumed) == 5 and resumed.best_epoch == expected.best_epoch
    assert [r["valid_loss"] for r in resumed] == [r["valid_loss"] for r in expected]
    for a, b in zip(
        resumed_trainer.model.state_dict().values(), straight.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    # a finished run resumes to the same result without training, and more epochs continue it
    assert len(Trainer(model(), nn.functional.l1_loss, cfg).fit(train, valid)) == 5
    assert (
        len(
            Trainer(
                model(), nn.functional.l1_loss, config(epochs=6, lr_patience=1, checkpoint_dir=tmp_path)
            ).fit(train, valid)
        )
        == 6
    )


def test_checkpoint_of_another_configuration_is_refused(tmp_path):
    train, valid = loaders()
    Trainer(model(), nn.functional.l1_loss, config(epochs=1, checkpoint_dir=tmp_path)).fit(train, valid)
    with pytest.raises(ValueError, match="different configuration"):
        Trainer(model(), nn.functional.l1_loss, config(epochs=2, lr=0.5, checkpoint_dir=tmp_path)).fit(
            train, valid
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": 0}, "lr"),
        ({"mode": "best"}, "mode"),
        ({"patience": -1}, "patience"),
        ({"lr_factor": 1.5}, "lr_factor"),
        ({"grad_clip": 0}, "grad_clip"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        config(**kwargs)


def test_unknown_monitor_is_named():
    train, valid = loaders()
    with pytest.raises(ValueError, match="monitor 'f1'"):
        Trainer(model(), nn.functional.l1_loss, config(monitor="f1")).fit(train, valid)


# ---- DDP ----------------------------------------------------------------------------------------------------
def _ddp_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    train, valid = loaders(shuffle=False)
    trainer = Trainer(model(dropout=0.0), nn.functional.mse_loss, config(epochs=3, grad_clip=1.0))
    history = trainer.fit(train, valid)
    if rank == 0:
        torch.save({"state": trainer.model.state_dict(), "history": list(history)}, out)
    torch.distributed.destroy_process_group()


def test_two_process_ddp_matches_single_process(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp.pt"
    mp.start_processes(_ddp_worker, args=(2, port, str(out)), nprocs=2, join=True, start_method="spawn")
    ddp = torch.load(out, weights_only=True)
    train, valid = loaders(shuffle=False)
    single = Trainer(model(dropout=0.0), nn.functional.mse_loss, config(epochs=3, grad_clip=1.0))
    history = single.fit(train, valid)
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(ddp["state"][key], value, atol=1e-5, rtol=1e-4)
    for a, b in zip(ddp["history"], history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-5)


# ---- command line -------------------------------------------------------------------------------------------
def test_command_line_quick_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AFFECT_PROGRESS", "off")
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "late_fusion",
            "--dataset",
            "mosi",
            "--profile",
            "quick",
            "--epochs",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["best_epoch"] == 1 and {"mae", "acc7", "non0_f1", "has0_acc2"} <= set(summary["test"])
    assert (out / "checkpoint" / "last.pt").exists() and (out / "model.pt").exists()


def test_command_line_paper_profile_needs_data(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AFFECT_DATA_DIR", raising=False)
    assert main(["train", "lmr_cbt", "--dataset", "mosei", "--profile", "paper", "--out", str(tmp_path)]) == 2
    assert "mosei" in capsys.readouterr().err
    assert main(["lmr_cbt", "--dataset", "mosei", "--data-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "mosei_senti_data.pkl" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:face detector missed")  # the 32-pixel stand-in faces are small
def test_command_line_ravdess_quick_run(tmp_path, monkeypatch):
    from affect_lib.data.synthetic_ravdess import write_synthetic_ravdess

    monkeypatch.setenv("AFFECT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AFFECT_PROGRESS", "off")
    root = tmp_path / "ravdess"
    clips = write_synthetic_ravdess(
        root, actors=(1, 2, 3), repetitions=(1,), duration=2.0, fps=5, height=32, write_wav=False
    )
    for path in clips:  # keep one clip per emotion and actor: 8 per actor
        if path.stem.split("-")[3:5] != ["01", "01"]:
            path.unlink()
    out = tmp_path / "run"
    args = ["cfn_sr", "--dataset", "ravdess", "--data-dir", str(root), "--profile", "quick"]
    assert main([*args, "--epochs", "1", "--batch-size", "4", "--out", str(out)]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["split"] == {"train": [3], "valid": [2], "test": [1]}
    assert 0 <= summary["test"]["accuracy"] <= 1 and summary["best_epoch"] == 1
    assert (out / "history.json").exists() and (out / "model.pt").exists()


def test_command_line_rejects_mismatched_model_and_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(tmp_path / "cache"))
    for model, dataset in (("cfn_sr", "mosei"), ("lmr_cbt", "ravdess")):
        with pytest.raises(SystemExit) as exit_info:
            main([model, "--dataset", dataset, "--profile", "quick", "--out", str(tmp_path)])
        assert exit_info.value.code == 2
        assert f"model {model} trains on" in capsys.readouterr().err


def test_command_line_ravdess_paper_profile_needs_data(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AFFECT_DATA_DIR", raising=False)
    assert main(["cfn_sr", "--dataset", "ravdess", "--out", str(tmp_path)]) == 2
    assert "RAVDESS" in capsys.readouterr().err
    assert main(["cfn_sr", "--dataset", "ravdess", "--data-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "Actor_*" in capsys.readouterr().err
    (tmp_path / "Actor_01").mkdir()
    (tmp_path / "Actor_01" / "clip.mp4").touch()
    assert main(["cfn_sr", "--dataset", "ravdess", "--data-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "not a RAVDESS file name" in capsys.readouterr().err
