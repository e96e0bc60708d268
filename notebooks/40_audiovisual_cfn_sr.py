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
# # Audio-visual emotion recognition: the RAVDESS pipeline and CFN-SR
#
# CFN-SR (Fu et al., 2021, "A cross-modal fusion network based on self-attention and residual structure") {cite}`fu2021cfnsr` classifies
# the 8 emotions of RAVDESS {cite}`livingstone2018ravdess` from a speaker's face video and voice. A 3D ResNeXt-50 {cite}`hara2018resnext3d` encodes 30 face crops, a small 1D
# CNN encodes the MFCC of the voice (librosa {cite}`mcfee2015librosa`), and a *cross-modal block* lets the audio decide where to look in the video
# feature map: a Transformer summarises the audio, additive attention weights the video positions, and a residual
# keeps the original video features. The fused video vector is concatenated ("spliced") with the audio features.
# The paper reports **75.76 %** accuracy with **26.30M** parameters, ahead of MSAF {cite}`su2020msaf` (74.86 %) and the late-fusion and
# concatenation baselines.
#
# **Learning goals**
#
# - Know the RAVDESS conventions (the 7-field file names, 24 actors) and why every split must be *by actor*.
# - Run the real preprocessing (decode, uniform frames, face detection, crop, MFCC from the decoded track) on files
#   in RAVDESS's format, and cache it.
# - Build CFN-SR and its baselines from the same branches, count their parameters against the paper's table, and
#   measure the effect of the cross-modal block and of its residual.
# - See why the released protocol (best epoch chosen on the test fold, 5 folds that never test actors 21-24) gives
#   higher numbers than a proper train / validation / test split.
#
# ```{note}
# RAVDESS (CC BY-NC-SA) cannot be downloaded here, so the quick profile writes a **synthetic stand-in corpus** in
# RAVDESS's exact format: real `.mp4` files (H.264 + AAC) and `.wav` files with RAVDESS names and folders, whose
# faces come from Part II's FACS rig and whose voices are synthesised with emotion-dependent prosody. Every number
# in this chapter's quick run comes from that stand-in, never from RAVDESS.
# ```

# %% tags=["parameters"]
profile: str = (
    "quick"  # "quick": synthetic RAVDESS-format stand-in; "paper": real RAVDESS via data_dir
)
seed: int = 0
device: str = "auto"  # "auto" picks CUDA when present
data_dir: str | None = (
    None  # the paper profile: a folder with RAVDESS's Actor_01 ... Actor_24 video folders
)

# %%
import textwrap
import warnings

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Markdown
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, confusion_matrix
from torch.utils.data import DataLoader, Subset

import affect_lib
from affect_lib import expected, recipes
from affect_lib.claims import claims_table
from affect_lib.data.av_preprocess import decode_clip, preprocess_corpus
from affect_lib.data.ravdess import (
    EMOTIONS,
    RavdessClips,
    actor_folds,
    list_clips,
    parse_ravdess_name,
    proper_folds,
    proper_split,
    released_folds,
)
from affect_lib.data.synthetic_ravdess import (
    PAIRS,
    accuracy_ceilings,
    standin_folder,
    write_synthetic_ravdess,
)
from affect_lib.metrics import classification_metrics
from affect_lib.models.cfn_sr import av_concat, av_late_fusion, cfn_sr, count_parameters
from affect_lib.models.msaf import msaf
from affect_lib.pretrain import initialise
from affect_lib.progress import progress
from affect_lib.stats import (
    MIN_SEEDS,
    VERDICT_RULE,
    paired_difference,
    summarize,
    verdict_greater,
    verdict_within,
    welch_difference,
)
from affect_lib.train import Trainer

cfg = affect_lib.setup(
    profile, seed, device, data_dir, dataset="RAVDESS", required=("Actor_*",)
)
print(cfg)

# %% [markdown]
# ## RAVDESS in one paragraph
#
# The audio-visual speech part of RAVDESS has 1,440 clips: 24 actors (odd ids male, even female) say two
# statements ("Kids are talking by the door", "Dogs are sitting by the door") twice, in 8 emotions; every emotion but
# neutral comes at two intensities. The file name encodes all of it in seven two-digit fields
# `modality-channel-emotion-intensity-statement-repetition-actor`:

# %%
# NBVAL_CHECK_OUTPUT
example = parse_ravdess_name("01-01-06-02-01-02-17.mp4")
print(textwrap.fill(str(example), 100))  # outputs stay within the column
print(
    f"label {example.label} = {example.emotion_name}; "
    f"actor {example.actor} is {'fe' * example.female}male"
)
try:
    parse_ravdess_name("01-01-01-02-01-01-03.mp4")
except ValueError as err:
    print(textwrap.fill(f"rejected: {err}", 100))

