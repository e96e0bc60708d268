"""Part II sizing: how far EvoGAN's searches still climb after a budget, to choose chapter 22's quick budget.

Runs the searches on the 84-pixel rig with the fer crop, under the single fixed crop (as EvoGAN's port first ran)
and under the five- and ten-view averages (the book's fitness: five views on the quick profile, ten on the paper
profile), and prints the mean best fitness over seeds after each
checkpoint budget, and each seed's best at each checkpoint (chapter 22 judges its budget's convergence from these).
The runs go through ``search.compare_on_rig`` (one worker process per core); a row's ``seconds`` is the wall time
of the whole comparison under its fitness.
Usage: ``python benchmarks/search_convergence.py [--budget 1200] [--seeds 3]``; adds its rows to
``benchmarks/results/search_convergence.json`` (a row of the same fitness, target and method is replaced).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from affect_lib.faces import facs, search

CHECKPOINTS = (100, 200, 300, 400, 600, 800, 1200, 1800, 2400)
RIG_PX = 84  # chapter 22's quick rig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=1200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pop-size", type=int, default=10)
    parser.add_argument("--methods", default="CMA-ES")
    parser.add_argument("--targets", default=",".join(facs.PAPER_TARGET_CODES))
    parser.add_argument("--crops", default="ten,five,single")
    args = parser.parse_args()
    checkpoints = [c for c in CHECKPOINTS if c <= args.budget]
    targets, methods = args.targets.split(","), args.methods.split(",")
    out: dict[str, dict] = {}
    for crops in args.crops.split(","):
        t0 = time.perf_counter()
        found = search.compare_on_rig(
            RIG_PX, crops, targets, methods, range(args.seeds), args.budget, args.pop_size
        )
        seconds = time.perf_counter() - t0
        for (code, method), runs in found.items():
            per_seed = [[float(r.trace[c - 1]) for c in checkpoints] for r in runs]
            curve = [float(v) for v in np.mean(per_seed, axis=0)]
            key = f"{crops} | {facs.target_label(facs.target_distribution(code))} | {method}"
            out[key] = {
                "rig_px": RIG_PX,
                "pop_size": args.pop_size,
                "checkpoints": checkpoints,
                "mean_best": curve,
                "best_per_seed": per_seed,
                "seconds": seconds,
            }
            print(
                key,
                " ".join(f"{c}:{v:.3f}" for c, v in zip(checkpoints, curve, strict=True)),
                f"({out[key]['seconds']:.0f} s)",
                flush=True,
            )
    path = Path(__file__).parent / "results" / "search_convergence.json"
    kept = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(kept | out, indent=1) + "\n")


if __name__ == "__main__":
    main()
