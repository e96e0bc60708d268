"""Wasserstein differential privacy (Yang, Qi & Zhou, AAAI 2024), checked numerically.

- :mod:`~affect_lib.privacy.distances`    exact W_mu: 1-D quantile form, continuous laws, Gaussians, one subsampled
  Gaussian step, POT
- :mod:`~affect_lib.privacy.divergences`  Renyi / KL divergences for the contrasts
- :mod:`~affect_lib.privacy.mechanisms`   the paper's Table 1 (DP, RDP, WDP of Laplace and Gaussian) and exact W_mu
- :mod:`~affect_lib.privacy.moments`      absolute moments of N(m, v) in log space
- :mod:`~affect_lib.privacy.analysis`     the accountants' pure analyses, one module per accountant
- :mod:`~affect_lib.privacy.accountants`  stateful accountants on one interface, by name (``make_accountant``)
- :mod:`~affect_lib.privacy.tradeoff`     f-DP trade-off curves (type II against type I error of the best test)
- :mod:`~affect_lib.privacy.dpsgd`        DP-SGD on scikit-learn's digits with opacus, and the released scripts'
  semantics
- :mod:`~affect_lib.privacy.audit`        an empirical lower bound on DP-SGD's epsilon (a canary audit of opacus)
- :mod:`~affect_lib.privacy.checks`       the verdict rules of Part I's claims tables (computed from measurements)
- :mod:`~affect_lib.privacy.figure2`      the paper's Figure-2 experiment (synthetic gradients) and its mechanism
"""

from affect_lib.privacy.accountants import (
    ACCOUNTANTS,
    BayesianAccountant,
    GaussianAccountant,
    PLDAccountant,
    PRVAccountant,
    RDPAccountant,
    WassersteinAccountant,
    make_accountant,
)
from affect_lib.privacy.analysis.bdp import log_binomial_moment
from affect_lib.privacy.analysis.rdp import DEFAULT_RDP_ORDERS
from affect_lib.privacy.analysis.wdp import (
    all_pair_differences,
    pair_distances,
    wasserstein_noise_floor,
    wasserstein_step_loss,
)
from affect_lib.privacy.distances import (
    wasserstein_continuous,
    wasserstein_distance,
    wasserstein_gaussian,
    wasserstein_ot,
    wasserstein_subsampled_gaussian,
)
from affect_lib.privacy.divergences import kl_gaussian, renyi_bernoulli
from affect_lib.privacy.mechanisms import (
    attack_success_probability,
    dp_gaussian,
    dp_laplace,
    exact_wdp_additive,
    rdp_gaussian,
    rdp_laplace,
    wdp_gaussian,
    wdp_laplace,
)
from affect_lib.privacy.moments import abs_moment_normal, log_abs_moment_normal

__all__ = [
    "ACCOUNTANTS",
    "DEFAULT_RDP_ORDERS",
    "BayesianAccountant",
    "GaussianAccountant",
    "PLDAccountant",
    "PRVAccountant",
    "RDPAccountant",
    "WassersteinAccountant",
    "abs_moment_normal",
    "all_pair_differences",
    "attack_success_probability",
    "dp_gaussian",
    "dp_laplace",
    "exact_wdp_additive",
    "kl_gaussian",
    "log_abs_moment_normal",
    "log_binomial_moment",
    "make_accountant",
    "pair_distances",
    "rdp_gaussian",
    "rdp_laplace",
    "renyi_bernoulli",
    "wasserstein_continuous",
    "wasserstein_distance",
    "wasserstein_gaussian",
    "wasserstein_noise_floor",
    "wasserstein_ot",
    "wasserstein_step_loss",
    "wasserstein_subsampled_gaussian",
    "wdp_gaussian",
    "wdp_laplace",
]
