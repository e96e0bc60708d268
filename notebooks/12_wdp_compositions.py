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
# left out: *tight* DP accountants for the mechanism that ran (privacy-loss distributions, PLD
# {cite}`koskela2020pld`, and opacus's PRV {cite}`gopi2021prv`) and RDP optimised over orders instead of the
# single order $\alpha = 17$. It then shows that the comparisons depend on the *units* of the gradients: WDP is a
# distance between outputs, so rescaling every gradient by $s$ multiplies it by $s$, while DP, RDP, PLD, PRV and
# BDP budgets do not move. Finally it computes the exact Wasserstein distance of one subsampled step, which the
# accountant's per-step value is meant to bound, and says where Wasserstein distances do belong in a privacy
# analysis.
#
# **Learning goals**
#
# - Run the Wasserstein accountant: per step $W_t = \big(\sum_i \mathbb E|\mathcal N(q d_i, v)|^\mu\big)^{1/\mu}$,
#   $v = 2(1 - q + q^2)\sigma^2$, composed additively, $\varepsilon = \sum_t W_t + \log(1/\delta)/\beta$.
# - See which parts of a budget come from the noise and which from the data.
# - Put a loose baseline (single-order RDP, basic conversion) beside tight accountants (PLD, PRV).
# - Compute an exact Wasserstein distance between a mixture and a Gaussian, and test a claimed bound against it.

# %% tags=["parameters"]
profile: str = "quick"  # "quick": 2 seeds of the synthetic experiment; "paper": 5 seeds
seed: int = 0
device: str = "auto"
data_dir: str | None = None  # not used: synthetic gradients, as in the paper

# %%
import matplotlib.pyplot as plt
import numpy as np
import ot
import pandas as pd
from IPython.display import HTML, display
from scipy import stats

import affect_lib
from affect_lib import claims
from affect_lib.claims import claims_table, number
from affect_lib.privacy import (
    PLDAccountant,
    PRVAccountant,
    RDPAccountant,
    checks,
    wasserstein_noise_floor,
    wasserstein_step_loss,
    wasserstein_subsampled_gaussian,
)
from affect_lib.privacy.analysis import pld as pld_analysis
from affect_lib.privacy.figure2 import Figure2
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
#   noise multiplier $\sigma / 2 = 0.1$, at the single order $\alpha = 17$ with the basic conversion:
#
# $$
# \varepsilon_{\mathrm{DP}}(t) = t\,\mathrm{RDP}_{17}(q, \sigma/2) + \frac{\log(1/\delta)}{16} .
# $$ (eq-dp-single-order)
#
# The released notebook is unseeded; we seed each run. The experiment's settings and its loop live in the
# library (`affect_lib.privacy.figure2`), where the tests exercise them too.

# %%
fig2 = Figure2()
T, sigma, q, delta, order = (
    fig2.steps,
    fig2.noise_multiplier,
    fig2.sample_rate,
    fig2.delta,
    fig2.order,
)
quantiles = fig2.quantiles
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
    wdp[qi, s], bdp[qi, s], clip_norms[qi, s] = fig2.run(quantile, rng)
dp_single = np.array([fig2.released_dp_epsilon(t) for t in range(1, T + 1)])

# %% [markdown]
# ## The tight accountants for the mechanism that ran
#
# Which mechanism ran? Each step adds Gaussian noise of standard deviation $\sigma C_t = 0.2\,C_t$ to the sum of
# the clipped gradients of a Poisson sample. Adding or removing one record moves that sum by at most $C_t$, so in
# the DP accountants' terms (add/remove adjacency, noise multiplier = noise standard deviation / sensitivity) the
# mechanism has noise multiplier $\sigma = 0.2$; replacing one record moves the sum by up to $2C_t$ (PLD with the
# replace-one relation). The released baseline's distance $2C_t$ with add/remove adjacency is a sensitivity this
# mechanism does not have: it accounts a mechanism with half the noise.
#
# For the mechanism that ran, the tight $(\varepsilon, \delta)$ comes from the privacy-loss distribution
# (dp_accounting's PLD, discretisation $10^{-3}$) and from the PRV accountant at $t = 100$. RDP is also shown
# optimised over a grid of orders that reaches down to $1.001$ (dp_accounting's default grid starts at $1.1$),
# with the conversion of Balle et al. (2020), then refined over real orders between the grid neighbours of the
# grid's best order (a bounded 1-D minimisation, scipy's `minimize_scalar`; the library's tests check it against
# a fine grid and dp_accounting). The library warns whenever the grid's optimum is its smallest or largest
# order; no warning is silenced.

