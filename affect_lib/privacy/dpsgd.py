"""DP-SGD on scikit-learn's digits with opacus, accounted by several accountants at once; and the released
training scripts' semantics for contrast.

Two ways to train (``semantics``):

- ``"dpsgd"``: real DP-SGD (opacus): Poisson sampling with rate q = 1 / len(loader) (read from opacus's data
  loader), per-example clipping to C, Gaussian noise of standard deviation z C on the sum of clipped gradients.
  The DP accountants (RDP, PRV, PLD, GDP) use add/remove adjacency with sensitivity C. The Wasserstein and Bayesian
  accountants get the differences of the clipped per-example gradients of ``n_probe`` examples of each batch:
  replace-one neighbours in the space where the noise is added, ||d_i|| <= 2C.
- ``"released"``: what the paper's scripts run: shuffled fixed-size batches, the *batch-mean* gradient clipped to
  C, noise of standard deviation z C on it, then a random coordinate mask keeping ``mask_keep`` of the
  coordinates. Their accountants are fed q = B/N and the differences of ``n_probe`` leave-one-out mean gradients
  (each clipped to C and masked), which are about B times smaller than per-example differences.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from affect_lib.privacy.accountants import PAIR_ACCOUNTANTS, make_accountant
from affect_lib.privacy.analysis.wdp import all_pair_distances
from affect_lib.privacy.validation import check_delta, check_positive
from affect_lib.progress import progress
from affect_lib.runtime import intra_op_threads

SEMANTICS = ("dpsgd", "released")
_PARTS = ("total", "steps", "wdp", "queries")


def load_digits_tensors(seed: int, test_fraction: float = 0.2) -> tuple[torch.Tensor, ...]:
    """scikit-learn's 8x8 digits (1797 images, shipped inside the wheel) as (x_train, y_train, x_test, y_test).

    Pixels are scaled to [0, 1] and flattened to 64 features; the split is stratified and seeded.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, data.target, test_size=test_fraction, random_state=seed, stratify=data.target
    )
    return torch.from_numpy(x_tr), torch.from_numpy(y_tr), torch.from_numpy(x_te), torch.from_numpy(y_te)


def make_digits_model(hidden: int = 64) -> nn.Module:
    """A two-layer perceptron 64 -> hidden -> 10 (no batch norm, so per-example gradients are well defined)."""
    return nn.Sequential(nn.Linear(64, hidden), nn.Tanh(), nn.Linear(hidden, 10))


@dataclass
class DPSGDRun:
    """The record of one training run: test accuracy and each accountant's epsilon after every epoch."""

    semantics: str
    noise_multiplier: float
    sample_rate: float
    steps: int = 0
    accuracy: list[float] = field(default_factory=list)
    epsilon: dict[str, list[float]] = field(default_factory=dict)
    wdp_step_losses: list[float] = field(default_factory=list)
    max_pair_distance: float = 0.0
    """The largest ||d_i|| fed to the pair accountants (<= 2C for ``dpsgd``)."""
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_PARTS, 0.0))
    """Wall-clock seconds of the whole training (``"total"``: data, model, steps, evaluation, accounting), of
    accounting the steps (``"steps"``: the pair distances and every ``step`` call; ``"wdp"``, inside it: what
    the Wasserstein accountant alone needs, the pair distances and its ``step``) and of asking every accountant
    for epsilon after each epoch (``"queries"``)."""
    cpu_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_PARTS, 0.0))
    """The same parts in process CPU seconds (all threads): what a busy shared host cannot stretch."""

    @contextmanager
    def timing(self, part: str) -> Iterator[None]:
        """Add the wall-clock and CPU seconds of the block to ``part``."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[part] += time.perf_counter() - wall
            self.cpu_seconds[part] += time.process_time() - cpu


_KNOWN_WARNINGS = (
    "Secure RNG turned off",  # opacus: fine for a seeded, reproducible book
    "Full backward hook is firing",  # torch: the first layer's input needs no gradient
)


def _without_known_warnings(fn: Callable[..., DPSGDRun]) -> Callable[..., DPSGDRun]:
    """Silence the known, harmless library warnings (stderr would fail an executed notebook)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> DPSGDRun:
        with warnings.catch_warnings():
            for message in _KNOWN_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            return fn(*args, **kwargs)

    return wrapper


