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
training loader across the processes (``DistributedSampler``, per-process batch = batch size / world size), so a
step sees as many samples as a single-process step and, for a loss averaged over samples, the averaged gradient is
that of the mean loss over the samples the ranks drew together. It is not the single-process run's gradient: the
distributed shuffle (seeded by ``seed`` and the epoch) draws other batches than the single-process loader, and
BatchNorm without ``SyncBatchNorm`` normalises each rank's share with that share's statistics (without
``drop_last`` the sampler also repeats a few samples so that every rank gets as many). **Every rank takes the same
decision at every epoch**: before each validation the BatchNorm running statistics (and any other buffer) are
broadcast from rank 0, the validation and test sets are split across the ranks and the predictions are gathered, so
every rank computes the metrics from the same tensors and selects the same epoch, steps the same schedule and stops
at the same epoch. (With ``SyncBatchNorm``, CUDA only, training batches are normalised with global statistics too.)
Only rank 0 writes.

Options for real hardware: ``amp`` (``"bf16"`` or ``"fp16"`` autocast, fp16 with a gradient scaler),
``deterministic=False`` (cuDNN autotuning; the book's chapters keep the default), ``max_steps`` (a step limit per
epoch, for rehearsals). A non-finite training loss stops the run with :class:`TrainingDiverged`.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
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
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Subset

from affect_lib.progress import progress
from affect_lib.runtime import resolve_device, seed_everything

