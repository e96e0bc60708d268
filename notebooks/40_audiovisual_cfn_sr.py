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
#   measure the effect of the cross-modal block and of its residual (on RAVDESS, in the paper profile).
# - Test what a trained model uses, the face, the voice or their agreement, by re-pairing its test clips.
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
import json
import textwrap
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

import affect_lib
from affect_lib import claims, expected, recipes, runs
from affect_lib.claims import claims_table
from affect_lib.data.av_preprocess import decode_clip, preprocess_corpus
from affect_lib.data.ravdess import (
    EMOTIONS,
    RavdessClips,
    list_clips,
    parse_ravdess_name,
    released_folds,
)
from affect_lib.data.synthetic_ravdess import (
    PAIRS,
    accuracy_ceilings,
    standin_folder,
    swap_orders,
    write_synthetic_ravdess,
)
from affect_lib.experiments import control_accuracy, majority_baseline, train_av
from affect_lib.models.cfn_sr import av_concat, av_late_fusion, cfn_sr, count_parameters
from affect_lib.models.msaf import msaf
from affect_lib.pool import run_jobs
from affect_lib.protocols import protocol_folds
from affect_lib.runtime import available_cores
from affect_lib.stats import (
    MIN_SEEDS,
    VERDICT_RULE,
    paired_difference,
    summarize,
    verdict_above,
    verdict_greater,
    verdict_within,
)

cfg = affect_lib.setup(profile, seed, device, data_dir, dataset="RAVDESS", required=("Actor_*",))
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
# In the quick profile we write the stand-in corpus: 24 actors, as many as RAVDESS has, all 8 emotions, both
# intensities, both statements, one repetition, clips of 2 s at 8 frames/s. Each actor is the rig's face with its own tint, size,
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
# block can (the audio re-weights the video features). Whether a trained model reads the agreement at all is a
# question the chapter asks directly, with a control that removes it from the test clips (below). A win on this
# stand-in shows that a model learnt this interaction from a few hundred clips; it does not show that real RAVDESS
# needs it.

# %%
recipe = recipes.get(
    "cfn_sr", "ravdess", cfg.profile
)  # every run setting: `affect-lib train --print-recipe`
print(textwrap.fill(runs.fast_paths(recipe), 100))  # said before any model runs
if cfg.quick:
    root = standin_folder(cfg.seed, **recipe.data.standin_kwargs())
    write_synthetic_ravdess(
        root, **recipe.data.standin_kwargs(), seed=cfg.seed, workers=available_cores()
    )
else:
    root = cfg.data_dir
prep = (
    recipe.data.preprocess_config()
)  # paper: the released 30 frames of 224², MFCC 13 x 212; quick: 4 x 40²
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
    corpus = preprocess_corpus(clips, prep, workers=available_cores())
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
counts = {name: count_parameters(build()) / 1e6 for name, build in builders.items()}  # paper sizes
print(f"{'model':26s} {'paper table':>12s} {'this build':>11s}")
for name in builders:
    print(f"{name:26s} {paper_counts[name]:>11.2f}M {counts[name]:>10.2f}M")
net = runs.build_model(recipe).eval()
print(f"{cfg.profile} profile CFN-SR: {count_parameters(net):,} parameters")
with torch.inference_mode():
    video_map = net.video(torch.zeros(1, 3, prep.n_frames, prep.size, prep.size)).shape[1:]
print(
    f"its video map for {prep.n_frames} frames of {prep.size}²: "
    f"{' x '.join(map(str, video_map))} (channels x time x height x width)"
)