# %% [markdown]
# ## The corpus
#
# In the quick profile we write the stand-in corpus: a handful of actors, all 8 emotions, both intensities, both
# statements, one repetition, clips of 2 s at 8 frames/s. Each actor is the rig's face with its own tint, size,
# placement and expressiveness; the expression follows an onset-apex-offset trajectory of the emotion's FACS
# prototype (calm is a faint smile, a soft neutral), the mouth opens with the syllables, and the voice has an
# emotion-dependent pitch level, contour, energy, brightness and tempo on top of the actor's own pitch, plus noise
# at -30 dB. Files are kept in the cache, so re-running the chapter does not write them again. In the paper profile
# the same code reads your copy of RAVDESS.
#
# **A part of the stand-in needs both modalities at once.** If every emotion showed itself in the face and in the
# voice, a model could read it from either one, and nothing would reward cross-modal attention. So four emotions form
# two *congruence pairs*, neutral/calm and happy/surprised: a take of the pair's first emotion shows the face and
# the voice of the same member of the pair (both neutral, or both calm, at random), a take of the second shows one
# member's face and the other's voice. Either modality tells the pair, but which emotion of the pair it is depends
# only on whether face and voice *agree*, an interaction. The other four emotions (sad, angry, fearful, disgust)
# show themselves in both modalities. This fixes what any classifier can reach, exactly, from the label frequencies
# (in expectation over the random face and voice draws; on a small test fold the realised ceiling can be a few
# points higher):
#
# - a classifier that sees the face and the voice together: 100% (the Bayes-optimal accuracy given what the face
#   and the voice show; an upper bound for any model of the clips, whose rendering blurs the cues);
# - a classifier whose class scores are a *sum* of a face term and a voice term (a linear layer on concatenated
#   unimodal features, as in *concat*, or averaged unimodal logits, as in *late fusion*): it can get at most three
#   of the four face/voice combinations of a pair right (the fourth would need the two terms to add up both ways);
# - a classifier of one modality: one emotion of each pair at best.
#
# So a model above the additive ceiling must have combined the modalities multiplicatively, as the cross-modal
# block can (the audio re-weights the video features). A win on this stand-in shows that a model learnt this
# interaction from a few dozen clips; it does not show that real RAVDESS needs it.

# %%
recipe = recipes.get(
    "cfn_sr", "ravdess", cfg.profile
)  # every run setting: `affect-lib train --print-recipe`
if cfg.quick:
    root = standin_folder(cfg.seed, **recipe.data.standin_kwargs())
    write_synthetic_ravdess(root, **recipe.data.standin_kwargs(), seed=cfg.seed)
else:
    root = cfg.data_dir
prep = (
    recipe.data.preprocess_config()
)  # paper: the released 30 frames of 224², MFCC 13 x 212; quick: 8 x 32²
clips = list_clips(root)

# %%
# NBVAL_CHECK_OUTPUT
names = [parse_ravdess_name(p) for p in clips]
print(
    f"{len(clips)} full-AV speech clips from {len({n.actor for n in names})} actors "
    "under Actor_XX/ folders"
)
per_class = {e: sum(n.emotion_name == e for n in names) for e in EMOTIONS}
print(textwrap.fill(f"per class: {per_class}", 100))
print("first files:", ", ".join(p.name for p in clips[:3]))
ceilings = accuracy_ceilings([n.emotion_name for n in names]) if cfg.quick else None
if ceilings:
    print(f"congruence pairs: {', '.join('/'.join(p) for p in PAIRS)}")
    print(
        "best reachable accuracy: "
        + ", ".join(f"{kind} {100 * value:.1f}%" for kind, value in ceilings.items())
    )

# %% [markdown]
# ## Preprocessing: the same pipeline for real and synthetic clips
#
# For every clip, `affect_lib.data.av_preprocess` decodes the video and audio with PyAV, picks `n_frames`
# frames spread uniformly over the clip, finds the face with OpenCV's Haar cascade, cuts a square crop around it
# (a frame without a detection takes the box of the nearest frame of the same clip that has one; only a clip
# without any detection is centre-cropped; both are counted), resizes it, and computes the MFCC with librosa from
# the *decoded* AAC track (offset and duration as released, scaled down for the 2-s stand-in clips; audio that ends
# inside the window is zero-padded and counted). The released
# code instead squashed the 16:9 frame to 224² before cropping (`squash_first=True`) and used OpenFace landmarks
# shipped with RAVDESS; we use a detector that ships in a wheel. Results are cached per clip.

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    corpus = preprocess_corpus(clips, prep)
print(f"video {corpus.frames.shape} uint8, MFCC {corpus.mfcc.shape}")
print(
    f"of {corpus.n_frames_total} frames, {corpus.missed} took a neighbour's face box and "
    f"{corpus.fallbacks} were centre-cropped; {corpus.padded} clips' audio was padded"
)
for w in caught:
    print(textwrap.fill(f"warning: {w.message}", 88))

