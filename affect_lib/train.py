"""The shared trainer: seeded, resumable, early-stopping training with model selection on validation only.

Every training chapter uses :class:`Trainer`. Loaders yield ``(inputs, target)``; ``inputs`` is a tensor or a tuple
of tensors passed as ``model(*inputs)``. :meth:`Trainer.fit` selects the epoch with the best validation monitor,
restores its weights at the end and never looks at a test set; report the test set once with
:meth:`Trainer.evaluate`.

Resuming: with ``checkpoint_dir`` set, the full state (weights, optimizer, scheduler, history, best weights) is
written after every epoch, and a new :meth:`~Trainer.fit` continues from it, so an interruption loses at most one
epoch. Each epoch reseeds torch with ``seed + epoch``, so a resumed run draws the same shuffles and dropout masks
as an uninterrupted one and ends with the same weights.

Data parallelism: under ``torchrun`` (``WORLD_SIZE > 1``) :func:`init_distributed` starts a process group (gloo on
CPU, nccl on GPU); the trainer then wraps the model in ``DistributedDataParallel`` and splits each batch of the
training loader across the processes (``DistributedSampler``, per-process batch = batch size / world size), so the
averaged gradient equals the single-process one. Validation runs on every process in full, so they all take the
same early-stopping decisions; only rank 0 writes checkpoints.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from affect_lib.progress import progress
from affect_lib.runtime import resolve_device, seed_everything

CHECKPOINT_NAME = "last.pt"
QUICK_LENGTHS = {True: (20, 20, 20), False: (20, 60, 60)}
"""(text, audio, vision) lengths of the command line's quick-profile stand-ins."""

MetricsFn = Callable[[torch.Tensor, torch.Tensor], dict[str, float]]


@dataclass
class TrainConfig:
    """Hyperparameters of one training run.

    Attributes:
        epochs: maximum number of epochs.
        lr: Adam learning rate.
        weight_decay: Adam's L2 penalty.
        grad_clip: maximal global gradient norm, ``None`` for no clipping.
        patience: stop after this many epochs without improvement of the validation monitor (``None``: never).
        lr_factor, lr_patience: ``ReduceLROnPlateau`` on the validation monitor (``lr_patience=None``: constant lr).
        monitor: key of the validation metrics dict (``"loss"`` or a ``metrics_fn`` key) used for model selection.
        mode: ``"min"`` or ``"max"``: which direction of ``monitor`` is better.
        checkpoint_dir: folder for ``last.pt``; an existing checkpoint there is resumed.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.
        seed: seeds the initial state and, as ``seed + epoch``, every epoch's shuffles and dropout.
        progress: show a progress bar (see :mod:`affect_lib.progress`).
    """

    epochs: int
    lr: float
    weight_decay: float = 0.0
    grad_clip: float | None = None
    patience: int | None = None
    lr_factor: float = 0.1
    lr_patience: int | None = None
    monitor: str = "loss"
    mode: str = "min"
    checkpoint_dir: str | Path | None = None
    device: str | torch.device = "auto"
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip!r}")
        for name in ("patience", "lr_patience"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
        if not 0 < self.lr_factor < 1:
            raise ValueError(f"lr_factor must be in (0, 1), got {self.lr_factor!r}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")


class History(list):
    """Per-epoch records ``{"epoch", "train_loss", "valid_<metric>"..., "lr", "seconds"}`` of one fit.

    Attributes:
        monitor: the validation key used for model selection, e.g. ``"valid_loss"``.
        best_epoch: the (1-based) epoch whose weights :meth:`Trainer.fit` restored.
        stopped_early: whether early stopping ended the run before ``epochs``.
    """

    def __init__(self, records: Iterable[dict[str, float]] = (), *, monitor: str = "valid_loss") -> None:
        super().__init__(records)
        self.monitor = monitor
        self.best_epoch: int | None = None
        self.stopped_early = False

    def columns(self) -> dict[str, np.ndarray]:
        """The history as columns: ``{"epoch": array([1, 2, ...]), "train_loss": ..., ...}`` (a frame's data)."""
        keys = list(dict.fromkeys(k for record in self for k in record))
        return {k: np.array([record.get(k, np.nan) for record in self], dtype=float) for k in keys}

    def best(self) -> dict[str, float]:
        """The record of :attr:`best_epoch`."""
        if self.best_epoch is None:
            raise ValueError("the history has no best epoch yet (was fit run?)")
        return self[self.best_epoch - 1]

    def plot(self, keys: Sequence[str] = ("train_loss", "valid_loss"), ax: Any = None) -> Any:
        """Plot the given columns against the epoch and mark the best epoch; returns the matplotlib axes."""
        import matplotlib.pyplot as plt

        ax = ax if ax is not None else plt.gca()
        cols = self.columns()
        for key in keys:
            if key not in cols:
                raise ValueError(f"history has no column {key!r}; columns: {sorted(cols)}")
            ax.plot(cols["epoch"], cols[key], label=key)
        if self.best_epoch is not None:
            ax.axvline(self.best_epoch, color="grey", linestyle=":", label="best epoch")
        ax.set_xlabel("epoch")
        return ax


def init_distributed() -> bool:
    """Start the process group when launched by ``torchrun`` (``WORLD_SIZE > 1``); return whether one is active.

    Uses nccl when CUDA is available (one GPU per ``LOCAL_RANK``), gloo otherwise.
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def _world() -> tuple[int, int]:
    """``(rank, world_size)`` of the active process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, tuple | list):
        return type(obj)(_to_device(o, device) for o in obj)
    raise ValueError(f"loader items must be tensors or tuples of tensors, got {type(obj).__name__}")


