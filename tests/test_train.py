"""The shared trainer: model selection, early stopping, the lr schedule, resume, divergence, DDP whose ranks agree."""

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from affect_lib.train import History, TrainConfig, Trainer, TrainingDiverged


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
        ({"lr": -1}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"epochs": -1}, "epochs"),
        ({"max_steps": 0}, "max_steps"),
        ({"amp": "fp8"}, "amp"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        config(**kwargs)


def test_unknown_monitor_is_named():
    train, valid = loaders()
    with pytest.raises(ValueError, match="monitor 'f1'"):
        Trainer(model(), nn.functional.l1_loss, config(monitor="f1")).fit(train, valid)


def test_diverged_run_raises_and_keeps_the_last_good_checkpoint(tmp_path):
    train, valid = loaders()
    cfg = config(epochs=3, lr=1e9, checkpoint_dir=tmp_path)
    with pytest.raises(TrainingDiverged, match="training diverged at epoch"):
        Trainer(model(), nn.functional.mse_loss, cfg).fit(train, valid)


def test_empty_split_is_named():
    train, _ = loaders()
    empty = DataLoader(TensorDataset(torch.zeros(0, 6), torch.zeros(0, 1)), batch_size=4)
    with pytest.raises(ValueError, match="the valid split is empty"):
        Trainer(model(), nn.functional.l1_loss, config()).fit(train, empty)


def test_max_steps_limits_each_epoch():
    train, valid = loaders()
    calls = []
    trainer = Trainer(model(), nn.functional.l1_loss, config(epochs=2, max_steps=3))
    original = trainer.optimizer.step
    trainer.optimizer.step = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    trainer.fit(train, valid)
    assert len(calls) == 6


def test_bf16_autocast_trains_on_the_cpu():
    train, valid = loaders()
    history = Trainer(model(), nn.functional.l1_loss, config(epochs=2, amp="bf16")).fit(train, valid)
    assert len(history) == 2 and all(np.isfinite(r["valid_loss"]) for r in history)


# ---- DDP ----------------------------------------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out, batchnorm):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    if batchnorm:
        train, valid = loaders(shuffle=True)
        net = bn_model()
        cfg = config(epochs=4, lr_patience=0, lr_factor=0.5, patience=1)
    else:
        train, valid = loaders(shuffle=False)
        net, cfg = model(dropout=0.0), config(epochs=3, grad_clip=1.0)
    trainer = Trainer(net, nn.functional.mse_loss, cfg)
    history = trainer.fit(train, valid)
    torch.save(
        {"state": trainer.model.state_dict(), "history": list(history), "best": history.best_epoch},
        f"{out}.{rank}",
    )
    torch.distributed.destroy_process_group()


def bn_model():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))


def _run_ddp(tmp_path, batchnorm):
    out = tmp_path / "ddp.pt"
    mp.start_processes(
        _ddp_worker, args=(2, _free_port(), str(out), batchnorm), nprocs=2, join=True, start_method="spawn"
    )
    return [torch.load(f"{out}.{rank}", weights_only=True) for rank in range(2)]


def test_two_process_ddp_matches_single_process(tmp_path):
    ddp = _run_ddp(tmp_path, batchnorm=False)[0]
    train, valid = loaders(shuffle=False)
    single = Trainer(model(dropout=0.0), nn.functional.mse_loss, config(epochs=3, grad_clip=1.0))
    history = single.fit(train, valid)
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(ddp["state"][key], value, atol=1e-5, rtol=1e-4)
    for a, b in zip(ddp["history"], history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-5)


def test_ddp_ranks_with_batchnorm_and_shuffling_agree_exactly(tmp_path):
    """BatchNorm statistics, shuffled shards, a plateau schedule and early stopping: both ranks must end with the
    same weights (buffers included) and take the same decision at every epoch."""
    rank0, rank1 = _run_ddp(tmp_path, batchnorm=True)
    for key, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][key]), key
    assert rank0["history"] == [
        {**r, "seconds": a["seconds"]} for r, a in zip(rank1["history"], rank0["history"], strict=True)
    ]
    assert rank0["best"] == rank1["best"]
    assert "running_mean" in " ".join(rank0["state"])


def test_watch_records_a_split_without_changing_the_run():
    """The watched split is evaluated with the epoch's weights (here the validation split itself, so both columns
    must agree) and leaves training untouched (the same history as a run without it)."""
    train, valid = loaders()
    plain = Trainer(model(), nn.functional.l1_loss, config(epochs=3), metrics_fn=mae).fit(train, valid)
    train, valid = loaders()
    watched = Trainer(model(), nn.functional.l1_loss, config(epochs=3), metrics_fn=mae).fit(
        train, valid, watch=valid
    )
    for a, b in zip(plain, watched, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["valid_loss"] == b["valid_loss"]
        assert b["watch_loss"] == pytest.approx(b["valid_loss"], rel=1e-6)
        assert b["watch_mae"] == pytest.approx(b["valid_mae"], rel=1e-6)
    assert watched.best_epoch == plain.best_epoch


def test_an_interrupted_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from affect_lib import train

    path = tmp_path / "last.pt"
    train.atomic_save({"epoch": 1}, path)

    def interrupted(obj, target):
        Path(target).write_bytes(b"half")
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train.atomic_save({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1} and sorted(tmp_path.iterdir()) == [path]
