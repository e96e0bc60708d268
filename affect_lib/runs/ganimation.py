"""A whole GANimation training run on a face folder (``affect-lib train ganimation --data-dir DATA``).

The run follows the official training: the recipe (:func:`affect_lib.recipes.ganimation`; ``paper``: 128 px,
``ngf`` 64, 6 residual blocks, batch 25, Adam(1e-4, (0.5, 0.999)), 5 critic steps per generator step, 20 epochs at
the learning rate then 10 of linear decay, the official loss weights), the data of
:class:`affect_lib.data.emotionet.FaceAUs` (random flips, target AUs of a random image plus U(−0.1, 0.1)), the
shared :class:`affect_lib.faces.ganimation.Trainer` and its :meth:`~affect_lib.faces.ganimation.Trainer.fit_loader`.
Batches are reshuffled every epoch from ``(seed, epoch)`` and incomplete last batches dropped, as the official
loader does.

:func:`affect_lib.runs.train_recipe` sends GANimation recipes here: where a sequence or audio-visual recipe trains
one model of :mod:`affect_lib.models` with one loss, selects the epoch on a validation metric, scores a test split
and writes one ``model.pt``, GANimation trains two networks adversarially, has no validation metric to select on,
and is read back as the official per-epoch generator and critic files.

The run folder ``OUT`` (default ``runs/PROFILE/ganimation-faces``) holds:

- ``run.json``: the fingerprint (recipe hash, data folder, its number of images and a SHA-256 of the images and
  AU files, seed, step cap) and the recipe;
- ``checkpoints/<epoch>_net_gen.pth`` and ``<epoch>_net_dis.pth``: G's and D's state dicts after each epoch
  (donydchen's file names, this library's official-layout keys; :func:`affect_lib.faces.ganimation.load_checkpoint`
  reads them); at paper size about 33 MB + 180 MB per epoch;
- ``metrics.csv``: one row per epoch (learning rate, steps, mean losses, seconds);
- ``checkpoint.pt``: the state after the last complete epoch (G, D, both optimisers, step count, random states,
  history), written to a temporary file and renamed, read back with ``weights_only=True``.

An existing run is never replaced: a folder holding this run needs ``--resume`` (which continues after the last
complete epoch and gives the weights an uninterrupted run would have had; only files of an epoch that had not
completed are written again), a folder holding another run (other data included) or other files is refused, naming
what differs, and ``--resume`` on a folder that holds no run (missing, or without ``run.json``) is refused rather
than starting one (:func:`affect_lib.runs.folder.check_run_folder`, the rules of every run folder).
``--epochs N`` stops after epoch N of the schedule without changing the schedule, so a later ``--resume`` (with a
larger N, or none) continues the same run.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from affect_lib.data.emotionet import FaceAUs
from affect_lib.faces import ganimation as gan
from affect_lib.recipes import GanimationRecipe, recipe_hash
from affect_lib.runs.folder import check_run_folder, csv_text, data_digest
from affect_lib.runtime import resolve_device, seed_everything
from affect_lib.train import TrainingDiverged, atomic_save, atomic_write_text

FORMAT = "affect_lib.ganimation_run/1"
"""The ``format`` key of a run's ``checkpoint.pt``."""
RUN_FILES = ("run.json", "checkpoint.pt", "metrics.csv", "checkpoints")


def dataset(recipe: GanimationRecipe, root: str | Path, *, seed: int, **kwargs: Any) -> FaceAUs:
    """The training split of ``root`` with the recipe's data settings (``kwargs``: ``au_source``, ``skip_missing``)."""
    d = recipe.data
    return FaceAUs(
        root,
        "train",
        image_size=d.image_size,
        min_confidence=d.min_confidence,
        center_crop=d.center_crop,
        flip=d.flip,
        target_noise=d.target_noise,
        seed=seed,
        **kwargs,
    )