def _as_args(inputs: Any) -> tuple:
    return tuple(inputs) if isinstance(inputs, tuple | list) else (inputs,)


class Trainer:
    """Train ``model`` with Adam on ``loss_fn(outputs, targets)``; see the module docstring.

    Args:
        model: any ``nn.Module``; moved to the configured device.
        loss_fn: ``loss_fn(outputs, targets) -> scalar`` with mean reduction (it is also evaluated on whole
            concatenated validation sets).
        config: a :class:`TrainConfig`.
        metrics_fn: ``metrics_fn(outputs, targets) -> dict[str, float]`` on concatenated predictions; its keys
            join ``"loss"`` in :meth:`evaluate`.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        config: TrainConfig,
        metrics_fn: MetricsFn | None = None,
    ) -> None:
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.config = config
        self.loss_fn = loss_fn
        self.metrics_fn = metrics_fn
        self.rank, self.world_size = _world()
        if self.world_size > 1 and torch.cuda.is_available() and config.device in ("auto", "cuda"):
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        else:
            self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode=config.mode, factor=config.lr_factor, patience=config.lr_patience
            )
            if config.lr_patience is not None
            else None
        )
        self.history = History(monitor=f"valid_{config.monitor}")

    # ---- public API ------------------------------------------------------------------------------------------
    def fit(self, train_loader: DataLoader, valid_loader: DataLoader) -> History:
        """Train for up to ``config.epochs`` epochs, resuming from ``checkpoint_dir`` if it holds a checkpoint.

        Returns the :class:`History`; the model holds the weights of ``history.best_epoch`` afterwards.
        """
        cfg = self.config
        seed_everything(cfg.seed)
        train_loader = self._shard(train_loader)
        net = (
            DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None
            )
            if self.world_size > 1
            else self.model
        )
        state = self._load_checkpoint()
        start = len(self.history)
        bar = progress(
            range(start, cfg.epochs),
            desc="epochs",
            total=cfg.epochs,
            initial=start,
            disable=not cfg.progress or self.rank != 0,
        )
        for epoch in bar:
            if self.history.stopped_early:
                break
            tic = time.perf_counter()
            torch.manual_seed(cfg.seed + epoch)
            if isinstance(train_loader.sampler, DistributedSampler):
                train_loader.sampler.set_epoch(epoch)
            train_loss = self._train_epoch(net, train_loader)
            valid = self.evaluate(valid_loader)
            if cfg.monitor not in valid:
                raise ValueError(
                    f"monitor {cfg.monitor!r} is not among the validation metrics {sorted(valid)}"
                )
            value = valid[cfg.monitor]
            if self.scheduler is not None:
                self.scheduler.step(value)
            record = {"epoch": epoch + 1, "train_loss": train_loss}
            record.update({f"valid_{k}": v for k, v in valid.items()})
            record.update(lr=self.optimizer.param_groups[0]["lr"], seconds=time.perf_counter() - tic)
            self.history.append(record)
            if self._improves(value, state["best_value"]):
                state.update(
                    best_value=value, best_state=copy.deepcopy(self.model.state_dict()), bad_epochs=0
                )
                self.history.best_epoch = epoch + 1
            else:
                state["bad_epochs"] += 1
            self.history.stopped_early = cfg.patience is not None and state["bad_epochs"] > cfg.patience
            bar.set_postfix(train_loss=f"{train_loss:.4g}", **{self.history.monitor: f"{value:.4g}"})
            self._save_checkpoint(state)
        if state["best_state"] is not None:
            self.model.load_state_dict(state["best_state"])
        return self.history

    @torch.no_grad()
    def predict(self, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
        """Model outputs and targets over ``loader``, concatenated along the batch axis, on the CPU."""
        self.model.eval()
        outputs, targets = [], []
        for inputs, target in loader:
            outputs.append(self.model(*_as_args(_to_device(inputs, self.device))).float().cpu())
            targets.append(target.cpu())
        if not outputs:
            raise ValueError("the loader yielded no batches")
        return torch.cat(outputs), torch.cat(targets)

    def evaluate(self, loader: DataLoader) -> dict[str, float]:
        """``{"loss": ..., **metrics_fn(...)}`` over all of ``loader`` (the loss on the concatenated outputs)."""
        outputs, targets = self.predict(loader)
        result = {"loss": float(self.loss_fn(outputs, targets))}
        if self.metrics_fn is not None:
            result.update({k: float(v) for k, v in self.metrics_fn(outputs, targets).items()})
        return result

    # ---- internals -------------------------------------------------------------------------------------------
    def _improves(self, value: float, best: float | None) -> bool:
        if not math.isfinite(value):
            return False
        if best is None:
            return True
        return value < best if self.config.mode == "min" else value > best

    def _train_epoch(self, net: nn.Module, loader: DataLoader) -> float:
        net.train()
        total, count = torch.zeros((), dtype=torch.float64), 0
        # the bar is updated by hand: wrapping the loader would let tqdm.auto create an extra iterator,
        # which draws from the global RNG and would shift this epoch's shuffle
        bar = progress(
            total=len(loader),
            desc="batches",
            leave=False,
            disable=not self.config.progress or self.rank != 0 or len(loader) < 100,
        )
        for inputs, target in loader:
            inputs, target = _to_device(inputs, self.device), target.to(self.device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(net(*_as_args(inputs)), target)
            loss.backward()
            if self.config.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            total += loss.detach().double().cpu() * len(target)
            count += len(target)
            bar.update()
        bar.close()
        if count == 0:
            raise ValueError("the training loader yielded no batches")
        if self.world_size > 1:
            both = torch.stack([total, torch.tensor(float(count), dtype=torch.float64)]).to(self.device)
            dist.all_reduce(both)
            total, count = both[0].cpu(), int(both[1].item())
        return float(total / count)

    def _shard(self, loader: DataLoader) -> DataLoader:
        """Under DDP, the same loader with each batch split across the processes (see the module docstring)."""
        if self.world_size == 1 or isinstance(loader.sampler, DistributedSampler):
            return loader
        if loader.batch_size is None or loader.batch_size % self.world_size:
            raise ValueError(
                f"under DDP the training batch size ({loader.batch_size}) must be divisible by the "
                f"world size ({self.world_size})"
            )
        sampler = DistributedSampler(
            loader.dataset,
            num_replicas=self.world_size,
            rank=self.rank,
            shuffle=isinstance(loader.sampler, RandomSampler),
            seed=self.config.seed,
            drop_last=loader.drop_last,
        )
        return DataLoader(
            loader.dataset,
            batch_size=loader.batch_size // self.world_size,
            sampler=sampler,
            collate_fn=loader.collate_fn,
            num_workers=loader.num_workers,
            drop_last=loader.drop_last,
            pin_memory=loader.pin_memory,
        )

    def _checkpoint_path(self) -> Path | None:
        if self.config.checkpoint_dir is None:
            return None
        return Path(self.config.checkpoint_dir) / CHECKPOINT_NAME

    def _load_checkpoint(self) -> dict[str, Any]:
        """Restore a saved run into this trainer; returns the best-model bookkeeping."""
        state: dict[str, Any] = {"best_value": None, "best_state": None, "bad_epochs": 0}
        path = self._checkpoint_path()
        if path is None or not path.exists():
            self.history = History(monitor=self.history.monitor)
            return state
        try:
            saved = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint gets the same clear message
            raise ValueError(f"checkpoint {path} is unreadable ({err}); delete it to start afresh") from err
        if saved.get("config") != _config_fingerprint(self.config):
            raise ValueError(
                f"checkpoint {path} was written with a different configuration {saved.get('config')}; "
                "use another checkpoint_dir or delete it"
            )
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(saved["scheduler"])
        self.history = History(saved["history"], monitor=self.history.monitor)
        self.history.best_epoch = saved["best_epoch"]
        self.history.stopped_early = saved["stopped_early"]
        state.update(
            best_value=saved["best_value"], best_state=saved["best_state"], bad_epochs=saved["bad_epochs"]
        )
        return state

    def _save_checkpoint(self, state: dict[str, Any]) -> None:
        path = self._checkpoint_path()
        if path is None:
            return
        if self.rank == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            payload = {
                "config": _config_fingerprint(self.config),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "history": list(self.history),
                "best_epoch": self.history.best_epoch,
                "stopped_early": self.history.stopped_early,
                **state,
            }
            tmp = path.with_suffix(".tmp")
            torch.save(payload, tmp)
            tmp.replace(path)  # atomic: an interruption leaves the previous epoch's checkpoint intact
        if self.world_size > 1:
            dist.barrier()


def _config_fingerprint(config: TrainConfig) -> dict[str, Any]:
    """The settings a resumed run must share with the saved one (``epochs`` may grow; paths and bars may move)."""
    fields = asdict(config)
    for key in ("epochs", "checkpoint_dir", "device", "progress"):
        fields.pop(key)
    return fields


# ---- command line --------------------------------------------------------------------------------------------
SEQUENCE_MODELS = ("lmr_cbt", "mult", "late_fusion")
AV_MODELS = ("cfn_sr", "av_late_fusion", "av_concat")
QUICK_RAVDESS = {"actors": tuple(range(1, 8)), "repetitions": (1,), "duration": 2.0, "fps": 10, "height": 80}
"""The Part IV chapter's quick stand-in corpus (written with seed 0), used when the quick profile has no data."""