@_without_known_warnings
def train_dpsgd(
    noise_multiplier: float,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 0.5,
    max_grad_norm: float = 1.0,
    delta: float = 1e-5,
    seed: int = 0,
    semantics: str = "dpsgd",
    accountants: tuple[str, ...] = ("wdp", "rdp", "prv", "bdp"),
    wdp_order: float = 16.0,
    wdp_beta: float = 32.0,
    n_probe: int = 8,
    mask_keep: float = 0.1,
    hidden: int = 64,
) -> DPSGDRun:
    """Train :func:`make_digits_model` on digits and account every step with ``accountants``.

    Args:
        noise_multiplier: z > 0; the noise standard deviation is z * max_grad_norm.
        epochs, batch_size, lr: SGD schedule. ``dpsgd``: Poisson sampling at the rate opacus's loader uses,
            q = 1 / len(loader) = 1 / ceil(n_train / batch_size); ``released``: shuffled batches, and the
            released accountants' q = batch_size / n_train.
        max_grad_norm: C, the clipping norm.
        delta: the delta at which epsilons are reported.
        semantics: ``"dpsgd"`` (opacus) or ``"released"`` (the paper's scripts); see the module docstring.
        accountants: names for :func:`~affect_lib.privacy.accountants.make_accountant`.
        wdp_order, wdp_beta: mu and beta of the Wasserstein accountant (the paper: 16 and 32); the Bayesian
            accountant uses lambda = wdp_order.
        n_probe: examples per batch whose gradients form the k(k-1)/2 pairs (the paper: 8, i.e. 28 pairs).
        mask_keep: ``released`` only: the fraction of coordinates the update mask keeps (the paper: 0.1).
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"semantics must be one of {SEMANTICS}, got {semantics!r}")
    z = float(check_positive(noise_multiplier, "noise_multiplier"))
    c = float(check_positive(max_grad_norm, "max_grad_norm"))
    check_delta(delta)
    if epochs < 1 or batch_size < 2 or n_probe < 2:
        raise ValueError("epochs must be >= 1, batch_size >= 2 and n_probe >= 2")
    began = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    x_tr, y_tr, x_te, y_te = load_digits_tensors(seed)
    model = make_digits_model(hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_tr, y_tr),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    books = {
        name: make_accountant(name, **_accountant_kwargs(name, wdp_order, wdp_beta)) for name in accountants
    }
    if semantics == "dpsgd":
        from opacus import PrivacyEngine

        engine = PrivacyEngine(accountant="rdp")
        model, optimizer, loader = engine.make_private(
            module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=z, max_grad_norm=c
        )
        q = float(loader.sample_rate)  # opacus's Poisson rate, 1 / len(original loader)
        step_fn = _opacus_step
    else:
        q = batch_size / len(x_tr)  # what the released scripts feed their accountants
        step_fn = _released_step
    run = DPSGDRun(semantics, z, q, epsilon={name: [] for name in accountants})
    loss_fn = nn.CrossEntropyLoss()
    # the digits MLP's operators are tiny: a second thread only contends (the same floats on one thread)
    with intra_op_threads(1):
        for _ in progress(range(epochs), desc=f"{semantics} z={z:g}", total=epochs):
            model.train()
            for xb, yb in loader:
                if len(xb) == 0:
                    continue
                probe = step_fn(model, optimizer, loss_fn, xb, yb, c, z, n_probe, mask_keep)
                with run.timing("steps"):
                    with run.timing("wdp"):
                        distances = all_pair_distances(probe)  # once for every pair accountant
                        if "wdp" in books:
                            _account(books["wdp"], distances, z, q, c)
                    run.max_pair_distance = max(run.max_pair_distance, float(distances.max()))
                    for name, book in books.items():
                        if name != "wdp":
                            _account(book, distances, z, q, c)
                run.steps += 1
            run.accuracy.append(_accuracy(model, x_te, y_te))
            with run.timing("queries"):
                for name, book in books.items():
                    run.epsilon[name].append(float(book.get_epsilon(delta)))
    if "wdp" in books:
        run.wdp_step_losses = books["wdp"].values().tolist()
    run.seconds["total"] = time.perf_counter() - began[0]
    run.cpu_seconds["total"] = time.process_time() - began[1]
    return run


def _account(book: Any, distances: np.ndarray, z: float, q: float, c: float) -> None:
    """One step of an accountant: the pair accountants read the distances."""
    if book.name in PAIR_ACCOUNTANTS:
        book.step(distances=distances, noise_multiplier=z, sample_rate=q, max_grad_norm=c)
    else:
        book.step(noise_multiplier=z, sample_rate=q)


def _accountant_kwargs(name: str, order: float, beta: float) -> dict:
    if name == "wdp":
        return {"order": order, "beta": beta}
    if name == "bdp":
        return {"order": int(order)}
    return {}


def _opacus_step(model, optimizer, loss_fn, xb, yb, c, z, n_probe, mask_keep) -> torch.Tensor:
    """One opacus DP-SGD step; returns the clipped per-example gradients of the first examples, (k, n_params),
    whose pairwise differences the pair accountants read."""
    optimizer.zero_grad()
    loss_fn(model(xb), yb).backward()
    per_example = torch.cat([p.grad_sample.reshape(len(xb), -1) for p in model.parameters()], dim=1)
    probe = per_example[: max(2, min(n_probe, len(xb)))]
    if len(probe) < 2:  # a one-example batch: pair it with the empty difference (no data change)
        probe = torch.cat([probe, torch.zeros_like(probe)])
    probe = probe * torch.clamp(c / (probe.norm(dim=1, keepdim=True) + 1e-12), max=1.0)
    optimizer.step()
    return probe.detach()


def _released_step(model, optimizer, loss_fn, xb, yb, c, z, n_probe, mask_keep) -> torch.Tensor:
    """The released scripts' step: clip the batch-mean gradient, add noise, mask coordinates, SGD; returns the
    masked leave-one-out gradients of the first examples, (k, n_params) (two zero rows for a one-example batch:
    no data change)."""
    params = dict(model.named_parameters())
    per_example = _per_example_grads(model, params, loss_fn, xb, yb)
    b = len(xb)
    mean = per_example.mean(0)
    k = min(n_probe, b)
    loo = (b * mean - per_example[:k]) / max(b - 1, 1)
    loo = loo * torch.clamp(c / (loo.norm(dim=1, keepdim=True) + 1e-12), max=1.0)
    clipped = mean * torch.clamp(c / (mean.norm() + 1e-12), max=1.0)
    mask = (torch.rand_like(mean) < mask_keep).to(mean.dtype)
    update = (clipped + z * c * torch.randn_like(mean)) * mask
    optimizer.zero_grad()
    offset = 0
    for p in model.parameters():
        n = p.numel()
        p.grad = update[offset : offset + n].view_as(p).clone()
        offset += n
    optimizer.step()
    return (loo * mask).detach() if k >= 2 else torch.zeros(2, mean.numel())


def _per_example_grads(model, params, loss_fn, xb, yb) -> torch.Tensor:
    """Per-example gradients, shape (batch, n_params), with torch.func."""
    from torch.func import functional_call, grad, vmap

    detached = {k: v.detach() for k, v in params.items()}

    def loss_one(p, x, y):
        return loss_fn(functional_call(model, p, (x[None],)), y[None])

    grads = vmap(grad(loss_one), in_dims=(None, 0, 0))(detached, xb, yb)
    return torch.cat([grads[k].reshape(len(xb), -1) for k in params], dim=1)


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((model(x).argmax(1) == y).float().mean())
