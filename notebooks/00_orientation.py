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
# # Orientation: the environment, seeds and a first figure
#
# This short chapter checks that the environment the book was built in is the one you think it is, shows how every
# chapter takes its four parameters, and draws a first figure with a quantity that Part I uses throughout: the
# Wasserstein distance between two one-dimensional distributions.
#
# **Learning goals**
#
# - Know the four parameters every chapter takes (`profile`, `seed`, `device`, `data_dir`) and what they change.
# - See how a seeded run prints the same numbers every time, and how the book checks that.
# - Compute a 1-D Wasserstein distance three ways and see that they agree.
#
# ```{rerun}
# `make test` re-executes this chapter and checks the two cells marked `# NBVAL_CHECK_OUTPUT`: the seeded draws
# and the three $W_1$ values.
# ```

# %% tags=["parameters"]
profile: str = "quick"  # "quick": embedded stand-in on the CPU; "paper": the paper's settings
seed: int = 0
device: str = "auto"  # "auto" picks CUDA when present
data_dir: str | None = None  # not used here: this chapter needs no dataset

# %%
import os
import platform

import matplotlib.pyplot as plt
import numpy as np
import ot
import scipy
import torch
import torchvision

import affect_lib

cfg = affect_lib.setup(profile, seed, device, data_dir)
print(cfg)

# %% [markdown]
# ## The environment
#
# The versions below are those of the run that produced this page. The book's environment is pinned exactly in
# `requirements.lock`; the reproducibility appendix records its hash.

# %%
versions = {
    "python": platform.python_version(),
    "affect_lib": affect_lib.__version__,
    "numpy": np.__version__,
    "scipy": scipy.__version__,
    "POT": ot.__version__,
    "torch": torch.__version__,
    "torchvision": torchvision.__version__,
}
for name, version in versions.items():
    print(f"{name:12s} {version}")
print(f"{'device':12s} {cfg.device} (CUDA available: {torch.cuda.is_available()})")
print(f"{'threads':12s} torch {torch.get_num_threads()}, cores {os.cpu_count()}")

# %% [markdown]
# ## Seeds
#
# `affect_lib.setup` seeds Python, NumPy and torch and asks torch for deterministic kernels. Re-seeding gives the
# same draws, which is what lets a reviewer re-execute a chapter and compare its printed numbers with the published
# ones. Cells like the next one, whose first line is the comment `# NBVAL_CHECK_OUTPUT`, are the ones `make test`
# checks character by character.

# %%
# NBVAL_CHECK_OUTPUT
first = affect_lib.seed_everything(cfg.seed).normal(size=3)
again = affect_lib.seed_everything(cfg.seed).normal(size=3)
torch_draw = (affect_lib.seed_everything(cfg.seed), torch.randn(3))[1]
same = bool(np.array_equal(first, again))
print("numpy draws:", np.round(first, 4), "identical after re-seeding:", same)
print("torch draws:", np.round(torch_draw.numpy(), 4))

# %% [markdown]
# ## A first Wasserstein distance
#
# For two distributions $\mu, \nu$ on the real line with quantile functions $F_\mu^{-1}, F_\nu^{-1}$, the
# Wasserstein distance of order $p \ge 1$ has the closed form {cite}`villani2009ot`
#
# $$
# W_p(\mu, \nu) = \left( \int_0^1 \left| F_\mu^{-1}(u) - F_\nu^{-1}(u) \right|^p \, du \right)^{1/p}.
# $$ (eq-wp-quantile)
#
# For two empirical distributions with the same number of points, the quantile functions are the sorted samples, so
# {eq}`eq-wp-quantile` becomes a mean over sorted pairs. We compare three routes on samples from
# $\mu = \mathcal N(0, 1)$ and $\nu = \mathrm{Laplace}(1, 1/\sqrt 2)$, which has mean 1 and the same variance:
# sorted samples, POT's {cite}`flamary2021pot` `ot.wasserstein_1d`, and the general optimal-transport solver `ot.emd2` on the full cost
# matrix.

