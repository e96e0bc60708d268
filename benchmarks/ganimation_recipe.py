"""Which GANimation ingredients let chapter 21's quick run edit rig faces better than leaving them unchanged.

Each variant is the quick recipe (:func:`affect_lib.recipes.ganimation`) with a few overrides, trained on the same
rig pools as chapter 21 (:func:`affect_lib.runs.ganimation.train_on_rig`) from the same seeds and judged on the
same 200 held-out pairs per seed (:func:`affect_lib.faces.pairs.ground_truth_l1`), so any two rows are paired by
seed. One process per run, one thread each, two at a time. Writes ``benchmarks/results/ganimation_recipe.json``,
which chapter 21 prints::

    python benchmarks/ganimation_recipe.py [--variants a,b] [--seeds 0,1,2] [--steps N] [--keep] [--out FILE]

A rerun adds its rows to the file (a row of the same variant, steps and seed is replaced; ``--keep`` skips it).
The committed file holds the ablation at 300 critic steps (``--steps 300 --seeds 0,1,2``; the row without the
AU regressor and the colour residual from seeds 0 and 1), and at chapter 21's 1,200 critic steps the quick default,
the official recipe and the two controls (``--steps 1200 --seeds 0,1,2,3``; chapter 21 judges its claims on these)
and the quick default without the AU regressor (``--seeds 0,1``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OFFICIAL = "official"
"""The official objective and initial weights (:data:`affect_lib.recipes.GANIMATION_VARIANTS`)."""
VARIANTS: dict[str, tuple[str | None, dict[str, Any]]] = {
    # (recipe variant, overrides on it)
    "official": (OFFICIAL, {}),
    "official with PyTorch init and a joint GP step": (
        OFFICIAL,
        {"model.init": "pytorch", "train.gp_step": "joint"},
    ),
    "quick default": (None, {}),
    "quick default − identity start": (None, {"model.attention_start": None}),
    "quick default − self-reconstruction": (None, {"train.identity": 0.0}),
    "quick default − colour residual": (None, {"model.colour_residual": False}),
    "quick default − frozen AU regressor": (None, {"train.au_regressor_steps": 0}),
    "quick default − frozen AU regressor − colour residual": (
        None,
        {"train.au_regressor_steps": 0, "model.colour_residual": False},
    ),
}
"""Rows: the official recipe at the quick sizes (and as this library first ran it), the quick default, and the
quick default with one ingredient removed or added."""
CONTROLS = ("control trained on the truth", "control fed a neutral face")
"""Chapter 21's supervised controls (:func:`affect_lib.runs.ganimation.train_control`) on the quick default's
generator: trained on the exact pairs, and the same fed one neutral face in place of every input."""


def run_one(name: str, seed: int, steps: int | None) -> dict[str, Any]:
    """Train variant ``name`` from ``seed`` and score it on chapter 21's held-out pairs."""
    import numpy as np
    import torch

    from affect_lib import recipes
    from affect_lib.faces import facs
    from affect_lib.faces.pairs import RigPairs, critic_au_mse, ground_truth_l1
    from affect_lib.faces.rig import FaceRig
    from affect_lib.runs.ganimation import train_control, train_on_rig

    torch.set_num_threads(1)
    variant, overrides = VARIANTS.get(name, (None, {}))
    recipe = recipes.ganimation("quick", variant).replace(**overrides)
    rig = FaceRig.default(recipe.data.image_size)
    train = RigPairs.render(rig, recipe.data.rig_pool, np.random.default_rng([seed, 0]))
    test = RigPairs.render(rig, 256, np.random.default_rng([seed, 1]))
    start = time.perf_counter()
    critic = {}
    if name in CONTROLS:
        with torch.no_grad():
            neutral = rig(torch.zeros(1, facs.N_AUS)) * 2 - 1
        G, _ = train_control(
            recipe, train, seed, steps=steps, source=neutral if name == CONTROLS[1] else None
        )
        history = {}
    else:
        G, trainer, history = train_on_rig(recipe, train, seed=seed, steps=steps)
        reading = critic_au_mse(trainer.D, G, test, n_pairs=200, seed=seed)
        critic = {f"critic_au_mse_{k}": float(v.mean()) for k, v in reading.items()}
    seconds = time.perf_counter() - start
    truth = ground_truth_l1(G, test, n_pairs=200, seed=seed)
    return {
        "variant": name,
        "seed": seed,
        "steps": recipe.train.rig_steps if steps is None else steps,
        "recipe": recipe.to_dict(),
        "train_seconds": round(seconds, 1),
        **{key: float(values.mean()) for key, values in truth.items()},
        **critic,
        **({"attention_mean_last": float(np.mean(history["attention_mean"][-10:]))} if history else {}),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated row names (or controls)")
    p.add_argument("--seeds", default="0,1,2,3")
    p.add_argument("--steps", type=int, default=None, help="critic steps (default: the recipe's rig_steps)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="skip the runs the results file already holds")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ganimation_recipe.json")
    args = p.parse_args(argv)
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS and n not in CONTROLS]
    if unknown:
        known = ", ".join([*VARIANTS, *CONTROLS])
        print(f"error: unknown variant {unknown[0]!r} (known: {known})", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    with ProcessPoolExecutor(args.workers) as pool:
        done = {(r["variant"], r["steps"], r["seed"]) for r in load(args.out)} if args.keep else set()
        futures = [
            pool.submit(run_one, n, s, args.steps)
            for n in names
            for s in seeds
            if (n, args.steps, s) not in done
        ]
        for future in as_completed(futures):
            row = future.result()
            print(
                f"{row['variant']:48s} seed {row['seed']} steps {row['steps']:5d}: generator "
                f"{row['generator']:.4f} (changed {row['generator_changed']:.4f}), unchanged "
                f"{row['unchanged']:.4f} (changed {row['unchanged_changed']:.4f}), {row['train_seconds']} s",
                flush=True,
            )
            save(args.out, row)
    return 0


def load(path: Path) -> list[dict[str, Any]]:
    """The rows of a results file (none if it does not exist)."""
    return json.loads(path.read_text())["rows"] if path.exists() else []


def save(path: Path, row: dict[str, Any]) -> None:
    """Add ``row`` to the results file, replacing a row of the same variant, steps and seed."""
    rows = load(path)
    key = (row["variant"], row["steps"], row["seed"])
    rows = [r for r in rows if (r["variant"], r["steps"], r["seed"]) != key] + [row]
    path.write_text(json.dumps({"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