# %%
pld_eps, pld_replace, rdp_opt, rdp_alpha = [], [], [], []
for t in checkpoints:
    pld_eps.append(fig2.tight_epsilon(int(t)))
    pld_replace.append(fig2.tight_epsilon(int(t), "replace_one"))
    eps, alpha = fig2.rdp_epsilon(int(t))
    rdp_opt.append(eps)
    rdp_alpha.append(alpha)
prv = PRVAccountant()
prv.step(noise_multiplier=sigma, sample_rate=q, steps=T)
prv_100 = prv.get_epsilon(delta)
baseline_tight = pld_analysis.pld_epsilon(
    [(fig2.released_noise_multiplier, q, T)], delta, value_discretization_interval=1e-3
)
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
wdp100 = wdp[:, :, -1].mean(1)
bdp100 = bdp[:, :, -1].mean(1)

# %%
# NBVAL_CHECK_OUTPUT
print(f"budgets at delta = 1e-5 (WDP, BDP: mean over {n_seeds} seeds); 4 significant digits")
print(f"the mechanism that ran: noise multiplier {sigma:g} (noise {sigma:g} C_t, sensitivity C_t)")
print(
    f"step 100: WDP {number(wdp100.min(), 4)} to {number(wdp100.max(), 4)} (the four panels) "
    f"beside its tight DP eps {pld_eps[-1]:.4g}"
)
print(
    f"  tight DP at step 100: PLD {pld_eps[-1]:.4g} (add/remove), {pld_replace[-1]:.4g} "
    f"(replace-one); PRV {prv_100:.4g}"
)
print(
    f"  the released baseline: DP (alpha = 17, noise multiplier "
    f"{fig2.released_noise_multiplier:g}) "
    f"{dp_single[0]:.5g} at step 1, {dp_single[-1]:.5g} at step 100"
)
print(
    f"  a noise multiplier of {fig2.released_noise_multiplier:g} would have tight eps "
    f"{baseline_tight:.4g} at step 100\n    (the PLD's upper estimate, discretisation 1e-3)"
)
print("optimal real RDP orders at steps 1, 10, 50, 100:", " ".join(f"{a:.3f}" for a in rdp_alpha))
budget.assign(**{k: budget[k].map(claims.significant) for k in budget.columns[3:]}).round(2)

# %% [markdown]
# The grid's best orders lie strictly inside the grid, and the refined orders between their grid neighbours. The single-order curve is {eq}`eq-dp-single-order`, which the
# library's tests recompute by hand from the binomial sum at steps 1 and 100; its noise multiplier is half the
# mechanism's, and its single order and basic conversion loosen it further, so it exceeds the tight budget of
# the mechanism that ran by the factor the claims table prints.
#
# ## Paper Fig. 2, with the tight accountants added