@dataclass
class _Run:
    """What the command line trains: loaders, model, loss, metrics, TrainConfig fields, summary, default out."""

    loaders: dict[str, DataLoader]
    model: nn.Module
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metrics_fn: MetricsFn
    settings: dict[str, Any]
    summary: dict[str, Any]
    out: str


def _mult_run(args: argparse.Namespace) -> _Run:
    """A sequence model on a MulT-format corpus (the quick profile without data: the synthetic stand-in)."""
    from affect_lib.data.mult import DATASETS, load_mult_pickle, make_loaders, mult_filename
    from affect_lib.data.synthetic_mult import write_standin
    from affect_lib.metrics import task_loss, task_metrics
    from affect_lib.models import build_model
    from affect_lib.runtime import cache_dir, resolve_data_dir

    spec = DATASETS[args.dataset]
    aligned = not args.unaligned
    filename = mult_filename(spec.name, aligned)
    data_dir = resolve_data_dir(args.data_dir, profile=args.profile, dataset=spec.name, required=[filename])
    if data_dir is None:
        path = write_standin(
            cache_dir("mult_standin"), spec.name, aligned=aligned, seed=0, lengths=QUICK_LENGTHS[aligned]
        )
    else:
        path = data_dir / filename
    corpus = load_mult_pickle(path, dataset=spec.name)
    quick = args.profile == "quick"
    hp = spec.paper_hparams
    return _Run(
        loaders=make_loaders(corpus, batch_size=args.batch_size or (32 if quick else hp["batch_size"])),
        model=build_model(args.model, dataset=spec.name, dims=corpus.dims),
        loss_fn=task_loss(spec.name),
        metrics_fn=task_metrics(spec.name),
        settings={
            "epochs": args.epochs or (3 if quick else hp["epochs"]),
            "lr": args.lr or hp["lr"],
            "grad_clip": hp["grad_clip"],
            "lr_patience": hp["lr_patience"],
            "lr_factor": 0.1,
        },
        summary={"model": args.model, "dataset": spec.name, "aligned": aligned, "profile": args.profile},
        out=f"runs/{args.model}-{spec.name}-{'a' if aligned else 'na'}",
    )


