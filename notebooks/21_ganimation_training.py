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
# # The generator: GANimation and the face rig
#
# EvoGAN's generator is GANimation {cite}`pumarola2018ganimation`, as re-implemented by donydchen: a network that
# edits a face towards any vector of 17 AU intensities, trained without paired data. Its pretrained weights cannot
# be downloaded offline, so this chapter (i) builds GANimation at the paper's size and explains its parts and
# losses, (ii) trains a small GANimation on faces rendered by the book's face rig, and (iii) judges it by ground
# truth: every rig render is the same identity, so the rig's render of the target AUs is the exact answer to an
# edit. The critic trained alongside the generator is no independent judge: it learns from the faces the generator
# makes.
#
# **Learning goals**
#
# - Know GANimation's attention-based output $A \cdot I + (1 - A) \cdot C$ and why it keeps the identity.
# - Know its four losses (WGAN-GP {cite}`gulrajani2017wgangp`, AU regression, cycle, attention) and their weights.
# - Train the small model on rig faces and judge its edits against exact renders, not by its own critic.
# - Know which departures from the official recipe help a small GANimation learn within minutes, from an ablation.

# %% tags=["parameters"]
profile: str = "quick"  # "quick": 32 px, a few minutes on a CPU; "paper": 128 px, paper sizes (GPU)
seed: int = 0
device: str = "auto"
data_dir: str | None = None  # not read on either profile: the training faces come from the rig

# %%
import dataclasses
import json
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown
from torchvision.utils import make_grid

import affect_lib
from affect_lib import claims, expected, recipes, stats
from affect_lib.claims import claims_table
from affect_lib.faces import facs
from affect_lib.faces import ganimation as gan
from affect_lib.faces.pairs import RigPairs, critic_au_mse, ground_truth_l1
from affect_lib.faces.rig import FaceRig
from affect_lib.runs import ganimation as ganimation_run
from affect_lib.runs.ganimation import train_on_rig

cfg = affect_lib.setup(profile, seed, device, data_dir, dataset=None)  # Part II reads no data
print(cfg)

# %% [markdown]
# ## The architecture at the paper's size
#
# The generator takes the image and the AU vector broadcast to 17 constant maps (20 channels), encodes with a 7×7
# conv and two stride-2 convs, transforms with 6 residual blocks, decodes with two transposed convs, and ends in
# two heads: a colour image $C$ (tanh) and an attention mask $A$ (sigmoid). The output is
#
# $$
# I_{y} = A \odot I + (1 - A) \odot C ,
# $$ (eq-ganimation-blend)
#
# so where $A \approx 1$ the input pixel is kept, and the network only paints the regions the AUs change. The
# critic has six stride-2 convs and two heads: a patch critic $D_I$ and an AU regressor $D_y$.

# %%
G_paper, D_paper = gan.Generator(), gan.Critic()
with torch.no_grad():
    out, colour, attention = G_paper(torch.zeros(1, 3, 128, 128), torch.zeros(1, 17))
    score, au_pred = D_paper(out)

# %%
# NBVAL_CHECK_OUTPUT
print(f"generator parameters {sum(p.numel() for p in G_paper.parameters()):,}")
print(f"critic parameters    {sum(p.numel() for p in D_paper.parameters()):,}")
print(
    f"G: output {tuple(out.shape)}, colour {tuple(colour.shape)}, attention "
    f"{tuple(attention.shape)}"
)
print(f"D: critic map {tuple(score.shape)}, AU regression {tuple(au_pred.shape)}")