# %% mystnb={"figure": {"name": "fig-12-wdp-compositions-1", "caption": "Paper Fig. 2 (quick profile: seeded synthetic gradients, 2 seeds; bands are \u00b1 1 sd), with the tight PLD and the RDP-optimal-order budgets of the mechanism that ran (noise multiplier 0.2, add/remove) added. Log scale, top at $10^6$ as in the paper. The WDP curves are in the units of the Weibull gradients (their mean clip norms are in the budget table); see the next sections."}}
fig, axes = plt.subplots(2, 2, figsize=(7, 6.2), sharey=True, sharex=True)
steps = np.arange(1, T + 1)
for qi, (ax, quantile) in enumerate(zip(axes.flat, quantiles, strict=True)):
    for values, label in ((wdp[qi], "WDP"), (bdp[qi], "BDP")):
        mean, sd = values.mean(0), values.std(0, ddof=1)
        _ = ax.plot(steps, mean, label=label)
        _ = ax.fill_between(steps, mean - sd, mean + sd, alpha=0.3)
    _ = ax.plot(steps, dp_single, label=r"DP ($\alpha$ = 17, as released)")
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
# ## The exact Wasserstein distance of one subsampled step
#
# The accountant's per-step value is meant to bound the Wasserstein distance between the outputs of one step on
# neighbouring datasets. That distance can be computed exactly. Take add/remove neighbours and one record whose
# clipped gradient $g$ has norm $d \le C$: with probability $q$ it is in the Poisson sample, so the step's output
# is
#
# $$
# \begin{aligned}
# P &= (1 - q)\,\mathcal N(0, s^2 I) + q\,\mathcal N(g, s^2 I) \quad\text{(with the record)},\\
# Q &= \mathcal N(0, s^2 I) \quad\text{(without it)},
# \end{aligned}
# $$
#
# with noise standard deviation $s$ (the rest of the sum is common to both and cancels). In any dimension
# $W_\mu(P, Q)$ is the one-dimensional distance along $g$: couple the orthogonal components identically for
# "$\le$", and project onto $g$ (a 1-Lipschitz map) for "$\ge$". In one dimension the optimal coupling is the
# quantile coupling, $W_\mu^\mu = \int_0^1 |F_P^{-1}(u) - F_Q^{-1}(u)|^\mu\,du$, which
# `wasserstein_subsampled_gaussian` integrates in the variable $x = F_P^{-1}(u)$, so that the mixture's quantile
# function is never inverted numerically. Two bounds hold for every noise level:
#
# $$
# q\,d \;\le\; W_\mu(P, Q) \;\le\; q^{1/\mu}\,d ,
# $$ (eq-subsampled-bounds)
#
# the left one the mean shift (Kantorovich–Rubinstein with $x \mapsto x$, and $W_\mu \ge W_1$); the right one
# the coupling that moves only the sampled part, the mass $q$, by $d$, at cost $q d^\mu$. For $\mu = 1$ the
# left end is attained at every noise level ($W_1 = \int |F_P - F_Q| = q\,d$); for $\mu > 1$, as $s \to 0$ the
# distance tends to the right end $q^{1/\mu} d$ (point masses), and as the noise grows it falls towards $q\,d$.
#
# The accountant charges one step $W_t = \big(\sum_i \mathbb E|\mathcal N(q d_i, v)|^\mu\big)^{1/\mu}$,
# $v = 2(1 - q + q^2)s^2$, over the pairs it is given; for this single pair that is
# $(\mathbb E|\mathcal N(q d, v)|^\mu)^{1/\mu}$. A valid WDP bound must be at least the exact $W_\mu$ at every
# $(s, q, \mu)$. We compare the two on a grid, with $d = 1$ (both scale with $d$ and $s$ together), and check
# the exact values against POT's `ot.wasserstein_1d` on both laws binned on a grid of width $h = s/300$
# (binning moves each law by at most $h/2$ in every $W_\mu$, so the two must agree within $h$).

# %%
step_sigmas = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0])
step_rates = (1e-3, 1e-2, 1e-1)
step_orders = (2.0, 16.0)


def pot_subsampled(s_noise: float, rate: float, mu: float, h: float) -> float:
    """W_mu of the two laws binned on one grid of width h (tails beyond 12 s hold 4e-33), by POT."""
    edges = np.arange(-12 * s_noise, 1 + 12 * s_noise + h, h)
    mid = (edges[:-1] + edges[1:]) / 2
    f_p = (1 - rate) * stats.norm.cdf(edges / s_noise) + rate * stats.norm.cdf(
        (edges - 1) / s_noise
    )
    f_q = stats.norm.cdf(edges / s_noise)
    f_p[0] = f_q[0] = 0.0
    f_p[-1] = f_q[-1] = 1.0
    return float(ot.wasserstein_1d(mid, mid, np.diff(f_p), np.diff(f_q), p=mu) ** (1 / mu))