# %% mystnb={"figure": {"name": "fig-40-audiovisual-cfn-sr-1", "caption": "Top, a decoded frame of one clip; below, for one clip per emotion, the face crop of the middle sampled frame and the MFCC (13 coefficients over time) of the same clip."}}
raw = decode_clip(clips[len(clips) // 2])
picked = [parse_ravdess_name(p).emotion for p in clips]
show = [picked.index(e) for e in range(1, 9)]
fig = plt.figure(figsize=(7.5, 9))
grid = fig.add_gridspec(5, 4, height_ratios=[1.6, 1, 0.8, 1, 0.8])
top = fig.add_subplot(grid[0, 1:3])
top.imshow(raw.frames[len(raw.frames) // 2])
top.set_title("a decoded frame", fontsize=10)
top.set_xticks([])
top.set_yticks([])
for k, i in enumerate(show):
    crop_ax = fig.add_subplot(grid[1 + 2 * (k // 4), k % 4])
    mfcc_ax = fig.add_subplot(grid[2 + 2 * (k // 4), k % 4])
    crop_ax.imshow(corpus.frames[i, prep.n_frames // 2])
    crop_ax.set_title(EMOTIONS[k], fontsize=10)
    mfcc_ax.imshow(corpus.mfcc[i], aspect="auto", origin="lower", cmap="magma")
    for ax in (crop_ax, mfcc_ax):
        ax.set_xticks([])
        ax.set_yticks([])
    if k % 4 == 0:
        crop_ax.set_ylabel("face crop", fontsize=10)
        mfcc_ax.set_ylabel("MFCC", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The model and its parameter count
#
# The video branch is a 3D ResNeXt-50 (cardinality 32) whose last stage gives a feature map
# $X_V \in \mathbb R^{C \times S \times H \times W}$ (2048 x 2 x 7 x 7 for 30 frames of 224²); the audio branch gives
# $X_A \in \mathbb R^{64 \times 26}$. A causal Transformer over $X_A$ yields a query $q$ (its last step), and the
# cross-modal block weights every video position:
#
# $$
# \begin{aligned}
# e_{s,h,w} &= w^\top \tanh\!\left(W_V x_{s,h,w} + W_A q\right),\\
# a_{s,h,w} &= \operatorname{softmax}_{h,w}\, e_{s,h,w},\\
# \hat X_V &= X_V \odot a + X_V .
# \end{aligned}
# $$ (eq-cfnsr-block)
#
# The classifier is one linear layer on $[\operatorname{avgpool}(\hat X_V), \operatorname{flatten}(X_A)]$, whose
# width (3712 in the paper) is computed from the input sizes. Two baselines come from the same branches: *concat*
# drops the block (the paper's ablation without it), *late fusion* averages two unimodal classifiers. The second
# ablation keeps the block but drops its residual, so that {eq}`eq-cfnsr-block` becomes
# $\hat X_V = X_V \odot a$. **MSAF** {cite}`su2020msaf`, whose protocol and checkpoints the release inherits, is
# the fourth comparison: its split-attention block squeezes both branches' channels into one joint descriptor and
# re-weights each branch's channels from it (a softmax over the modalities), so, like the cross-modal block and
# unlike concat and late fusion, it can combine the modalities multiplicatively. The paper profile's counts do not
# depend on the data, so we compute them here in every profile.

# %%
# NBVAL_CHECK_OUTPUT
paper_counts = {
    "CFN-SR": 26.30,
    "late fusion (averaging)": 25.92,
    "concat + FC": 26.87,
    "MSAF": 25.94,
}
builders = {
    "CFN-SR": cfn_sr,
    "late fusion (averaging)": av_late_fusion,
    "concat + FC": av_concat,
    "MSAF": msaf,
}
counts = {
    name: count_parameters(build()) / 1e6 for name, build in builders.items()
}  # paper sizes
print(f"{'model':26s} {'paper table':>12s} {'this build':>11s}")
for name in builders:
    print(f"{name:26s} {paper_counts[name]:>11.2f}M {counts[name]:>10.2f}M")
print(
    f"{cfg.profile} profile CFN-SR: {count_parameters(recipes.build_model(recipe)):,} parameters"
)

# %% [markdown]
# CFN-SR, late fusion and MSAF agree with the paper's table. "Concat + FC" here is the block-free ablation, one linear
# layer on 3712 features; the table's 26.87M row comes from MSAF, whose concatenation baseline has a larger head.
#
# ## Training: proper split, ablations and baselines
#
# All models are trained with the shared `affect_lib.train` trainer (Adam, lr $10^{-3}$, batch 16, as
# released), select their epoch on the validation actors and report the test actors once. In the quick profile the
# 7 stand-in actors form 3 blocks of 2 (actor 7 is always in training, like actors 21-24 in the release); the
# proper split of fold $i$ tests block $i$, validates on block $i+1$ and trains on the rest.

# %%
model_sizes = (
    recipe.model_kwargs()
)  # paper: channels-last (NDHWC), faster 3D convolutions, same numbers
dataset = RavdessClips(corpus.frames, corpus.mfcc, corpus.labels)
augmented = RavdessClips(
    corpus.frames,
    corpus.mfcc,
    corpus.labels,
    augment=recipe.data.augment,
    augment_scale=recipe.data.augment_scale,
)


def train_and_test(
    build,
    split,
    *,
    seed: int,
    select_on_test: bool = False,
    init: str | None = None,
    **options,
):
    """Train ``build(**model_sizes, **options)`` on ``split`` from ``seed``, from scratch or
    from unimodal checkpoints (``init``, default the recipe's); the test actors are watched
    every epoch (never used for selection unless ``select_on_test``, the released protocol).
    Returns the trainer and test (predictions, targets)."""
    train_idx, valid_idx, test_idx = split.indices(corpus.actors)
    if (
        select_on_test
    ):  # the released protocol: the best epoch is chosen on the test fold itself
        valid_idx = test_idx
    run = recipe.replace(**{"train.init": init}) if init else recipe
    batch, eval_batch = run.train.batch_size, run.train.eval_batch_size
    loaders = {
        "train": DataLoader(
            Subset(augmented, train_idx),
            batch_size=batch,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        ),
        "valid": DataLoader(Subset(dataset, valid_idx), batch_size=eval_batch),
    }
    test = DataLoader(Subset(dataset, test_idx), batch_size=eval_batch)
    affect_lib.seed_everything(seed)
    model = build(**model_sizes, **options)
    # "unimodal": a video-only and an audio-only classifier are trained on this fold first
    # (the same loaders) and their branches copied in; "scratch" leaves the model as built
    initialise(model, run, loaders, seed=seed, device=cfg.device, progress=False)
    config = recipes.train_config(run, device=cfg.device, seed=seed, progress=False)
    trainer = Trainer(model, F.cross_entropy, config, metrics_fn=classification_metrics)
    loaders["train"].generator.manual_seed(
        seed
    )  # the fusion run shuffles the same way after a pretraining
    trainer.fit(loaders["train"], loaders["valid"], watch=test)
    outputs, targets = trainer.predict(test)
    return trainer, outputs.argmax(1).numpy(), targets.numpy()


if cfg.quick:
    k_folds = MIN_SEEDS
    proper = proper_folds(corpus.actors, k_folds)
    released = actor_folds(corpus.actors, k_folds)
    replicates = [
        (proper[i], cfg.seed + i) for i in range(k_folds)
    ]  # one seed per fold
else:
    k_folds = 5
    proper = [proper_split(corpus.actors)]
    released = released_folds(corpus.actors)
    replicates = [
        (proper[0], cfg.seed + r) for r in range(MIN_SEEDS)
    ]  # the fixed split, several seeds
for i, split in enumerate(proper):
    print(
        f"proper fold {i}: train {split.train}, valid {split.valid}, test {split.test}"
    )

# %% [markdown]
# A single training run is not evidence: on a few dozen test clips, one run's accuracy moves by several points with
# the seed, and even with the CPU's instruction set (which changes float rounding). Every model is therefore
# trained on
# 3 replicates (quick profile: the 3 proper folds, each with its own seed; paper profile: the
# fixed split with 3 seeds), and every comparison is a *paired* difference over those replicates, judged by the
# book's rule (below the claims table): it counts only when its 95% interval excludes zero.

# %%
variants = {
    "CFN-SR": (cfn_sr, {}),
    "w/o residual": (cfn_sr, {"residual": False}),
    "w/o cross-modal block (concat)": (av_concat, {}),
    "late fusion (averaging)": (av_late_fusion, {}),
    "MSAF (split attention)": (msaf, {}),
}
accuracy = {name: [] for name in variants}
first = {}  # the first replicate's predictions and history, for the figure
proper_curves = []  # CFN-SR's per-epoch test accuracy on each replicate (watched, not selected on)
jobs = [(name, r) for name in variants for r in range(len(replicates))]
for name, r in progress(jobs, desc="trainings", total=len(jobs)):
    build, options = variants[name]
    split, seed = replicates[r]
    trainer, pred, true = train_and_test(build, split, seed=seed, **options)
    accuracy[name].append(accuracy_score(true, pred))
    if r == 0:
        first[name] = {"pred": pred, "true": true, "history": trainer.history}
    if (
        name == "CFN-SR"
    ):  # the test accuracy of every epoch, for the protocol breakdown below
        proper_curves.append(trainer.history.columns()["watch_accuracy"])
summary = {name: summarize(values) for name, values in accuracy.items()}

# %%
heads = " | ".join(
    f"fold {i} (seed {s})" if cfg.quick else f"seed {s}"
    for i, (_, s) in enumerate(replicates)
)
rows = [
    f"| model | {heads} | mean ± std [95% interval], points | of joint ceiling |",
    "|---" * (len(replicates) + 3) + "|",
]
for name, values in accuracy.items():
    cells = " | ".join(f"{100 * v:.1f}" for v in values)
    share = f"{summary[name].mean / ceilings['joint']:.2f}" if ceilings else "n/a"
    rows.append(
        f"| {name} | {cells} | {summary[name].format(1, scale=100)} | {share} |"
    )
comparisons = {
    "cross-modal block vs concatenation": "w/o cross-modal block (concat)",
    "residual vs no residual": "w/o residual",
    "CFN-SR vs late fusion": "late fusion (averaging)",
    "CFN-SR vs MSAF": "MSAF (split attention)",
}
differences = {
    label: paired_difference(accuracy["CFN-SR"], accuracy[other])
    for label, other in comparisons.items()
}
rows += [
    "",
    "| CFN-SR minus ... (paired) | difference, points | verdict |",
    "|---|---|---|",
]
rows += [
    f"| {label} | {d.format(1, scale=100)} | {verdict_greater(d)} |"
    for label, d in differences.items()
]
print(f"{cfg.profile} profile, test accuracy (%); chance 12.5%")
if ceilings:
    print(
        f"ceilings: joint {100 * ceilings['joint']:.1f}%, additive (concat, late fusion) "
        f"{100 * ceilings['additive']:.1f}%, one modality {100 * ceilings['unimodal']:.1f}%"
    )
Markdown("\n".join(rows))

# %% [markdown]
# The single runs above move with the machine; their means over the replicates are checked against committed
# values with tolerances of four standard errors of the mean (`notebooks/expected/40_audiovisual_cfn_sr.json`
# gives each tolerance and its basis). The parameter counts, the corpus counts and the batch-coupling check are
# exact.

# %%
checked = {f"{name}: mean test accuracy": summary[name] for name in variants}

# %% mystnb={"figure": {"name": "fig-40-audiovisual-cfn-sr-2", "caption": "Left, the confusion matrix of CFN-SR on the test actors of the first replicate (rows true, columns predicted); right, the validation accuracy per epoch of the four models on that replicate."}}
full = first["CFN-SR"]
cm = confusion_matrix(full["true"], full["pred"], labels=range(8))
fig, (ax0, ax1) = plt.subplots(
    1, 2, figsize=(7, 3.4), gridspec_kw={"width_ratios": [1.1, 1]}
)
ConfusionMatrixDisplay(cm, display_labels=EMOTIONS).plot(
    ax=ax0, colorbar=False, xticks_rotation=60
)
ax0.set_title("CFN-SR, first replicate", fontsize=10)
for name, r in first.items():
    cols = r["history"].columns()
    _ = ax1.plot(cols["epoch"], 100 * cols["valid_accuracy"], label=name)
ax1.set(xlabel="epoch", ylabel="validation accuracy (%)")
ax1.set_title("selection on validation actors", fontsize=10)
ax1.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Fine-tuning from unimodal checkpoints, as released
#
# The release does not train CFN-SR from scratch. In each fold it loads a video-only 3D ResNeXt and an MFCC-only CNN
# trained on that fold first (MSAF's per-fold checkpoints), copies their branches into the fusion model and
# fine-tunes everything. `affect_lib.pretrain` does the same (`train.init = "unimodal"`, the paper profile's
# default; `"scratch"` is an option): both unimodal models train on the fold's training actors and select their
# epoch on its validation actors, then CFN-SR starts from their branches. The quick profile trains from scratch
# above, so here it fine-tunes on the same replicates and compares (the paper profile does the reverse).

# %%
other_init = "unimodal" if recipe.train.init == "scratch" else "scratch"
other_accuracy = []
for r in progress(range(len(replicates)), desc=f"CFN-SR, init {other_init}"):
    split, seed = replicates[r]
    _, pred, true = train_and_test(cfn_sr, split, seed=seed, init=other_init)
    other_accuracy.append(accuracy_score(true, pred))
by_init = {recipe.train.init: accuracy["CFN-SR"], other_init: other_accuracy}
init_gain = paired_difference(by_init["unimodal"], by_init["scratch"])
checked[f"CFN-SR init {other_init}: mean test accuracy"] = summarize(other_accuracy)
rows = [f"| CFN-SR, init | {heads} | mean ± std [95% interval], % |", "|---" * 5 + "|"]
for init, values in by_init.items():
    cells = " | ".join(f"{100 * v:.1f}" for v in values)
    rows.append(f"| {init} | {cells} | {summarize(values).format(1, 100)} |")
rows.append(
    f"\nFine-tuned minus from scratch: {init_gain.format(1, 100)} points (paired); "
    f"verdict (fine-tuning helps): **{verdict_greater(init_gain)}**."
)
Markdown("\n".join(rows))

# %% [markdown]
# ## Per-fold results: the released protocol against a proper split
#
# The released code evaluates every epoch on the held-out fold and keeps the **maximum** over epochs: the test fold
# selects the model. With 24 actors and 5 folds of 4, actors 21-24 are never tested. A proper protocol selects on
# separate validation actors and tests once. On the same folds and seeds we train CFN-SR the released way.

# %%
released_accuracy, released_curves = [], []
for i in progress(range(k_folds), desc="released folds", total=k_folds):
    trainer, pred, true = train_and_test(
        cfn_sr, released[i], seed=cfg.seed + i, select_on_test=True
    )
    released_accuracy.append(accuracy_score(true, pred))
    released_curves.append(trainer.history.columns()["watch_accuracy"])
released_summary, proper_summary = summarize(released_accuracy), summary["CFN-SR"]
if cfg.quick:  # the same test actors and seed per fold: paired
    gap = paired_difference(released_accuracy, accuracy["CFN-SR"])
else:  # 5 released folds against the fixed split's seeds: independent samples
    gap = welch_difference(released_accuracy, accuracy["CFN-SR"])
checked["CFN-SR: mean test accuracy, released protocol"] = released_summary

# %%
rows = [
    "| fold | released: test actors | best epoch on test | proper: test actors | proper split |"
]
rows.append("|---|---|---|---|---|")
for i in range(k_folds):
    prop = (
        f"{100 * accuracy['CFN-SR'][i]:.1f}"
        if i < len(replicates) and cfg.quick
        else "-"
    )
    test = str(proper[i].test) if i < len(proper) else "-"
    rows.append(
        f"| {i} | {released[i].test} | {100 * released_accuracy[i]:.1f} | {test} | {prop} |"
    )
rows.append(
    f"| mean | | {released_summary.format(1, 100)} | | {proper_summary.format(1, 100)} |"
)
rows.append(
    f"\nReleased minus proper: {gap.format(1, 100)} points; verdict (released > proper): "
    f"**{verdict_greater(gap)}**."
)
Markdown("\n".join(rows))

# %%
# NBVAL_CHECK_OUTPUT
never = sorted(set(corpus.actors.tolist()) - {a for s in released for a in s.test})
print(f"actors never tested under the released fold rule: {never}")
print(expected.check("40_audiovisual_cfn_sr", checked))

# %% [markdown]
# **Where the gap comes from.** Two things differ between the protocols: the released one picks the epoch by its
# test accuracy, and it trains on more actors (no validation block: 5 here against the proper split's 3). Each run
# above also recorded its test accuracy after every epoch (never used for selection in the proper runs), so the gap
# splits exactly into three steps, each a paired difference over the same folds and seeds:
# released (best test epoch, 5 actors) − its last epoch; last epoch with 5 actors − last epoch with 3; last epoch
# with 3 actors − the proper split's validation-selected epoch. A fifth line gives what test-fold selection alone
# adds with the proper split's 3 training actors; the verdict column applies the book's rule to each line, and the
# second table gives the per-fold values behind them.

# %%
if cfg.quick:  # the same test actors and seeds in both protocols: every step is paired
    proper_best = [max(c) for c in proper_curves]
    proper_last = [c[-1] for c in proper_curves]
    released_last = [c[-1] for c in released_curves]
    steps = {
        "**total gap**: released minus proper": gap,
        "= test-fold epoch selection, 5 training actors (best minus last epoch)": (
            paired_difference(released_accuracy, released_last)
        ),
        "+ more training actors, 5 vs 3, so 5/3 as many steps (last epochs)": (
            paired_difference(released_last, proper_last)
        ),
        "+ last epoch instead of validation selection, 3 training actors": (
            paired_difference(proper_last, accuracy["CFN-SR"])
        ),
        "test-fold epoch selection alone, 3 training actors (best test epoch minus "
        "validation-selected)": paired_difference(proper_best, accuracy["CFN-SR"]),
    }
    rows = ["| factor | contribution, points | verdict |", "|---|---|---|"]
    rows += [f"| {k} | {d.format(1, 100)} | {verdict_greater(d)} |" for k, d in steps.items()]
    rows.append("| fold assignment | 0 (the same test actors in both protocols here) | |")
    rows += ["", "| fold | proper: validation-selected | best | last | released: best | last |"]
    rows.append("|---" * 6 + "|")
    rows += [
        f"| {i} | {100 * accuracy['CFN-SR'][i]:.1f} | {100 * proper_best[i]:.1f} | "
        f"{100 * proper_last[i]:.1f} | {100 * released_accuracy[i]:.1f} | "
        f"{100 * released_last[i]:.1f} |"
        for i in range(k_folds)
    ]
    breakdown = "\n".join(rows)
else:
    breakdown = (
        "Paper profile: the released folds and the proper split test different actors and "
        "use different seeds, so the steps are not paired; compare the tables above."
    )
Markdown(breakdown)

# %% [markdown]
# The two causes are of different kinds. Selecting the epoch on the test fold biases the reported number upwards
# (it is the maximum of noisy estimates, not an estimate of one model); training on more actors is a real gain,
# which a proper protocol with more training actors would share, but it also means more optimiser steps per epoch
# (5/3 as many here), so the second step mixes data with training length. The table gives each step with its
# interval; where an interval contains zero, that step is not established on these folds. The paper's 75.76 %
# (5 folds, best epoch on test) and MSAF's 74.86 % (6 folds) are not strictly comparable either. The release's
# fine-tuning from unimodal checkpoints is a third difference from a from-scratch run, which the previous section
# measures on its own.
#
# ## The batch-coupled attention of the released code
#
# The released block sums the per-sample attention maps over the batch before applying them, so one clip's
# prediction depends on which clips share its batch. `cfn_sr` computes the map per
# sample; `batch_coupled_attention=True` restores the released behaviour.

# %%
# NBVAL_CHECK_OUTPUT
x_video, x_mfcc = (
    torch.stack(t) for t in zip(*(dataset[i][0] for i in range(8)), strict=True)
)
for coupled in (False, True):
    affect_lib.seed_everything(cfg.seed)
    net = cfn_sr(**model_sizes, batch_coupled_attention=coupled).eval()
    with torch.inference_mode():
        alone = net(x_video[:1], x_mfcc[:1])
        in_batch = net(x_video, x_mfcc)[:1]
    delta = (alone - in_batch).abs().max().item()
    shown = f"{delta:.1e}" if delta > 1e-4 else "< 1e-4 (float rounding only)"
    print(
        f"batch-coupled={coupled!s:5s}: max |logit alone - logit in a batch of 8| = {shown}"
    )

# %% [markdown]
# ## What the paper reports on real RAVDESS
#
# The table below is the paper's (and README's) comparison on the real dataset; rows 1-7 are MSAF's numbers under
# its 6-fold protocol, CFN-SR's is the 5-fold best-epoch mean. **These are not this book's measurements.**
#
# | Model | Fusion stage | Acc (%) | #Params |
# |---|---|---:|---:|
# | Averaging | Late | 68.82 | 25.92M |
# | Multiplicative | Late | 70.35 | 25.92M |
# | Multiplication | Late | 70.56 | 25.92M |
# | Concat + FC | Early | 71.04 | 26.87M |
# | MCBP | Early | 71.32 | 51.03M |
# | MMTM | Model | 73.12 | 31.97M |
# | MSAF | Model | 74.86 | 25.94M |
# | ERANNs (audio only) | Model | 74.80 | – |
# | **CFN-SR** | Model | **75.76** | **26.30M** |
#
# ## Claims and what this book measured

# %% tags=["hide-input"]
stand_in = "synthetic stand-in" if cfg.quick else "RAVDESS"
n_rep = f"{len(replicates)} {'folds' if cfg.quick else 'seeds'}"


def difference_row(claim: str, paper: str, label: str):
    d = differences[label]
    return (
        claim,
        paper,
        f"{d.format(1, scale=100)} points ({stand_in}, {n_rep})",
        verdict_greater(d),
    )


reproduced = "n/a" if cfg.quick else verdict_within(released_summary, 0.7576, 0.03)
claims_table(
    "40_audiovisual_cfn_sr",
    cfg.profile,
    [
        (
            "CFN-SR has 26.30M parameters",
            "26.30M",
            f"{counts['CFN-SR']:.2f}M",
            round(counts["CFN-SR"], 2) == 26.30,
        ),
        (
            "late-fusion baselines have 25.92M parameters",
            "25.92M",
            f"{counts['late fusion (averaging)']:.2f}M",
            round(counts["late fusion (averaging)"], 2) == 25.92,
        ),
        (
            "CFN-SR reaches 75.76% on RAVDESS (within ±3 points)",
            "75.76% (5-fold, best epoch on test)",
            f"released protocol {released_summary.format(1, 100)}; "
            f"proper {proper_summary.format(1, 100)} "
            f"({stand_in}, init {recipe.train.init})",
            reproduced,
        ),
        difference_row(
            "the cross-modal block beats plain concatenation",
            "75.76% vs 71.04% (different protocols)",
            "cross-modal block vs concatenation",
        ),
        difference_row(
            "the residual helps",
            "ablation reported, value not retrievable",
            "residual vs no residual",
        ),
        difference_row(
            "CFN-SR beats late fusion", "75.76% vs 68.82%", "CFN-SR vs late fusion"
        ),
        difference_row(
            "CFN-SR beats MSAF", "75.76% vs 74.86% (5 vs 6 folds)", "CFN-SR vs MSAF"
        ),
    ],
    rule=VERDICT_RULE
    + " Parameter counts: exact agreement at the paper's rounding. The reproduction row: "
    "*yes* when the interval lies within 75.76 ± 3 points (n/a on the stand-in).",
)

# %% [markdown]
# The parameter counts agree exactly. How to read the four comparisons on the stand-in: a *yes* says CFN-SR is more
# accurate than the other model on these folds; only an accuracy above the additive ceiling would show that it used
# the face-voice interaction that concat and late fusion cannot express. A *no* or *inconclusive* next to accuracies
# below the additive (or even the one-modality) ceiling means that no model got far enough, on a few dozen training
# clips and a few epochs, for the interaction to matter, which says nothing about real RAVDESS either way. The
# released protocol's gap over the proper split, its verdict and its breakdown are in the section above; it is the
# part of this chapter that carries over to the real data, whatever its size on these folds.
#
# ## Running the paper profile on real RAVDESS
#
# 1. Download `Video_Speech_Actor_01.zip` ... `Video_Speech_Actor_24.zip` from Zenodo record 1188976 (CC BY-NC-SA)
#    and unzip them into one folder, giving `Actor_01/ ... Actor_24/` with `01-01-...mp4` files (the `02-...`
#    video-only files are skipped).
# 2. Run `make chapter NB=40_audiovisual_cfn_sr PROFILE=paper DATA_DIR=/path/to/that/folder` (or set
#    `$AFFECT_DATA_DIR` to a folder containing `RAVDESS/`). Preprocessing uses the released settings (30 frames of
#    224², MFCC 13 x 212) and is cached; training uses the paper's 70 epochs at batch 16 with clip-consistent
#    augmentation, on the fixed proper split (test actors 5, 10, 16, 19; validation 11, 13, 18, 22) and on the
#    released 5 folds. This needs a GPU: one training step of the full model takes tens of seconds on 2 CPU cores
#    (see the performance appendix).
# 3. The released quirks are options. The recipe variant `released` (`affect-lib train cfn_sr --variant released`)
#    sets `cfn_sr(batch_coupled_attention=True)`, `PreprocessConfig(squash_first=True)` and the release's
#    augmentation scale, and the command line then also passes `RavdessClips(..., bgr_input=True,
#    per_frame_augmentation=True)`. The augmentation scale is `data.augment_scale`: the book's default (0.8, 1.0),
#    the area range of `RandomResizedCrop`, against the release's (0.8, 1.4), whose upper part torchvision cannot
#    draw (a crop larger than the frame is redrawn and, after 10 tries, replaced by the whole frame, so about a
#    quarter of the release's training crops are uncropped frames). The released fused model also lacks the stem
#    ReLU, which is our default (`stem_relu=False`). The quick profile trains without augmentation.
#
# ## Exercises
#
# 1. Train CFN-SR on the proper split with `batch_coupled_attention=True`. Does the test accuracy change? Does the
#    prediction for a test clip depend on the evaluation batch size?
#
# ```{admonition} Solution
# :class: dropdown
# Call `train_and_test(cfn_sr, proper[0], seed=cfg.seed, batch_coupled_attention=True)` for each replicate and
# compare the accuracies with the table above by `paired_difference` (on three small folds the interval will
# most likely contain zero). `trainer.predict(DataLoader(Subset(dataset, test), batch_size=1))`, with
# `test = proper[0].indices(corpus.actors)[2]`, and the same
# with `batch_size=64` then give different logits: the summed map mixes the batch-mates' attention into every sample,
# as the check above shows for an untrained model, so even the evaluation depends on how the test set is batched.
# ```
#
# 2. Make the stand-in harder: write the corpus with both repetitions but pass `PreprocessConfig(n_frames=4)`. Which
#    modality suffers, and why?
#
# ```{admonition} Solution
# :class: dropdown
# With 4 frames the expression's onset and apex are sampled coarsely, so the video branch loses information while
# the MFCC is unchanged; compare `av_late_fusion`'s two heads (the `video_head` and `audio_head` logits) on the test
# actors to see which branch carries the decision.
# ```
#
# 3. Measure the released protocol's gain over 5 seeds instead of 3. Is the gain larger with fewer test actors per
#    fold?
#
# ```{admonition} Solution
# :class: dropdown
# Re-run the chapter with 5 replicates per fold (seeds `cfg.seed + i` and `cfg.seed + 10 + i`, ...) and summarise
# `paired_difference(released_accuracy, accuracy["CFN-SR"])`. The gain from selection shrinks as the test fold grows: the maximum over epochs of a noisy
# accuracy is biased upwards by roughly its standard deviation, which falls like one over the square root of the
# number of test clips.
# ```
#
# ```{admonition} Re-run this chapter
# :class: tip
# `make chapter NB=40_audiovisual_cfn_sr` executes this chapter alone and rebuilds the book (21 fusion trainings
# and 6 unimodal pretrainings on the quick profile; this build's runtime is in the {doc}`/book/generated/reproducibility`). `make test` re-executes it
# and checks the cells marked `# NBVAL_CHECK_OUTPUT`: exactly, the parsed file name, the corpus counts, the parameter
# counts, the reachable-accuracy ceilings, the never-tested actors and the batch-coupling check; within committed
# tolerances
# (`notebooks/expected/40_audiovisual_cfn_sr.json`), the seed means of the test accuracies.
# ```
