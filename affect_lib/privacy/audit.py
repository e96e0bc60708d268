"""Empirical privacy audit of DP-SGD: a statistical *lower* bound on epsilon from a canary membership test
(Jagielski, Ullman & Oprea 2020; Nasr et al. 2021).

Train the same model many times on D (canary out) and on D plus one crafted example (canary in), score the canary
by a membership statistic (here its loss), and threshold the score. Any (eps, delta)-DP training makes every such
test obey FPR + e^eps FNR >= 1 - delta and FNR + e^eps FPR >= 1 - delta (Kairouz, Oh & Viswanath 2015), so
one-sided Clopper-Pearson upper bounds FPR_hi, FNR_hi on the two error rates give

    eps_lb = max(log((1 - delta - FNR_hi) / FPR_hi), log((1 - delta - FPR_hi) / FNR_hi)),

a lower bound that holds with probability >= 1 - 2 (1 - confidence) (each bound at ``confidence``). An
accountant's epsilon is an upper bound; an implementation whose audit exceeds it leaks more than accounted.

A tighter audit at no extra training cost assumes more: if the training is mu-GDP (its trade-off curve is
G_mu(a) = Phi(Phi^{-1}(1 - a) - mu), as full-batch DP-SGD is), every test has FNR >= G_mu(FPR), so
mu >= Phi^{-1}(1 - FPR_hi) - Phi^{-1}(FNR_hi) (:func:`gdp_mu_lower_bound`; Nasr et al. 2023 audit this way), and
that mu's epsilon is a lower bound *under the GDP assumption*. It reads the test at the equal-error threshold,
where the two rates are estimated best.

:func:`audit_dpsgd` runs opacus's ``PrivacyEngine`` configured as :func:`~affect_lib.privacy.dpsgd.train_dpsgd`
configures it (Poisson sampling at q = 1 / len(loader), per-example clipping to C, noise z C on the sum), on a
logistic regression of the digits. The canary is a *Dirac canary*: the image whose only non-zero pixel is one that
is 0 in all 1797 digits, so no other example's gradient touches the weights the canary moves, and its clipped
gradient has norm C at every step. The adjacency (add/remove the canary) is the RDP accountant's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn

from affect_lib.privacy.analysis.gdp import epsilon_from_mu
from affect_lib.privacy.analysis.rdp import rdp_epsilon
from affect_lib.privacy.dpsgd import _without_known_warnings, load_digits_tensors
from affect_lib.privacy.validation import as_float_array, check_delta, check_positive
from affect_lib.runtime import intra_op_threads


def clopper_pearson_upper(count: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a binomial rate from ``count`` successes in ``n`` trials:
    the ``confidence`` quantile of Beta(count + 1, n - count) (1 when count = n)."""
    count, n = _check_count(count, n, "count")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    return 1.0 if count == n else float(stats.beta.ppf(confidence, count + 1, n - count))


def epsilon_lower_bound(
    fpr_count: int, fnr_count: int, n_trials: int, delta: float, confidence: float = 0.95
) -> float:
    """The audit's lower bound on eps (module docstring), >= 0.

    Args:
        fpr_count: false positives among the ``n_trials`` canary-out runs (scored "in").
        fnr_count: false negatives among the ``n_trials`` canary-in runs (scored "out").
        n_trials: runs on each side.
        delta: the delta of the (eps, delta) guarantee being audited.
        confidence: the one-sided confidence of each Clopper-Pearson bound.
    """
    delta = check_delta(delta)
    _check_count(fpr_count, n_trials, "fpr_count")
    _check_count(fnr_count, n_trials, "fnr_count")
    fpr_hi = clopper_pearson_upper(fpr_count, n_trials, confidence)
    fnr_hi = clopper_pearson_upper(fnr_count, n_trials, confidence)
    bounds = [0.0]
    for num, den in ((1 - delta - fnr_hi, fpr_hi), (1 - delta - fpr_hi, fnr_hi)):
        if num > 0:
            bounds.append(math.log(num / den))
    return max(bounds)


def gdp_mu_lower_bound(fpr_count: int, fnr_count: int, n_trials: int, confidence: float = 0.95) -> float:
    """Phi^{-1}(1 - FPR_hi) - Phi^{-1}(FNR_hi), >= 0: a lower bound on mu for a mu-GDP mechanism (module docstring).

    Args: as :func:`epsilon_lower_bound` (without delta: GDP needs none).
    """
    _check_count(fpr_count, n_trials, "fpr_count")
    _check_count(fnr_count, n_trials, "fnr_count")
    fpr_hi = clopper_pearson_upper(fpr_count, n_trials, confidence)
    fnr_hi = clopper_pearson_upper(fnr_count, n_trials, confidence)
    return max(0.0, float(stats.norm.isf(fpr_hi) - stats.norm.ppf(fnr_hi)))


