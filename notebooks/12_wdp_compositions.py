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
# # Compositions: the Wasserstein accountant against DP, BDP and tight accountants (Figure 2)
#
# **What the paper claims.** Its Figure 2 (paper Fig. 2) composes 100 steps of the subsampled Gaussian mechanism on synthetic
# gradients and plots three budgets: DP from the moments accountant, Bayesian DP (BDP) {cite}`triastcyn2020bdp` and WDP from the new
# *Wasserstein accountant*. WDP comes out lowest and grows slowly: "the overestimation on privacy budgets can be
# effectively alleviated".
#
# **What this chapter does.** It reproduces the experiment with the released settings, then adds what the paper
# left out: *tight* DP accountants for the same mechanism (privacy-loss distributions, PLD {cite}`koskela2020pld`, and opacus's PRV {cite}`gopi2021prv`) and
# RDP optimised over orders instead of the single order $\alpha = 17$. It then shows that the comparisons depend on
# the *units* of the gradients: WDP is a distance between outputs, so rescaling every gradient by $s$ multiplies
# it by $s$, while DP, RDP, PLD, PRV and BDP budgets do not move.
#
# **Learning goals**
#
# - Run the Wasserstein accountant: per step $W_t = \big(\sum_i \mathbb E|\mathcal N(q d_i, v)|^\mu\big)^{1/\mu}$,
#   $v = 2(1 - q + q^2)\sigma^2$, composed additively, $\varepsilon = \sum_t W_t + \log(1/\delta)/\beta$.
# - See which parts of a budget come from the noise and which from the data.
# - Put a loose baseline (single-order RDP, basic conversion) beside tight accountants (PLD, PRV).

# %% tags=["parameters"]
profile: str = "quick"  # "quick": 2 seeds of the synthetic experiment; "paper": 5 seeds
seed: int = 0
device: str = "auto"
data_dir: str | None = None  # not used: synthetic gradients, as in the paper

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, display
from scipy.spatial.distance import pdist

import affect_lib
from affect_lib.claims import claims_table, number
from affect_lib.privacy import (
    BayesianAccountant,
    PLDAccountant,
    PRVAccountant,
    RDPAccountant,
    WassersteinAccountant,
    wasserstein_noise_floor,
    wasserstein_step_loss,
)
from affect_lib.privacy.interactive import epsilon_sigma_grid, epsilon_sigma_html
from affect_lib.progress import progress

cfg = affect_lib.setup(profile, seed, device, data_dir)
n_seeds = cfg.pick(quick=2, paper=5)
print(cfg, f"| {n_seeds} seeds")

# %% [markdown]
# ## The released experiment
#
# Each of $T = 100$ steps draws 50 synthetic gradients of dimension 1000 from a Weibull(0.5) law, clips the rows to
# $C_t$ = a quantile of their norms (0.05, 0.50, 0.75 or 0.99: the four panels), and forms all
# $\binom{50}{2} = 1225$ pairs. Noise multiplier $\sigma = 0.2$ (noise standard deviation $\sigma C_t$), sampling
# rate $q = 10^{-3}$, $\delta = 10^{-5}$, order $\mu = 16$ and $\beta = 1$.
#
# - **WDP**: the Wasserstein accountant on the 1225 pair distances.
# - **BDP**: the Bayesian accountant of Triastcyn & Faltings on the same pairs, $\lambda = 16$, confidence
#   $1 - 10^{-16}$.
# - **DP** as in the released notebook: the moments accountant with distance $2C_t$ and noise $\sigma C_t$, i.e.
#   noise multiplier $z = \sigma / 2 = 0.1$, at the single order $\alpha = 17$ with the basic conversion:
#
# $$
# \varepsilon_{\mathrm{DP}}(t) = t\,\mathrm{RDP}_{17}(q, z) + \frac{\log(1/\delta)}{16} .
# $$ (eq-dp-single-order)
#
# The released notebook is unseeded; we seed each run.