# %% [markdown]
# CFN-SR, late fusion and MSAF agree with the paper's table. "Concat + FC" here is the block-free ablation, one linear
# layer on 3712 features; the table's 26.87M row comes from MSAF, whose concatenation baseline has a larger head.
#
# The block's softmax runs over the height x width positions of the video map. With a single position (crops of
# 32² give a 1 x 1 map) the weight is 1 whatever the audio says, and the block only doubles the video features:
# CFN-SR would be concat with extra parameters. The quick profile's crops are therefore 40² (a 2 x 2 map), from 4
# frames per clip, which keeps a 3D convolution's cost near that of 8 frames of 32².
#
# ## How large the experiment has to be
#
# A model can gain from combining the face and the voice only after it has learnt what each of them tells. How many
# actors and epochs that takes was measured once, outside the chapter (`benchmarks/cfn_sr_sizing.py`, printed
# next): CFN-SR, concat and late fusion trained on the first 3, 6 or 12 actors of this stand-in for 30 epochs at a
# constant learning rate, selected on 6 validation actors and tested on 6 others, the test accuracy recorded after
# every epoch (never used for selection).

# %%
BOOK_ROOT = Path(affect_lib.__file__).resolve().parents[1]  # the checkout the chapter runs in
sizing = json.loads((BOOK_ROOT / "benchmarks" / "results" / "cfn_sr_sizing.json").read_text())
heads = ("model", "train actors", "selected (%)", "last 10 epochs (%)", "swing")
print(f"{heads[0]:15s} {heads[1]:>12s} {heads[2]:>12s} {heads[3]:>19s} {heads[4]:>6s}")
for run in sizing["runs"]:
    if not run["cue"] or run["seed"] != 0:
        continue
    last = 100 * np.array(run["test_by_epoch"][-10:])
    swing = 100 * np.abs(np.diff(run["valid_by_epoch"])).max()  # largest change between two epochs
    print(
        f"{run['model']:15s} {run['train_actors']:>12d} {100 * run['accuracy']:>12.1f} "
        f"{last.mean():>11.1f} ± {last.std():.1f} {swing:>6.1f}"
    )

# %% [markdown]
# Accuracy grows with the training actors all the way to 12, and the validation accuracy swings by up to the last
# column's points between consecutive epochs at a constant learning rate, so the selected epoch is partly luck. The
# chapter therefore trains on more actors per fold, every actor tested once (the recipe's `folds6`: fold $i$ tests
# block $i$ of 4 actors, validates on block $i+1$ and trains on the other 16), with the plateau schedule (the
# learning rate cut after epochs without a better validation accuracy; the settings are printed with the runs).
# Each fold has its own seed, every comparison is paired over the folds, and the trainings run one per available
# core (`affect_lib.pool.run_jobs`; a run's result does not depend on the worker that ran it), on the library's
# default CPU fast paths (printed with the recipe, above): channels-last 3-D convolutions and the fused attention
# kernel with its hashed dropout draws (the recipe field `model.channels_last`, `affect-lib train --set
# model.channels_last=false`, and `AFFECT_FUSED_ATTENTION=0` switch them off: the same function and dropout
# distribution, other rounding and draws). The models still end below the one-modality ceiling (next table), so the
# chapter asks first what each model uses, with controls that need no extra training.
#
# ## The controls: the same trained weights, re-paired test clips
#
# Every trained model is scored again on its test clips with one modality taken from another clip of the same actor
# (`swap_orders`), averaged over 3 re-pairings:
#
# - **voice swapped**: each clip keeps its face and gets the voice of another clip of the same actor and sentence
#   (another emotion, or the same emotion at the other intensity, which keeps part of what the voice tells, so
#   this drop understates the voice's use). The drop in accuracy is what the model takes from the voice.
# - **face swapped**: the same with the face.
# - **agreement removed** (stand-in only): on the pair clips (neutral, calm, happy, surprised), each clip gets the
#   voice of another clip of the same actor, pair and intensity. Each group keeps its faces and its voices, so
#   either modality alone shows what it showed before, with the same frequencies; only whether face and voice agree
#   becomes random. The drop in accuracy on the pair clips is what the model takes from the agreement: about half
#   its accuracy on them for a model that reads it perfectly, nothing (in expectation) for a model of either
#   modality alone. A model whose class scores add a face term and a voice term (concat, late fusion) can read part
#   of the agreement, three of a pair's four face/voice combinations (the additive ceiling above), so at its
#   ceiling it too would lose a good part of its pair-clip accuracy: a *yes* here says that a model reads the
#   agreement, not that it combines the modalities multiplicatively; for that, CFN-SR's drop would have to exceed
#   concat's. (The strong takes of calm form groups of two calm clips; their re-pairing can show a face and a
#   voice of the same member, which no strong take in training does.)
#
# A control scores the same weights twice, so its drop carries no training noise of its own; the spread over the
# folds includes the training runs' and the re-pairing's (it moves a pair clip's prediction between the pair's two
# emotions at random, several points per fold on a few dozen pair clips). A model *uses* a modality when the drop's 95% interval over the folds
# lies above zero (a model that ignored it would lose exactly nothing: its weights would see the same input). It
# *reads the agreement* when the interval lies at or above a margin of 10 points of the pair clips' accuracy (a
# fifth of what a perfect reader loses), and *no* when it lies below: a no means less than that, not nothing.