step_rows = []
for mu in step_orders:
    for rate in step_rates:
        for s_noise in step_sigmas:
            exact = wasserstein_subsampled_gaussian(s_noise, rate, 1.0, mu)
            step_rows.append(
                {
                    "mu": mu,
                    "q": rate,
                    "s": s_noise,
                    "exact W": exact,
                    "accountant": wasserstein_step_loss([1.0], s_noise, rate, mu),
                    "coupling bound": rate ** (1 / mu),
                    "mean shift": rate,
                    "POT - exact": pot_subsampled(s_noise, rate, mu, s_noise / 300) - exact,
                    "h": s_noise / 300,
                }
            )
steps_exact = pd.DataFrame(step_rows)
below = steps_exact["accountant"] < steps_exact["exact W"]
accountant_valid = checks.bounds_everywhere(steps_exact["accountant"], steps_exact["exact W"])
in_bounds = checks.all_at_least(
    np.concatenate(
        [
            steps_exact["exact W"] - steps_exact["mean shift"] * (1 - 1e-9),
            steps_exact["coupling bound"] * (1 + 1e-9) - steps_exact["exact W"],
        ]
    ),
    0.0,
)
pot_ratio = float(np.max(np.abs(steps_exact["POT - exact"] / steps_exact["h"])))
pot_agrees = checks.all_within(steps_exact["POT - exact"] / steps_exact["h"], 1.0)


def step_row(mu: float, rate: float, s_noise: float) -> pd.Series:
    """The grid row nearest to (mu, q, s)."""
    sub = steps_exact[(steps_exact["mu"] == mu) & (steps_exact["q"] == rate)]
    return sub.iloc[int(np.argmin(np.abs(np.log(sub["s"] / s_noise))))]


r16, r2_lo, r2_hi = step_row(16.0, 1e-3, 0.01), step_row(2.0, 0.1, 0.05), step_row(2.0, 0.1, 2.0)

# %%
# NBVAL_CHECK_OUTPUT
print(f"{len(steps_exact)} (mu, q, s) points, d = 1:")
print(f"  exact W within [q d, q^(1/mu) d] everywhere: {in_bounds}")
print(f"  POT on the binned laws within h of the exact value everywhere: {pot_agrees}")
print(f"  (largest |POT - exact| / h: {pot_ratio:.3f})")
print(f"  the accountant's value below the exact W at {int(below.sum())} of {len(below)} points")
print(
    f"mu = 16, q = 1e-3, s = 0.01: exact W {r16['exact W']:.3f}, "
    f"accountant {r16['accountant']:.3f} ({r16['exact W'] / r16['accountant']:.0f}x too low), "
    f"coupling bound {r16['coupling bound']:.3f}"
)
print(
    f"mu = 2, q = 0.1: as s goes from {r2_lo['s']:.2f} to {r2_hi['s']:.0f}, the exact W falls from "
    f"{r2_lo['exact W']:.3f} to {r2_hi['exact W']:.3f};"
)
print(f"  the accountant's value rises from {r2_lo['accountant']:.3f} to {r2_hi['accountant']:.2f}")
(
    steps_exact[steps_exact["q"].isin([1e-3, 1e-1])]
    .pivot_table(index="s", columns=["mu", "q"], values=["exact W", "accountant"])
    .map("{:.4f}".format)
)

