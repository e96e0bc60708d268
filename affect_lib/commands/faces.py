"""``affect-lib faces edit|search|prepare|score`` and ``affect-lib train ganimation`` (:mod:`affect_lib.runs.ganimation`).

- ``faces edit --image IN --aus AU12=3,AU6=2 --out OUT.png [--checkpoint G.pth]``
- ``faces search --image IN --target "happy .2 + surprise .8" --method ga|cma|random|draft --out DIR``
  writes the best faces (``best_*.png``), ``fitness.png`` (best fitness against evaluations) and ``result.json``.
- ``faces prepare PHOTOS --out DATA [--neutral PHOTO]``: BlazeFace, mesh alignment and crops of a folder of
  photographs into a ``train ganimation`` data folder (:func:`affect_lib.data.face_folder.prepare_faces`).
- ``faces score RUN --data-dir DATA``: a trained run's edits judged by the AU estimator, beside the error of leaving
  the faces unchanged (:func:`affect_lib.runs.ganimation.score_data_folder`).

``IN`` is an image file, ``astronaut`` (scikit-image's, with the shipped landmarks) or ``lfw:N`` (face N of
scikit-image's LFW subset). Faces other than the astronaut get their landmarks from mediapipe's face mesh
(:mod:`affect_lib.faces.mesh`); with ``--checkpoint`` the GANimation generator edits the face instead of the rig.
Outputs are never overwritten. Bad input (an unreadable image or checkpoint, an output that exists or is not an
image type, a zero budget) is one ``error:`` line with exit status 2, found before anything is written.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from affect_lib.commands.common import (
    CommandError,
    add_settings_argument,
    interrupted,
    non_negative_int,
    positive_float,
    positive_int,
    user_errors,
)
from affect_lib.faces import facs

METHODS = {
    "ga": "GA (book)",
    "ga-released": "GA (as released)",
    "draft": "GA (draft)",
    "random": "random search",
    "cma": "CMA-ES",
}


def parse_aus(text: str) -> np.ndarray:
    """``"AU12=3,AU6=2"`` -> (17,) intensities in [0, 5]."""
    aus = np.zeros(facs.N_AUS)
    for item in filter(None, (t.strip() for t in text.split(","))):
        match = re.fullmatch(r"AU(\d+)\s*=\s*([0-9.]+)", item, flags=re.IGNORECASE)
        if not match or int(match[1]) not in facs.AU_CODES:
            raise ValueError(f"--aus: {item!r} is not AU<n>=<intensity> with n one of {facs.AU_CODES}")
        value = float(match[2])
        if not 0 <= value <= facs.AU_MAX:
            raise ValueError(f"--aus: {item!r}: intensity must lie in [0, {facs.AU_MAX}]")
        aus[facs.AU_CODES.index(int(match[1]))] = value
    return aus


def parse_target(text: str) -> np.ndarray:
    """``"happy .2 + surprise .8"``, ``"happy"``, ``"happily surprised"`` or a 7-digit code -> (7,) target."""
    text = text.strip()
    if re.fullmatch(r"[a-z ]+|\d{7}", text):
        return facs.target_distribution(text)
    weights: dict[str, float] = {}
    for part in text.split("+"):
        match = re.fullmatch(r"\s*([a-z]+)\s+([0-9.]+)\s*", part)
        if not match:
            raise ValueError(
                f"--target: {part.strip()!r} is not '<class> <weight>' (e.g. 'happy .2 + surprise .8')"
            )
        weights[match[1]] = weights.get(match[1], 0.0) + float(match[2])
    return facs.target_distribution(weights)


def load_source(spec: str, size: int):  # noqa: ANN201 (a Face)
    """The face named by ``--image``, aligned at ``size`` px, with rig landmarks.

    In an image file the largest face BlazeFace finds is cut out first (a square of 1.5 × its box), so that it
    fills the face mesh's input; an image without a detection goes to the mesh whole.
    """
    from affect_lib.faces import detect, mesh
    from affect_lib.faces.images import load_face, read_image

    if spec == "astronaut":
        return load_face("astronaut", size=size)
    if spec.startswith("lfw:"):
        if not spec[4:].isdigit():
            raise ValueError(f"--image {spec}: want lfw:N, N the index of an LFW face (0 to 99)")
        return mesh.fit_face(load_face("lfw", size=192, index=int(spec[4:])).image, size=size)
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"--image {spec}: no such file (or use 'astronaut' or 'lfw:N')")
    try:
        image = read_image(path)
    except ValueError as err:
        raise ValueError(f"--image {err}") from None
    face = detect.largest_face(image)
    return mesh.fit_face(detect.square_around(image, face) if face is not None else image, size=size)


def _generator(face, checkpoint: str | None):  # noqa: ANN001, ANN202
    from affect_lib.faces.images import to_tensor
    from affect_lib.faces.rig import FaceRig

    if checkpoint is None:
        return FaceRig(face, neutral=face.source != "astronaut")
    from affect_lib.faces import ganimation as gan
    from affect_lib.runs.recipe import refused

    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {checkpoint}: no such file")
    try:  # read once here: a damaged file fails in torch.load with errors of many kinds
        torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - one line for any unreadable file
        raise ValueError(refused(f"--checkpoint {checkpoint}", err)) from None
    errors = []
    for layout in gan.LAYOUTS:
        try:
            g = gan.load_checkpoint(checkpoint, gan.Generator(layout=layout))
            return gan.GanimationGenerator(g, to_tensor(face.image)[0])
        except ValueError as err:
            errors.append(str(err))
    raise ValueError(f"--checkpoint {checkpoint}: fits neither key layout: {errors[-1]}")


def _new_path(path: Path) -> Path:
    if path.exists():
        raise FileExistsError(f"{path} exists: choose another --out (outputs are never overwritten)")
    return path


def _new_image_path(path: Path) -> Path:
    """``path`` if it does not exist and names an image type PIL writes (``.png``, ``.jpg``, ...)."""
    from PIL import Image

    if Image.registered_extensions().get(path.suffix.lower()) not in Image.SAVE:
        raise ValueError(
            f"--out {path}: {path.suffix or 'no extension'} is not an image type this command writes: "
            "use .png (or .jpg, .webp, .tif)"
        )
    return _new_path(path)


def _save(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    array = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(_new_image_path(path))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``faces edit``, ``search``, ``prepare`` and ``score`` on the main command line's subparsers."""
    faces = subparsers.add_parser(
        "faces", help="edit a face's action units, or search for a target expression"
    )
    sub = faces.add_subparsers(dest="faces_command", required=True)
    edit = sub.add_parser("edit", help="render a face with the given AU intensities")
    search = sub.add_parser("search", help="search AU genes for a target expression (EvoGAN)")
    for p in (edit, search):
        p.add_argument("--image", required=True, help="image file, 'astronaut' or 'lfw:N'")
        p.add_argument("--checkpoint", help="GANimation generator checkpoint (default: the face rig)")
        p.add_argument("--size", type=int, default=128, help="face size in pixels (default 128)")
    edit.add_argument("--aus", required=True, help="e.g. AU12=3,AU6=2 (intensities 0-5)")
    edit.add_argument("--out", required=True, help="output image (.png)")
    search.add_argument(
        "--target", required=True, help="e.g. 'happy .2 + surprise .8' or 'happily surprised'"
    )
    search.add_argument("--method", choices=sorted(METHODS), default="ga")
    search.add_argument("--budget", type=positive_int, default=300, help="evaluations (default 300)")
    search.add_argument("--pop-size", type=positive_int, default=20)
    search.add_argument("--seed", type=non_negative_int, default=0)
    search.add_argument(
        "--top", type=positive_int, default=5, help="how many best faces to write (default 5)"
    )
    search.add_argument("--out", required=True, help="output folder (created; must not exist)")
    search.add_argument(
        "--crops",
        default="ten",
        help="the classifier's views of each face: ten (jittered crops averaged, the default), five, or single "
        "(one crop, as released)",
    )
    prepare = sub.add_parser(
        "prepare", help="detect, align and crop a folder of photographs into a train ganimation data folder"
    )
    prepare.add_argument("src", help="folder of photographs (its files, not sub-folders)")
    prepare.add_argument("--out", required=True, help="the data folder to create (must not exist)")
    prepare.add_argument("--size", type=positive_int, default=128, help="face side in pixels (default 128)")
    prepare.add_argument("--test-fraction", type=float, default=0.1, help="share of test faces (default 0.1)")
    prepare.add_argument("--seed", type=non_negative_int, default=0, help="seeds the split")
    prepare.add_argument("--min-score", type=float, default=0.5, help="BlazeFace's detection threshold")
    prepare.add_argument(
        "--neutral", default=None, help="a neutral photograph of the same person: AUs measured against it"
    )
    score = sub.add_parser(
        "score", help="judge a train ganimation run's edits on a data folder (AU estimator)"
    )
    score.add_argument("run", help="the run folder of train ganimation")
    score.add_argument("--data-dir", required=True, help="the data folder (faces prepare's, or EmotioNet's)")
    score.add_argument("--epoch", type=positive_int, default=None, help="default: the last saved epoch")
    score.add_argument("--split", default="test", choices=("train", "test"))
    score.add_argument("--faces", type=positive_int, default=20, help="faces edited (default 20)")
    score.add_argument("--targets", type=positive_int, default=8, help="targets per face (default 8)")
    score.add_argument("--seed", type=non_negative_int, default=0, help="seeds the targets")
    faces.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run a ``faces`` command from parsed arguments; bad input is one ``error:`` line (exit 2)."""
    commands = {"edit": _edit, "search": _search, "prepare": _prepare, "score": _score}
    with user_errors():
        return commands[args.faces_command](args)


def _prepare(args: argparse.Namespace) -> int:
    from affect_lib.data.face_folder import prepare_faces

    done = prepare_faces(
        args.src,
        args.out,
        size=args.size,
        test_fraction=args.test_fraction,
        seed=args.seed,
        min_score=args.min_score,
        neutral=args.neutral,
    )
    counts = done.counts()
    print(
        f"wrote {done.out}: {counts['train']} training and {counts['test']} test faces, {counts['skipped']} files "
        f"skipped (listed with their reasons in {done.out / 'prepare.json'})"
    )
    return 0


def _score(args: argparse.Namespace) -> int:
    from affect_lib.runs.ganimation import load_run_generator, score_data_folder

    generator = load_run_generator(args.run, args.epoch)
    result = score_data_folder(
        generator,
        args.data_dir,
        split=args.split,
        n_faces=args.faces,
        n_targets=args.targets,
        seed=args.seed,
        image_size=json.loads((Path(args.run) / "run.json").read_text())["recipe"]["data"]["image_size"],
    )
    unchanged = float(result.unchanged.mean())
    print(
        json.dumps(
            {"mean_au_error": result.mean, "unchanged_input": unchanged, "per_au": result.rows()}, indent=1
        )
    )
    return 0


def _edit(args: argparse.Namespace) -> int:
    aus = torch.tensor(parse_aus(args.aus)[None], dtype=torch.float32)
    out = _new_image_path(Path(args.out))
    generator = _generator(load_source(args.image, args.size), args.checkpoint)
    with torch.no_grad():
        _save(generator(aus)[0], out)
    print(f"wrote {out}")
    return 0


def _search(args: argparse.Namespace) -> int:
    from affect_lib.faces import crop, search

    target = parse_target(args.target)
    out = _new_path(Path(args.out))
    generator = _generator(load_source(args.image, args.size), args.checkpoint)
    fitness = search.ExpressionFitness(generator, crop.fer_classifier(args.crops), target)
    result = search.METHODS[METHODS[args.method]](
        fitness, args.budget, args.pop_size, np.random.default_rng(args.seed)
    )
    top = search.near_best(result, within=1.0, limit=args.top)
    with torch.no_grad():
        faces = generator(torch.tensor(top * facs.AU_MAX, dtype=torch.float32))
    scores = fitness.score(fitness.probabilities(top), target)
    out.mkdir(parents=True)  # only once the search has run: a refused search leaves nothing behind
    for i, image in enumerate(faces):
        _save(image, out / f"best_{i}.png")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(np.arange(1, len(result.trace) + 1), result.trace)
    ax.set(xlabel="evaluations", ylabel="best fitness", title=f"{result.method}: {facs.target_label(target)}")
    fig.tight_layout()
    fig.savefig(out / "fitness.png", dpi=120)
    (out / "result.json").write_text(
        json.dumps(
            {
                "method": result.method,
                "target": facs.target_label(target),
                "budget": args.budget,
                "seed": args.seed,
                "best": [
                    {
                        "file": f"best_{i}.png",
                        "fitness": float(s),
                        "aus": dict(zip(facs.AU_LABELS, (g * 5).round(3).tolist(), strict=True)),
                    }
                    for i, (s, g) in enumerate(zip(scores, top, strict=True))
                ],
            },
            indent=1,
        )
        + "\n"
    )
    print(
        f"best fitness {result.best_fitness:.3f}; wrote {len(top)} faces, fitness.png and result.json to {out}"
    )
    return 0


# ---- train ganimation --------------------------------------------------------------------------------------------
def ganimation_parser() -> argparse.ArgumentParser:
    """The parser of ``affect-lib train ganimation``."""
    from affect_lib.runs import ganimation as ganimation_run

    p = argparse.ArgumentParser(
        prog="affect-lib train ganimation",
        description=ganimation_run.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data-dir", default=None, help="the face folder (imgs/ and OpenFace AUs; see emotionet.py)"
    )
    p.add_argument("--profile", default="paper", choices=("quick", "paper"), help="default: paper")
    p.add_argument("--out", default=None, help="run folder (default: runs/PROFILE/ganimation-faces)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out (it must hold one) after its last epoch",
    )
    p.add_argument("--epochs", type=positive_int, default=None, help="stop after epoch N of the schedule")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--lr", type=positive_float, default=None)
    add_settings_argument(p, "--set train.epochs_decay=5 --set model.ngf=32")
    p.add_argument("--seed", type=non_negative_int, default=1337)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--workers", type=non_negative_int, default=0, help="data-loader worker processes")
    p.add_argument("--max-steps", type=positive_int, default=None, help="at most N batches per epoch")
    p.add_argument("--aus", default=None, help="the AU file or folder (default: found in --data-dir)")
    p.add_argument("--skip-missing-aus", action="store_true", help="leave out images without (confident) AUs")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm bars")
    p.add_argument("--print-recipe", action="store_true", help="print the merged recipe and exit")
    return p


def ganimation_recipe(args: argparse.Namespace) -> Any:
    """The recipe of the command line: the profile, then ``--set``, ``--batch-size`` and ``--lr``."""
    from affect_lib.recipes import ganimation

    overrides = dict(args.settings)
    for key, value in (("batch_size", args.batch_size), ("lr", args.lr)):
        if value is not None:
            overrides[f"train.{key}"] = value
    recipe = ganimation(args.profile)
    return recipe.replace(**overrides) if overrides else recipe


def train_ganimation_command(args: argparse.Namespace) -> int:
    """Run ``affect-lib train ganimation``; user errors become :class:`CommandError`."""
    from affect_lib.runs import train_recipe
    from affect_lib.runs.ganimation import dataset
    from affect_lib.train import TrainingDiverged

    try:
        recipe = ganimation_recipe(args)
    except ValueError as err:
        raise CommandError(str(err)) from None
    if args.print_recipe:
        print(json.dumps(recipe.to_dict(), indent=1))
        return 0
    if args.data_dir is None:
        raise CommandError("pass --data-dir FOLDER holding imgs/ and the OpenFace AUs (see --help)")
    out = Path(args.out) if args.out is not None else Path("runs") / recipe.profile / "ganimation-faces"
    try:
        data = dataset(
            recipe, args.data_dir, seed=args.seed, au_source=args.aus, skip_missing=args.skip_missing_aus
        )
        history = train_recipe(
            recipe,
            data,
            seed=args.seed,
            device=args.device,
            out=out,
            max_steps=args.max_steps,
            progress=args.progress,
            workers=args.workers,
            resume=args.resume,
            stop_epoch=args.epochs,
        ).history
    except TrainingDiverged as err:
        raise CommandError(str(err), status=3) from None
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        raise CommandError(str(err)) from None
    except KeyboardInterrupt:
        raise interrupted(out / "checkpoint.pt", started=(out / "run.json").exists()) from None
    print(
        json.dumps(
            {"out": str(out), "epochs": len(history), "last": history[-1] if history else None}, indent=1
        )
    )
    return 0
