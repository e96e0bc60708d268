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
# # Deep learning: DP-SGD accounted by WDP, RDP, PRV and BDP
#
# **What the paper claims.** Its Table 2 (paper Table 2) trains convolutional networks on MNIST, Fashion-MNIST, CIFAR-10 and SVHN
# with "DP-SGD" and reports the budgets of three accountants (moments accountant DP, BDP, WDP) with the
# attack-success probability $P(A) = 1/(1 + e^{-\varepsilon})$ {cite}`triastcyn2020bdp` in parentheses. WDP
# gives the smallest budgets. (The table body was not retrievable; the released code evaluates $P(A)$ at six
# values, of which $0.40$–$0.52$ are probably WDP entries: that mapping is a guess, unverified.)
#
# **What this chapter does.** It runs *real* DP-SGD {cite}`abadi2016dpsgd` (opacus {cite}`yousefpour2021opacus`: per-example clipping, Poisson sampling) on a real
# dataset that ships inside scikit-learn, the 8×8 digits (1797 images), and accounts every step four ways: the
# Wasserstein accountant ($\mu = 16$, $\beta = 32$, as released), RDP, the tight PRV accountant and BDP. It
# then runs the released training scripts' semantics (no per-example clipping, a coordinate mask called
# "sampling") and says what that does to the budgets. The paper's image datasets are not used: they need a
# download, and the claim under test is about the accountants, not the architectures. Finally it puts the
# widely published DP-SGD MNIST settings through every accountant, beside the $\varepsilon$ their sources print,
# which needs no training at all, and audits the implementation with a canary: a measured lower bound on
# $\varepsilon$ beside the accountant's upper bound, and the audit's tests drawn on DP-SGD's trade-off curve.
#
# **Learning goals**
#
# - Train with opacus's `PrivacyEngine` and feed several accountants the same steps.
# - Read accuracy against $\varepsilon$ for accountants that measure different things.
# - See how the released scripts' training differs from DP-SGD, and what guarantee it actually has.
# - Audit the implementation: an empirical lower bound on $\varepsilon$ beside the accountant's upper bound.
# - Read a privacy guarantee as a trade-off curve, and place an attack's error rates on it.

# %% tags=["parameters"]
profile: str = "quick"  # "quick": 8 epochs, 3 noise levels; "paper": 40 epochs, 5 levels
seed: int = 0
device: str = "auto"  # training runs on the CPU: the model is tiny
data_dir: str | None = None  # not used: scikit-learn's digits ship inside the wheel

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

import affect_lib
from affect_lib import claims, expected
from affect_lib.claims import claims_table, number
from affect_lib.privacy import (
    GaussianAccountant,
    PLDAccountant,
    PRVAccountant,
    RDPAccountant,
    checks,
    wasserstein_noise_floor,
)
from affect_lib.privacy.analysis import gdp, pld
from affect_lib.privacy.analysis.gdp import epsilon_from_mu
from affect_lib.privacy.audit import (
    audit_dpsgd,
    clopper_pearson_upper,
    epsilon_lower_bound,
    gdp_mu_lower_bound,
)
from affect_lib.privacy.dpsgd import load_digits_tensors, train_dpsgd
from affect_lib.privacy.tradeoff import gaussian_tradeoff, profile_tradeoff

cfg = affect_lib.setup(profile, seed, device, data_dir)
epochs = cfg.pick(quick=8, paper=40)
noise_levels = cfg.pick(quick=[0.8, 1.5, 3.0], paper=[0.6, 0.8, 1.5, 3.0, 6.0])
batch_size, lr, clip, delta = 64, 0.5, 1.0, 1e-5
x_tr, _, x_te, _ = load_digits_tensors(cfg.seed)
print(cfg)
print(
    f"digits: {len(x_tr)} train / {len(x_te)} test images | {epochs} epochs, noise {noise_levels}"
)

# %% [markdown]
# ## DP-SGD with four accountants
#
# The model is a 64–64–10 perceptron. Opacus samples each batch by Poisson sampling at the rate its data loader
# sets, $q = 1/\mathrm{len(loader)} = 1/\lceil 1437/64 \rceil = 1/23$ (not $64/1437$); the accountants read that
# rate from the loader. Each example's gradient is clipped to $C = 1$ and Gaussian noise of standard deviation
# $zC$ is added to their sum.
#
# **Adjacency.** RDP and PRV (and PLD below) use *add/remove one example*: the noisy sum moves by at most $C$.
# The Wasserstein and Bayesian accountants need *gradient differences*: as in the paper we take 8 examples of
# each batch and their $\binom82 = 28$ pairwise differences of clipped per-example gradients. Those are
# *replace-one* neighbours, whose differences reach $2C$. So we also report the replace-one DP budget (PLD with
# the replace-one relation), the one to set beside WDP and BDP.

# %%
runs = {
    z: train_dpsgd(
        z,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_grad_norm=clip,
        delta=delta,
        seed=cfg.seed,
    )
    for z in noise_levels
}
accountant_names = ("wdp", "rdp", "prv", "bdp")
steps = runs[noise_levels[0]].steps
rate = runs[noise_levels[0]].sample_rate
replace_one = {}
for z in noise_levels:
    acc = PLDAccountant(value_discretization_interval=1e-3, neighboring_relation="replace_one")
    acc.step(noise_multiplier=z, sample_rate=rate, steps=steps)
    replace_one[z] = acc.get_epsilon(delta)