# %%
T, sigma, q, delta, order = 100, 0.2, 1e-3, 1e-5, 16
quantiles = (0.05, 0.50, 0.75, 0.99)
checkpoints = np.array([1, 10, 50, 100])
wdp = np.zeros((len(quantiles), n_seeds, T))
bdp = np.zeros((len(quantiles), n_seeds, T))
clip_norms = np.zeros((len(quantiles), n_seeds, T))
for (qi, quantile), s in progress(
    [(x, s) for x in enumerate(quantiles) for s in range(n_seeds)],
    desc="Figure 2 runs",
    total=4 * n_seeds,
):
    rng = np.random.default_rng([cfg.seed, qi, s])
    w_acc, b_acc = WassersteinAccountant(order, beta=1.0), BayesianAccountant(order)
    for t in range(T):
        grads = rng.weibull(0.5, size=(50, 1000))
        norms = np.linalg.norm(grads, axis=1)
        c = np.quantile(norms, quantile)
        grads *= np.minimum(1.0, c / norms)[:, None]
        d = pdist(grads)  # the 1225 pair distances
        w_acc.step(distances=d, noise_multiplier=sigma, sample_rate=q, max_grad_norm=c)
        b_acc.step(distances=d, noise_multiplier=sigma, sample_rate=q, max_grad_norm=c)
        clip_norms[qi, s, t] = c
    wdp[qi, s] = w_acc.epsilon_history(delta)
    bdp[qi, s] = b_acc.epsilon_history(delta)

dp_single = np.zeros(T)
for t in range(T):
    acc = RDPAccountant(orders=[17.0], conversion="basic")
    acc.step(noise_multiplier=sigma / 2, sample_rate=q, steps=t + 1)
    dp_single[t] = acc.get_epsilon(delta)

# %% [markdown]
# ## The tight accountants for the same mechanism
#
# The DP baseline's mechanism is the Poisson-subsampled Gaussian with $z = 0.1$, $q = 10^{-3}$ (add/remove
# adjacency, sensitivity $C_t$). Its tight $(\varepsilon, \delta)$ comes from the privacy-loss distribution
# (dp_accounting's PLD, discretisation $10^{-2}$) and from the PRV accountant at $t = 100$. RDP is also shown
# optimised over a grid of orders that reaches down to $1.001$ (dp_accounting's default grid starts at $1.1$,
# which is the optimum here from step 10 on: the grid's edge), with the conversion of Balle et al. (2020). The
# library warns whenever the optimum is the smallest or the largest order of the grid; no warning is silenced.

# %%
pld_eps, rdp_opt, rdp_alpha = [], [], []
for t in checkpoints:
    pld = PLDAccountant(value_discretization_interval=1e-2)
    pld.step(noise_multiplier=sigma / 2, sample_rate=q, steps=int(t))
    pld_eps.append(pld.get_epsilon(delta))
    rdp = RDPAccountant()
    rdp.step(noise_multiplier=sigma / 2, sample_rate=q, steps=int(t))
    eps, alpha = rdp.get_privacy_spent(delta)
    rdp_opt.append(eps)
    rdp_alpha.append(alpha)
prv = PRVAccountant()
prv.step(noise_multiplier=sigma / 2, sample_rate=q, steps=T)
prv_100 = prv.get_epsilon(delta)
budget = pd.DataFrame(
    [
        {
            "quantile": quantile,
            "mean C": clip_norms[qi].mean(),
            "step": int(t),
            "WDP": wdp[qi, :, t - 1].mean(),
            "BDP": bdp[qi, :, t - 1].mean(),
            "DP a=17": dp_single[t - 1],
            "RDP opt": rdp_opt[j],
            "PLD": pld_eps[j],
        }
        for qi, quantile in enumerate(quantiles)
        for j, t in enumerate(checkpoints)
    ]
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"budgets at delta = 1e-5 (WDP, BDP: mean over {n_seeds} seeds); 4 significant digits")
print(f"PRV at step 100: {prv_100:.4g}; PLD {pld_eps[-1]:.4g}")
print("optimal RDP orders at steps 1, 10, 50, 100:", " ".join(f"{a:g}" for a in rdp_alpha))
budget.assign(**{k: budget[k].map("{:.4g}".format) for k in budget.columns[3:]}).round(2)

