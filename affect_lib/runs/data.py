"""A recipe's data: where it is (:func:`locate_data`), its loaders (:func:`load_data`), its loss and metrics, and
the fingerprint that ties a run folder to a recipe and to the files it trained on.

Without a data folder a recipe trains on its profile's stand-in (written once by rank 0); a real data folder is
checked before any work: the MulT pickle against the manifest of the released files, RAVDESS by its file names.
Errors are ``ValueError`` / ``FileNotFoundError`` naming the file or the field.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affect_lib.runs.folder import data_digest


@dataclass
class RunData:
    """What a recipe trains on: loaders, the corpus's dims (MulT), a summary of the source and split."""

    loaders: dict[str, Any]
    dims: tuple[int, int, int] | None
    summary: dict[str, Any]


def locate_data(recipe: Any, data_dir: str | None) -> Path | None:
    """The recipe's data folder (``None``: the quick profile's stand-in), checked before any work is done.

    Raises:
        ValueError: the paper profile without a folder.
        FileNotFoundError: a folder that lacks the files (named).
    """
    from affect_lib.recipes import MultData
    from affect_lib.runtime import DATA_DIR_ENV, resolve_data_dir

    mult = isinstance(recipe.data, MultData)
    wanted = recipe.data.file if mult else "Actor_XX/*.mp4"
    label = recipe.dataset if mult else "RAVDESS"
    if recipe.profile == "paper" and data_dir is None and not os.environ.get(DATA_DIR_ENV):
        raise ValueError(
            f"the paper profile trains on the real {label} data: pass --data-dir FOLDER holding {wanted} "
            f"(or set ${DATA_DIR_ENV} to a folder with {label}/{wanted})"
        )
    try:
        return resolve_data_dir(
            data_dir,
            profile=recipe.profile,
            dataset=label,
            required=[recipe.data.file if mult else "Actor_*"],
        )
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err} (looked for {wanted})") from None


def load_data(
    recipe: Any, root: Path | None, *, workers: int = 0, pin_memory: bool = False, manifest: bool = True
) -> RunData:
    """Loaders for ``recipe`` from ``root`` (``None``: the quick profile's stand-in, written by rank 0 alone); a
    real MulT file is checked against the manifest of the released files unless ``manifest`` is false."""
    from affect_lib.recipes import MultData
    from affect_lib.runtime import cache_dir
    from affect_lib.train import barrier, world

    rank = world()[0]
    if isinstance(recipe.data, MultData):
        return _mult_data(recipe, root, workers, pin_memory, rank, cache_dir, barrier, manifest)
    return _ravdess_data(recipe, root, workers, pin_memory, rank, barrier)


def _mult_data(recipe, root, workers, pin_memory, rank, cache_dir, barrier, manifest) -> RunData:
    from affect_lib.data.manifest import check_manifest
    from affect_lib.data.mult import load_mult_pickle, make_loaders
    from affect_lib.data.synthetic_mult import write_standin

    if root is None:
        folder = cache_dir("mult_standin", "seed0")  # the chapter's stand-in at seed 0
        if rank == 0:
            write_standin(
                folder, recipe.dataset, aligned=recipe.aligned, seed=0, **recipe.data.standin_kwargs()
            )
        barrier()
        path, source = folder / recipe.data.file, "synthetic stand-in"
    else:
        path, source = root / recipe.data.file, str(root / recipe.data.file)
    corpus = load_mult_pickle(path, dataset=recipe.dataset, aligned=recipe.aligned)
    # a real data folder is checked against the manifest (split sizes, dims); stand-ins carry a marker
    if root is not None and manifest and not corpus.standin:
        try:
            check_manifest(path, corpus.dataset, corpus.aligned, corpus.sizes(), corpus.dims, corpus.lengths)
        except ValueError as err:
            # the library's advice (check_manifest=False) is for Python callers
            found = str(err).split("; a different packaging?")[0]
            raise ValueError(
                f"{found}; to train on another packaging of {corpus.dataset} on purpose, pass "
                "--no-manifest-check (its numbers will not compare with the papers')"
            ) from None
    empty = [name for name, n in corpus.sizes().items() if n == 0]
    if empty:
        raise ValueError(
            f"{path}: split {empty[0]!r} holds no sample (sizes {corpus.sizes()}): training needs samples in "
            "train, valid and test; rebuild the file with every split filled (affect-lib convert-csd --splits)"
        )
    t = recipe.train
    loaders = make_loaders(
        corpus, t.batch_size, eval_batch_size=t.eval_batch_size, num_workers=workers, pin_memory=pin_memory
    )
    summary = {"source": source, "sizes": corpus.sizes(), "lengths": corpus.lengths}
    cleaned = {"nan_or_inf": corpus.zeroed, "audio_minus_inf": corpus.audio_minus_inf}
    return RunData(loaders, corpus.dims, {**summary, "zeroed": cleaned})


def released_quirks(recipe: Any) -> dict[str, bool]:
    """The released CFN-SR code's input quirks, on for the recipe variant ``released`` only, as keyword arguments
    of :class:`~affect_lib.data.ravdess.RavdessClips`: crops drawn per frame, and BGR channel order."""
    released = recipe.variant == "released"
    return {"per_frame_augmentation": released, "bgr_input": released}


