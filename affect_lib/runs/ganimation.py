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

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from affect_lib.data.emotionet import FaceAUs
from affect_lib.faces import au_estimate, facs
from affect_lib.faces import ganimation as gan
from affect_lib.faces.pairs import FixedSource, RigPairs, fit_paired
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


def loss_weights(recipe: GanimationRecipe) -> gan.LossWeights:
    """The :class:`~affect_lib.faces.ganimation.LossWeights` named by ``train.weights``, with ``train.identity`` as
    the self-reconstruction weight."""
    weights = gan.LossWeights() if recipe.train.weights == "official" else gan.LossWeights.replicate()
    return dataclasses.replace(weights, identity=recipe.train.identity)


def check_sizes(recipe: GanimationRecipe) -> None:
    """Refuse sizes the networks refuse (G and D built on the meta device: no memory, no compute), naming them."""
    try:
        with torch.device("meta"):
            gan.Generator(**recipe.generator_kwargs())
            gan.Critic(**recipe.critic_kwargs())
    except (TypeError, ValueError) as err:
        raise ValueError(f"recipe {recipe.name}: {err}") from err


class FolderFaces:
    """A face folder's images and AUs indexed like :class:`~affect_lib.faces.pairs.RigPairs` (``images[i]``,
    ``aus[i]`` for a tensor of indices), read on demand: what :func:`~affect_lib.faces.ganimation.fit_au_regressor`
    trains on."""

    def __init__(self, data: FaceAUs) -> None:
        self.data, self.aus = data, data.aus
        self.images = _Images(data)

    def __len__(self) -> int:
        return len(self.data)


class _Images:
    def __init__(self, data: FaceAUs) -> None:
        self.data = data

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.data.load_image(int(i)) for i in index])


def new_trainer(
    recipe: GanimationRecipe, faces: Any, *, seed: int, device: str | torch.device = "cpu"
) -> gan.Trainer:
    """The recipe's G and D (built in that order from the current random state), its frozen AU regressor trained
    for ``train.au_regressor_steps`` on ``faces`` (rig pairs or :class:`FolderFaces`) when that is > 0, and the
    trainer with the recipe's loss weights, learning rate, ``n_critic``, betas and ``gp_step``."""
    t = recipe.train
    G = gan.Generator(**recipe.generator_kwargs()).to(device)
    D = gan.Critic(**recipe.critic_kwargs()).to(device)
    regressor = None
    if t.au_regressor_steps:
        regressor = gan.AURegressor(**recipe.critic_kwargs()).to(device)
        gan.fit_au_regressor(regressor, faces, t.au_regressor_steps, t.batch_size, seed=seed)
    return gan.Trainer(
        G,
        D,
        loss_weights(recipe),
        lr=t.lr,
        n_critic=t.n_critic,
        betas=tuple(t.betas),
        gp_step=t.gp_step,
        au_regressor=regressor,
    )


def train_on_rig(
    recipe: GanimationRecipe,
    pairs: RigPairs,
    seed: int = 0,
    device: str | torch.device = "cpu",
    steps: int | None = None,
) -> tuple[gan.Generator, gan.Trainer, dict[str, list[float]]]:
    """Train ``recipe``'s GANimation on rig ``pairs`` (chapter 21's run): seed torch, build G and D, pre-train the
    frozen AU regressor when ``train.au_regressor_steps`` > 0, then ``steps`` critic steps (default
    ``train.rig_steps``) at the recipe's batch, learning rate, ``n_critic``, loss weights and ``gp_step``.

    Returns the generator, the trainer (its critic ``D``) and the loss history (:meth:`Trainer.fit`).
    """
    torch.manual_seed(seed)
    trainer = new_trainer(recipe, pairs, seed=seed, device=device)
    t = recipe.train
    history = trainer.fit(pairs, t.rig_steps if steps is None else steps, t.batch_size, seed=seed)
    return trainer.G, trainer, history


def train_control(
    recipe: GanimationRecipe,
    pairs: RigPairs,
    seed: int = 0,
    device: str | torch.device = "cpu",
    steps: int | None = None,
    source: torch.Tensor | None = None,
) -> tuple[torch.nn.Module, list[float]]:
    """Chapter 21's supervised control: ``recipe``'s generator, seeded as :func:`train_on_rig` seeds it, trained
    on the exact pairs (:func:`~affect_lib.faces.pairs.fit_paired`) for as many generator steps as that GAN run
    (``steps // n_critic``, default ``train.rig_steps``) at its batch and learning rate. With ``source``, one face
    (1, 3, S, S) in [-1, 1] fed in place of every input (:class:`~affect_lib.faces.pairs.FixedSource`).

    Returns the generator and its L1 per step.
    """
    t = recipe.train
    torch.manual_seed(seed)
    G: torch.nn.Module = gan.Generator(**recipe.generator_kwargs()).to(device)
    if source is not None:
        G = FixedSource(G, source.to(device))
    n = (t.rig_steps if steps is None else steps) // t.n_critic
    return G, fit_paired(G, pairs, n, t.batch_size, lr=t.lr, seed=seed)


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

    check_sizes(recipe)
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
    trainer = new_trainer(recipe, FolderFaces(data), seed=seed, device=device)
    G, D = trainer.G, trainer.D
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


def score_data_folder(
    generator: torch.nn.Module,
    root: str | os.PathLike[str],
    *,
    split: str = "test",
    n_faces: int = 20,
    n_targets: int = 8,
    seed: int = 0,
    image_size: int = 128,
    au_source: str | os.PathLike[str] | None = None,
) -> au_estimate.EditScore:
    """A GANimation generator's edits of a data folder's faces (:class:`~affect_lib.data.emotionet.FaceAUs`), judged
    by the estimator: :func:`~affect_lib.faces.au_estimate.score_faces` on the first ``n_faces`` faces of ``split``, each asked for the AUs of
    ``n_targets`` other faces of the split (drawn uniformly with ``seed``), measured from the folder's own AUs.

    Args:
        generator: a :class:`~affect_lib.faces.ganimation.Generator` (trained, or loaded with
            :func:`~affect_lib.faces.ganimation.load_checkpoint`).
        root, split, au_source: the data folder, as for ``FaceAUs``; the split needs two faces or more.
        image_size: side the faces are read at (a multiple of 4).
    """
    if n_faces < 1 or n_targets < 1:
        raise ValueError(f"n_faces and n_targets must be positive, got {n_faces!r} and {n_targets!r}")
    data = FaceAUs(root, split, image_size=image_size, au_source=au_source)
    if len(data) < 2:
        raise ValueError(f"{root}: the {split} split has {len(data)} face; scoring edits needs two or more")
    count = min(n_faces, len(data))
    aus = data.aus.numpy().astype(np.float64) * facs.AU_MAX
    rng = np.random.default_rng(seed)
    others = [rng.choice(np.delete(np.arange(len(data)), i), n_targets) for i in range(count)]
    faces = torch.stack([(data.load_image(i) + 1) / 2 for i in range(count)]).clamp(0, 1)
    return au_estimate.score_faces(
        lambda face, wanted: gan.GanimationGenerator(generator, face)(wanted),
        faces,
        aus[:count],
        np.stack([aus[o] for o in others]),
    )