def _ravdess_run(args: argparse.Namespace) -> _Run:
    """An audio-visual model on RAVDESS (``Actor_XX/*.mp4``), split by actor, with the chapter's settings."""
    from affect_lib.data.av_preprocess import PROFILES, ravdess_loaders
    from affect_lib.data.ravdess import list_clips
    from affect_lib.data.synthetic_ravdess import write_synthetic_ravdess
    from affect_lib.metrics import classification_metrics
    from affect_lib.models import build_model
    from affect_lib.models.cfn_sr import TRAINING
    from affect_lib.runtime import cache_dir, resolve_data_dir

    quick = args.profile == "quick"
    root = resolve_data_dir(args.data_dir, profile=args.profile, dataset="RAVDESS", required=["Actor_*"])
    if root is None:
        root = cache_dir("synthetic_ravdess", "quick-seed0")
        write_synthetic_ravdess(root, **QUICK_RAVDESS, seed=0)
    prep, hp = PROFILES[args.profile], TRAINING[args.profile]
    loaders, split = ravdess_loaders(
        list_clips(root), prep, batch_size=args.batch_size or hp["batch_size"], augment=not quick
    )
    sizes = {"frames": prep.n_frames, "image_size": prep.size, "mfcc_frames": prep.mfcc_frames}
    return _Run(
        loaders=loaders,
        model=build_model(args.model, profile=args.profile, channels_last=not quick, **sizes),
        loss_fn=nn.functional.cross_entropy,
        metrics_fn=classification_metrics,
        settings={
            "epochs": args.epochs or hp["epochs"],
            "lr": args.lr or hp["lr"],
            "monitor": "accuracy",
            "mode": "max",
        },
        summary={"model": args.model, "dataset": "ravdess", "profile": args.profile, "split": asdict(split)},
        out=f"runs/{args.model}-ravdess",
    )