def _ravdess_data(recipe, root, workers, pin_memory, rank, barrier) -> RunData:
    from affect_lib.data.av_preprocess import ravdess_loaders
    from affect_lib.data.ravdess import list_clips, parse_ravdess_name
    from affect_lib.data.synthetic_ravdess import standin_folder, write_synthetic_ravdess
    from affect_lib.protocols import protocol_fold, selects_on_test

    if root is None:
        root = standin_folder(0, **recipe.data.standin_kwargs())  # the chapter's stand-in at seed 0
        if rank == 0:
            write_synthetic_ravdess(root, **recipe.data.standin_kwargs(), seed=0)
        barrier()
        source = "synthetic stand-in"
    else:
        source = str(root)
    d, t = recipe.data, recipe.train
    clips = list_clips(root)
    actors = [parse_ravdess_name(c).actor for c in clips]
    fold = protocol_fold(d.split, d.fold, actors, real=recipe.profile == "paper")
    loaders, split = ravdess_loaders(
        clips,
        d.preprocess_config(),
        batch_size=t.batch_size,
        eval_batch_size=t.eval_batch_size,
        split=fold,
        augment=d.augment,
        augment_scale=d.augment_scale,
        **released_quirks(recipe),
        num_workers=workers,
        pin_memory=pin_memory,
    )
    split_actors = {"train": list(split.train), "valid": list(split.valid), "test": list(split.test)}
    if selects_on_test(split):  # the released protocols: the epoch is selected on the test fold itself
        loaders["valid"], split_actors["valid"] = loaders["test"], list(split.test)
    sizes = {name: len(loader.dataset) for name, loader in loaders.items()}
    summary = {"source": source, "sizes": sizes, "split": split_actors, "protocol": d.split, "fold": d.fold}
    return RunData(loaders, None, {**summary, "selected_on_test": selects_on_test(split)})


def loss_and_metrics(recipe: Any) -> tuple[Callable, Callable]:
    """The recipe's loss and metrics functions (those of the papers)."""
    import torch.nn.functional as F

    from affect_lib.metrics import classification_metrics, task_loss, task_metrics

    if recipe.dataset == "ravdess":
        return F.cross_entropy, classification_metrics
    return task_loss(recipe.dataset), task_metrics(recipe.dataset)


def metric_names(recipe: Any) -> tuple[str, ...]:
    """The validation keys a recipe's trainer reports: ``loss`` and its metrics function's keys, read from that
    function run on four made-up, perfectly predicted examples of the recipe's task."""
    import torch

    from affect_lib.data.mult import dataset_spec

    _, metrics = loss_and_metrics(recipe)
    if recipe.dataset == "ravdess":
        target = torch.tensor([0, 1, 0, 1])
        output = torch.nn.functional.one_hot(target, 2).float()
    elif dataset_spec(recipe.dataset).task == "sentiment":
        output = target = torch.tensor([[1.0], [-1.0], [0.5], [-0.5]])
    else:
        target = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0]] * 2)
        output = torch.nn.functional.one_hot(target, 2).float().reshape(4, -1)
    return ("loss", *metrics(output, target))


def data_files(recipe: Any, root: Path) -> list[Path]:
    """The files of ``root`` that the recipe reads: the MulT pickle, or the RAVDESS clips (and their OpenFace CSVs
    with ``crop="landmarks"``), checked by name (:func:`affect_lib.data.ravdess.list_clips`)."""
    from affect_lib.recipes import MultData

    if isinstance(recipe.data, MultData):
        return [root / recipe.data.file]
    from affect_lib.data.av_preprocess import find_landmark_csv
    from affect_lib.data.ravdess import list_clips

    clips = list_clips(root)
    if recipe.data.preprocess_config().crop != "landmarks":
        return clips
    return [*clips, *filter(None, map(find_landmark_csv, clips))]


def fingerprint(
    recipe: Any,
    root: Path | None,
    *,
    seeds: Sequence[int],
    world_size: int = 1,
    max_steps: int | None = None,
    amp: str | None = None,
    every_fold: bool = False,
) -> dict[str, Any]:
    """What makes two runs the same run: the recipe (its hash, epochs aside: a run may be extended), model,
    dataset, alignment, batch size, world size, seeds, step limit, precision, and the data: its folder and a
    SHA-256 of its files (``None`` for the quick profile's stand-in)."""
    from affect_lib.recipes import recipe_hash

    digest = data_digest(data_files(recipe, root)) if root is not None else None
    return {
        "model": recipe.model,
        "dataset": recipe.dataset,
        "aligned": recipe.aligned,
        "profile": recipe.profile,
        "batch_size": recipe.train.batch_size,
        "world_size": world_size,
        "seeds": list(seeds),
        "max_steps": max_steps,
        "amp": amp,
        "recipe": recipe_hash(recipe.replace(**{"train.epochs": 1})),
        "fold": "all" if every_fold else None,  # one fold: in the recipe
        "data_dir": str(root.resolve()) if root is not None else None,
        "data_sha256": digest,
    }