def fingerprint(
    recipe: GanimationRecipe, data: FaceAUs, *, seed: int, max_steps: int | None
) -> dict[str, Any]:
    """What makes two runs the same run (the epoch a run stops at aside)."""
    source = data.au_source
    au_files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    return {
        "recipe": recipe_hash(recipe),
        "data_dir": str(data.root.resolve()),
        "au_source": source.name,
        "images": len(data),
        "seed": seed,
        "max_steps": max_steps,
        "data_sha256": data_digest([*data.paths, *au_files]),
    }


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def load_run_checkpoint(path: Path, fp: dict[str, Any]) -> dict[str, Any]:
    """A run's ``checkpoint.pt`` (``weights_only=True``), checked against this run's fingerprint."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - one clear line for any unreadable file
        raise ValueError(
            f"{path} is unreadable or not a plain-data checkpoint ({type(err).__name__})"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(f"{path} is not a GANimation run checkpoint (no format {FORMAT!r})")
    if saved.get("fingerprint") != fp:
        raise ValueError(f"{path} belongs to another run than {path.parent / 'run.json'} describes")
    return saved


def train(
    recipe: GanimationRecipe,
    data: FaceAUs,
    out: str | Path,
    *,
    resume: bool = False,
    epochs: int | None = None,
    seed: int = 1337,
    device: str | torch.device = "auto",
    workers: int = 0,
    max_steps: int | None = None,
    progress: bool = True,
) -> tuple[gan.Trainer, list[dict[str, float]]]:
    """Train GANimation's G and D on a face folder's training split (``data``: :func:`dataset`) into the run
    folder ``out`` (module docstring); :func:`affect_lib.runs.train_recipe` calls it for GANimation recipes.

    Args:
        epochs: stop after this 1-based epoch of the schedule (default: the whole schedule).
        max_steps: at most this many batches per epoch (a smoke test on real data).
        progress: a tqdm bar per epoch.

    Returns:
        The trainer and the per-epoch records of the whole run so far (those of earlier sessions included).

    Raises:
        FileNotFoundError, FileExistsError, ValueError: bad data, a refused run folder (``resume`` needs one that
            holds this run), bad settings;
        :class:`affect_lib.train.TrainingDiverged`: a non-finite loss (the folder keeps the last good epoch).
    """
    from tqdm.auto import tqdm

    t = recipe.train
    stop = t.epochs if epochs is None else epochs
    if not 1 <= stop <= t.epochs:
        raise ValueError(
            f"epochs must lie in [1, {t.epochs}] (the schedule's {t.epochs_const} + {t.epochs_decay})"
        )
    device = resolve_device(device)
    out = Path(out)
    if len(data) < t.batch_size:
        raise ValueError(
            f"{data.root} has {len(data)} training images, fewer than one batch of {t.batch_size}: "
            "lower the batch size (--batch-size)"
        )
    fp = fingerprint(recipe, data, seed=seed, max_steps=max_steps)
    existing = check_run_folder(out, fp, resume=resume)
    seed_everything(seed)
    G = gan.Generator(**recipe.generator_kwargs()).to(device)
    D = gan.Critic(**recipe.critic_kwargs()).to(device)
    weights = recipe.loss_weights()
    trainer = gan.Trainer(G, D, weights, lr=t.lr, n_critic=t.n_critic, betas=tuple(t.betas))
    history: list[dict[str, float]] = []
    start = 0
    if existing and (out / "checkpoint.pt").exists():
        saved = load_run_checkpoint(out / "checkpoint.pt", fp)
        trainer.load_state_dict(saved["trainer"])
        _set_rng_state(saved["rng"], device)
        history, start = list(saved["history"]), int(saved["epoch"])
    if not existing:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            out / "run.json", json.dumps({"fingerprint": fp, "recipe": recipe.to_dict()}, indent=1)
        )
    (out / "checkpoints").mkdir(exist_ok=True)
    loader = DataLoader(
        data,
        batch_size=t.batch_size,
        sampler=DistributedSampler(data, num_replicas=1, rank=0, shuffle=True, seed=seed),
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    clock = [time.perf_counter()]

    def on_epoch(record: dict[str, float]) -> None:
        bad = [k for k, v in record.items() if not math.isfinite(v)]
        if bad:
            raise TrainingDiverged(
                f"epoch {record['epoch']}: {', '.join(bad)} became non-finite; {out} keeps the last good epoch"
            )
        now = time.perf_counter()
        record["seconds"], clock[0] = now - clock[0], now
        history.append(record)
        epoch = int(record["epoch"])
        atomic_save(G.state_dict(), out / "checkpoints" / f"{epoch}_net_gen.pth")
        atomic_save(D.state_dict(), out / "checkpoints" / f"{epoch}_net_dis.pth")
        atomic_write_text(out / "metrics.csv", csv_text(history))
        state = {"format": FORMAT, "epoch": epoch, "fingerprint": fp, "trainer": trainer.state_dict()}
        atomic_save(state | {"rng": _rng_state(device), "history": history}, out / "checkpoint.pt")

    G.train()
    D.train()
    trainer.fit_loader(
        loader,
        t.epochs_const,
        t.epochs_decay,
        start_epoch=min(start, stop),
        stop_epoch=stop,
        max_steps=max_steps,
        on_epoch=on_epoch,
        progress=(lambda x, **kw: tqdm(x, leave=False, **kw)) if progress else (lambda x, **_: x),
    )
    return trainer, history


def load_run_generator(out: str | Path, epoch: int | None = None) -> gan.Generator:
    """The generator of run folder ``out`` after ``epoch`` (default: its last saved epoch), built with the sizes
    its ``run.json`` recipe names.

    Raises:
        FileNotFoundError: no ``run.json`` or no checkpoint of that epoch.
        ValueError: an unreadable ``run.json`` or a checkpoint that does not fit the recipe's generator.
    """
    import inspect

    out = Path(out)
    try:
        run = json.loads((out / "run.json").read_text())
        args = dict(run["recipe"]["model_args"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{out} holds no run.json: not a train ganimation run folder") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{out / 'run.json'} is unreadable ({type(err).__name__})") from None
    names = set(inspect.signature(gan.Generator).parameters)
    generator = gan.Generator(**{k: v for k, v in args.items() if k in names})
    saved = sorted(int(p.name.split("_")[0]) for p in (out / "checkpoints").glob("*_net_gen.pth"))
    if epoch is None and not saved:
        raise FileNotFoundError(f"{out / 'checkpoints'} holds no generator checkpoint (<epoch>_net_gen.pth)")
    path = out / "checkpoints" / f"{saved[-1] if epoch is None else epoch}_net_gen.pth"
    return gan.load_checkpoint(path, generator).eval()