def _threshold_errors(
    scores_out: np.ndarray, scores_in: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate thresholds (midpoints between consecutive distinct scores; the one score when all are equal)
    and, for each, the false-positive and false-negative counts of deciding "in" when score > t."""
    out, inn = _check_scores(scores_out, scores_in)
    values = np.unique(np.concatenate([out, inn]))
    candidates = (values[:-1] + values[1:]) / 2 if values.size > 1 else values
    fp = (out[None, :] > candidates[:, None]).sum(1)
    fn = (inn[None, :] <= candidates[:, None]).sum(1)
    return candidates, fp, fn


def equal_error_threshold(scores_out: np.ndarray, scores_in: np.ndarray) -> float:
    """The threshold t (decide "in" when score > t) at which the false-positive and false-negative counts of these
    scores are closest (ties: the fewest errors), among the midpoints between consecutive distinct scores."""
    candidates, fp, fn = _threshold_errors(scores_out, scores_in)
    return float(candidates[np.lexsort((fp + fn, np.abs(fp - fn)))[0]])


def best_threshold(
    scores_out: np.ndarray, scores_in: np.ndarray, delta: float, confidence: float = 0.95
) -> float:
    """The threshold t (decide "in" when score > t) that maximises :func:`epsilon_lower_bound` on these scores.

    Candidates are the midpoints between consecutive distinct scores; ties go to the fewest errors. The bound is valid only on scores that
    did not choose t (:func:`audit_dpsgd` chooses it on half of the runs and counts on the other half).
    """
    candidates, fp, fn = _threshold_errors(scores_out, scores_in)
    n = np.asarray(scores_out).size
    bounds = [epsilon_lower_bound(a, b, n, delta, confidence) for a, b in zip(fp, fn, strict=True)]
    best = np.lexsort((fp + fn, -np.asarray(bounds)))[0]  # the largest bound; ties: the fewest errors
    return float(candidates[best])


@dataclass(frozen=True)
class AuditResult:
    """One audit: the lower bound, the accountant's upper bound for the same run, and the test behind them."""

    noise_multiplier: float
    sample_rate: float
    steps: int
    n_eval: int
    """Runs per side on which the errors are counted (the other half chose the threshold)."""
    threshold: float
    false_positives: int
    false_negatives: int
    epsilon_lower: float
    epsilon_upper: float
    """RDP (optimal conversion) of (z, q, steps) at ``delta``; inf for z = 0."""
    delta: float
    equal_error_false_positives: int
    equal_error_false_negatives: int
    """The errors on the counting half at the equal-error threshold chosen on the other half."""
    mu_lower: float
    """:func:`gdp_mu_lower_bound` of the equal-error counts (valid if the training is GDP)."""
    epsilon_lower_gdp: float
    """eps at ``delta`` of ``mu_lower``: a lower bound on eps under the GDP assumption."""
    scores_out: np.ndarray
    scores_in: np.ndarray
    """The membership scores (minus the canary's loss) of the counting half, canary out and in, shape (n_eval,)."""


@_without_known_warnings
def audit_dpsgd(
    noise_multiplier: float,
    *,
    n_trials: int = 500,
    steps: int = 4,
    n_train: int = 200,
    batch_size: int | None = None,
    lr: float = 1.0,
    max_grad_norm: float = 1.0,
    canary_value: float = 2.0,
    delta: float = 1e-5,
    confidence: float = 0.95,
    seed: int = 0,
) -> AuditResult:
    """Audit opacus's DP-SGD with a Dirac canary: ``n_trials`` trainings with and ``n_trials`` without it.

    Args:
        noise_multiplier: z >= 0 (0: no noise, the non-private control).
        n_trials: trainings per side (even); half choose the threshold, half count the errors.
        steps: DP-SGD steps per training.
        n_train: digits (the first of the seeded training split) besides the canary.
        batch_size: the loader's batch size (None: all examples, i.e. q = 1, full-batch DP-GD).
        lr, max_grad_norm: SGD step and clipping norm C.
        canary_value: the canary's pixel value; > C / ||p - e_y|| keeps its gradient clipped to norm C.
        delta, confidence: as in :func:`epsilon_lower_bound`.
    """
    z = float(as_float_array(noise_multiplier, "noise_multiplier"))
    if not (math.isfinite(z) and z >= 0):
        raise ValueError(f"noise_multiplier must be finite and >= 0, got {noise_multiplier!r}")
    if n_trials < 2 or n_trials % 2 or steps < 1 or n_train < 1:
        raise ValueError("n_trials must be even and >= 2; steps and n_train >= 1")
    check_positive(canary_value, "canary_value")
    delta = check_delta(delta)
    torch.manual_seed(seed)
    x, y, _, _ = load_digits_tensors(seed)
    x, y = x[:n_train], y[:n_train]
    pixel = 0  # the top-left pixel: 0 in every digit
    if torch.any(x[:, pixel] != 0):
        raise ValueError(f"digits pixel {pixel} is not 0 in every image: the canary would not be isolated")
    canary_x = torch.zeros(1, x.shape[1])
    canary_x[0, pixel] = canary_value
    canary_y = torch.zeros(1, dtype=y.dtype)
    losses, rates = {}, set()
    # the ops are tiny: more threads only contend (tenfold slower on a busy machine)
    with intra_op_threads(1):
        for member in (False, True):
            xs = torch.cat([x, canary_x]) if member else x
            ys = torch.cat([y, canary_y]) if member else y
            losses[member], rate = _canary_losses(
                xs, ys, canary_x, canary_y, z, n_trials, steps, batch_size or len(xs), lr, max_grad_norm
            )
            rates.add(rate)
    if len(rates) != 1:  # opacus's q = 1 / len(loader) must not depend on the canary's presence
        raise ValueError(
            f"batch_size {batch_size} gives the two loaders different sample rates {sorted(rates)}"
        )
    (q,) = rates
    half = n_trials // 2
    # score = -loss: the canary is scored "in" when its loss is low
    threshold = best_threshold(-losses[False][:half], -losses[True][:half], delta, confidence)
    fp = int((-losses[False][half:] > threshold).sum())
    fn = int((-losses[True][half:] <= threshold).sum())
    upper = math.inf if z == 0 else rdp_epsilon([(z, q, steps)], delta)[0]
    equal = equal_error_threshold(-losses[False][:half], -losses[True][:half])
    fp_eq = int((-losses[False][half:] > equal).sum())
    fn_eq = int((-losses[True][half:] <= equal).sum())
    mu_lower = gdp_mu_lower_bound(fp_eq, fn_eq, n_trials - half, confidence)
    return AuditResult(
        noise_multiplier=z,
        sample_rate=q,
        steps=steps,
        n_eval=n_trials - half,
        threshold=threshold,
        false_positives=fp,
        false_negatives=fn,
        epsilon_lower=epsilon_lower_bound(fp, fn, n_trials - half, delta, confidence),
        epsilon_upper=upper,
        delta=delta,
        equal_error_false_positives=fp_eq,
        equal_error_false_negatives=fn_eq,
        mu_lower=mu_lower,
        epsilon_lower_gdp=epsilon_from_mu(mu_lower, delta),
        scores_out=-losses[False][half:],
        scores_in=-losses[True][half:],
    )


def _canary_losses(
    xs, ys, canary_x, canary_y, z, n_trials, steps, batch_size, lr, c
) -> tuple[np.ndarray, float]:
    """The canary's loss after each of ``n_trials`` opacus trainings from zero weights, and opacus's rate q."""
    from opacus import PrivacyEngine

    model = nn.Linear(xs.shape[1], 10, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(_WholeBatches(xs, ys), batch_size=batch_size, collate_fn=_as_is)
    loss_fn = nn.CrossEntropyLoss()
    model, optimizer, loader = PrivacyEngine(accountant="rdp").make_private(
        module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=z, max_grad_norm=c
    )
    out = np.empty(n_trials)
    for trial in range(n_trials):
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
        done = 0
        while done < steps:
            for xb, yb in loader:
                optimizer.zero_grad()
                loss_fn(model(xb), yb).backward()
                optimizer.step()
                done += 1
                if done == steps:
                    break
        with torch.no_grad():
            out[trial] = float(loss_fn(model(canary_x), canary_y))
    return out, float(loader.sample_rate)


class _WholeBatches(torch.utils.data.TensorDataset):
    """A tensor dataset that indexes a whole batch at once (``__getitems__``), instead of stacking examples."""

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t[index] for t in self.tensors)


def _as_is(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return batch


def _check_count(count: int, n: int, name: str) -> tuple[int, int]:
    if int(n) != n or n < 1:
        raise ValueError(f"n_trials must be a positive integer, got {n!r}")
    if int(count) != count or not 0 <= count <= n:
        raise ValueError(f"{name} must be an integer in [0, n_trials] = [0, {n}], got {count!r}")
    return int(count), int(n)


def _check_scores(scores_out: np.ndarray, scores_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = as_float_array(scores_out, "scores_out").reshape(-1)
    inn = as_float_array(scores_in, "scores_in").reshape(-1)
    if out.size == 0 or out.size != inn.size:
        raise ValueError(
            f"scores_out and scores_in must be non-empty and equally long, got {out.size}, {inn.size}"
        )
    return out, inn
