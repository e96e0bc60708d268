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
# losses, and (ii) trains a small GANimation on pairs rendered by the book's face rig, to show that the training
# path works: the losses fall and the critic learns to regress AUs.
#
# **Learning goals**
#
# - Know GANimation's attention-based output $A \cdot I + (1 - A) \cdot C$ and why it keeps the identity.
# - Know its four losses (WGAN-GP {cite}`gulrajani2017wgangp`, AU regression, cycle, attention) and their weights.
# - Train the small model on rig pairs and read its loss curves; load a real checkpoint if you have one.

# %% tags=["parameters"]
profile: str = (
    "quick"  # "quick": 32 px, a few hundred critic steps on the CPU; "paper": 128 px, paper sizes (GPU)
)
seed: int = 0
device: str = "auto"
data_dir: str | None = None  # not used: training pairs come from the rig

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torchvision.utils import make_grid

import affect_lib
from affect_lib.claims import claims_table
from affect_lib.faces import facs
from affect_lib.faces import ganimation as gan
from affect_lib.faces.rig import FaceRig
from affect_lib.progress import progress

cfg = affect_lib.setup(profile, seed, device, data_dir, dataset="faces")
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
print(f"G: output {tuple(out.shape)}, colour {tuple(colour.shape)}, attention {tuple(attention.shape)}")
print(f"D: critic map {tuple(score.shape)}, AU regression {tuple(au_pred.shape)}")

# %% [markdown]
# ## The losses
#
# With $I_o$ a real image with AUs $y_o$ and $y_f$ a desired AU vector, the critic minimises
# $\mathbb E[D_I(G(I_o|y_f))] - \mathbb E[D_I(I_o)] + \lambda_{gp}\,\mathbb E[(\lVert\nabla D_I(\tilde I)\rVert_2 - 1)^2]
# + \lambda_y \lVert D_y(I_o) - y_o \rVert^2$, and the generator minimises
#
# $$
# -\mathbb E[D_I(G(I_o|y_f))] + \lambda_y \lVert D_y(G(I_o|y_f)) - y_f\rVert^2
# + \lambda_{cyc} \lVert G(G(I_o|y_f)|y_o) - I_o\rVert_1 + \lambda_A \bar A + \lambda_{TV} \mathrm{TV}(A).
# $$ (eq-ganimation-g)
#
# The official weights are $\lambda_{gp}=10$, $\lambda_y=4000$ (MSE divided by the batch), $\lambda_{cyc}=10$,
# $\lambda_A=0.1$, $\lambda_{TV}=10^{-5}$; donydchen's replicate, which EvoGAN loads, uses $\lambda_y=160$ on a plain
# MSE and no attention terms. The small run below uses the replicate's $\lambda_y$ with the official attention terms.

# %%
weights = gan.LossWeights(au=160.0)
print(weights)

# %% [markdown]
# ## Training pairs from the rig
#
# Real training needs EmotioNet faces with OpenFace AUs. Offline, we render a pool of faces from the rig with known
# AUs: random prototypes (basic and compound) at random intensities, plus noise. A training pair is an image with
# its AUs and the AUs of another image as the target, as in GANimation. The quick profile trains at 32 pixels with a
# narrow network; the paper profile at 128 pixels with the paper's sizes (a GPU job).

# %%
size = cfg.pick(quick=32, paper=128)
n_pool = cfg.pick(quick=256, paper=4096)
steps = cfg.pick(quick=300, paper=100_000)
batch = cfg.pick(quick=16, paper=25)
ngf, n_res, ndf, n_layers = cfg.pick(quick=(16, 2, 16, 3), paper=(64, 6, 64, 6))
n_critic = cfg.pick(quick=2, paper=5)

rng = np.random.default_rng(cfg.seed)
names = list(facs.PROTOTYPE_AUS)
pool_aus = np.stack(
    [
        facs.prototype(names[i], s)
        for i, s in zip(rng.integers(len(names), size=n_pool), rng.uniform(1, 5, n_pool), strict=True)
    ]
)
pool_aus = np.clip(pool_aus + rng.uniform(-0.5, 0.5, pool_aus.shape) * (pool_aus > 0), 0, 5)
with torch.no_grad():
    rig = FaceRig.default(size)
    pool_aus_t = torch.tensor(pool_aus / facs.AU_MAX, dtype=torch.float32)
    pool_images = torch.cat([rig(chunk * facs.AU_MAX) for chunk in pool_aus_t.split(256)]) * 2 - 1
print(f"{n_pool} rig faces at {size} px; mean active AUs per face {(pool_aus > 0).sum(1).mean():.1f}")

# %%
torch.manual_seed(cfg.seed)
G = gan.Generator(ngf=ngf, n_res=n_res).to(cfg.device)
D = gan.Critic(size, ndf=ndf, n_layers=n_layers).to(cfg.device)
trainer = gan.Trainer(G, D, weights, lr=cfg.pick(quick=5e-4, paper=1e-4), n_critic=n_critic)
history: dict[str, list[float]] = {}
for _ in progress(range(steps), desc="critic steps"):
    idx = torch.randint(n_pool, (batch,))
    tgt = torch.randint(n_pool, (batch,))
    real = pool_images[idx].to(cfg.device)
    losses = trainer.step(real, pool_aus_t[idx].to(cfg.device), pool_aus_t[tgt].to(cfg.device))
    for key, value in losses.items():
        history.setdefault(key, []).append(value)