trained = pd.DataFrame(
    [
        {
            "z": z,
            "accuracy": run.accuracy[-1],
            "WDP": run.epsilon["wdp"][-1],
            "BDP": run.epsilon["bdp"][-1],
            "RDP (add/remove)": run.epsilon["rdp"][-1],
            "PRV (add/remove)": run.epsilon["prv"][-1],
            "PLD (replace-one)": replace_one[z],
            "max ||d_i|| / C": run.max_pair_distance / clip,
        }
        for z, run in runs.items()
    ]
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"{epochs} epochs = {steps} steps, sample rate read from opacus's loader: q = {rate:.5f}")
print(
    f"q = 1/23 exactly: {rate == 1 / 23}; every pair difference <= 2C: "
    f"{bool((trained['max ||d_i|| / C'] <= 2 + 1e-6).all())}"
)
print("the DP budgets depend only on (z, q, steps): exact")
trained[["z", "RDP (add/remove)", "PRV (add/remove)", "PLD (replace-one)"]].round(3)

# %% [markdown]
# The accuracies and the WDP and BDP budgets depend on the trained weights, which float rounding moves across
# CPUs and thread counts. They are shown in the next (unchecked) cell and compared with committed values in the
# one after it, within tolerances measured over three seeds and the baseline kernels.

# %%
trained.round(4)

# %%
# NBVAL_CHECK_OUTPUT
print(
    expected.check(
        "13_wdp_deep_learning",
        {
            **{f"accuracy, z = {z}": r.accuracy[-1] for z, r in runs.items()},
            **{f"WDP eps, z = {z}": r.epsilon["wdp"][-1] for z, r in runs.items()},
            **{f"BDP eps, z = {z}": r.epsilon["bdp"][-1] for z, r in runs.items()},
        },
    )
)

# %% [markdown]
# ## Accuracy against epsilon

# %% mystnb={"figure": {"caption": "Test accuracy on digits after each epoch against the budget each accountant reports at that point (quick profile, real data, 8 epochs). For RDP, PRV and BDP more noise moves the curves left (smaller $\\varepsilon$) and down (lower accuracy): the usual privacy\u2013utility trade-off. For WDP the order is *reversed*: more noise gives a *larger* budget, because the accountant's per-step value is dominated by the noise's own $\\mu$-th moment, which grows linearly with $z$.", "name": "fig-13-wdp-deep-learning-1"}}
fig, axes = plt.subplots(2, 2, figsize=(7, 5.8), sharey=True)
for ax, name in zip(axes.flat, accountant_names, strict=True):
    for z, run in runs.items():
        _ = ax.plot(run.epsilon[name], run.accuracy, "o-", ms=3, label=f"z = {z:g}")
    ax.set(xscale="log", xlabel=rf"$\varepsilon$ ({name.upper()})", title=name.upper())
    ax.xaxis.set_minor_formatter(NullFormatter())
for ax in axes[:, 0]:
    ax.set_ylabel("test accuracy")
axes[0, 0].legend(fontsize=10)
fig.tight_layout()
plt.show()

# %%
floor = {z: wasserstein_noise_floor(28, z * clip, rate, 16) for z in noise_levels}
floor_ratio = {z: floor[z] / (z * clip) for z in noise_levels}
mean_ratio = {z: float(np.mean(r.wdp_step_losses)) / floor[z] for z, r in runs.items()}

# %%
# NBVAL_CHECK_OUTPUT
for z in noise_levels:
    print(f"z = {z:3.1f}: noise floor of W_t = {floor_ratio[z]:.4f} x (noise std z C)")

# %%
for z in noise_levels:
    print(f"z = {z:3.1f}: mean per-step W_t / floor = {mean_ratio[z]:.6f}")

# %% [markdown]
# The floor is the same multiple of the noise for every noise level, $28^{1/16}\sqrt{2(1-q+q^2)}
# (\mathbb E|Z|^{16})^{1/16} \approx 4.226$ (with $\mathbb E|Z|^{16} = 15!! = 2027025$), and the measured
# per-step values sit a fraction of a percent above it: the WDP budget is a multiple of the noise, not a measure
# of what the noise hides. An attack probability $P(A) = 1/(1 + e^{-\varepsilon})$ computed from a WDP budget
# has no meaning: the budget is in gradient-norm units, and rescaling the loss rescales it (chapter 12).
#
# ## The released scripts' semantics
#
# The released training scripts do not run DP-SGD. Per batch they clip the **batch-mean** gradient to $C$ (no
# per-example clipping), add noise of standard deviation $zC$, zero about 90% of the coordinates at random (called
# "sampling"), and take shuffled fixed-size batches. Their accountants are nevertheless fed $q = B/N$ and the
# differences of leave-one-out mean gradients, which are about $B$ times smaller than per-example differences.
# We run that with the released noise level $z = 0.01$ (MNIST script).
#
# What guarantee does that training have? Replacing one example moves the clipped batch mean by at most $2C$, the
# noise is $zC$, and each example falls into exactly one batch per epoch: each epoch is one Gaussian mechanism with
# noise multiplier $z/2$ and no sampling amplification ($q = 1$). Composing `epochs` of them gives a valid RDP
# bound (the coordinate mask is post-processing and cannot be credited). Beside it we put the two DP numbers
# that $q = B/N$ would give: the released *moments accountant* (the BDP code without the Bayesian part: a single
# order $\lambda = 16$, i.e. RDP at $\alpha = 17$ with the basic conversion) and RDP at the optimal order, both
# of which assume Poisson sampling that the scripts do not do.
#
# **Why $q = 1$ and not a bound for shuffled batches.** The $q = 1$ bound is valid for shuffling: fix the
# permutation; the replaced example then lies in exactly one batch per epoch, every other step of the epoch reads
# only data common to both datasets, so by adaptive composition the epoch costs one Gaussian mechanism of noise
# multiplier $z/2$; a random permutation mixes these cases, and a mixture of mechanisms that each satisfy a
# privacy profile satisfies it too (the hockey-stick divergence is jointly convex). What shuffling does *not* give
# is the amplification that $q = B/N$ with the Poisson analysis credits: Chua et al. {cite}`chua2024shuffling`
# show that the privacy loss of shuffled batches can lie far above that Poisson accounting, so those two rows are
# not bounds for this training. The known amplification-by-shuffling theorems {cite}`feldman2021clones` are for
# local randomizers (each record's report is itself differentially private), which a DP-SGD step is not; a
# valid, tighter accountant for shuffled DP-SGD batches is beyond this book, and we keep the $q = 1$ bound.

