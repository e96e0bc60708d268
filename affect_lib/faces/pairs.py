"""Exact GANimation training and test pairs from the face rig.

Every render of the rig is the same identity, so the rig's render of the target AUs *is* the correct edit: a pair
(source image with its AUs, target AUs) comes with its ground truth. GANimation trains without that truth (its
losses are unpaired); the truth judges the trained generator, independently of the critic trained alongside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from affect_lib.faces import facs
from affect_lib.faces.rig import FaceRig


def sample_aus(n: int, rng: np.random.Generator, jitter: float = 0.5) -> np.ndarray:
    """(n, 17) AU intensities in [0, 5]: a random prototype (neutral, basic or compound) at a random intensity in
    [1, 5], its active AUs jittered by U(−``jitter``, ``jitter``)."""
    if n < 1:
        raise ValueError(f"n must be a positive number of faces, got {n!r}")
    names = list(facs.PROTOTYPE_AUS)
    aus = np.stack(
        [
            facs.prototype(names[i], s)
            for i, s in zip(rng.integers(len(names), size=n), rng.uniform(1, 5, n), strict=True)
        ]
    )
    return np.clip(aus + rng.uniform(-jitter, jitter, aus.shape) * (aus > 0), 0, facs.AU_MAX)


@dataclass
class RigPairs:
    """A pool of rig faces with their AUs; pairs (i, j) edit face i towards the AUs of face j, whose render is
    the ground truth.

    ``images`` (N, 3, S, S) in [-1, 1] (GANimation's range); ``aus`` (N, 17) in [0, 1] (intensity / 5).
    """

    images: torch.Tensor
    aus: torch.Tensor

    @classmethod
    @torch.no_grad()
    def render(cls, rig: FaceRig, n: int, rng: np.random.Generator) -> RigPairs:
        """Render ``n`` faces of :func:`sample_aus` with ``rig``."""
        aus = torch.tensor(sample_aus(n, rng), dtype=torch.float32)
        images = torch.cat([rig(chunk) for chunk in aus.split(256)]) * 2 - 1
        return cls(images, aus / facs.AU_MAX)

    def __len__(self) -> int:
        return len(self.aus)

    def batch(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` random pairs: (source images, source AUs, target AUs, ground-truth images)."""
        i = torch.randint(len(self), (n,), generator=generator)
        j = torch.randint(len(self), (n,), generator=generator)
        return self.images[i], self.aus[i], self.aus[j], self.images[j]


class FixedSource(torch.nn.Module):
    """``generator`` fed one fixed ``source`` image (1, 3, S, S) in place of every input: a control that can only
    render from the target AUs, never edit its input. On the rig, where every face is the same identity, it tells
    how much of a generator's score needs the input image at all."""

    def __init__(self, generator: torch.nn.Module, source: torch.Tensor) -> None:
        super().__init__()
        if source.dim() != 4 or source.shape[0] != 1:
            raise ValueError(f"source must be one image (1, 3, S, S), got shape {tuple(source.shape)}")
        self.generator = generator
        self.register_buffer("source", source)

    def forward(self, image: torch.Tensor, aus: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``generator(source, aus)`` for a batch of ``aus`` (B, 17); ``image`` (B, 3, S, S) only sets B."""
        return self.generator(self.source.expand(len(image), -1, -1, -1), aus)


@torch.no_grad()
def ground_truth_l1(
    generator: torch.nn.Module,
    pairs: RigPairs,
    n_pairs: int = 200,
    seed: int = 0,
    changed: float = 0.02,
    batch: int = 50,
) -> dict[str, np.ndarray]:
    """Score an AU-conditioned generator against the exact renders on ``n_pairs`` pairs of ``pairs``.

    Returns per-pair mean absolute errors in [0, 1] image units (half GANimation's [-1, 1] range):
    ``generator`` = |G(I_i | y_j) − I_j|, ``unchanged`` = |I_i − I_j| (leaving the input as it is), and the same
    on the pixels that should change (``*_changed``: where |I_i − I_j| > ``changed`` in any channel). Pairs with
    i = j or no changed pixel count in the whole-image scores only.
    """
    g = torch.Generator().manual_seed(seed)
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("generator", "unchanged", "generator_changed")}
    rows["unchanged_changed"] = []
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    for start in range(0, n_pairs, batch):
        real, _, target, truth = pairs.batch(min(batch, n_pairs - start), g)
        fake = generator(real.to(device), target.to(device))[0].cpu()
        err_g, err_u = (fake - truth).abs() / 2, (real - truth).abs() / 2
        mask = (err_u.amax(1, keepdim=True) > changed).expand_as(err_u).float()
        rows["generator"].append(err_g.mean((1, 2, 3)).numpy())
        rows["unchanged"].append(err_u.mean((1, 2, 3)).numpy())
        has = mask.sum((1, 2, 3)) > 0
        denom = mask.sum((1, 2, 3)).clamp_min(1)
        rows["generator_changed"].append(((err_g * mask).sum((1, 2, 3)) / denom)[has].numpy())
        rows["unchanged_changed"].append(((err_u * mask).sum((1, 2, 3)) / denom)[has].numpy())
    generator.train(was_training)
    return {k: np.concatenate(v).astype(np.float64) for k, v in rows.items()}


@torch.no_grad()
def critic_au_mse(
    critic: torch.nn.Module, generator: torch.nn.Module, pairs: RigPairs, n_pairs: int = 200, seed: int = 0
) -> dict[str, np.ndarray]:
    """The critic's own reading of ``n_pairs`` random pairs: per pair, the mean squared error of its AU head
    (``critic(x)[1]``, AUs / 5) to the target AUs, on the generator's edit (``edits``) and on the exact render of
    the same target (``truth``). A critic that reads the edits closer to their targets than the truth is fooled."""
    g = torch.Generator().manual_seed(seed)
    real, _, target, exact = pairs.batch(n_pairs, g)
    device = next(generator.parameters()).device
    target = target.to(device)
    was_training = generator.training
    generator.eval()
    fake = generator(real.to(device), target)[0]
    generator.train(was_training)
    return {
        "edits": ((critic(fake)[1] - target) ** 2).mean(1).cpu().numpy(),
        "truth": ((critic(exact.to(device))[1] - target) ** 2).mean(1).cpu().numpy(),
    }


def fit_paired(
    generator: torch.nn.Module,
    pairs: RigPairs,
    steps: int,
    batch: int,
    lr: float = 5e-4,
    seed: int = 0,
    progress: Callable[..., Iterable[Any]] = lambda x, **_: x,
) -> list[float]:
    """The supervised control: train ``generator`` on the exact pairs, L1 between G(I_i | y_j) and I_j.

    GANimation cannot have this loss on real faces (nobody photographs the same face at every AU vector); on the
    rig it tells whether the architecture and the budget can learn the edits at all. Adam(lr, (0.5, 0.999)) as
    GANimation's; ``steps`` generator steps on batches of ``batch`` random pairs. Returns the L1 per step, in
    GANimation's [-1, 1] image units.
    """
    if steps < 1 or batch < 1:
        raise ValueError(f"steps and batch must be positive, got {steps} and {batch}")
    g = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    opt = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    generator.train()
    history = []
    for _ in progress(range(steps), desc="generator steps"):
        real, _, target, truth = pairs.batch(batch, g)
        out = generator(real.to(device), target.to(device))[0]
        loss = (out - truth.to(device)).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(loss.detach().item())
    return history