# %%
def early_late(key: str) -> tuple[float, float]:
    """Mean of the first and of the last 20% of a loss curve."""
    values = np.asarray(history[key])
    n = max(1, len(values) // 5)
    return float(values[:n].mean()), float(values[-n:].mean())


summary = {
    key: early_late(key) for key in ["critic_au_mse", "generator_au_mse", "cycle_l1", "critic_wasserstein"]
}

# %%
# NBVAL_CHECK_OUTPUT
print(f"{steps} critic steps, {steps // n_critic} generator steps, batch {batch}")
for key, (early, late) in summary.items():
    print(f"{key:20s} first 20% {early:8.4f}   last 20% {late:8.4f}")

# %% mystnb={"figure": {"name": "fig-21-ganimation-training-1", "caption": "The loss curves of the small run (raw and a running mean). The critic's AU regression error on real rig faces and the generator's AU error on its edits fall, and so does the cycle error; the Wasserstein estimate of the critic is the adversarial game's state, not a quantity that must fall."}}
fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
for ax, key in zip(axes, summary, strict=True):
    values = np.asarray(history[key])
    ax.plot(values, alpha=0.3)
    k = max(1, len(values) // 20)
    ax.plot(np.convolve(values, np.ones(k) / k, mode="valid"))
    ax.set(title=key, xlabel="step")
    if key.endswith("mse"):
        ax.set_yscale("log")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Samples
#
# Each row edits one rig face towards the AUs of the basic prototypes (columns: input, then angry, disgust, fear,
# happy, sad, surprise, neutral), with the attention mask below.

# %% mystnb={"figure": {"name": "fig-21-ganimation-training-2", "caption": "Small GANimation after the quick run: input and edits (odd rows), attention masks (even rows; dark = painted by the colour head). At 32 pixels and a few hundred steps the edits are faint; the point is the working training path, not image quality."}}
G.eval()
source = pool_images[:3].to(cfg.device)
targets = torch.tensor(
    np.stack([facs.prototype(e, 4.0) for e in facs.EXPRESSIONS]) / facs.AU_MAX, dtype=torch.float32
)
tiles = []
with torch.no_grad():
    for img in source:
        edits, _, masks = G(img[None].expand(len(targets), -1, -1, -1), targets.to(cfg.device))
        tiles += [img[None], edits, -torch.ones_like(img)[None], masks.expand(-1, 3, -1, -1) * 2 - 1]
grid = make_grid(torch.cat(tiles).cpu() * 0.5 + 0.5, nrow=8, padding=1)
fig, ax = plt.subplots(figsize=(10, 7))
ax.imshow(grid.permute(1, 2, 0).numpy())
ax.axis("off")
plt.show()

# %% [markdown]
# ## Loading a real checkpoint
#
# If you have donydchen's or EvoGAN's `30_net_gen.pth`, `gan.load_checkpoint(path, gan.Generator(layout="replicate"))`
# loads it: the keys `model.*`, `color_top.*`, `au_top.*` and `conv_block` are renamed to this module's `main.*`,
# `img_reg.*`, `attetion_reg.*` and `main`; official GANimation checkpoints load with `layout="official"`.
# Mismatched keys or shapes raise a `ValueError` that lists them. The generator can then replace the rig in the
# search chapter, with images mapped to $[-1, 1]$ and genes to AUs / 5.
#
# ## Claims and measurements

# %%
au_early, au_late = summary["critic_au_mse"]
g_early, g_late = summary["generator_au_mse"]
c_early, c_late = summary["cycle_l1"]
claims_table(
    "21_ganimation_training",
    cfg.profile,
    [
        (
            "the critic learns to regress AUs from images",
            "AU-conditioned training (GANimation)",
            f"critic AU MSE {au_early:.4f} -> {au_late:.4f}",
            bool(au_late < au_early),
        ),
        (
            "the generator learns to hit target AUs",
            "AU loss on edited faces falls",
            f"generator AU MSE {g_early:.4f} -> {g_late:.4f}",
            bool(g_late < g_early),
        ),
        (
            "the cycle loss keeps identity",
            "L1 cycle loss, weight 10",
            f"cycle L1 {c_early:.4f} -> {c_late:.4f}",
            bool(c_late < c_early),
        ),
    ],
)

# %% [markdown]
# ## Exercises
#
# 1. Count the generator's parameters by hand from the architecture table and compare with the printed number.
#
# ```{admonition} Solution
# :class: dropdown
# Convs: $20\cdot64\cdot49 + 64\cdot128\cdot16 + 128\cdot256\cdot16 + 12\cdot256^2\cdot9 + 256\cdot128\cdot16 +
# 128\cdot64\cdot16$, heads $64\cdot3\cdot49 + 64\cdot49$, plus two affine parameters per instance-norm channel;
# the unit test `test_paper_size_shapes_and_parameter_count` does exactly this sum.
# ```
#
# 2. Set `weights = gan.LossWeights(au=160.0, attention=0.0, tv=0.0)` and re-run. What happens to the mask?
#
# ```{admonition} Solution
# :class: dropdown
# Without the attention penalty nothing pushes $A$ towards 1, so the colour head may repaint the whole face and
# the cycle loss alone has to keep the identity; the mean attention printed in `history["attention_mean"]` drifts.
# ```
#
# ```{admonition} Re-run this chapter
# :class: tip
# `make chapter NB=21_ganimation_training` executes this chapter alone (about 25 s on two cores). `make test`
# re-executes it and checks the parameter counts, shapes and the early/late losses.
# Download it: {download}`21_ganimation_training.py <../../notebooks/21_ganimation_training.py>` (the source) or {download}`21_ganimation_training.ipynb <../../notebooks/21_ganimation_training.ipynb>` (with outputs). This build's runtime of every chapter is in
# the {doc}`/book/generated/reproducibility`.
# ```