# %%
n = cfg.pick(quick=2_000, paper=20_000)
rng = np.random.default_rng(cfg.seed)
x = rng.normal(0.0, 1.0, size=n)
y = rng.laplace(1.0, 1 / np.sqrt(2), size=n)

w1_sorted = np.mean(np.abs(np.sort(x) - np.sort(y)))
w1_pot = ot.wasserstein_1d(x, y, p=1)
weights = np.full(n, 1 / n)
cost = ot.dist(x[:, None], y[:, None], metric="euclidean")
w1_emd = ot.emd2(weights, weights, cost, numItermax=10**7)

# %%
# NBVAL_CHECK_OUTPUT
print(f"n = {n}")
print(f"W1 by sorted samples   {w1_sorted:.4f}")
print(f"W1 by ot.wasserstein_1d {w1_pot:.4f}")
print(f"W1 by ot.emd2          {w1_emd:.4f}")

# %% [markdown]
# The three agree to solver precision. The distance is a little larger than the shift of the means (1.0), because the
# shapes differ too. The figure shows the two samples and, on the right, the area between the quantile functions,
# which is exactly $W_1$ ({numref}`fig-orientation-w1`).

# %% mystnb={"figure": {"name": "fig-orientation-w1", "caption": "Left: the two samples. Right: their quantile functions; the shaded area between them is $W_1$."}}
u = (np.arange(n) + 0.5) / n
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(7.5, 3.2))
bins = np.linspace(-4, 5, 60)
ax0.hist(x, bins=bins, alpha=0.6, density=True, label=r"$\mathcal{N}(0, 1)$")
ax0.hist(y, bins=bins, alpha=0.6, density=True, label=r"Laplace$(1, 1/\sqrt{2})$")
ax0.set(xlabel="x", ylabel="density", title="two samples", ylim=(0, 1))  # room above the bars
ax0.legend(loc="upper left")
ax1.plot(u, np.sort(x), label=r"$F_\mu^{-1}$")
ax1.plot(u, np.sort(y), label=r"$F_\nu^{-1}$")
area = f"area = $W_1$ = {w1_sorted:.3f}"
ax1.fill_between(u, np.sort(x), np.sort(y), color="grey", alpha=0.3, label=area)
ax1.set(xlabel="u", ylabel="quantile", title="quantile functions", ylim=(-4, 5))
ax1.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. *(5 min, easy)* Change `seed` in the parameters cell and re-run. Which printed numbers change, and which do not?
#
# ```{admonition} Solution
# :class: dropdown
# The seeded draws and the three $W_1$ values change with the seed; the versions, device and the fact that
# re-seeding repeats the draws do not. The $W_1$ values still agree with each other to solver precision.
# ```
#
# 2. *(15 min, easy)* For two Gaussians $\mathcal N(m_1, s^2)$ and $\mathcal N(m_2, s^2)$ with the same scale, what
#    is $W_p$ for every $p \ge 1$? Check your answer with `ot.wasserstein_1d` on large samples.
#
# ```{admonition} Solution
# :class: dropdown
# A shift moves every quantile by $m_2 - m_1$, so by {eq}`eq-wp-quantile`
#
# $$W_p = \left(\int_0^1 |m_2 - m_1|^p \, du\right)^{1/p} = |m_2 - m_1|$$
#
# for every $p$: the noise shape does not matter. Part I returns to this fact, because it is exactly the
# Wasserstein distance between $f(D) + Z$ and $f(D') + Z$ for any noise $Z$.
# ```
#
# 3. *(10 min, medium)* Why does `ot.emd2` need the full $n \times n$ cost matrix while the sorted-samples route
#    needs only $O(n \log n)$ time? What does that say about computing Wasserstein distances in more than one
#    dimension?
#
# ```{admonition} Solution
# :class: dropdown
# On the line, optimal transport is monotone: the $i$-th smallest point goes to the $i$-th smallest, so sorting
# solves it. In higher dimensions there is no such order, and the general solver works on the whole cost matrix
# (a linear program), which is why closed forms and 1-D reductions matter.
# ```

# %% [markdown]
# ## Where to go next
#
# Part I builds on exactly this computation. The remaining parts train models with the shared trainer; every chapter
# starts with the same parameters cell as this one.