# %% [markdown]
# The optimal orders lie strictly inside the grid (the smallest is $1.001$). The single-order curve is
# {eq}`eq-dp-single-order`: $843.38$ at step 1 and $84{,}267$ at step 100, which the library's tests recompute by
# hand from the binomial sum.
#
# ## Paper Fig. 2, with the tight accountants added

# %% mystnb={"figure": {"name": "fig-12-wdp-compositions-1", "caption": "Paper Fig. 2 (quick profile: seeded synthetic gradients, 2 seeds; bands are \u00b1 1 sd), with the tight PLD and the RDP-optimal-order budgets of the DP mechanism added. Log scale, top at $10^6$ as in the paper. The WDP curves are in the units of the Weibull gradients (mean clip norms 0.6 to 203); see the next section."}}
fig, axes = plt.subplots(2, 2, figsize=(7, 6.2), sharey=True, sharex=True)
steps = np.arange(1, T + 1)
for qi, (ax, quantile) in enumerate(zip(axes.flat, quantiles, strict=True)):
    for values, label in ((wdp[qi], "WDP"), (bdp[qi], "BDP")):
        mean, sd = values.mean(0), values.std(0, ddof=1)
        _ = ax.plot(steps, mean, label=label)
        _ = ax.fill_between(steps, mean - sd, mean + sd, alpha=0.3)
    _ = ax.plot(steps, dp_single, label=r"DP ($\alpha$ = 17)")
    _ = ax.plot(checkpoints, rdp_opt, "s--", label="RDP, opt. order")
    _ = ax.plot(checkpoints, pld_eps, "ko-", label="PLD (tight)")
    ax.set(yscale="log", ylim=(1, 1e6), title=f"{quantile:.2f}-quantile of the norms")
for ax in axes[1]:
    ax.set_xlabel("step")
for ax in axes[:, 0]:
    ax.set_ylabel(r"budget at $\delta = 10^{-5}$")