# %% mystnb={"figure": {"name": "fig-12-wdp-compositions-step", "caption": "One Poisson-subsampled Gaussian step on add/remove neighbours, record gradient norm $d = 1$: the exact $W_\\mu$ of its two output laws (solid; POT on binned laws as dots), the Wasserstein accountant's value for this single pair (dashed) and the coupling bound $q^{1/\\mu} d$ (dotted), against the noise standard deviation $s$. The exact distance falls with the noise towards $q d$; the accountant's value grows linearly with the noise and lies below the exact distance where the noise is small: there it is not a bound."}}
fig, axes = plt.subplots(1, 2, figsize=(7, 3.6), sharey=True)
for ax, mu in zip(axes, step_orders, strict=True):
    for color, rate in zip(("C0", "C1", "C2"), step_rates, strict=True):
        sub = steps_exact[(steps_exact["mu"] == mu) & (steps_exact["q"] == rate)]
        _ = ax.plot(sub["s"], sub["exact W"], "-", color=color, label=f"q = {rate:g}")
        _ = ax.plot(sub["s"], sub["exact W"] + sub["POT - exact"], "o", color=color, ms=3)
        _ = ax.plot(sub["s"], sub["accountant"], "--", color=color)
        _ = ax.axhline(rate ** (1 / mu), color=color, ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="noise std $s$", title=rf"$\mu$ = {mu:g}")