# %%
model_sizes = recipe.model_kwargs()
dataset = RavdessClips(corpus.frames, corpus.mfcc, corpus.labels)
folds = protocol_folds(recipe.data.split, corpus.actors, real=not cfg.quick)
if len(folds) > 1:  # quick: one seed per fold
    replicates = [(split, cfg.seed + i) for i, split in enumerate(folds)]
else:  # paper: the fixed split, several seeds
    replicates = [(folds[0], cfg.seed + r) for r in range(MIN_SEEDS)]
clip_names = [parse_ravdess_name(n) for n in corpus.names]
same = np.arange(len(clip_names))
MARGINS = {"voice swapped": 0.0, "face swapped": 0.0, "agreement removed": 0.10}
controls = {}
for k, order in enumerate(swap_orders(clip_names, "actor")):
    controls[f"voice swapped {k}"] = (same, order)
    controls[f"face swapped {k}"] = (order, same)
if cfg.quick:  # the congruence pairs exist only in the stand-in
    for k, order in enumerate(swap_orders(clip_names, "pair")):
        controls[f"agreement removed {k}"] = (same, order)
CONTROLS = [c for c in MARGINS if f"{c} 0" in controls]


variants = {
    "CFN-SR": ("cfn_sr", {}),
    "concat": ("av_concat", {}),
    "late fusion": ("av_late_fusion", {}),
}
if not cfg.quick:  # the paper's other comparisons (the quick budget trains the three above)
    variants |= {"w/o residual": ("cfn_sr", {"model.residual": False}), "MSAF": ("msaf", {})}
t = recipe.train
pre = t.pretrain_epochs or t.epochs
if t.init == "scratch":  # the other start, at the same number of optimiser steps
    other_init = {"train.init": "unimodal", "train.epochs": t.epochs - 2 * pre}
else:
    other_init = {"train.init": "scratch", "train.epochs": t.epochs + 2 * pre}
other_name = f"CFN-SR, init {other_init['train.init']}"
variants[other_name] = ("cfn_sr", other_init)
jobs = [
    dict(
        model=model,
        root=str(root),
        split=split,
        seed=s,
        overrides=options,
        watch=name
        != other_name,  # the test accuracy of every epoch, for the released protocol below
        controls=controls,
        profile=cfg.profile,
        device=cfg.device,
    )
    for name, (model, options) in variants.items()
    for split, s in replicates
]
start = time.perf_counter()
results = run_jobs(train_av, jobs, workers=available_cores() if cfg.device == "cpu" else 1)
runs = {
    name: results[i * len(replicates) : (i + 1) * len(replicates)]
    for i, name in enumerate(variants)
}
accuracy = {name: [r.accuracy for r in rs] for name, rs in runs.items()}
summary = {name: summarize(values) for name, values in accuracy.items()}
schedule = (
    f"lr x{t.lr_factor} after {t.lr_patience} epochs without a better one"
    if t.lr_patience
    else "none"
)
steps = sorted({r.steps for rs in runs.values() for r in rs})
print(
    textwrap.fill(
        f"{len(jobs)} trainings on {len(replicates)} replicates "
        f"in {time.perf_counter() - start:.0f} s: "
        f"{t.epochs} epochs, batch {t.batch_size}, Adam lr {t.lr:g}, plateau schedule: {schedule}; "
        f"optimiser steps per run: {steps}",
        100,
    )
)
for i, (split, s) in enumerate(replicates):
    print(
        f"replicate {i}, seed {s}: train {len(split.train)} actors, valid {split.valid}, ", end=""
    )
    print(f"test {split.test}")