axes[0, 0].legend(fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where the WDP numbers come from
#
# The WDP budget is measured in *gradient-norm units*, not in the log-likelihood-ratio units of DP and BDP. Its
# per-step value is almost exactly a noise-only constant times the clip norm: with $q d_i \ll \sigma C$, every pair
# contributes the noise's own moment $\mathbb E|\mathcal N(0, v)|^\mu$, so
# $W_t \approx 1225^{1/\mu}\sqrt{2(1-q+q^2)}\,\sigma C_t\,(\mathbb E|Z|^{\mu})^{1/\mu}$, growing *linearly with
# the noise*. More noise, worse WDP budget; and the number of pairs (an arbitrary choice) enters as
# $n_{\text{pairs}}^{1/\mu}$.

# %%
per_step = np.diff(
    wdp, axis=2, prepend=-np.log(delta)
)  # W_t (the first entry removes log(1/delta))
coef = per_step / clip_norms
floor_coef = wasserstein_noise_floor(1225, sigma, q, order)  # C = 1, no data difference
pairs_ratio = floor_coef / wasserstein_noise_floor(28, sigma, q, order)
more_noise = wasserstein_step_loss(np.ones(1225), 2 * sigma, q, order) / wasserstein_step_loss(
    np.ones(1225), sigma, q, order
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"W_t / C_t over all runs: min {coef.min():.5f}, max {coef.max():.5f}")
print(f"noise-only floor: {floor_coef:.5f}")
print(f"1225 pairs instead of 28 multiply W_t by {pairs_ratio:.4f} (= (1225/28)^(1/16))")
print(f"doubling the noise multiplier multiplies W_t by {more_noise:.4f}")

# %% [markdown]
# ## Units: any ordering can be produced
#
# Multiply every synthetic gradient by $s$ (a change of units: a loss scaled by $s$, or parameters measured in
# other units). The clip norm $C_t$ is a quantile of the norms, so it scales by $s$ too, and so does the noise
# $\sigma C_t$. Then
#
# $$
# \begin{aligned}
# W_t(s\,g) &= s\,W_t(g)\\
# \Rightarrow\quad \varepsilon_{\mathrm{WDP}}(s) &= s \textstyle\sum_t W_t + \log(1/\delta)/\beta,
# \end{aligned}
# $$
#
# while $\varepsilon_{\mathrm{DP}}$, $\varepsilon_{\mathrm{RDP}}$, $\varepsilon_{\mathrm{PLD}}$,
# $\varepsilon_{\mathrm{PRV}}$ and $\varepsilon_{\mathrm{BDP}}$ are unchanged (they depend on $d/(\sigma C)$ and
# $q$ only).
#
# We rerun the 0.50-quantile panel (seed 0) with the gradients scaled by $s \in \{10^{-2}, 1, 10^2\}$.

# %%
unit_scales = (1e-2, 1.0, 1e2)
unit_rows = []
for s_units in unit_scales:
    rng = np.random.default_rng([cfg.seed, 1, 0])  # the 0.50-quantile panel, seed 0
    w_acc, b_acc = WassersteinAccountant(order, beta=1.0), BayesianAccountant(order)
    c_sum = 0.0
    for _t in range(T):
        grads = s_units * rng.weibull(0.5, size=(50, 1000))
        norms = np.linalg.norm(grads, axis=1)
        c = np.quantile(norms, 0.5)
        grads *= np.minimum(1.0, c / norms)[:, None]
        d = pdist(grads)
        w_acc.step(distances=d, noise_multiplier=sigma, sample_rate=q, max_grad_norm=c)
        b_acc.step(distances=d, noise_multiplier=sigma, sample_rate=q, max_grad_norm=c)
        c_sum += c
    unit_rows.append(
        {
            "scale s": s_units,
            "mean C": c_sum / T,
            "WDP": w_acc.get_epsilon(delta),
            "BDP": b_acc.get_epsilon(delta),
            "DP a=17": dp_single[-1],
            "RDP opt": rdp_opt[-1],
            "PLD": pld_eps[-1],
            "PRV": prv_100,
        }
    )
units = pd.DataFrame(unit_rows)
w_loss = (units["WDP"] + np.log(delta)).to_numpy()  # sum_t W_t (beta = 1)
homogeneous = bool(np.allclose(w_loss / units["scale s"], w_loss[1], rtol=1e-9))
bdp_invariant = bool(np.allclose(units["BDP"], units["BDP"].iloc[1], rtol=1e-9))
crossing = {
    name: (units[name].iloc[0] + np.log(delta)) / w_loss[1] for name in ("PLD", "DP a=17")
}  # the scale s at which WDP equals that budget

# %%
# NBVAL_CHECK_OUTPUT
print(f"sum_t W_t proportional to s (rel. 1e-9): {homogeneous}; BDP unchanged: {bdp_invariant}")
print(
    f"WDP = PLD at s = {crossing['PLD']:.3g}; WDP = DP(a=17) at s = {crossing['DP a=17']:.3g} "
    "(units of the Weibull gradients)"
)
units.map("{:.4g}".format)

# %% mystnb={"figure": {"name": "fig-12-wdp-compositions-2", "caption": "Budgets at step 100 of the 0.50-quantile panel against the scale $s$ of the gradients. WDP (line: $s \\sum_t W_t + \\log(1/\\delta)/\\beta$; dots: rerun with scaled gradients) crosses every DP-type budget, which stay flat: whether WDP is below or above DP is a choice of units."}}
s_grid = np.geomspace(1e-4, 1e3, 200)
fig, ax = plt.subplots(figsize=(6, 4.2))
_ = ax.plot(s_grid, s_grid * w_loss[1] - np.log(delta), label=r"WDP, $\mu = 16$, $\beta = 1$")
_ = ax.plot(units["scale s"], units["WDP"], "o", color="C0")
lines_spec = (
    ("BDP", "C1", "-"),
    ("DP a=17", "C2", "-"),
    ("RDP opt", "C3", "--"),
    ("PLD", "k", "-"),
)
for name, color, ls in lines_spec:
    _ = ax.axhline(units[name].iloc[1], color=color, ls=ls, label=name.replace("a=", "α = "))
ax.set(xscale="log", yscale="log", xlabel="gradient scale $s$", ylabel=r"budget at step 100")
ax.legend(fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The part's main figure: $\varepsilon$ against the noise multiplier
#
# The budgets of $T$ steps of the Poisson-subsampled Gaussian with noise multiplier $z$ and sampling rate $q$, at
# failure probability $\delta$, by RDP (optimal order), PLD (discretisation $10^{-2}$) and GDP (central limit
# theorem) (and PRV in the paper profile), beside the Wasserstein accountant with 28 worst-case replace-one pairs ($\lVert d_i
# \rVert = 2C$) at order $\mu$, parameter $\beta$ and gradient scale $s$: $\varepsilon_{\mathrm{WDP}} = s\,T\,
# W_t(z, q, \mu) + \log(1/\delta)/\beta$. Move the sliders: every DP-type curve falls as the noise grows, the WDP
# curve rises, and the gradient scale $s$ slides it past all of them. The grid is computed when the chapter runs
# and drawn offline with the vendored plotly.js; the static figure below shows the default setting for print.

# %%
grid = epsilon_sigma_grid(
    cfg.pick(quick=[0.7, 1.0, 2.0, 4.0, 8.0], paper=[0.6, 0.8, 1.0, 1.4, 2.0, 3.0, 4.0, 6.0, 8.0]),
    [0.004, 0.04],
    [100, 1000, 10000],
    [1e-5, 1e-3],
    with_prv=cfg.pick(quick=False, paper=True),
)
display(HTML(epsilon_sigma_html(grid, "fig-12-eps-sigma")))

# %%
# NBVAL_CHECK_OUTPUT
print(f"grid: {len(grid['z'])} noise multipliers x 2 rates x 3 step counts x 2 deltas")
print(f"RDP optima at the edge of the order grid: {len(grid['edge'])}")

# %% mystnb={"figure": {"name": "fig-12-wdp-compositions-3", "caption": "The interactive figure's default view for print: budgets of $T = 1000$ steps at $q = 0.004$ and $\\delta = 10^{-5}$ against the noise multiplier; WDP with $\\mu = 16$, $\\beta = 32$ and unit gradient scale. DP-type budgets fall with the noise, WDP rises."}}
fig, ax = plt.subplots(figsize=(6, 4.2))
for name, values in grid["eps"].items():
    _ = ax.plot(grid["z"], values[0][1][0], "o-", label=name)
w_default = np.array(grid["wdp_step"][0][grid["mu"].index(16.0)])
_ = ax.plot(
    grid["z"], 1000 * w_default - np.log(1e-5) / 32, "s--", label="WDP (28 worst-case pairs)"
)
ax.set(
    xscale="log",
    yscale="log",
    xlabel="noise multiplier $z$",
    ylabel=r"$\varepsilon$ at $\delta = 10^{-5}$",
)
ax.legend(fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What the paper claims and what this chapter measured
#
# "WDP < DP" holds only against the single-order, basic-conversion baseline, and only in the units the synthetic
# Weibull gradients happen to have (mean clip norm up to about 200): rescale them and WDP moves past every
# DP-type budget in either direction, which is why those rows are "n/a" (not comparable). The baseline itself is
# more than two orders of magnitude looser than the tight PLD/PRV budget of the same mechanism. WDP also grows
# with the noise. Exact: the DP, RDP, PLD and PRV numbers and the floors; WDP and BDP are means over seeded
# synthetic runs, printed to 4 significant digits.

# %% tags=["hide-input"]
i100 = -1
wdp100 = wdp[:, :, -1].mean(1)
bdp100 = bdp[:, :, -1].mean(1)
claims_table(
    "12_wdp_compositions",
    cfg.profile,
    [
        (
            "WDP < DP at step 100 (against the paper's DP baseline)",
            "✓, all panels (paper Fig. 2)",
            f"WDP {number(wdp100.min())}–{number(wdp100.max())} vs "
            f"DP ($\\alpha = 17$) {number(dp_single[-1])}; "
            f"reversed for gradients scaled by $s > {crossing['DP a=17']:.2g}$",
            "n/a",
        ),
        (
            "WDP < BDP at step 100",
            "✓, all panels",
            f"WDP {number(wdp100.min())}–{number(wdp100.max())} vs BDP "
            f"{number(bdp100.min())}–{number(bdp100.max())}; "
            "WDP scales with the units, BDP does not",
            "n/a",
        ),
        (
            "WDP alleviates the overestimation of DP budgets",
            "✓",
            f"tight PLD {number(pld_eps[i100], 4)}, PRV {number(prv_100, 4)}; WDP "
            f"{number(wdp100.min())}–{number(wdp100.max())} "
            "in Weibull units",
            "n/a",
        ),
        (
            "The DP baseline is the mechanism's DP budget",
            "implicit",
            f"DP ($\\alpha = 17$) {number(dp_single[-1])} vs RDP-opt {number(rdp_opt[i100], 4)} "
            f"vs PLD {number(pld_eps[i100], 4)}",
            bool(abs(dp_single[-1] / pld_eps[i100] - 1) < 0.5),
        ),
        (
            "More noise gives more privacy (smaller WDP)",
            "implicit",
            f"doubling $\\sigma$ multiplies $W_t$ by {more_noise:.3f}",
            bool(more_noise < 1),
        ),
    ],
    rule="n/a: WDP is in gradient units and DP-type budgets are unit-free; their order is a choice "
    "of units.",
)

# %% [markdown]
# ## Exercises
#
# 1. The released code's inverse `get_privacy(target_privacy=eps)` returns $\delta = \beta e^{W - \varepsilon}$.
#    With `WassersteinAccountant(paper_compat=True)` and $\beta = 32$, compute both deltas for the 0.5-quantile
#    run at $\varepsilon = $ `get_epsilon(1e-5)`. Which one round-trips to $10^{-5}$?
#
# ```{admonition} Solution
# :class: dropdown
# The correct inverse of $\varepsilon = W + \log(1/\delta)/\beta$ is $\delta = e^{\beta(W - \varepsilon)}$, which
# returns exactly $10^{-5}$ (`get_delta` without `paper_compat`). The released one gives
# $\beta\,\delta^{1/\beta} = 32 \cdot 10^{-5/32} \approx 22$: not even a probability.
# ```
#
# 2. Re-run the WDP accountant with noise multiplier $\sigma \in \{0.05, 0.2, 1.0\}$. Plot $\varepsilon_W(100)$
#    against $\sigma$ and the PLD $\varepsilon$ of the same mechanism.
#
# ```{admonition} Solution
# :class: dropdown
# $\varepsilon_W$ grows linearly with $\sigma$ (the per-step value is the noise floor times $C_t$), while the PLD
# budget falls steeply with $\sigma$. A budget that rewards *less* noise cannot measure privacy leakage.
# ```
#
# 3. The paper's appendix plots $\varepsilon = W - \log(\delta)/\beta$ for $W = 10$ against $\beta$. What happens as
#    $\beta \to \infty$, and why is that not a free lunch?
#
# ```{admonition} Solution
# :class: dropdown
# $\varepsilon \to W$ for every $\delta$. The $(\varepsilon, \delta)$ pair then says "$W \le \varepsilon$ with
# probability $1 - \delta$" about a *deterministic* $W$: $\beta$ only trades a term that has no privacy meaning.
# ```
#
# ```{admonition} Re-run this chapter
# :class: tip
# `make chapter NB=12_wdp_compositions` executes this chapter alone.
# nbval checks the cells marked `# NBVAL_CHECK_OUTPUT`: the budget table at steps 1, 10, 50 and 100,
# the noise-floor summary and the units table.
# ```