CHECKPOINT_NAME = "last.pt"
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

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
        amp: ``None``, ``"bf16"`` or ``"fp16"`` (CUDA only) autocast of the forward passes.
        deterministic: deterministic kernels, cuDNN autotuning off (``False``: autotuning on, faster on GPUs).
        max_steps: at most this many training steps per epoch (``None``: the whole loader), for rehearsals.
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
    amp: str | None = None
    deterministic: bool = True
    max_steps: int | None = None

    def __post_init__(self) -> None:
        if self.amp is not None and self.amp not in AMP_DTYPES:
            raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {self.amp!r}")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            raise ValueError(f"max_steps must be a positive integer or None, got {self.max_steps!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
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


class TrainingDiverged(ValueError):
    """The training loss became NaN or infinite (e.g. a learning rate far too large)."""


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


def world() -> tuple[int, int]:
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
        self.rank, self.world_size = world()
        if self.world_size > 1 and torch.cuda.is_available() and config.device in ("auto", "cuda"):
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        else:
            self.device = resolve_device(config.device)
        if config.amp == "fp16" and self.device.type != "cuda":
            raise ValueError(f"amp='fp16' needs a CUDA device, not {self.device}; use amp='bf16' on the CPU")
        self.model = model.to(self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.amp == "fp16")
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
    def fit(
        self,
        train_loader: DataLoader,
        valid_loader: DataLoader,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        *,
        watch: DataLoader | None = None,
    ) -> History:
        """Train for up to ``config.epochs`` epochs, resuming from ``checkpoint_dir`` if it holds a checkpoint.

        ``on_epoch(record)`` is called on rank 0 after every epoch (e.g. to log it). ``watch`` is evaluated after
        every epoch too and recorded as ``watch_<metric>`` columns, never used for selection (e.g. the test split,
        to measure what selecting the epoch on it would have given). Returns the :class:`History`; the model holds
        the weights of ``history.best_epoch`` afterwards.

        Raises:
            TrainingDiverged: the training loss of an epoch is NaN or infinite (nothing of that epoch is saved).
        """
        cfg = self.config
        seed_everything(cfg.seed, deterministic=cfg.deterministic)
        if not cfg.deterministic:
            torch.use_deterministic_algorithms(False)
            torch.backends.cudnn.benchmark = True
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
            if not math.isfinite(train_loss):
                raise TrainingDiverged(
                    f"training diverged at epoch {epoch + 1}: the training loss is {train_loss} "
                    f"(lr {self.optimizer.param_groups[0]['lr']:g}); lower the learning rate"
                )
            self._sync_buffers()
            record, value = self._score_epoch(epoch, train_loss, valid_loader, watch)
            record["seconds"] = time.perf_counter() - tic
            self.history.append(record)
            self._select(epoch, value, state)
            bar.set_postfix(train_loss=f"{train_loss:.4g}", **{self.history.monitor: f"{value:.4g}"})
            self._save_checkpoint(state)
            if on_epoch is not None and self.rank == 0:
                on_epoch(record)
        if state["best_state"] is not None:
            self.model.load_state_dict(state["best_state"])
        return self.history

    def _score_epoch(
        self, epoch: int, train_loss: float, valid_loader: DataLoader, watch: DataLoader | None
    ) -> tuple[dict[str, float], float]:
        """The epoch's record (validation and watched metrics, learning rate after the scheduler's step) and its
        monitored validation value."""
        cfg = self.config
        valid = self.evaluate(valid_loader, split="valid")
        if cfg.monitor not in valid:
            raise ValueError(f"monitor {cfg.monitor!r} is not among the validation metrics {sorted(valid)}")
        value = valid[cfg.monitor]
        if self.scheduler is not None:
            self.scheduler.step(value)
        record = {"epoch": epoch + 1, "train_loss": train_loss}
        record.update({f"valid_{k}": v for k, v in valid.items()})
        if watch is not None:
            record.update({f"watch_{k}": v for k, v in self.evaluate(watch, split="watch").items()})
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        return record, value

    def _select(self, epoch: int, value: float, state: dict[str, Any]) -> None:
        """Keep the weights of an improving epoch; count the others and decide early stopping."""
        if self._improves(value, state["best_value"]):
            state.update(best_value=value, best_state=copy.deepcopy(self.model.state_dict()), bad_epochs=0)
            self.history.best_epoch = epoch + 1
        else:
            state["bad_epochs"] += 1
        patience = self.config.patience
        self.history.stopped_early = patience is not None and state["bad_epochs"] > patience

    @torch.no_grad()
    def predict(self, loader: DataLoader, *, split: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
        """Model outputs and targets over ``loader``, concatenated along the batch axis, on the CPU.

        Under DDP each rank predicts every ``world_size``-th item and the results are gathered in the loader's
        order, so every rank returns the same tensors.
        """
        self.model.eval()
        n = len(loader.dataset) if hasattr(loader, "dataset") else None
        if n == 0:
            raise ValueError(f"the {split} split is empty: no sample to evaluate")
        part = self._shard_eval(loader) if self.world_size > 1 else loader
        outputs, targets = [], []
        for inputs, target in part:
            with self._autocast():
                outputs.append(self.model(*_as_args(_to_device(inputs, self.device))).float().cpu())
            targets.append(target.cpu())
        if self.world_size > 1:
            return self._gather(outputs, targets, n)
        if not outputs:
            raise ValueError(f"the {split} loader yielded no batches")
        return torch.cat(outputs), torch.cat(targets)

    def evaluate(self, loader: DataLoader, *, split: str = "data") -> dict[str, float]:
        """``{"loss": ..., **metrics_fn(...)}`` over all of ``loader`` (the loss on the concatenated outputs);
        ``split`` names the loader in error messages."""
        outputs, targets = self.predict(loader, split=split)
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
        steps = len(loader) if self.config.max_steps is None else min(len(loader), self.config.max_steps)
        bar = progress(
            total=steps,
            desc="batches",
            leave=False,
            disable=not self.config.progress or self.rank != 0 or steps < 100,
        )
        for step, (inputs, target) in enumerate(loader):
            if step == steps:
                break
            inputs, target = _to_device(inputs, self.device), target.to(self.device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                loss = self.loss_fn(net(*_as_args(inputs)).float(), target)
            self.scaler.scale(loss).backward()
            if self.config.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
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

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[self.config.amp])

    def _sync_buffers(self) -> None:
        """Under DDP, give every rank rank 0's buffers (BatchNorm running statistics) before validating."""
        if self.world_size > 1:
            for buffer in self.model.buffers():
                dist.broadcast(buffer, src=0)

    def _shard_eval(self, loader: DataLoader) -> DataLoader:
        """This rank's items ``rank, rank + world, ...`` of an evaluation loader, at the same batch size."""
        index = list(range(self.rank, len(loader.dataset), self.world_size))
        return DataLoader(
            Subset(loader.dataset, index),
            batch_size=loader.batch_size,
            collate_fn=loader.collate_fn,
            num_workers=loader.num_workers,
            pin_memory=loader.pin_memory,
        )

    def _gather(
        self, outputs: list[torch.Tensor], targets: list[torch.Tensor], n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All ranks' predictions, back in the loader's order (rank r holds items r, r + world, ...)."""
        mine = (torch.cat(outputs), torch.cat(targets)) if outputs else None
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, mine)
        parts = [(r, g) for r, g in enumerate(gathered) if g is not None]
        order = torch.cat([torch.arange(r, n, self.world_size) for r, _ in parts])
        inverse = torch.argsort(order)
        return torch.cat([g[0] for _, g in parts])[inverse], torch.cat([g[1] for _, g in parts])[inverse]

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
            reason = (str(err).strip().splitlines() or [""])[0].split(". ")[0][:100]
            raise ValueError(
                f"checkpoint {path} is unreadable ({type(err).__name__}: {reason}); nothing of it was run or "
                "loaded: delete it (or pass --overwrite) to start afresh"
            ) from None
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
            atomic_save(payload, path)  # an interruption leaves the previous epoch's checkpoint intact
        if self.world_size > 1:
            dist.barrier()


def _config_fingerprint(config: TrainConfig) -> dict[str, Any]:
    """The settings a resumed run must share with the saved one (``epochs`` may grow; paths and bars may move)."""
    fields = asdict(config)
    for key in ("epochs", "checkpoint_dir", "device", "progress"):
        fields.pop(key)
    return fields


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a per-process temporary name beside ``path``, then rename: ``path`` is either the old
    file or the complete new one, never half written (an interruption, Ctrl-C included, removes the temporary)."""
    _atomic(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a per-process temporary file and a rename (see :func:`atomic_save`)."""
    _atomic(path, lambda tmp: tmp.write_text(text))


def _atomic(path: str | os.PathLike[str], write: Callable[[Path], Any]) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:  # KeyboardInterrupt (SIGINT) too: no half-written temporary is left behind
        tmp.unlink(missing_ok=True)
        raise


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if world()[1] > 1:
        dist.barrier()