# %%
constant = majority_baseline(corpus.labels, corpus.actors, [split for split, _ in replicates])
comparisons = {
    "cross-modal block vs concatenation": "concat",
    "CFN-SR vs late fusion": "late fusion",
    "residual vs no residual": "w/o residual",
    "CFN-SR vs MSAF": "MSAF",
}
differences = {
    label: paired_difference(accuracy["CFN-SR"], accuracy[other])
    for label, other in comparisons.items()
    if other in accuracy
}
by_init = {t.init: accuracy["CFN-SR"], other_init["train.init"]: accuracy[other_name]}
init_gain = paired_difference(by_init["unimodal"], by_init["scratch"])

# %% tags=["hide-input"]
heads = " | ".join(f"fold {i}" if cfg.quick else f"seed {s}" for i, (_, s) in enumerate(replicates))
rows = [
    f"| model | {heads} | mean ± std [95% interval] |",
    "|---" * (len(replicates) + 2) + "|",
]
for name, values in accuracy.items():
    cells = " | ".join(f"{100 * v:.1f}" for v in values)
    rows.append(f"| {name} | {cells} | {summary[name].format(1, scale=100)} |")
rows += ["", "| paired difference | points | verdict |", "|---|---|---|"]
rows += [
    f"| {label} | {d.format(1, scale=100)} | {'n/a' if cfg.quick else verdict_greater(d)} |"
    for label, d in differences.items()
]
rows.append(
    f"| fine-tuned minus from scratch, equal steps | {init_gain.format(1, scale=100)} | "
    "none (not a paper claim) |"
)
print(f"{cfg.profile} profile, test accuracy (%); chance 12.5%, ", end="")
print(f"constant predictor {100 * constant:.1f}%")
if ceilings:
    print(
        f"ceilings: joint {100 * ceilings['joint']:.1f}%, additive (concat, late fusion) "
        f"{100 * ceilings['additive']:.1f}%, one modality {100 * ceilings['unimodal']:.1f}%"
    )
Markdown("\n".join(rows))

# %% [markdown]
# The fine-tuned CFN-SR starts from a video-only and an audio-only model trained on the same fold (the release's
# practice, `train.init = "unimodal"`), and its pretraining epochs count: both runs take the same number of optimiser
# steps (printed above), so the comparison is at equal training length, not a longer run against a shorter one.
# Neither paper claims that fine-tuning beats training from scratch, so this difference is context for the
# release's practice and carries no verdict.
#
# **Why the stand-in's model comparisons carry no verdict.** The paper's comparisons are claims about RAVDESS (the
# paper profile judges them). On the stand-in, each side of a difference is a separate training, and a training's
# trajectory moves with the float rounding of the CPU's kernels. This chapter was calibrated under three kernel sets
# (native, AVX2 and the baseline x86-64 kernels; the per-fold accuracies are committed with the expected values);
# the differences they give, with the verdict the book's rule would draw from each:

# %%
calibration = expected.load_expected("40_audiovisual_cfn_sr") if cfg.quick else {}
for label, other in comparisons.items():
    first_runs = calibration.get("CFN-SR: mean test accuracy")
    other_runs = calibration.get(f"{other}: mean test accuracy")
    if not (first_runs and other_runs):
        continue
    by_kernel = []
    for kernel, values in first_runs.kernels.items():
        d = paired_difference(values, other_runs.kernels[kernel])
        by_kernel.append(f"{kernel} {d.format(1, scale=100)}: {verdict_greater(d)}")
    print(textwrap.fill(f"{label}: " + "; ".join(by_kernel), 100, subsequent_indent="  "))