# %%
z_rel = 0.01
released = train_dpsgd(
    z_rel,
    epochs=epochs,
    batch_size=batch_size,
    lr=lr,
    max_grad_norm=clip,
    delta=delta,
    seed=cfg.seed,
    semantics="released",
    accountants=("wdp", "bdp"),
)
moments_released = RDPAccountant(orders=[17.0], conversion="basic")
moments_released.step(
    noise_multiplier=z_rel, sample_rate=released.sample_rate, steps=released.steps
)
rdp_poisson = RDPAccountant()
rdp_poisson.step(noise_multiplier=z_rel, sample_rate=released.sample_rate, steps=released.steps)
valid = RDPAccountant()
valid.step(noise_multiplier=z_rel / 2, sample_rate=1.0, steps=epochs)
released_rows = []
for label, acc in (
    ("moments accountant as released (alpha = 17, basic, q = B/N)", moments_released),
    ("RDP at the optimal order, q = B/N (assumes Poisson sampling)", rdp_poisson),
    (f"valid bound: q = 1, z/2, {epochs} compositions (optimal order)", valid),
):
    with warnings.catch_warnings(record=True) as caught:  # shown in the table, not silenced
        warnings.simplefilter("always")
        eps = acc.get_epsilon(delta)
    released_rows.append(
        {"accounting": label, "eps": eps, "optimum at the grid's edge": bool(caught)}
    )
released_dp = pd.DataFrame(released_rows)

# %%
# NBVAL_CHECK_OUTPUT
print(
    f"released semantics, z = {z_rel}: {released.steps} steps, q = B/N = {released.sample_rate:.5f}"
)
released_dp.assign(eps=released_dp["eps"].map("{:.4g}".format))

# %%
print(f"accuracy {released.accuracy[-1]:.3f}; as the released WDP and BDP accountants report it:")
print(f"WDP {released.epsilon['wdp'][-1]:.4g}, BDP {released.epsilon['bdp'][-1]:.4g}")

# %%
# NBVAL_CHECK_OUTPUT
print(
    expected.check(
        "13_wdp_deep_learning_released",
        {
            "released accuracy": released.accuracy[-1],
            "released WDP eps": released.epsilon["wdp"][-1],
            "released BDP eps": released.epsilon["bdp"][-1],
        },
    )
)

# %% [markdown]
# The BDP number uses the released confidence level $1 - 10^{-16}$ with 28 pairs, so its Student-t bound is very
# wide; with a few hundred pairs it tightens.
#
# The WDP number for the released semantics is small only because the leave-one-out differences are tiny *and*
# the noise is tiny: both factors enter $W_t$ directly. The training itself has almost no privacy: with
# $z = 0.01$ every DP accounting gives an astronomically large $\varepsilon$.
#
# ## Anchors that need no training: published DP-SGD settings
#
# The settings below are the most reproduced DP-SGD runs on MNIST (60,000 images, $\delta = 10^{-5}$). Their
# sources print $\varepsilon$ from the RDP/moments accountant of the time; we recompute every accountant for the
# same $(z, q, T)$ with $q = \text{batch}/60000$ and $T = \lfloor \text{epochs} \cdot 60000/\text{batch}
# \rfloor$. Abadi et al. {cite}`abadi2016dpsgd` (Secs. 3.1 and 5.1) set $q = 0.01$ (lots of 600),
# $\sigma = 4$, $\delta = 10^{-5}$: the moments accountant gives $\varepsilon \approx 1.26$ after $E = 100$ epochs
# ($T = 10{,}000$) and $2.55$ after $E = 400$, where the strong composition theorem gives $9.34$ and $24.22$.
# (Their MNIST results, $\varepsilon = 0.5$, $2$ and $8$ for $\sigma = 8$, $4$ and $2$, are read off training curves
# whose epoch counts the text does not state, and include the PCA projection's own noise: no anchor.) Then the
# TensorFlow Privacy tutorial {cite}`tfprivacy2019tutorials` (its table of settings; the default row, $z = 1.12$ for
# 60 epochs, prints $\varepsilon = 2.92$, and the flags default of many copies, $z = 1.1$, is shown too) and Bu
# et al. {cite}`bu2020gdp` (paper Fig. 4: $z = 1.3$ for 20 epochs and $z = 0.7$ for 70 epochs give
# $\varepsilon = 1.34$ and $8.68$ by the moments accountant). "RDP, TF grid" uses TF Privacy's orders
# $1.1, \dots, 10.9, 12, \dots, 63$ and the basic conversion of its 2019 release; "RDP" uses this library's grid
# and the conversion of Balle et al. The last column is the Wasserstein accountant's noise floor for the same run
# ($\mu = 16$, $\beta = 32$, 28 pairs, $C = 1$), which no training can go below.