# %% [markdown]
# ## The losses
#
# With $I_o$ a real image with AUs $y_o$ and $y_f$ a desired AU vector, the critic minimises
#
# $$
# \begin{aligned}
# &\mathbb E[D_I(G(I_o|y_f))] - \mathbb E[D_I(I_o)]\\
# &\quad + \lambda_{gp}\,\mathbb E\big[(\lVert\nabla D_I(\tilde I)\rVert_2 - 1)^2\big]\\
# &\quad + \lambda_y \lVert D_y(I_o) - y_o \rVert^2 ,
# \end{aligned}
# $$ (eq-ganimation-d)
#
# and the generator minimises
#
# $$
# \begin{aligned}
# &-\mathbb E[D_I(G(I_o|y_f))]\\
# &\quad + \lambda_y \lVert D_y(G(I_o|y_f)) - y_f\rVert^2\\
# &\quad + \lambda_{cyc} \lVert G(G(I_o|y_f)|y_o) - I_o\rVert_1\\
# &\quad + \lambda_A \bar A + \lambda_{TV} \mathrm{TV}(A).
# \end{aligned}
# $$ (eq-ganimation-g)
#
# The official weights are $\lambda_{gp}=10$, $\lambda_y=4000$, $\lambda_{cyc}=10$, $\lambda_A=0.1$ and
# $\lambda_{TV}=10^{-5}$. The official code divides the AU error by the batch size once more (at its batch of 25
# the weight on the plain mean squared error is 160) and sums the TV term over the batch; `gan.LossWeights()`
# applies them the same way. donydchen's replicate, which EvoGAN loads, puts 160 on a plain MSE and drops the
# attention terms (`gan.LossWeights.replicate()`). As the official code, the critic takes the gradient penalty in
# a second optimiser step on the same batch, and every conv starts from $\mathcal N(0, 0.02)$ weights.
#
# ## Two recipes: the official one and the quick default
#
# Trained for a few minutes on a CPU, a GANimation must first learn to keep the pixels an edit leaves alone, and
# the official recipe starts far from that (the next sections measure how far each recipe gets, over four training
# seeds). The quick profile's default recipe departs from the official code in a few named places, each measured in
# the ablation below:
#
# - **identity start** (`model.attention_start`): the attention head gets a bias initialised so that
#   $A \approx 0.95$, so the untrained generator keeps its input (the official head has no bias and starts at
#   $A \approx \tfrac12$, halving every pixel);
# - **self-reconstruction** (`train.identity`): an extra loss
#   $\lambda_{idt}\lVert G(I_o|y_o) - I_o\rVert_1$: editing a face towards its own AUs must leave it as it is;
# - **colour residual** (`model.colour_residual`): the colour head paints a residual on the input,
#   $C = I + \tanh(\cdot)$, instead of $C = \tanh(\cdot)$;
# - **a frozen AU regressor** (`train.au_regressor_steps`): a network of the critic's size, trained on the training
#   faces and their AUs before GANimation starts and then frozen, reads the edits for the generator's AU loss in
#   place of the critic's AU head, which trains alongside the generator and can be fooled by it. On real faces
#   the AUs already come from such a fixed regressor (OpenFace).
#
# The paper profile is the official recipe; `recipes.ganimation(profile, "official")` gives it at any profile.

# %%
# sizes, schedule and weights, shared with `affect-lib train ganimation`
recipe = recipes.ganimation(cfg.profile)
official = recipes.ganimation(cfg.profile, "official")
weights = ganimation_run.loss_weights(recipe)
print(textwrap.fill(", ".join(f"{k}={v}" for k, v in dataclasses.asdict(weights).items()), 100))
flat = {
    name: {
        f"{part}.{k}": v
        for part in ("model_args", "data", "train")
        for k, v in r.to_dict()[part].items()
    }
    for name, r in (("default", recipe), ("official", official))
}
for key in sorted(k for k in flat["default"] if flat["default"][k] != flat["official"][k]):
    print(f"{key:28s} default {flat['default'][key]!s:8s} official {flat['official'][key]}")

# %% [markdown]
# ## Training faces from the rig
#
# Real training needs EmotioNet faces with OpenFace AUs. Offline, `RigPairs.render` renders a pool of faces with
# known AUs: random prototypes (basic and compound) at random intensities, plus noise. A training pair is a face
# with its AUs and the AUs of another face as the target, as in GANimation; training never sees the target's image.
# A second pool, drawn from another seed, holds the test faces: continuous draws of their own, so that apart from
# the neutral faces (all AUs zero, which render identically in both pools) no test target was trained on. The quick
# profile trains at 32 pixels with a narrow network; the paper profile at 128 pixels with the paper's sizes (a GPU
# job). Both recipes train from the same seed on the same pairs for the same number of steps.

# %%
size, n_pool, steps = recipe.data.image_size, recipe.data.rig_pool, recipe.train.rig_steps
batch, n_critic = recipe.train.batch_size, recipe.train.n_critic
rig = FaceRig.default(size)
train_pairs = RigPairs.render(rig, n_pool, np.random.default_rng([cfg.seed, 0]))
test_pairs = RigPairs.render(rig, 256, np.random.default_rng([cfg.seed, 1]))

# %%
# NBVAL_CHECK_OUTPUT
print(
    f"{len(train_pairs)} training and {len(test_pairs)} test faces at {size} px; "
    f"{steps} critic steps, {steps // n_critic} generator steps, batch {batch}"
)

# %%
G, trainer, history = train_on_rig(recipe, train_pairs, seed=cfg.seed, device=cfg.device)
G_official, trainer_official, history_official = train_on_rig(
    official, train_pairs, seed=cfg.seed, device=cfg.device
)