# %% [markdown]
# Where those verdicts differ, the difference is within what the rounding of one training moves. The controls below
# score the same weights twice; their verdicts were the same under all three kernel sets, and the claims table's
# verdicts are checked outputs, so a CPU that moved one would fail the chapter's check.
#
# The controls, for every model (accuracy in %, means over the folds; the drop with its 95% interval, in points):

# %%
test_parts = [split.indices(corpus.actors)[2] for split, _ in replicates]
in_pair = np.array([any(n.emotion_name in p for p in PAIRS) for n in clip_names])


drops, control_rows = {}, []
for name, rs in runs.items():
    for control in CONTROLS:
        masks = [in_pair[part] if control == "agreement removed" else None for part in test_parts]
        base = [control_accuracy(r, None, m) for r, m in zip(rs, masks, strict=True)]
        moved = [control_accuracy(r, control, m) for r, m in zip(rs, masks, strict=True)]
        drops[name, control] = paired_difference(base, moved)
        control_rows.append((name, control, np.mean(base), np.mean(moved)))
if cfg.quick:  # what the pair clips allow, as the ceilings above but on them alone
    pair_ceilings = accuracy_ceilings(
        [n.emotion_name for n in np.array(clip_names, dtype=object)[in_pair]]
    )
    print(
        "pair clips' best reachable accuracy: "
        + ", ".join(f"{kind} {100 * value:.1f}%" for kind, value in pair_ceilings.items())
    )

# %% tags=["hide-input"]
rows = []
for name, control, base, moved in control_rows:
    kept = "pair clips" if control == "agreement removed" else "all clips"
    d = drops[name, control]
    rows.append(
        f"| {name} | {control} ({kept}) | {100 * base:.1f} | {100 * moved:.1f} | "
        f"{d.format(1, scale=100)} | {verdict_above(d, MARGINS[control])} |"
    )