# %%
tf_orders = [1 + x / 10 for x in range(1, 100)] + list(range(12, 64))
settings = [  # (source, z, batch of 60,000, epochs, published eps)
    ("Abadi et al., Sec. 5.1", 4.0, 600, 100, 1.26),
    ("Abadi et al., Sec. 5.1", 4.0, 600, 400, 2.55),
    ("TF Privacy, default row", 1.12, 256, 60, 2.92),
    ("TF Privacy flags, z = 1.1", 1.1, 256, 60, None),
    ("TF Privacy table", 0.6, 256, 30, 9.74),
    ("TF Privacy table", 1.2, 256, 10, 1.20),
    ("Bu et al., paper Fig. 4", 1.3, 256, 20, 1.34),
    ("Bu et al., paper Fig. 4", 0.7, 256, 70, 8.68),
]
anchor_rows = []
for source, z, batch, ep, published in settings:
    q_mnist, t_steps = batch / 60000, ep * 60000 // batch
    books = {
        "RDP, TF grid": RDPAccountant(orders=tf_orders, conversion="basic"),
        "RDP": RDPAccountant(),
        "PLD": PLDAccountant(value_discretization_interval=1e-3),
        "PRV": PRVAccountant(eps_error=0.05),
        "GDP (CLT)": GaussianAccountant(),
    }
    row = {
        "source": source,
        "z": z,
        "batch": batch,
        "epochs": ep,
        "steps": t_steps,
        "published": published,
    }
    for name, book in books.items():
        book.step(noise_multiplier=z, sample_rate=q_mnist, steps=t_steps)
        row[name] = book.get_epsilon(delta)
    row["WDP floor"] = t_steps * wasserstein_noise_floor(28, z, q_mnist, 16) - np.log(delta) / 32
    anchor_rows.append(row)
anchors = pd.DataFrame(anchor_rows)

# %%
# NBVAL_CHECK_OUTPUT
anchors.round(2)

# %% [markdown]
# The published numbers are reproduced by the RDP accountant of their time (Abadi et al.'s $1.26$ to its printed
# digits; their $2.55$ lies 1% below the $2.57$ of the exact moments, for a reason the paper does not give), and
# the tight accountants (PLD, PRV) are lower; GDP's central-limit approximation is lower still (it can underestimate). The WDP floor, in
# gradient-norm units, exceeds every DP budget by orders of magnitude and *grows* with the noise multiplier.
#
# The paper's own four deep-learning configurations (paper Table 2's scripts) have tiny noise multipliers. For
# them we can compute the WDP floor and the RDP budget; PLD and PRV run out of memory at such noise levels.

# %%
configs = [
    ("MNIST / F-MNIST", 0.01, 1024 / 60000, 25 * 59),
    ("CIFAR-10", 5e-4, 512 / 50000, 60 * 98),
    ("SVHN", 5e-4, 512 / 73257, 25 * 144),
]
config_rows = []
for name, z, q_cfg, t_steps in configs:
    acc = RDPAccountant()
    acc.step(noise_multiplier=z, sample_rate=q_cfg, steps=t_steps)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        eps, order = acc.get_privacy_spent(delta)
    config_rows.append(
        {
            "config": name,
            "z": z,
            "q": q_cfg,
            "steps": t_steps,
            "WDP floor": t_steps * wasserstein_noise_floor(28, z, q_cfg, 16) - np.log(delta) / 32,
            "RDP eps": eps,
            "best order": order,
            "optimum at the grid's edge": bool(caught),
        }
    )
paper_configs = pd.DataFrame(config_rows)

# %%
# NBVAL_CHECK_OUTPUT
paper_configs.assign(
    **{k: paper_configs[k].map("{:.4g}".format) for k in ("q", "WDP floor", "RDP eps")}
)

# %% [markdown]
# Where the optimum is the grid's smallest order ($1.001$) the library warns, and the tables say so: the RDP
# value is then an upper bound that a longer grid would lower, still astronomically large. The WDP floors are
# far above the $0.4$–$0.5$ that the paper's Table 2 probably reports, so those values cannot come from the
# released defaults.
#
# ## An empirical audit: does the implementation leak more than it accounts?
#
# Every accountant above gives an *upper* bound, proved for DP-SGD as written on paper. An audit measures a
# *lower* bound from the implementation itself {cite}`jagielski2020auditing,nasr2021adversary`: train many times
# with and without one extra example, the *canary*, and test from each trained model whether the canary was there.
# Any $(\varepsilon, \delta)$-DP training forces every such test to satisfy $\mathrm{FPR} + e^{\varepsilon}
# \mathrm{FNR} \ge 1 - \delta$, and the same with the two error rates swapped, so upper confidence bounds on the two
# rates give
#
# $$\varepsilon_{\mathrm{lb}} = \max\Big(\log\frac{1 - \delta - \mathrm{FNR}_{\mathrm{hi}}}{\mathrm{FPR}_{\mathrm{hi}}},\;
# \log\frac{1 - \delta - \mathrm{FPR}_{\mathrm{hi}}}{\mathrm{FNR}_{\mathrm{hi}}}\Big).$$
#
# An $\varepsilon_{\mathrm{lb}}$ above the accountant's $\varepsilon$ would mean the implementation leaks more than
# accounted (a missing noise term, a clipping bug, a wrong sampling rate).
#
# The audited training is opacus's `PrivacyEngine` as above (Poisson sampling at $q = 1/\mathrm{len(loader)}$,
# per-example clipping to $C = 1$, noise $zC$), on a model small enough to train a thousand times in seconds: a
# logistic regression (64 → 10, no bias, zero initial weights) on 200 digits, 4 full-batch steps ($q = 1$). The
# canary is an image whose only non-zero pixel (value 2) is the top-left one, which is 0 in all 1797 digits: no
# other example moves the weights it moves, and its gradient (norm about 1.9 before clipping) is clipped to $C$ at
# every step, the worst case the accountant allows. The membership statistic is the canary's loss. A threshold
# chosen on half of the runs is applied to the other half, and the two error rates get one-sided 95%
# Clopper–Pearson bounds (valid together with probability at least 90%). Adjacency is add/remove, the RDP
# accountant's. With $q = 1$ the run is exactly $\sqrt{T}/z$-GDP, so its exact $\varepsilon$ is known too. Without
# noise ($z = 0$) the test never errs and $\varepsilon_{\mathrm{lb}}$ is the largest that the runs can show: the
# audit can see a missing noise wherever the accountant's $\varepsilon$ is below that. A second threshold, chosen
# on the same half to make the two error counts equal, serves the GDP audit of the next section.