# %%
def early_late(key: str) -> tuple[float, float]:
    """Mean of the first and of the last 20% of a loss curve."""
    values = np.asarray(history[key])
    n = max(1, len(values) // 5)
    return float(values[:n].mean()), float(values[-n:].mean())


curves = ["critic_au_mse", "generator_au_mse", "cycle_l1", "critic_wasserstein"]
summary = {key: early_late(key) for key in curves}
for key, (early, late) in summary.items():
    print(f"{key:20s} first 20% {early:8.4f}   last 20% {late:8.4f}")

# %% mystnb={"figure": {"name": "fig-21-ganimation-training-1", "caption": "The loss curves of the quick default run (raw and a running mean). Falling AU and cycle errors say that the generator pleases the network that reads its AUs (here the frozen regressor) and undoes its own edits; whether the edits are right is the next section's question. The critic's Wasserstein estimate is the adversarial game's state, not a quantity that must fall."}}
fig, axes = plt.subplots(2, 2, figsize=(7, 5))
for ax, key in zip(axes.flat, curves, strict=True):
    values = np.asarray(history[key])
    ax.plot(values, alpha=0.3)
    k = max(1, len(values) // 20)
    ax.plot(np.convolve(values, np.ones(k) / k, mode="valid"))
    ax.set_title(key, fontsize=11)
    ax.set_xlabel("step")
    if key.endswith("mse"):
        ax.set_yscale("log")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Judged by ground truth
#
# On 200 test pairs we compare the generator's edit $G(I_i | y_j)$ with the rig's exact render $I_j$ of the target,
# and, as the baseline any editor must beat, the unchanged input $I_i$. Errors are mean absolute differences in
# $[0, 1]$ image units, over the whole image and over the pixels that should change (where $I_i$ and $I_j$ differ
# by more than 0.02). The differences are paired over the test pairs.

# %%
truth = ground_truth_l1(G, test_pairs, n_pairs=200, seed=cfg.seed)
truth_official = ground_truth_l1(G_official, test_pairs, n_pairs=200, seed=cfg.seed)
# > 0: the generator is closer
gain = stats.paired_difference(truth["unchanged"], truth["generator"])
gain_changed = stats.paired_difference(truth["unchanged_changed"], truth["generator_changed"])
gain_official = stats.paired_difference(truth_official["unchanged"], truth_official["generator"])
# > 0: the quick default is closer than the official recipe
over_official = stats.paired_difference(truth_official["generator"], truth["generator"])
for name, t in (("quick default", truth), ("official", truth_official)):
    print(
        f"{name:14s} ground-truth L1 on held-out pairs: generator {t['generator'].mean():.4f}, "
        f"unchanged input {t['unchanged'].mean():.4f}"
    )
    print(
        f"{'':14s} ... on the pixels that should change: generator "
        f"{t['generator_changed'].mean():.4f}, unchanged input {t['unchanged_changed'].mean():.4f}"
    )
print(f"unchanged - quick default, paired over pairs: {gain.format(4)}")
print(f"... on the pixels that should change:        {gain_changed.format(4)}")
print(f"unchanged - official, paired over pairs:      {gain_official.format(4)}")
print(f"official - quick default, paired over pairs:  {over_official.format(4)}")

# %% [markdown]
# ## The control: the same generator trained on the truth
#
# Can this architecture learn the edits within this budget at all? The rig can answer what real data cannot:
# `train_control` trains a fresh generator of the same size, from the same initial weights, for the same number of
# generator steps at the same batch and learning rate, on the L1 distance between its edit and the exact render.
# That loss is not available to GANimation on real faces (nobody photographs one face at every AU vector); here it
# is the control.

# %%
G_paired, _ = ganimation_run.train_control(recipe, train_pairs, seed=cfg.seed, device=cfg.device)
truth_paired = ground_truth_l1(G_paired, test_pairs, n_pairs=200, seed=cfg.seed)
gain_paired = stats.paired_difference(truth_paired["unchanged"], truth_paired["generator"])
print(
    f"ground-truth L1 on held-out pairs, trained on the truth: generator "
    f"{truth_paired['generator'].mean():.4f}, "
    f"unchanged input {truth_paired['unchanged'].mean():.4f}"
)
print(
    f"... on the pixels that should change: "
    f"generator {truth_paired['generator_changed'].mean():.4f}, "
    f"unchanged input {truth_paired['unchanged_changed'].mean():.4f}"
)
print(f"unchanged - generator, paired over pairs: {gain_paired.format(4)}")

# %% [markdown]
# The control has an easier task than GANimation's on real faces: every rig face is the same identity, so the exact
# render depends on the target AUs alone. A second control shows how much of its score needs the input at all: the
# same generator and training, fed one neutral face (`source=`, a `FixedSource`) in place of every input, so that
# it can only render from the AUs.

# %%
neutral = rig(torch.zeros(1, facs.N_AUS)) * 2 - 1
G_render, _ = ganimation_run.train_control(
    recipe, train_pairs, seed=cfg.seed, device=cfg.device, source=neutral
)
truth_render = ground_truth_l1(G_render, test_pairs, n_pairs=200, seed=cfg.seed)
uses_input = stats.paired_difference(truth_render["generator"], truth_paired["generator"])
print(
    "ground-truth L1, fed a neutral face instead of the input: "
    f"{truth_render['generator'].mean():.4f} "
    f"(control {truth_paired['generator'].mean():.4f})"
)
print(f"render-only - control, paired over pairs: {uses_input.format(4)}")

# %% [markdown]
# ## Over training seeds
#
# The intervals above hold the 200 test pairs of one trained generator, not the spread between training runs, and
# a claim about a recipe needs several runs. Training each recipe and control from several seeds does not fit this
# chapter's time, so the runs come from `benchmarks/ganimation_recipe.py`, which trains this chapter's recipes and
# controls at this chapter's budget from seeds 0 to 3 (seed 0 repeats this chapter's run on one thread, a different
# float path, so its numbers differ from those above; the two are printed side by side below), judges each on
# its own seed's 200 held-out pairs, and writes `benchmarks/results/ganimation_recipe.json`. The comparisons below
# pair the runs by seed; the claims at the end of the chapter are judged on them.

# %%
BOOK_ROOT = Path(affect_lib.__file__).resolve().parents[1]  # the checkout the chapter runs in
bench = json.loads((BOOK_ROOT / "benchmarks" / "results" / "ganimation_recipe.json").read_text())
runs: dict[tuple[int, str], dict[int, dict]] = {}
for r in bench["rows"]:
    runs.setdefault((r["steps"], r["variant"]), {})[r["seed"]] = r
# the runs of this chapter's own recipes (the same fields, JSON-normalised) at this chapter's budget
made_with = {
    "quick default": recipe,
    "official": official,
    "control trained on the truth": recipe,
    "control fed a neutral face": recipe,
}
seed_runs = {
    name: {
        s: row
        for s, row in runs.get((steps, name), {}).items()
        if row["recipe"] == json.loads(json.dumps(made_with_recipe.to_dict()))
    }
    for name, made_with_recipe in made_with.items()
}
# (first run, its value) − (second run, its value), paired by seed; > 0: the first is larger
comparisons = {
    "unchanged − quick default": (("quick default", "unchanged"), ("quick default", "generator")),
    "unchanged − quick default, changed pixels": (
        ("quick default", "unchanged_changed"),
        ("quick default", "generator_changed"),
    ),
    "unchanged − official": (("official", "unchanged"), ("official", "generator")),
    "unchanged − official, changed pixels": (
        ("official", "unchanged_changed"),
        ("official", "generator_changed"),
    ),
    "official − quick default": (("official", "generator"), ("quick default", "generator")),
    "unchanged − control": (
        ("control trained on the truth", "unchanged"),
        ("control trained on the truth", "generator"),
    ),
    "control fed a neutral face − control": (
        ("control fed a neutral face", "generator"),
        ("control trained on the truth", "generator"),
    ),
    "the official critic's AU MSE, edits − exact renders": (
        ("official", "critic_au_mse_edits"),
        ("official", "critic_au_mse_truth"),
    ),
}
over_seeds: dict[str, stats.Summary | None] = {}
for name, ((run_a, key_a), (run_b, key_b)) in comparisons.items():
    shared = sorted(s for s in set(seed_runs[run_a]) & set(seed_runs[run_b]))
    over_seeds[name] = (
        stats.paired_difference(
            [seed_runs[run_a][s][key_a] for s in shared],
            [seed_runs[run_b][s][key_b] for s in shared],
        )
        if shared
        else None
    )
seed_verdict = {
    name: stats.verdict_greater(d) if d is not None else "inconclusive"
    for name, d in over_seeds.items()
}
again = seed_runs["quick default"].get(cfg.seed)  # the benchmark's run of this chapter's seed
if again is not None:
    print(
        f"seed {cfg.seed}, benchmark vs this chapter: generator L1 {again['generator']:.4f} vs "
        f"{truth['generator'].mean():.4f};\n    unchanged − generator "
        f"{again['unchanged'] - again['generator']:+.4f} vs "
        f"{truth['unchanged'].mean() - truth['generator'].mean():+.4f}"
    )

# %% tags=["hide-input"]
Markdown(
    "\n".join(
        [
            f"| {steps} critic steps, paired by training seed | seeds | mean [95% CI] | > 0? |",
            "|---|---|---|---|",
        ]
        + [
            f"| {name} | {d.n if d else 0} | "
            + (f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]" if d else "not run")
            + f" | {seed_verdict[name]} |"
            for name, d in over_seeds.items()
        ]
    )
)

# %% [markdown]
# ## Which ingredient matters
#
# The ablation comes from the same benchmark. Each row is the official recipe (also with PyTorch's default
# initialisation and the gradient penalty in the critic's main step), the quick default, or the quick
# default without one ingredient (one row without two), trained on the rig pools of the seeds listed and judged on
# the same 200 held-out pairs per seed as above, so the rows are paired by seed. The ablation runs 300 critic
# steps, a quarter of this chapter's budget, to fit three seeds per row (two for the row without two ingredients).
# The first table holds every row against
# the unchanged input; the second, each row's error minus the quick default's (> 0: the row is worse, so the
# ingredient it lacks helps), over the whole image and on the changed pixels. Those tests form one family, and
# their verdicts are Holm-corrected (`stats.verdicts_holm`); the intervals shown are the unadjusted 95% ones, so a
# row can exclude zero there and still read *tie*.

# %% tags=["hide-input"]
lines = [
    "| critic steps | recipe | seeds | ground-truth L1 | unchanged − recipe | ... changed pixels |",
    "|---|---|---|---|---|---|",
]
for (n_steps, name), rows in sorted(runs.items(), key=lambda kv: kv[0][0]):
    seeds = sorted(rows)
    col = {
        k: np.array([rows[s][k] for s in seeds])
        for k in ("generator", "unchanged", "generator_changed", "unchanged_changed")
    }
    gain_all = stats.paired_difference(col["unchanged"], col["generator"])
    gain_changed_pixels = stats.paired_difference(
        col["unchanged_changed"], col["generator_changed"]
    )
    lines.append(
        f"| {n_steps} | {name} | {', '.join(map(str, seeds))} | {col['generator'].mean():.4f} | "
        f"{gain_all.format(4)} | {gain_changed_pixels.format(4)} |"
    )
ABLATION_STEPS = 300
ref = runs.get((ABLATION_STEPS, "quick default"), {})
ablation: dict[tuple[str, str], stats.Summary] = {}
for (n_steps, name), rows in sorted(runs.items()):
    shared = sorted(s for s in rows if s in ref)
    if n_steps != ABLATION_STEPS or name == "quick default" or len(shared) < 2:
        continue
    for key in ("generator", "generator_changed"):
        ablation[name, key] = stats.paired_difference(
            [rows[s][key] for s in shared], [ref[s][key] for s in shared]
        )
holm = dict(zip(ablation, stats.verdicts_holm(list(ablation.values())), strict=True))
word = {"yes": "worse", "no": "better", "inconclusive": "tie"}
names = sorted({name for name, _ in ablation})
lines += [
    "",
    f"| recipe ({ABLATION_STEPS} critic steps) | seeds | recipe − quick default | Holm | "
    "... changed pixels | Holm |",
    "|---|---|---|---|---|---|",
]
lines += [
    f"| {name} | {ablation[name, 'generator'].n} | {ablation[name, 'generator'].format(4)} | "
    f"{word[holm[name, 'generator']]} | {ablation[name, 'generator_changed'].format(4)} | "
    f"{word[holm[name, 'generator_changed']]} |"
    for name in names
]


mine = recipe.to_dict()
bench_default = [
    r for rows in runs.values() for r in rows.values() if r["variant"] == "quick default"
]
# the same model, data and training fields (the critic steps are the table's first column)
same = bool(bench_default) and all(
    r["recipe"]["model_args"] == mine["model_args"]
    and r["recipe"]["data"] == mine["data"]
    and {**r["recipe"]["train"], "rig_steps": 0} == {**mine["train"], "rig_steps": 0}
    for r in bench_default
)
lines.append(
    f"\nThe benchmark's quick default rows have this chapter's model, data and training fields: "
    f"{'yes' if same else 'no'}."
)
Markdown("\n".join(lines))

# %% [markdown]
# Read the second table by its verdicts: *worse* means the row without that ingredient is worse than the quick
# default at the Holm-corrected level, so the ingredient helps; *tie* means these seeds do not decide it. Where the
# two columns disagree, an ingredient helps the whole image (mostly the pixels the target leaves alone) or the
# edit itself (the changed pixels), not both. The sentence below is computed from the table.

# %% tags=["hide-input"]
helps = {
    key: sorted(
        (
            (ablation[name, key].mean, name)
            for name in names
            if holm[name, key] == "yes" and name.startswith("quick default − ")
        ),
        reverse=True,
    )
    for key in ("generator", "generator_changed")
}
reading = [
    f"{where}: "
    + (
        ", ".join(
            f"{name.removeprefix('quick default − ')} (+{mean:.4f})" for mean, name in helps[key]
        )
        if helps[key]
        else "no single ingredient decided"
    )
    for key, where in (
        (
            "generator",
            "Ingredients whose removal is worse at the Holm-corrected level, whole image",
        ),
        ("generator_changed", "on the changed pixels"),
    )
]
Markdown("; ".join(reading) + ".")

# %% [markdown]
# The official run's critic gives its own reading of the same pairs: the AU error it regresses from that
# generator's edits, and from the *true* renders of the same targets. A critic that finds the fakes closer to the
# targets than the truth has been fooled, and its AU error says nothing about the edits. (The quick default reads
# its edits with a frozen regressor instead, which the generator cannot train; the ablation measures whether that
# matters at this budget.)

# %%
# per pair: the critic's AU mean squared error to the target, on the edit and on the exact render
reading = critic_au_mse(trainer_official.D, G_official, test_pairs, n_pairs=200, seed=cfg.seed)
critic_on_fake, critic_on_truth = float(reading["edits"].mean()), float(reading["truth"].mean())
# > 0: the edits read further from the targets
critic_gap = stats.paired_difference(reading["edits"], reading["truth"])
print(
    f"critic AU MSE to the targets: edits {critic_on_fake:.4f}, on the exact renders "
    f"{critic_on_truth:.4f}"
)
print(f"edits - exact renders, paired over pairs: {critic_gap.format(4)}")

# %% [markdown]
# The training is float-chaotic, so these numbers are not checked digit by digit; they are compared with committed
# values whose tolerances come from runs of this chapter under the native, AVX2 and baseline CPU kernel sets
# (`notebooks/expected/21_ganimation_training.json`); each band excludes the unchanged input's score, so a
# generator that fell back to it fails the check. The parameter counts, shapes and run sizes above are exact.

# %%
# NBVAL_CHECK_OUTPUT
print(
    expected.check(
        "21_ganimation_training",
        {
            "ground-truth L1, generator": float(truth["generator"].mean()),
            "ground-truth L1, generator, changed pixels": float(truth["generator_changed"].mean()),
            "ground-truth L1, official recipe": float(truth_official["generator"].mean()),
            "ground-truth L1, unchanged input": float(truth["unchanged"].mean()),
            "ground-truth L1, trained on the truth": float(truth_paired["generator"].mean()),
        },
        constants={
            "ground-truth L1, generator": float(truth["unchanged"].mean()),
            "ground-truth L1, generator, changed pixels": float(truth["unchanged_changed"].mean()),
            "ground-truth L1, official recipe": float(truth["unchanged"].mean()),
            "ground-truth L1, trained on the truth": float(truth["unchanged"].mean()),
        },
    )
)

# %% [markdown]
# ## Samples
#
# Two test faces edited towards the basic prototypes at intensity 4 (columns: input, then angry, disgust, fear,
# happy, sad, surprise, neutral). For each face: GANimation's edits, the control's, the rig's exact renders of the
# same targets, and GANimation's attention masks.

# %% mystnb={"figure": {"name": "fig-21-ganimation-training-2", "caption": "Small GANimation after the quick run. For each of two test faces: GANimation's edits (first row), the control's edits (the same network trained on the exact pairs, second row), the rig's exact renders of the same targets (third row) and GANimation's attention masks (fourth row; dark = painted by the colour head). The first column is the input."}}
G.eval()
source = test_pairs.images[:2].to(cfg.device)
protos = np.stack([facs.prototype(e, 4.0) for e in facs.EXPRESSIONS])
targets = torch.tensor(protos / facs.AU_MAX, dtype=torch.float32)
tiles = []
with torch.no_grad():
    exact = rig(torch.tensor(protos, dtype=torch.float32)) * 2 - 1
    for img in source:
        batch_in = img[None].expand(len(targets), -1, -1, -1)
        edits, _, masks = G(batch_in, targets.to(cfg.device))
        control = G_paired.eval()(batch_in, targets.to(cfg.device))[0]
        blank = torch.ones_like(img)[None]
        tiles += [
            img[None],
            edits.cpu(),
            blank,
            control.cpu(),
            blank,
            exact,
            blank,
            masks.expand(-1, 3, -1, -1).cpu() * 2 - 1,
        ]
grid = make_grid(torch.cat(tiles).cpu() * 0.5 + 0.5, nrow=8, padding=1)
fig, ax = plt.subplots(figsize=(7, 7.2))
ax.imshow(grid.permute(1, 2, 0).clamp(0, 1).numpy())  # what imshow shows, without its warning
rows = ["GANimation", "control", "exact", "mask"] * 2
ax.set_yticks([1 + (size + 1) * r + size / 2 for r in range(len(rows))], rows, fontsize=10)
columns = ["input", *facs.EXPRESSIONS]
ax.set_xticks([1 + (size + 1) * c + size / 2 for c in range(8)], columns, fontsize=9)
ax.tick_params(length=0)
for spine in ax.spines.values():
    spine.set_visible(False)
plt.show()

# %% [markdown]
# ## Training on real faces
#
# With EmotioNet or CelebA faces and their OpenFace AUs (a folder `imgs/` with `aus_openface.pkl`, per-image
# OpenFace CSVs or one CSV; layout in `affect_lib.data.emotionet`),
# `affect-lib train ganimation --data-dir DATA --profile paper` runs the official schedule from the same recipe as
# this chapter (`affect_lib.recipes.ganimation`: 128 px, batch 25, 20 + 10 epochs of linear decay). It writes the
# official per-epoch `<epoch>_net_gen.pth` and `<epoch>_net_dis.pth` files and continues an interrupted run with
# `--resume`. Real faces have no exact renders of their targets, so such a run is judged by an independent AU
# regressor or by people, not by this chapter's ground-truth line.
#
# ## Loading a real checkpoint
#
# If you have donydchen's or EvoGAN's `30_net_gen.pth` (and `30_net_dis.pth`),
# `gan.load_checkpoint(path, gan.Generator(layout="replicate"))` and `gan.load_checkpoint(path, gan.Critic())` load
# them: the generator's `model.*`, `color_top.*`, `au_top.*` and `conv_block` become this module's `main.*`,
# `img_reg.*`, `attetion_reg.*` and `main`, the critic's `model.*`, `dis_top.*` and `aus_top.*` become `main.*`,
# `conv1.*` and `conv2.*`; official GANimation checkpoints load with `layout="official"`. Mismatched keys or shapes
# raise a `ValueError` that lists them. The generator can then replace the rig in the search chapter, with images
# mapped to $[-1, 1]$ and genes to AUs / 5.
#
# ## Claims and measurements

# %% tags=["hide-input"]
au_early, au_late = summary["critic_au_mse"]
c_early, c_late = summary["cycle_l1"]


critic_key = "the official critic's AU MSE, edits − exact renders"


def seed_text(name: str) -> str:
    """A comparison over training seeds as the claims table prints it."""
    d = over_seeds[name]
    return d.format(4) if d is not None else "(not run at this profile's settings)"


claims_table(
    "21_ganimation_training",
    cfg.profile,
    [
        (
            "the critic learns to regress AUs from images",
            "AU-conditioned training (GANimation)",
            f"critic AU MSE on the training renders {au_early:.4f} → {au_late:.4f} (one run)",
            "n/a",
        ),
        (
            "the generator's edits beat leaving the face unchanged",
            "GANimation edits towards any AU target",
            f"quick default, unchanged − generator over training seeds "
            f"{seed_text('unchanged − quick default')}; this run: generator "
            f"{truth['generator'].mean():.4f}, unchanged {truth['unchanged'].mean():.4f} "
            f"(over its test pairs {gain.format(4)})",
            seed_verdict["unchanged − quick default"],
        ),
        (
            "... on the pixels the target changes",
            "(the edit itself, where the target AUs move the face)",
            "over training seeds "
            f"{seed_text('unchanged − quick default, changed pixels')}; this run: generator "
            f"{truth['generator_changed'].mean():.4f}, unchanged "
            f"{truth['unchanged_changed'].mean():.4f} "
            f"(over its test pairs {gain_changed.format(4)})",
            seed_verdict["unchanged − quick default, changed pixels"],
        ),
        (
            "... with the official recipe",
            "(the official code's objective and initialisation at this budget)",
            "unchanged − generator over training seeds "
            f"{seed_text('unchanged − official')}, on the changed pixels "
            f"{seed_text('unchanged − official, changed pixels')}; this run: generator "
            f"{truth_official['generator'].mean():.4f} (over its test pairs "
            f"{gain_official.format(4)})",
            seed_verdict["unchanged − official"],
        ),
        (
            "the quick default's edits beat the official recipe's",
            "(not in the paper: the named departures)",
            "official − quick default over training seeds "
            f"{seed_text('official − quick default')}; "
            f"this run over its test pairs {over_official.format(4)}",
            seed_verdict["official − quick default"],
        ),
        (
            "... a generator of the same size trained on the exact pairs (control)",
            "(not in the paper: this architecture and budget can fit the rig's renders)",
            "unchanged − control over training seeds "
            f"{seed_text('unchanged − control')}; this run: "
            f"control {truth_paired['generator'].mean():.4f}, unchanged "
            f"{truth_paired['unchanged'].mean():.4f}",
            seed_verdict["unchanged − control"],
        ),
        (
            "... and on the rig the edits need the input image",
            "(not in the paper: what the control's win shows)",
            f"fed a neutral face − control over training seeds "
            f"{seed_text('control fed a neutral face − control')}; this run "
            f"{truth_render['generator'].mean():.4f} vs {truth_paired['generator'].mean():.4f}",
            seed_verdict["control fed a neutral face − control"],
        ),
        (
            "the critic's AU error measures the edits",
            "AU loss on edited faces falls",
            f"official run's critic AU MSE, edits − exact renders over training seeds "
            f"{seed_text(critic_key)}; this run: edits "
            f"{critic_on_fake:.4f}, exact renders {critic_on_truth:.4f}",
            seed_verdict[critic_key],
        ),
        (
            "the cycle loss keeps identity",
            "L1 cycle loss, weight 10",
            f"cycle L1 {c_early:.4f} → {c_late:.4f} (one run)",
            "n/a",
        ),
    ],
    rule=stats.VERDICT_RULE + " The ground-truth, control and critic rows are judged"
    " over training seeds: the benchmark's runs of this chapter's recipes at this"
    " budget, each scored on its own seed's 200 held-out pairs, paired by seed; this"
    " chapter's own run is shown beside them with its interval over test pairs, which"
    " holds the test pairs' spread, not the training seeds'. The critic row reads *yes*"
    " when the edits read further from their targets than the exact renders."
    " Changed pixels: where the exact render differs from the input by more than 0.02"
    " (in [0, 1] image units) in any channel; the unchanged input errs most"
    " there by construction, so that row asks whether the edit moves those pixels"
    " towards the truth, while the whole-image row also charges any damage elsewhere."
    " Each row is its own question at 95%, with no correction across rows."
    " Single-run loss curves get n/a.",
)

# %%
# NBVAL_CHECK_OUTPUT
print(claims.verdicts("21_ganimation_training"))

# %% [markdown]
# **What the table says.** The ground-truth rows are this chapter's answer, read over training seeds; the sentences
# below are generated from their verdicts. The whole-image score is dominated by the pixels the target leaves alone,
# which an editor must keep exactly; the changed pixels measure the edit itself. The ablation's sentence above says
# which departure from the official code buys what.

# %% tags=["hide-input"]
says = {
    "yes": "beat the unchanged input",
    "no": "are further from the truth than the unchanged input",
    "inconclusive": "are not told apart from the unchanged input by these seeds",
}
Markdown(
    "At this budget, over the whole image the quick default's edits "
    f"{says[seed_verdict['unchanged − quick default']]}; on the pixels the target changes they "
    f"{says[seed_verdict['unchanged − quick default, changed pixels']]}. The official recipe's "
    f"edits {says[seed_verdict['unchanged − official']]} over the whole image, and on the changed "
    f"pixels they {says[seed_verdict['unchanged − official, changed pixels']]}. "
    "The quick default is "
    + {"yes": "closer to the truth than", "no": "further from the truth than"}.get(
        seed_verdict["official − quick default"], "not told apart from"
    )
    + " the official recipe. The control's edits "
    + says[seed_verdict["unchanged − control"]]
    + "; the same network fed a neutral face in place of every input scores "
    + {
        "yes": "worse, so on the rig the edits need the input image",
        "no": "better, so on the rig the input image is not needed: "
        "the target AUs alone fix the answer",
    }.get(seed_verdict["control fed a neutral face − control"], "no differently at these seeds")
    + "."
)

# %% [markdown]
# The control rows hold the reading to its limits. The control is the same architecture with the same initial
# weights, trained for as many generator steps on the exact answer, a loss GANimation never has (its AU term is
# read by a network, its cycle term only asks that a second edit undo the first). Its win shows that this
# architecture and budget can represent the rig's target renders, not that they can learn to edit a face: on the
# rig, where every face is the same identity, the target AUs alone fix the answer, and the row with the neutral
# face measures how much of the control's score that shortcut explains. Whether GANimation's official schedule
# edits real faces well cannot be judged by ground truth at all (*Training on real faces* below).
#
# ## Exercises
#
# 1. *(30 min, medium)* Count the generator's parameters by hand from the architecture table and compare with the
#    printed number.
#
# ```{admonition} Solution
# :class: dropdown
# Convs
#
# $$
# \begin{aligned}
# &20\cdot64\cdot49 + 64\cdot128\cdot16\\
# &\quad + 128\cdot256\cdot16 + 12\cdot256^2\cdot9\\
# &\quad + 256\cdot128\cdot16 + 128\cdot64\cdot16,
# \end{aligned}
# $$
#
# heads $64\cdot3\cdot49 + 64\cdot49$, plus two affine parameters per instance-norm channel; the unit test
# `test_paper_size_shapes_and_parameter_count` does exactly this sum.
# ```
#
# 2. *(15 min, easy)* Train the official recipe without the attention terms,
#    `train_on_rig(official.replace(**{"train.weights": "replicate"}), train_pairs)` (donydchen's weights:
#    $\lambda_A = \lambda_{TV} = 0$, the AU weight 160 on the plain MSE). What happens to the mask?
#
# ```{admonition} Solution
# :class: dropdown
# The penalty $\lambda_A \bar A$ pushes $A$ *down*: it stops the mask from saturating at 1, where the generator
# keeps every input pixel and does nothing, which satisfies the adversarial and cycle losses trivially. Without it,
# nothing but the AU term opposes that collapse, so the mean attention in `history["attention_mean"]` drifts
# towards 1 and the edits fade; the TV term only keeps the mask smooth.
# ```
#
# 3. *(10 min, easy)* Score the untrained generator (`gan.Generator(ngf=16, n_res=2)`) with `ground_truth_l1`. Why is
#    it far worse than the unchanged input?
#
# ```{admonition} Solution
# :class: dropdown
# Its attention is about ½ everywhere and its colour head about 0, so the output is roughly half the input: every
# pixel is wrong. Training first has to learn $A \approx 1$ on the unchanged regions before edits can pay off.
# ```
#
# ```{admonition} Re-run this chapter
# :class: tip
# `make test` re-executes it and checks the
# parameter counts, shapes and run sizes exactly, and the ground-truth errors against their committed tolerances.
# ```