Markdown(
    "\n".join(
        [
            "| model | control | as tested | controlled | drop, points | verdict |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
)

# %% [markdown]
# The single runs above move with the machine; their means over the folds, and the drops under the voice control,
# are checked against committed values with tolerances from the spread over folds and over three kernel sets
# (native, AVX2 and the baseline x86-64 kernels; `notebooks/expected/40_audiovisual_cfn_sr.json` keeps every
# per-fold value and the basis of each tolerance). Each band excludes what a constant predictor scores (for the
# drops, zero), so a model that learnt nothing fails the check. The parameter counts, the corpus counts, the
# batch-coupling check and the claims table's verdicts are checked exactly.

# %%
# NBVAL_CHECK_OUTPUT
checked = {f"{name}: mean test accuracy": summary[name] for name in variants}
constants = {key: constant for key in checked}
for name in variants:
    checked[f"{name}: drop, voice swapped"] = drops[name, "voice swapped"]
    constants[f"{name}: drop, voice swapped"] = 0.0
print(expected.check("40_audiovisual_cfn_sr", checked, constants=constants))

# %% mystnb={"figure": {"name": "fig-40-audiovisual-cfn-sr-2", "caption": "Left, the confusion matrix of CFN-SR on the test actors of the first replicate (rows true, columns predicted); right, the validation accuracy per epoch of each model on that replicate (dots: the selected epoch; the fine-tuned run's epochs are those after its unimodal pretraining)."}}
first = runs["CFN-SR"][0]
cm = confusion_matrix(first.true, first.pred, labels=range(8))
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(7.5, 3.6), gridspec_kw={"width_ratios": [1.1, 1]})
ConfusionMatrixDisplay(cm, display_labels=EMOTIONS).plot(ax=ax0, colorbar=False, xticks_rotation=60)
ax0.set_title("CFN-SR, first replicate", fontsize=10)
for name, rs in runs.items():
    r = rs[0]
    epochs = np.arange(1, len(r.valid) + 1)
    (line,) = ax1.plot(epochs, 100 * np.array(r.valid), label=name)
    ax1.plot(r.best_epoch, 100 * r.valid[r.best_epoch - 1], "o", color=line.get_color())
ax1.set(xlabel="epoch", ylabel="validation accuracy (%)")
ax1.set_title("selection on validation actors", fontsize=10)
ax1.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% mystnb={"figure": {"name": "fig-40-audiovisual-cfn-sr-3", "caption": "The drop in accuracy of each model under the three test-time controls, with 95% intervals over the folds (voice and face: all test clips; agreement: the pair clips). A modality counts as used when its interval lies above zero (grey line); dashed, the agreement control's 10-point margin."}}
fig, ax = plt.subplots(figsize=(7.5, 3.2))
for k, control in enumerate(CONTROLS):
    for m, name in enumerate(runs):
        d = drops[name, control]
        x = m + (k - 1) * 0.25
        ax.errorbar(
            x,
            **d.errorbar(scale=100),
            fmt="os^"[k],
            color=f"C{k}",
            capsize=3,
            label=control if m == 0 else None,
        )
        if MARGINS[control]:
            ax.plot([x - 0.1, x + 0.1], [100 * MARGINS[control]] * 2, color=f"C{k}", ls="--", lw=1)
ax.axhline(0, color="0.7", lw=0.8)
ax.set_xticks(range(len(runs)), list(runs), fontsize=8)
ax.set_ylabel("drop in accuracy (points)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The released protocol: the best epoch on the test fold
#
# The released code evaluates every epoch on the held-out fold and keeps the **maximum** over epochs: the test fold
# selects the model. Its 5 folds of 4 actors never test actors 21-24, and it trains on the 20 others without a
# validation block. Every run in the recipe's own initialisation above (from scratch on the quick profile) also
# recorded its test accuracy after every epoch (never used to select it), so on the same runs the released number is
# the best of those, and the proper one is the accuracy at the epoch the validation actors chose: a paired
# difference with no training noise between its two sides, over every such run (the selection works the same way
# for any model).

# %%
# NBVAL_CHECK_OUTPUT
watched = [r for rs in runs.values() for r in rs if r.watch]
gap = paired_difference([max(r.watch) for r in watched], [r.accuracy for r in watched])
released_summary = summarize([max(r.watch) for r in runs["CFN-SR"]])
proper_summary = summary["CFN-SR"]
never = sorted(set(range(1, 25)) - {a for s in released_folds() for a in s.test})
print(f"actors never tested under the released fold rule: {never}")

# %% tags=["hide-input"]
rows = [
    "| CFN-SR, replicate | test actors | validation-selected | best epoch on test | its epoch |"
]
rows.append("|---|---|---|---|---|")
for i, ((split, _), r) in enumerate(zip(replicates, runs["CFN-SR"], strict=True)):
    best = int(np.argmax(r.watch)) + 1
    rows.append(
        f"| {i} | {split.test} | {100 * r.accuracy:.1f} (epoch {r.best_epoch}) | "
        f"{100 * max(r.watch):.1f} | {best} |"
    )
rows.append(f"| mean | | {proper_summary.format(1, 100)} | {released_summary.format(1, 100)} | |")
rows.append(
    f"\nBest test epoch minus validation-selected, over the {len(watched)} watched runs: "
    f"{gap.format(1, 100)} points (paired)."
)
Markdown("\n".join(rows))

# %% [markdown]
# Selecting the epoch on the test fold biases the reported number upwards: it is the maximum of noisy estimates, not
# an estimate of one model, so no run can lose by it: the difference is at least zero in every run by construction,
# and testing it against zero would say nothing. What matters is its size, printed above; with the plateau schedule
# the last epochs change little, so it is smaller here than at a constant learning rate. The chapter therefore
# reports it as context, without a verdict. The release's other differences, more training actors (no validation block) and folds
# that leave 4 actors out of every test, are not measured here; `affect-lib train cfn_sr --protocol released --fold
# all` runs its folds. The paper's 75.76 % (5 folds, best epoch on test) and MSAF's 74.86 % (6 folds) are not
# strictly comparable either.
#
# ## The batch-coupled attention of the released code
#
# The released block sums the per-sample attention maps over the batch before applying them, so one clip's
# prediction depends on which clips share its batch. `cfn_sr` computes the map per
# sample; `batch_coupled_attention=True` restores the released behaviour.

# %%
# NBVAL_CHECK_OUTPUT
x_video, x_mfcc = (torch.stack(t) for t in zip(*(dataset[i][0] for i in range(8)), strict=True))
for coupled in (False, True):
    affect_lib.seed_everything(cfg.seed)
    net = cfn_sr(**model_sizes, batch_coupled_attention=coupled).eval()
    with torch.inference_mode():
        alone = net(x_video[:1], x_mfcc[:1])
        in_batch = net(x_video, x_mfcc)[:1]
    delta = (alone - in_batch).abs().max().item()
    shown = f"{delta:.1e}" if delta > 1e-4 else "< 1e-4 (float rounding only)"
    print(f"batch-coupled={coupled!s:5s}: max |logit alone - logit in a batch of 8| = {shown}")

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
not_trained = "not trained on the quick profile (its budget trains CFN-SR, concat and late fusion)"


def difference_row(claim: str, paper: str, label: str):
    if label not in differences:
        return (claim, paper, not_trained, "n/a")
    d = differences[label]
    return (
        claim,
        paper,
        f"{d.format(1, scale=100)} points ({stand_in}, {n_rep})",
        "n/a" if cfg.quick else verdict_greater(d),
    )


def control_row(claim: str, name: str, control: str):
    if (name, control) not in drops:
        return (claim, "-", "needs the stand-in's congruence pairs", "n/a")
    d = drops[name, control]
    measured = (
        f"drop {d.format(1, scale=100)} points (margin {100 * MARGINS[control]:.0f}; {n_rep})"
    )
    return (claim, "-", measured, verdict_above(d, MARGINS[control]))


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
            f"best test epoch {released_summary.format(1, 100)}; "
            f"validation-selected {proper_summary.format(1, 100)} ({stand_in}, {n_rep})",
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
        difference_row("CFN-SR beats late fusion", "75.76% vs 68.82%", "CFN-SR vs late fusion"),
        difference_row("CFN-SR beats MSAF", "75.76% vs 74.86% (5 vs 6 folds)", "CFN-SR vs MSAF"),
        control_row("book's test: CFN-SR uses the voice", "CFN-SR", "voice swapped"),
        control_row("book's test: CFN-SR uses the face", "CFN-SR", "face swapped"),
        *(
            control_row(
                f"book's test: {name} reads whether face and voice agree", name, "agreement removed"
            )
            for name in ("CFN-SR", "concat", "late fusion")
        ),
    ],
    rule=VERDICT_RULE
    + " Parameter counts: exact agreement at the paper's rounding. The reproduction row: "
    "*yes* when the interval lies within 75.76 ± 3 points; it and the model comparisons are "
    "claims about RAVDESS, n/a on the stand-in (its differences are printed, with the "
    "calibration kernels' verdicts, above). The control rows: a modality is used when the "
    "interval of the drop lies above zero; the agreement is read when it lies at or above "
    f"{100 * MARGINS['agreement removed']:.0f} points of the pair clips' accuracy (*no*: below).",
)