# %%
audit_trials = cfg.pick(quick=1000, paper=4000)  # trainings with the canary, and as many without
audits = {
    z: audit_dpsgd(z, n_trials=audit_trials, max_grad_norm=clip, delta=delta, seed=cfg.seed)
    for z in (0.0, 1.0, 3.0)
}
control = audits[0.0]
noised = {z: a for z, a in audits.items() if z > 0}
audit_table = pd.DataFrame(
    [
        {
            "z": z,
            "false positives": a.false_positives,
            "false negatives": a.false_negatives,
            "runs a side": a.n_eval,
            "eps lower bound (audit)": a.epsilon_lower,
            "eps lb if the curve is Gaussian (GDP audit)": a.epsilon_lower_gdp if z > 0 else np.nan,
            "eps upper bound (RDP)": a.epsilon_upper,
            "exact eps (GDP, q = 1)": np.inf
            if z == 0
            else epsilon_from_mu(np.sqrt(a.steps) / z, delta),
        }
        for z, a in audits.items()
    ]
)
# the largest lower bound these runs can show: no error at all (the noiseless control's)
most_shown = epsilon_lower_bound(0, 0, control.n_eval, delta)
testable = {z: most_shown > a.epsilon_upper for z, a in noised.items()}
leaks_no_more = checks.not_exceeded_where_testable(
    [a.epsilon_lower for a in noised.values()],
    [a.epsilon_upper for a in noised.values()],
    most_shown,
)

# %%
audit_table.round(3).astype(object).fillna("n/a (not GDP)")

# %%
# NBVAL_CHECK_OUTPUT
print(
    f"{control.steps} full-batch steps (q = {control.sample_rate:g}); {audit_trials} trainings "
    f"with and {audit_trials} without the canary;"
)
print(f"errors counted on {control.n_eval} a side")
print(
    f"z = 0 (no noise): {control.false_positives} false positives, "
    f"{control.false_negatives} false negatives:"
)
print(
    f"  ε lower bound {control.epsilon_lower:.3f}, the most {control.n_eval} runs a side can show"
)
for z, a in noised.items():
    print(f"z = {z:g}: RDP accountant ε = {a.epsilon_upper:.3f}")
# the bounds of a test that ignores the model (always "in": every canary-out run a false positive)
n_side = control.n_eval
blind = {
    "audit eps lower bound, z = 1": epsilon_lower_bound(n_side, 0, n_side, delta),
    **{
        f"audit GDP mu lower bound, z = {z:g}": gdp_mu_lower_bound(n_side, 0, n_side)
        for z in noised
    },
}
print(
    expected.check(
        "13_wdp_deep_learning_audit",
        {
            "audit eps lower bound, z = 1": noised[1.0].epsilon_lower,
            **{f"audit GDP mu lower bound, z = {z:g}": a.mu_lower for z, a in noised.items()},
        },
        constants=blind,
    )
)
print(f"the most {control.n_eval} runs a side can show: ε lower bound {most_shown:.3f}")
for z, a in noised.items():
    can = "can" if testable[z] else "cannot"
    print(f"  z = {z:g}: the check {can} fail (RDP ε {a.epsilon_upper:.3f})")
print(
    "the implementation leaks no more than accounted, where the check can fail\n"
    f"  (audit ε lower bound ≤ RDP ε): {leaks_no_more}"
)
print(
    "a training without noise would be caught at z = 3 (control ε lower bound > RDP ε): "
    f"{control.epsilon_lower > noised[3.0].epsilon_upper}"
)