axes[0].set_ylabel(r"$W_\mu$ of one step ($d = 1$)")
axes[0].legend(fontsize=9, title="solid: exact; dashed: accountant", title_fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# The accountant's per-step value is not a bound on the Wasserstein distance of the step it accounts: where the
# noise is small it lies far below the exact distance, and it moves the wrong way as the noise grows. The exact
# distance behaves as a distance between outputs should, but it is no privacy measure either: it is bounded by
# $q^{1/\mu} d$ however small the noise, including none at all, where the step is not private (chapter 10's
# counterexample).
#
# ## Where Wasserstein distances do belong in a privacy analysis
#
# Wasserstein distances enter the best analyses of noisy iterative training in a different role: as a *shift
# budget* inside a Rényi divergence, not as the privacy measure. The *shifted Rényi divergence*
# $D_\alpha^{(z)}(P \Vert Q) = \inf\{D_\alpha(P' \Vert Q) : W_\infty(P, P') \le z\}$ of Feldman et al.
# {cite}`feldman2018pabi` obeys a shift-reduction lemma: adding Gaussian noise $\mathcal N(0, s^2 I)$ to both
# laws converts up to $a$ of the shift into Rényi divergence at the price $\alpha a^2 / (2 s^2)$, and a
# non-expansive map (a gradient step of size at most $2/M$ on an $M$-smooth convex loss) never increases
# $W_\infty$. Along $T$ noisy non-expansive steps the shift is spent gradually, which gives *privacy amplification by iteration*: for the last iterate of
# noisy SGD on convex problems, a record used early is protected by all the noise added after it
# {cite}`feldman2018pabi,altschuler2022hidden`. The ingredient that makes $W_\infty$ usable there is the
# translation inequality for noise $Z$ whose log-density is $L$-Lipschitz:
#
# $$
# D_\infty\big(\mathcal L(X + Z) \,\Vert\, \mathcal L(Y + Z)\big) \;\le\; L \cdot W_\infty(X, Y) ,
# $$ (eq-dinf-winf)
#
# since a coupling with $\lVert X - Y \rVert \le w$ almost surely changes every density value by at most the
# factor $e^{Lw}$. For Laplace noise of scale $\lambda$, $L = 1/\lambda$ and {eq}`eq-dinf-winf` is the Laplace
# mechanism's $\varepsilon = \Delta/\lambda$. Two things separate it from the paper's WDP: the order is
# $\infty$ (a finite $W_\mu$ does not control $D_\infty$: the subsampled step above has
# $W_\mu \le q^{1/\mu} d$ at every order, yet its $W_\infty$ is the whole $d$), and the distance is taken
# *before* the noise, between inputs of the noise channel, then turned into a divergence by the noise. The next
# cell checks {eq}`eq-dinf-winf` on two input laws that are not translates of each other.

# %%
lam, w_inf = 0.5, 0.3  # Laplace scale; X ~ (delta_0 + delta_1) / 2, Y ~ (delta_0.3 + delta_0.8) / 2
ys = np.linspace(-30, 30, 600001)
dens_x = 0.5 * (stats.laplace.pdf(ys, 0, lam) + stats.laplace.pdf(ys, 1, lam))
dens_y = 0.5 * (stats.laplace.pdf(ys, 0.3, lam) + stats.laplace.pdf(ys, 0.8, lam))
d_inf = float(np.max(np.abs(np.log(dens_x / dens_y))))  # both directions

# %%
# NBVAL_CHECK_OUTPUT
print(
    f"Laplace noise, lambda = {lam}: D_inf (both directions, 1e-4 grid) = {d_inf:.4f} "
    f"<= L W_inf = {w_inf / lam:.4f}: {d_inf <= w_inf / lam + 1e-9}"
)

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
    w_hist, b_hist, c_hist = fig2.run(0.5, rng, scale=s_units)
    unit_rows.append(
        {
            "scale s": s_units,
            "mean C": c_hist.mean(),
            "WDP": w_hist[-1],
            "BDP": b_hist[-1],
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
# the same crossing with DP (alpha = 17) for each panel's seed-mean sum_t W_t at step 100
panel_crossing = (dp_single[-1] + np.log(delta)) / (wdp100 + np.log(delta))

# %%
# NBVAL_CHECK_OUTPUT
print(f"sum_t W_t proportional to s (rel. 1e-9): {homogeneous}; BDP unchanged: {bdp_invariant}")
print(
    f"WDP = PLD at s = {crossing['PLD']:.3g}; WDP = DP(a=17) at s = {crossing['DP a=17']:.3g} "
    "(units of the Weibull gradients)"
)
print(
    "WDP = DP(a=17) at s = "
    + ", ".join(f"{c:.3g}" for c in panel_crossing)
    + f" for the {len(quantiles)} panels (quantiles {', '.join(f'{x:g}' for x in quantiles)})"
)
units.assign(
    **{"scale s": units["scale s"].map("{:g}".format)},
    **{k: units[k].map(claims.significant) for k in units.columns[1:]},
)

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
# failure probability $\delta$, by RDP (best order on the library's grid), PLD and GDP (central limit
# theorem), all with add/remove adjacency (and PRV in the paper profile), and by PLD with replace-one adjacency,
# beside the Wasserstein
# accountant with 28 worst-case replace-one pairs ($\lVert d_i \rVert = 2C$) at order $\mu$, parameter $\beta$
# and gradient scale $s$: $\varepsilon_{\mathrm{WDP}} = s\,T\, W_t(z, q, \mu) + \log(1/\delta)/\beta$. Every
# curve's name states its adjacency; the replace-one PLD is the DP budget of the same adjacency as the WDP
# pairs. The PLD uses the static accountant's discretisation ($10^{-4}$), so the figure shows the digits the
# accountant prints (a coarse grid overstates $\varepsilon$, and at large $z$ would put the tight PLD above
# RDP). Move the sliders: every DP-type curve falls as the noise grows, the WDP curve rises, and the gradient
# scale $s$ slides it past all of them. The grid is computed when the chapter runs and drawn offline with the
# vendored plotly.js; the static figure below shows the default setting for print.

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
z_check = 4.0  # the default view (q = 0.004, T = 1000, delta = 1e-5) against the static accountants
zi = grid["z"].index(z_check)
static = {}
for relation, name in (("add_remove", "PLD (add/remove)"), ("replace_one", "PLD (replace-one)")):
    acc = PLDAccountant(neighboring_relation=relation)
    acc.step(noise_multiplier=z_check, sample_rate=0.004, steps=1000)
    static[name] = acc.get_epsilon(1e-5)
acc = RDPAccountant()
acc.step(noise_multiplier=z_check, sample_rate=0.004, steps=1000)
static["RDP (add/remove)"] = acc.get_epsilon(1e-5)
grid_matches = checks.all_within(
    [round(grid["eps"][n][0][1][0][zi], 3) - round(v, 3) for n, v in static.items()], 0.0
)

# %%
# NBVAL_CHECK_OUTPUT
print(f"grid: {len(grid['z'])} noise multipliers x 2 rates x 3 step counts x 2 deltas")
print(f"RDP optima at the edge of the order grid: {len(grid['edge'])}")
print("curves:", ", ".join(grid["eps"]))
print(f"  and {grid['wdp_name']}")
print(f"z = {z_check:g}, q = 0.004, T = 1000, delta = 1e-5: figure vs static accountant")
for name, value in static.items():
    print(f"  {name:18s} {grid['eps'][name][0][1][0][zi]:.3f} vs {value:.3f}")
print(f"the figure shows the static accountants' digits: {grid_matches}")

# %% mystnb={"figure": {"name": "fig-12-wdp-compositions-3", "caption": "The interactive figure's default view for print: budgets of $T = 1000$ steps at $q = 0.004$ and $\\delta = 10^{-5}$ against the noise multiplier, each curve with its adjacency; WDP with $\\mu = 16$, $\\beta = 32$ and unit gradient scale. DP-type budgets fall with the noise, WDP rises."}}
fig, ax = plt.subplots(figsize=(6, 4.2))
for name, values in grid["eps"].items():
    _ = ax.plot(grid["z"], values[0][1][0], "o-", label=name)
w_default = np.array(grid["wdp_step"][0][grid["mu"].index(16.0)])
_ = ax.plot(grid["z"], 1000 * w_default - np.log(1e-5) / 32, "s--", label=grid["wdp_name"])
ax.set(
    xscale="log",
    yscale="log",
    xlabel="noise multiplier $z$",
    ylabel=r"$\varepsilon$ at $\delta = 10^{-5}$",
)
ax.legend(fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What the paper claims and what this chapter measured
#
# "WDP < DP" holds only against the single-order, basic-conversion baseline, and only in the units the synthetic
# Weibull gradients happen to have (their mean clip norms are in the budget table): rescale them and WDP moves
# past every DP-type budget in either direction, which is why those rows are "n/a" (not comparable). The
# baseline itself accounts a mechanism with half the noise that ran and is far looser than the tight budget of
# the mechanism that ran (the factor is in the table). WDP also grows with the noise, and its per-step value is
# not a bound on the Wasserstein distance of the step. Exact: the DP and RDP numbers (RDP at the refined
# optimal order), the floors and the exact distances of one step. The PLD (discretisation $10^{-3}$; the upper,
# pessimistic estimate) and PRV numbers are discretised estimates, accurate to their discretisation, not exact.
# WDP and BDP are means over seeded synthetic runs, printed to 4 significant digits.

# %% tags=["hide-input"]
i100 = -1
claims_table(
    "12_wdp_compositions",
    cfg.profile,
    [
        (
            "WDP < DP at step 100 (against the paper's DP baseline)",
            "✓, all panels (paper Fig. 2)",
            f"WDP {number(wdp100.min())}–{number(wdp100.max())} vs "
            f"DP ($\\alpha = 17$) {number(dp_single[-1])}; "
            f"reversed for gradients scaled by $s$ above {panel_crossing.min():.2g}–"
            f"{panel_crossing.max():.2g} (the crossing, over the four panels)",
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
            f"tight DP of the mechanism that ran (noise multiplier {sigma:g}): PLD "
            f"{number(pld_eps[i100], 4)}, PRV {number(prv_100, 4)}; WDP "
            f"{number(wdp100.min())}–{number(wdp100.max())} in Weibull units",
            "n/a",
        ),
        (
            "The DP baseline is the mechanism's DP budget",
            "implicit",
            f"DP ($\\alpha = 17$, noise multiplier {fig2.released_noise_multiplier:g}) "
            f"{number(dp_single[-1])} vs the mechanism's RDP-opt {number(rdp_opt[i100], 4)} "
            f"and PLD {number(pld_eps[i100], 4)}: {dp_single[-1] / pld_eps[i100]:.0f}× the "
            "tight value",
            checks.all_within(dp_single[-1] / pld_eps[i100] - 1, 0.5),
        ),
        (
            "More noise gives more privacy (smaller WDP)",
            "implicit",
            f"doubling $\\sigma$ multiplies $W_t$ by {more_noise:.3f}",
            checks.strictly_lower(1.0, more_noise, tol=0.0),
        ),
        (
            "The accountant's per-step value bounds the step's $W_\\mu$ (a valid WDP bound)",
            "implicit (the accountant's definition)",
            f"below the exact $W_\\mu$ at {int(below.sum())} of {len(below)} points "
            f"($\\mu$ = 2, 16; $q$ = 10⁻³–0.1; $s$ = 0.01–2); $\\mu = 16$, "
            f"$q = 10^{{-3}}$, $s = 0.01$: exact {r16['exact W']:.3f}, accountant "
            f"{r16['accountant']:.3f}",
            accountant_valid,
        ),
    ],
    rule="Rule: n/a where WDP is in gradient units and the DP-type budget unit-free (their order "
    "is a choice of units); the baseline row: yes within 50 % of the tight PLD; the noise row: "
    "yes when more noise lowers $W_t$; the bound row: yes when the accountant's value is at least "
    "the exact $W_\\mu$ (to 10⁻⁶) at every point of the grid.",
)

# %%
# NBVAL_CHECK_OUTPUT
print(claims.verdicts("12_wdp_compositions"))

# %% [markdown]
# ## Exercises
#
# 1. *(20 min, medium)* The released code's inverse `get_privacy(target_privacy=eps)` returns
#    $\delta = \beta e^{W - \varepsilon}$. With `WassersteinAccountant(paper_compat=True)` and
#    $\beta = 32$, compute both deltas for the 0.5-quantile run at $\varepsilon = $
#    `get_epsilon(1e-5)`. Which one round-trips to $10^{-5}$?
#
# ```{admonition} Solution
# :class: dropdown
# The correct inverse of $\varepsilon = W + \log(1/\delta)/\beta$ is $\delta = e^{\beta(W - \varepsilon)}$, which
# returns exactly $10^{-5}$ (`get_delta` without `paper_compat`). The released one gives
# $\beta\,\delta^{1/\beta} = 32 \cdot 10^{-5/32} \approx 22$: not even a probability.
# ```
#
# 2. *(20 min, medium)* Re-run the WDP accountant with noise multiplier $\sigma \in \{0.05, 0.2, 1.0\}$. Plot
#    $\varepsilon_W(100)$ against $\sigma$ and the PLD $\varepsilon$ of the same mechanism.
#
# ```{admonition} Solution
# :class: dropdown
# $\varepsilon_W$ grows linearly with $\sigma$ (the per-step value is the noise floor times $C_t$), while the PLD
# budget falls steeply with $\sigma$. A budget that rewards *less* noise cannot measure privacy leakage.
# ```
#
# 3. *(15 min, medium)* The paper's appendix plots $\varepsilon = W - \log(\delta)/\beta$ for $W = 10$ against
#    $\beta$. What happens as $\beta \to \infty$, and why is that not a free lunch?
#
# ```{admonition} Solution
# :class: dropdown
# $\varepsilon \to W$ for every $\delta$. The $(\varepsilon, \delta)$ pair then says "$W \le \varepsilon$ with
# probability $1 - \delta$" about a *deterministic* $W$: $\beta$ only trades a term that has no privacy meaning.
# ```
#
# ```{admonition} Re-run this chapter
# :class: tip
# nbval checks the cells marked `# NBVAL_CHECK_OUTPUT`: the budget table at steps 1, 10, 50 and 100,
# the noise-floor summary, the exact distances of one step, the units table, the interactive figure's
# agreement with the static accountants and the verdicts.
# ```