# %%
# NBVAL_CHECK_OUTPUT
print(claims.verdicts("40_audiovisual_cfn_sr"))

# %% [markdown]
# The parameter counts agree exactly. On the stand-in, the control rows ask what each model uses. A model that reads whether face
# and voice agree gains on the pair clips what no model of the face and the voice separately can; a *no* there means
# that the model takes less than the margin from the agreement at this size (16 training actors, a few epochs), not
# that the cross-modal block could never learn it, and it says nothing about real RAVDESS either way. What carries
# over to the real data is the protocol: a maximum over epochs of a noisy test accuracy is biased upwards, and the
# released folds never test actors 21-24.
#
# ## Running the paper profile on real RAVDESS
#
# 1. Download `Video_Speech_Actor_01.zip` ... `Video_Speech_Actor_24.zip` from Zenodo record 1188976 (CC BY-NC-SA)
#    and unzip them into one folder, giving `Actor_01/ ... Actor_24/` with `01-01-...mp4` files (the `02-...`
#    video-only files are skipped).
# 2. Run `make chapter NB=40_audiovisual_cfn_sr PROFILE=paper DATA_DIR=/path/to/that/folder` (or set
#    `$AFFECT_DATA_DIR` to a folder containing `RAVDESS/`). Preprocessing uses the released settings (30 frames of
#    224², MFCC 13 x 212) and is cached; training uses the paper's 70 epochs at batch 16 with clip-consistent
#    augmentation, on the fixed proper split (test actors 5, 10, 16, 19; validation 11, 13, 18, 22) with 3 seeds,
#    and adds the residual ablation and MSAF to the comparisons; the voice and face controls apply as they are (the
#    agreement control needs the stand-in's pairs). The released 5 folds are `affect-lib train cfn_sr --profile
#    paper --protocol released --fold all`. This needs a GPU: one training step of the full model takes tens of
#    seconds on 2 CPU cores (see the performance appendix).
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
# 1. *(30 min, medium)* Train CFN-SR with the released, batch-coupled attention on the first fold. Does the test accuracy change?
#    Does the prediction for a test clip depend on the evaluation batch size?
#
# ```{admonition} Solution
# :class: dropdown
# `train_av(model="cfn_sr", root=str(root), split=replicates[0][0], seed=replicates[0][1],
# overrides={"model.batch_coupled_attention": True})` trains it; compare its `accuracy` with the first fold's
# CFN-SR above (one fold decides nothing: run every fold and take `paired_difference`). For the batch size, build
# `cfn_sr(**model_sizes, batch_coupled_attention=True).eval()` and predict the same clips in batches of 1 and of 8,
# as the check above does: the summed map mixes the batch-mates' attention into every sample, so even the
# evaluation depends on how the test set is batched.
# ```
#
# 2. *(30 min, medium)* Train CFN-SR and concat on crops of 32² (`overrides={"data.size": 32, "data.n_frames": 8}`), where the video
#    map has one position. What does the cross-modal block compute then?
#
# ```{admonition} Solution
# :class: dropdown
# With one position the softmax is 1 whatever the audio says, so the block returns twice the video features: CFN-SR
# becomes concat with a rescaled video half and extra, unused parameters. The paired difference between the two
# then measures training noise and the rescaling, not attention; expect the controls to show both models using the
# face and the voice, and neither able to read their agreement beyond what an additive model can.
# ```
#
# 3. *(20 min, hard)* Is the gain from choosing the epoch on the test fold smaller with more test clips per fold?
#
# ```{admonition} Solution
# :class: dropdown
# Re-run the CFN-SR jobs with `protocol_folds("folds3", corpus.actors)` (8 test actors per fold) and compare
# `paired_difference([max(r.watch) for r in runs], [r.accuracy for r in runs])` with the table above. The maximum
# over epochs of a noisy accuracy is biased upwards by roughly its spread between epochs, which falls like one over
# the square root of the number of test clips, so expect the gain to shrink as the test fold grows.
# ```
#
# ```{admonition} Re-run this chapter
# :class: tip
# The quick profile runs 24 trainings, 6 of them after a unimodal pretraining. `make test` re-executes it and checks the cells marked
# `# NBVAL_CHECK_OUTPUT`: exactly, the parsed file name, the corpus counts, the reachable-accuracy ceilings, the
# parameter counts and the video map, the never-tested actors, the batch-coupling check and the claims table's
# verdicts; within committed tolerances (`notebooks/expected/40_audiovisual_cfn_sr.json`), the fold means of the
# test accuracies and the drops under the voice control; the face control through its verdict.
# ```