# %% [markdown]
# The audit's lower bounds sit below the accountant's upper bounds at both noise levels, and below the exact
# $\varepsilon$. The rule counts only the noise levels where the check can fail: those where the largest lower
# bound the runs can show (no error at all, as in the noiseless control) exceeds the accountant's $\varepsilon$.
# Where that holds, a training that dropped its noise would be caught (the library's tests do exactly that, with
# opacus's noise patched out). Where it does not, as printed above for $z = 1$, no outcome of these runs could
# contradict the accountant: a lower bound that large needs error rates near $e^{-\varepsilon}$, i.e. tens of
# thousands of trainings, and that noise level says nothing either way. Each lower bound holds with probability
# at least 90% (two one-sided 95% bounds); the two audited noise levels together with at least 80% (union
# bound). The released scripts'
# semantics is not audited: its valid DP bound above is already astronomically large, and no finite audit could
# contradict it.
#
# ## DP-SGD's trade-off curve, and the audit's tests on it
#
# A single $(\varepsilon, \delta)$ pair summarises a whole curve. The *trade-off curve* $f$ of a mechanism gives,
# at each false-positive rate $\alpha$ of a membership test, the smallest false-negative rate any test can reach
# {cite}`dong2022gdp`; it is the envelope of the lines that the mechanism's $(\varepsilon, \delta(\varepsilon))$
# guarantees draw. For DP-SGD we
# draw it from the privacy-loss distribution: the PLD gives the whole privacy profile $\delta(\varepsilon)$, and
# `profile_tradeoff` takes the envelope of the $(\varepsilon, \delta(\varepsilon))$ guarantees. For the audited
# training, full-batch DP-SGD with $T = 4$ steps, the curve is known in closed form: the Gaussian curve
# $G_\mu(\alpha) = \Phi(\Phi^{-1}(1 - \alpha) - \mu)$ with $\mu = \sqrt T / z$, against which the PLD envelope is
# checked.
#
# The audit's tests are points on this picture: the canary test at each threshold has an empirical
# $(\mathrm{FPR}, \mathrm{FNR})$, and an implementation that leaked more than accounted would put tests *below*
# the curve. The rule: a test respects the curve when its upper confidence corner does,
# $\mathrm{FNR}_{\mathrm{hi}} \ge f(\mathrm{FPR}_{\mathrm{hi}})$ (the true rates satisfy
# $\mathrm{FNR} \ge f(\mathrm{FPR}) \ge f(\mathrm{FPR}_{\mathrm{hi}})$, as $f$ decreases), checked at the two
# thresholds chosen on the other half of the runs. A test can fail this only if the smallest FNR upper bound the
# runs allow (no false negative at all) lies below the curve at its $\mathrm{FPR}_{\mathrm{hi}}$; the verdict
# counts only those tests. The same corner gives the *GDP audit* {cite}`nasr2023tight`:
# if the training is $\mu$-GDP, $\mu \ge \Phi^{-1}(1 - \mathrm{FPR}_{\mathrm{hi}}) - \Phi^{-1}(\mathrm{FNR}_{\mathrm{hi}})$,
# read at the equal-error threshold, where the two rates are estimated best; its $\varepsilon$ is a lower bound
# only if the training's trade-off curve is Gaussian, an assumption the assumption-free audit above does not make.

# %%
alpha_grid = np.linspace(0, 1, 401)
eps_profile = np.linspace(0, 30, 601)
trained_curves = {
    z: profile_tradeoff(alpha_grid, eps_profile, pld.pld_delta([(z, rate, steps)], eps_profile))
    for z in noise_levels
}
clt_mu = {z: gdp.gdp_mu([(z, rate, steps)]) for z in noise_levels}
audit_curves, envelope_gap, audit_points = {}, {}, []
for z, a in noised.items():
    mu_exact = np.sqrt(a.steps) / z
    audit_curves[z] = gaussian_tradeoff(alpha_grid, mu_exact)
    envelope = profile_tradeoff(
        alpha_grid, eps_profile, pld.pld_delta([(z, 1.0, a.steps)], eps_profile)
    )
    envelope_gap[z] = float(np.max(np.abs(envelope - audit_curves[z])))
    for kind, fp, fn in (
        ("max-eps threshold", a.false_positives, a.false_negatives),
        ("equal-error threshold", a.equal_error_false_positives, a.equal_error_false_negatives),
    ):
        fpr_hi, fnr_hi = clopper_pearson_upper(fp, a.n_eval), clopper_pearson_upper(fn, a.n_eval)
        audit_points.append(
            {
                "z": z,
                "test": kind,
                "FPR": fp / a.n_eval,
                "FNR": fn / a.n_eval,
                "FPR_hi": fpr_hi,
                "FNR_hi": fnr_hi,
                "curve at FPR_hi": float(gaussian_tradeoff(fpr_hi, mu_exact)),
                "curve at FPR": float(gaussian_tradeoff(fp / a.n_eval, mu_exact)),
            }
        )
audit_points = pd.DataFrame(audit_points)
smallest_fnr_hi = clopper_pearson_upper(0, control.n_eval)  # no false negative at all
can_fail = audit_points["curve at FPR_hi"] > smallest_fnr_hi  # else no outcome puts it below
curve_respected = checks.tradeoff_respected_where_testable(
    audit_points["FPR_hi"], audit_points["FNR_hi"], audit_points["curve at FPR_hi"], smallest_fnr_hi
)
n_points_below = int((audit_points["FNR"] < audit_points["curve at FPR"]).sum())
n_corners_above = int((audit_points["FNR_hi"] >= audit_points["curve at FPR_hi"]).sum())
n_bounds = 2 * int(can_fail.sum())  # one-sided 95% bounds the verdict reads

# %%
audit_points.round(3)

# %%
# NBVAL_CHECK_OUTPUT
for z in noised:
    print(
        f"z = {z:g}, q = 1, T = {control.steps}: PLD envelope vs the Gaussian curve "
        f"G_{np.sqrt(control.steps) / z:.3g}: largest gap {envelope_gap[z]:.3f}"
    )
print(
    f"observed (FPR, FNR) below the curve: {n_points_below} of {len(audit_points)}; "
    f"95% upper corners on or above it: {n_corners_above} of {len(audit_points)}"
)
print(
    f"smallest FNR_hi {control.n_eval} runs allow: {smallest_fnr_hi:.5f}; tests whose curve value "
    f"lies above it (can fail): {int(can_fail.sum())} of {len(audit_points)}"
)
print(
    f"every test that can fail has its upper corner on or above the curve: {curve_respected}\n"
    f"  ({n_bounds} one-sided 95% bounds: all hold with probability >= {1 - 0.05 * n_bounds:.0%})"
)

