"""Pure privacy analyses, one module per accountant (opacus's ``accountants/analysis`` layout).

Every function takes the mechanism's parameters and returns numbers; the stateful accountants of
:mod:`affect_lib.privacy.accountants` only keep the history and call these.

- :mod:`~affect_lib.privacy.analysis.wdp`  the paper's Wasserstein accountant (per-step loss, noise floor)
- :mod:`~affect_lib.privacy.analysis.bdp`  Bayesian DP (Triastcyn & Faltings 2020)
- :mod:`~affect_lib.privacy.analysis.rdp`  Renyi DP of the subsampled Gaussian and its conversions to DP
- :mod:`~affect_lib.privacy.analysis.pld`  privacy-loss distributions (dp_accounting), both adjacencies
- :mod:`~affect_lib.privacy.analysis.prv`  privacy random variables (opacus / Gopi et al. 2021)
- :mod:`~affect_lib.privacy.analysis.gdp`  Gaussian DP by the central limit theorem (opacus)

A history is a list of ``(noise_multiplier, sample_rate, steps)`` triples, as in opacus.
"""