def main(argv: list[str] | None = None) -> int:
    """``train MODEL --dataset NAME [--data-dir PATH] [--profile paper] [--epochs N --batch-size N --out DIR]``.

    Trains a sequence model (``lmr_cbt``, ``mult``, ``late_fusion``) on a MulT-format corpus (``mosi``,
    ``mosei``, ``iemocap``; ``--unaligned`` for the ``_noalign`` files), or an audio-visual model (``cfn_sr``,
    ``av_late_fusion``, ``av_concat``) on ``ravdess`` (``Actor_XX/*.mp4``, preprocessed and cached, the proper
    actor split), with the paper's settings; selects the epoch on the validation set, evaluates the test set
    once and writes ``metrics.json``, ``history.json`` and ``model.pt`` to ``--out``. The quick profile without
    ``--data-dir`` trains on a synthetic stand-in. Launched by ``torchrun``, it trains with DDP.
    """
    from affect_lib.data.mult import DATASETS

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="python -m affect_lib train", description=main.__doc__)
    parser.add_argument("model", choices=SEQUENCE_MODELS + AV_MODELS)
    parser.add_argument("--dataset", required=True, choices=[*sorted(DATASETS), "ravdess"])
    parser.add_argument(
        "--data-dir", default=None, help="the MulT pickles' or RAVDESS's folder (paper profile)"
    )
    parser.add_argument("--profile", default="paper", choices=("quick", "paper"))
    parser.add_argument("--unaligned", action="store_true", help="use the *_noalign.pkl corpus")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="output folder (default: runs/MODEL-DATASET[-a|-na])")
    args = parser.parse_args(argv)
    audiovisual = args.dataset == "ravdess"
    if (args.model in AV_MODELS) != audiovisual:
        wanted = "ravdess" if args.model in AV_MODELS else "one of " + ", ".join(sorted(DATASETS))
        parser.error(f"model {args.model} trains on {wanted}, not on {args.dataset}")
    if audiovisual and args.unaligned:
        parser.error("--unaligned applies to the MulT corpora only, not to ravdess")

    distributed = init_distributed()
    rank = _world()[0]
    try:
        run = _ravdess_run(args) if audiovisual else _mult_run(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or run.out)
    config = TrainConfig(
        **run.settings, checkpoint_dir=out / "checkpoint", device=args.device, seed=args.seed
    )
    trainer = Trainer(run.model, run.loss_fn, config, metrics_fn=run.metrics_fn)
    history = trainer.fit(run.loaders["train"], run.loaders["valid"])
    test = trainer.evaluate(run.loaders["test"])
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        summary = {**run.summary, "best_epoch": history.best_epoch, "test": test}
        (out / "metrics.json").write_text(json.dumps(summary, indent=1) + "\n")
        (out / "history.json").write_text(json.dumps(list(history), indent=1) + "\n")
        torch.save(trainer.model.state_dict(), out / "model.pt")
        print(json.dumps(summary, indent=1))
    if distributed:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