# %% mystnb={"figure": {"caption": "Trade-off curves: the smallest false-negative rate of any membership test at each false-positive rate (the diagonal is perfect privacy). Left: DP-SGD on digits as trained above (PLD envelope, add/remove; dashed: the GDP central-limit approximation). Right: the audited full-batch training, whose curve is the Gaussian $G_{\\sqrt{T}/z}$ (solid; the PLD envelope dotted on top), with the canary test's empirical error rates at every threshold (thin steps), the two chosen tests (dots) and their 95% upper corners (crosses). The observed points may lie below the curve (sampling error); every test's 95% upper corner lies on or above its curve, as the printed check above counts.", "name": "fig-13-wdp-deep-learning-tradeoff"}}
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(7.2, 3.7), sharey=True)
for color, z in zip(("C0", "C1", "C2", "C3", "C4"), noise_levels, strict=False):
    _ = ax0.plot(alpha_grid, trained_curves[z], color=color, label=f"z = {z:g}")
    _ = ax0.plot(alpha_grid, gaussian_tradeoff(alpha_grid, clt_mu[z]), "--", color=color, lw=1)
ax0.set(title=f"DP-SGD, q = 1/23, T = {steps}", xlabel="false-positive rate")
ax0.set_ylabel("false-negative rate")
for color, (z, a) in zip(("C1", "C2"), noised.items(), strict=True):
    _ = ax1.plot(alpha_grid, audit_curves[z], color=color, label=f"z = {z:g}")
    thresholds = np.unique(np.concatenate([a.scores_out, a.scores_in]))
    fpr = (a.scores_out[None, :] > thresholds[:, None]).mean(1)
    fnr = (a.scores_in[None, :] <= thresholds[:, None]).mean(1)
    _ = ax1.plot(fpr, fnr, color=color, lw=0.6, alpha=0.6)
    pts = audit_points[audit_points["z"] == z]
    _ = ax1.plot(pts["FPR"], pts["FNR"], "o", color=color, ms=5)
    _ = ax1.plot(pts["FPR_hi"], pts["FNR_hi"], "x", color=color, ms=6)
ax1.set(title=f"audited training, q = 1, T = {control.steps}", xlabel="false-positive rate")
for ax in (ax0, ax1):
    _ = ax.plot([0, 1], [1, 0], ":", color="grey", lw=1)
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Tighter audits, and what they cost
#
# The audit above assumes nothing about the training and pays for it in runs: its bound can reach
# $\varepsilon$ only where error rates near $e^{-\varepsilon}$ can be measured. Two cheaper routes exist, each with
# its own price.
#
# - **The GDP audit** {cite}`nasr2023tight` reads the same runs through the Gaussian trade-off curve and lands much
#   closer to the exact value (the audit table's "if the curve is Gaussian" column, from the printed $\mu$
#   bounds; n/a for the noiseless control, which is $\mu$-GDP for no $\mu$), at no extra training. Its
#   price is an assumption: the bound holds only if the training's curve is Gaussian. That is true of full-batch
#   DP-SGD as specified, but it is part of what an audit should test; a bug that changed the curve's shape (a
#   heavier-tailed noise, say) could be misread.
# - **One-run auditing** {cite}`steinke2023onerun` inserts many canaries, each with probability one half, into a
#   *single* training and guesses which were in: one training instead of thousands. Its price is tightness: the
#   bound is limited by the number of canaries and is loose for large $\varepsilon$, and the canaries must not
#   interfere with each other (here, distinct isolated pixels would do, one per unused pixel).
#
# Neither changes the verdict here; both would let an audit of a large model, where a thousand trainings are out
# of reach, say something.
#
# ## What the paper claims and what this chapter measured
#
# Exact: the DP budgets (from $z$, $q$ and the number of steps), the noise floors and the anchors. With a
# tolerance (committed in `notebooks/expected/13_wdp_deep_learning*.json`, measured over three seeds and the
# baseline kernels): the accuracies and the WDP and BDP budgets, which depend on the trained weights.

# %% tags=["hide-input"]
z_mid = noise_levels[len(noise_levels) // 2]
mid = runs[z_mid]
wdp_final = [runs[z].epsilon["wdp"][-1] for z in noise_levels]
claims_table(
    "13_wdp_deep_learning",
    cfg.profile,
    [
        (
            "WDP gives the smallest budget of the accountants",
            "✓ (paper Table 2)",
            f"digits, $z = {z_mid}$: WDP {number(mid.epsilon['wdp'][-1])}, RDP "
            f"{number(mid.epsilon['rdp'][-1])}, "
            f"PRV {number(mid.epsilon['prv'][-1])}, BDP {number(mid.epsilon['bdp'][-1])}; "
            "WDP is in gradient units, so the comparison depends on the units",
            "n/a",
        ),
        (
            r"WDP budgets around $0.4$–$0.5$",
            "0.40–0.52 (mapping of the P(A) values guessed, unverified)",
            f"WDP floor of the released MNIST config: {number(paper_configs['WDP floor'].iloc[0])}",
            "n/a",
        ),
        (
            "More noise gives a smaller WDP budget",
            "implicit",
            f"WDP at $z = {noise_levels[0]}$ / ${noise_levels[-1]}$: "
            f"{number(runs[noise_levels[0]].epsilon['wdp'][-1])} / "
            f"{number(runs[noise_levels[-1]].epsilon['wdp'][-1])}",
            checks.strictly_lower(wdp_final[:-1], wdp_final[1:], tol=0.0),
        ),
        (
            "The released scripts' WDP reflects the privacy of their training",
            "small WDP budgets",
            f"released WDP {number(released.epsilon['wdp'][-1])}; valid DP bound of that training "
            f"{number(released_dp['eps'].iloc[-1])}",
            checks.below(released_dp["eps"].iloc[-1], 10.0),
        ),
        (
            "The implementation leaks no more than accounted",
            "assumed (DP-SGD's proof)",
            "canary audit, 4 full-batch steps: ε lower bound "
            + ", ".join(
                f"{a.epsilon_lower:.2f} (if the curve is Gaussian: {a.epsilon_lower_gdp:.2f}) "
                f"vs RDP {a.epsilon_upper:.2f} at $z = {z:g}$"
                + ("" if testable[z] else " (cannot fail)")
                for z, a in noised.items()
            )
            + f"; {control.n_eval} runs a side show at most {most_shown:.2f}",
            leaks_no_more,
        ),
        (
            "The audit's membership tests respect DP-SGD's trade-off curve",
            "assumed (DP-SGD's proof)",
            f"{len(audit_points)} audit tests (2 thresholds at each noise level), "
            f"{int(can_fail.sum())} of which can fail: {n_corners_above} of {len(audit_points)} "
            "95% upper corners lie on or above $G_{\\sqrt{T}/z}$, "
            f"{n_points_below} observed points below it; PLD envelope within "
            f"{max(envelope_gap.values()):.3f} of it",
            curve_respected,
        ),
    ],
    rule="n/a: not comparable (row 1: WDP is in gradient units, the DP budgets unit-free; row 2: "
    "the paper's Table 2 values could not be retrieved, their mapping is a guess). Noise row: yes "
    "when every step up in noise lowers the final WDP. Released row: yes when the valid DP bound "
    "of that training is below 10. Audit and trade-off rows count only the checks that can fail "
    f"with {control.n_eval} runs a side (audit: the error-free bound {most_shown:.2f} exceeds the "
    "RDP ε; trade-off: the error-free FNR bound lies below the curve at the test's FPR_hi): no "
    "when one fails (audit: lower bound above the RDP ε; trade-off: upper corner below the "
    "curve), inconclusive when none can fail, else yes. Each audit's bound holds with probability "
    "≥ 90%, both together ≥ 80%; the trade-off row's "
    f"{n_bounds} bounds together ≥ {1 - 0.05 * n_bounds:.0%} (union bound). The GDP audit's "
    "bound assumes a Gaussian trade-off curve and decides nothing.",
)

# %%
# NBVAL_CHECK_OUTPUT
print(claims.verdicts("13_wdp_deep_learning"))

# %% [markdown]
# The first row is not comparable because WDP is in gradient-norm units and the DP-type budgets are unit-free.
# The second row sets the released MNIST configuration's WDP floor beside the paper's values, but those values
# could not be retrieved and their mapping from the released $P(A)$ values is a guess, so there is nothing
# verified to compare with.
#
# ## Exercises
#
# 1. *(20 min, medium)* Compute the released MNIST configuration's WDP *noise floor*: $z = 0.01$, $q = 1024/60000$,
#    28 pairs, $T = 1475$ steps, $\mu = 16$, $\beta = 32$, $\delta = 10^{-5}$ (hint: `wasserstein_step_loss` with
#    zero distances). Can the paper's $\varepsilon \approx 0.4$ come from that configuration?
#
# ```{admonition} Solution
# :class: dropdown
# `T * wasserstein_step_loss(np.zeros(28), 0.01, 1024 / 60000, 16) + np.log(1e5) / 32` is about
# $1475 \times 0.0428 + 0.36 \approx 63.5$, far above 0.4. Since every step's value is at least this floor, the
# paper's values cannot come from the released defaults.
# ```
#
# 2. *(30 min, medium)* Calibrate DP-SGD to a PRV budget of $\varepsilon = 3$ at $\delta = 10^{-5}$ for this schedule
#    with `opacus.accountants.utils.get_noise_multiplier`, train, and report accuracy.
#
# ```{admonition} Solution
# :class: dropdown
# `get_noise_multiplier(target_epsilon=3, target_delta=1e-5, sample_rate=1 / 23, epochs=8, accountant="prv")`
# returns the noise multiplier; check it by stepping a `PRVAccountant` with it for the schedule's steps and
# reading `get_epsilon(1e-5)`, then train with `train_dpsgd(z, epochs=8)` and set the accuracy beside the runs
# above.
# ```
#
# 3. *(20 min, hard)* In the released semantics, replace the batch-mean clipping with per-example clipping but keep
#    the coordinate mask. Which accountant assumptions are still violated?
#
# ```{admonition} Solution
# :class: dropdown
# Shuffled fixed-size batches are not Poisson sampling, so $q = B/N$ with the Poisson analysis does not apply
# (use the sampling-without-replacement analysis, or draw Poisson batches). The noise is not a violated
# assumption: with per-example clipping the clipped mean has replace-one sensitivity $2C/B$, so noise $zC$ on
# the mean is $B$ times more than DP-SGD's $zC/B$, a conservative choice that the accountants may credit as
# noise multiplier $zB/2$. The mask is post-processing: harmless, but it is not "sampling".
# ```
#
# ```{admonition} Re-run this chapter
# :class: tip
# nbval checks the cells marked `# NBVAL_CHECK_OUTPUT`: the exact DP budgets, the noise floors, the
# anchors, the tolerance checks of the trained results and of the audit, the trade-off check and the verdicts.
# ```
