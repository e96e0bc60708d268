"""GANimation (Pumarola et al., ECCV 2018): the AU-conditioned generator, the critic, the losses, a trainer.

Generator: the image (3 channels in [-1, 1]) and the AU vector (17 values in [0, 1], broadcast to maps) go through a
7×7 conv, 2 stride-2 convs, residual blocks and 2 transposed convs; a colour head (tanh) and an attention head
(sigmoid) give C and A, and the output is A·I + (1 − A)·C (A = 1 keeps the input pixel).
Critic: stride-2 4×4 convs with LeakyReLU(0.01), no normalisation, then a 3×3 critic head (a patch map) and an AU
regression head whose kernel covers the last map.

Checkpoints: :func:`load_checkpoint` reads both key layouts. Official (albertpumarola): ``main.*``,
``img_reg.0.weight``, ``attetion_reg.0.weight`` (sic), conv bias off, affine InstanceNorm. Replicate (donydchen, the
one EvoGAN loads): ``model.*`` → ``main.*``, ``color_top.*`` → ``img_reg.*``, ``au_top.*`` → ``attetion_reg.*``,
``conv_block`` → ``main`` inside residual blocks; conv bias on, InstanceNorm without affine parameters. The
replicate's critic: ``model.*`` → ``main.*``, ``dis_top.*`` → ``conv1.*``, ``aus_top.*`` → ``conv2.*``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from affect_lib.faces.facs import AU_MAX, N_AUS

if TYPE_CHECKING:
    from affect_lib.faces.pairs import RigPairs

LAYOUTS = ("official", "replicate")
INITS = ("normal", "pytorch")
"""Weight initialisations: ``normal`` is the official code's (conv weights N(0, 0.02), biases 0), ``pytorch`` the
framework's default (Kaiming-uniform)."""
GP_STEPS = ("separate", "joint")
"""Where the critic takes its gradient penalty (:class:`Trainer`)."""
REPLICATE_RENAMES = (
    ("model.", "main."),
    ("color_top.", "img_reg."),
    ("au_top.", "attetion_reg."),
    ("dis_top.", "conv1."),
    ("aus_top.", "conv2."),
)
"""donydchen's key prefixes -> this module's: generator ``model``/``color_top``/``au_top``, critic
``model``/``dis_top``/``aus_top``."""


def _norm(channels: int, layout: str) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=layout == "official")


def init_weights(module: nn.Module, init: str) -> None:
    """Initialise every conv and transposed conv of ``module`` as ``init`` (:data:`INITS`) names: ``normal`` draws
    weights from N(0, 0.02) and zeroes biases, as the official ``init_net``/``_weights_init_fn`` (norm layers keep
    weight 1, bias 0); ``pytorch`` leaves PyTorch's default."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if init == "pytorch":
        return
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResidualBlock(nn.Module):
    """Conv 3×3 - IN - ReLU - Conv 3×3 - IN, plus the identity."""

    def __init__(self, channels: int, layout: str) -> None:
        super().__init__()
        bias = layout == "replicate"
        self.main = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
            _norm(channels, layout),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
            _norm(channels, layout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class Generator(nn.Module):
    """GANimation's G. Paper size: ``ngf=64, n_res=6`` at 128×128; a small one: ``ngf=16, n_res=2``.

    ``forward(image, aus)`` with image (B, 3, H, W) in [-1, 1] and aus (B, 17) in [0, 1] returns
    ``(output, colour, attention)``: (B, 3, H, W), (B, 3, H, W), (B, 1, H, W).

    Two options start training from the identity (not in the official code, which has neither):
    ``attention_start`` in (0, 1) gives the attention head a bias initialised at logit(``attention_start``), so an
    untrained G keeps about that share of every input pixel (the official head has no bias: A starts near ½);
    ``colour_residual`` makes the colour head paint a residual on the input, C = I + tanh(·), instead of
    C = tanh(·), so an untrained G's colour is already the input. ``init`` (:data:`INITS`) initialises the convs
    before the attention bias is set. Either option adds or changes parameters' meaning, so checkpoints of the
    official layouts load into a G built without them.
    """

    def __init__(
        self,
        ngf: int = 64,
        n_res: int = 6,
        n_aus: int = N_AUS,
        layout: str = "official",
        init: str = "normal",
        attention_start: float | None = None,
        colour_residual: bool = False,
    ) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        if attention_start is not None and not 0 < attention_start < 1:
            raise ValueError(f"attention_start must be in (0, 1) or None, got {attention_start!r}")
        bias = layout == "replicate"
        layers: list[nn.Module] = [
            nn.Conv2d(3 + n_aus, ngf, 7, padding=3, bias=bias),
            _norm(ngf, layout),
            nn.ReLU(inplace=True),
        ]
        channels = ngf
        for _ in range(2):
            layers += [
                nn.Conv2d(channels, 2 * channels, 4, 2, 1, bias=bias),
                _norm(2 * channels, layout),
                nn.ReLU(True),
            ]
            channels *= 2
        layers += [ResidualBlock(channels, layout) for _ in range(n_res)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=bias),
                _norm(channels // 2, layout),
                nn.ReLU(True),
            ]
            channels //= 2
        self.main = nn.Sequential(*layers)
        self.img_reg = nn.Sequential(nn.Conv2d(channels, 3, 7, padding=3, bias=False), nn.Tanh())
        self.attetion_reg = nn.Sequential(
            nn.Conv2d(channels, 1, 7, padding=3, bias=attention_start is not None), nn.Sigmoid()
        )
        self.n_aus, self.colour_residual = n_aus, colour_residual
        init_weights(self, init)
        if attention_start is not None:
            nn.init.constant_(self.attetion_reg[0].bias, math.log(attention_start / (1 - attention_start)))

    def forward(
        self, image: torch.Tensor, aus: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"image must have shape (B, 3, H, W), got {tuple(image.shape)}")
        if aus.shape != (image.shape[0], self.n_aus):
            raise ValueError(f"aus must have shape ({image.shape[0]}, {self.n_aus}), got {tuple(aus.shape)}")
        if image.shape[2] % 4 or image.shape[3] % 4:
            raise ValueError(f"image height and width must be multiples of 4, got {tuple(image.shape[2:])}")
        maps = aus[:, :, None, None].expand(-1, -1, *image.shape[2:])
        features = self.main(torch.cat([image, maps], dim=1))
        colour, attention = self.img_reg(features), self.attetion_reg(features)
        if self.colour_residual:
            colour = image + colour
        return attention * image + (1 - attention) * colour, colour, attention


class Critic(nn.Module):
    """GANimation's D. Paper size: ``image_size=128, ndf=64, n_layers=6``; small: ``64, 16, 4``.

    ``forward(image)`` returns the critic patch map (B, 1, h, h) and the AU regression (B, 17). ``init`` as
    :class:`Generator`'s.
    """

    def __init__(
        self,
        image_size: int = 128,
        ndf: int = 64,
        n_layers: int = 6,
        n_aus: int = N_AUS,
        init: str = "normal",
    ) -> None:
        super().__init__()
        if image_size % 2**n_layers:
            raise ValueError(f"image_size {image_size} must be divisible by 2**n_layers = {2**n_layers}")
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.01)]
        channels = ndf
        for _ in range(n_layers - 1):
            layers += [nn.Conv2d(channels, 2 * channels, 4, 2, 1), nn.LeakyReLU(0.01)]
            channels *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(channels, 1, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels, n_aus, image_size // 2**n_layers, bias=False)
        self.image_size = image_size
        init_weights(self, init)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if image.ndim != 4 or image.shape[1:] != (3, self.image_size, self.image_size):
            raise ValueError(
                f"image must have shape (B, 3, {self.image_size}, {self.image_size}), got {tuple(image.shape)}"
            )
        h = self.main(image)
        return self.conv1(h), self.conv2(h).flatten(1)


@dataclass(frozen=True)
class LossWeights:
    """GANimation's loss weights, as the official code applies them.

    The official code divides the AU mean squared error by the batch size once more (``au_per_batch``): at the
    launch script's batch of 25 the effective weight on the plain MSE is 4000 / 25 = 160, which is the weight
    donydchen's replicate puts on its plain MSE (:meth:`replicate`). The TV term is summed over the batch, the mask
    mean averaged. ``identity`` weighs a self-reconstruction L1 ‖G(I|y_o) − I‖₁ (editing a face towards its own
    AUs leaves it as it is), a term of StarGAN-style identity losses that GANimation does not have (0 = off).
    """

    adversarial: float = 1.0
    au: float = 4000.0
    au_per_batch: bool = True
    cycle: float = 10.0
    attention: float = 0.1
    tv: float = 1e-5
    gp: float = 10.0
    identity: float = 0.0

    @classmethod
    def replicate(cls) -> LossWeights:
        """donydchen's replicate (the GAN EvoGAN loads): ``lambda_aus = 160`` on a plain MSE, no attention terms."""
        return cls(au=160.0, au_per_batch=False, attention=0.0, tv=0.0)

    def au_term(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The weighted AU loss: ``au`` × MSE, divided by the batch size when ``au_per_batch``."""
        scale = self.au / predicted.shape[0] if self.au_per_batch else self.au
        return scale * au_loss(predicted, target)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: E[(‖∇ D_I(x̃)‖₂ − 1)²] at x̃ = α·real + (1 − α)·fake, α ~ U(0, 1) per sample."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    score, _ = critic(mixed)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def au_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Conditional-expression loss: mean squared error between regressed and desired AUs."""
    return F.mse_loss(predicted, target)


def cycle_loss(reconstruction: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Identity loss ‖G(G(I|y_f)|y_o) − I‖₁ (mean absolute error)."""
    return (reconstruction - original).abs().mean()


def attention_loss(attention: torch.Tensor, weights: LossWeights) -> torch.Tensor:
    """λ_A·mean(A) + λ_TV·TV(A), TV the absolute differences of neighbours summed over the batch (official)."""
    tv = (attention[..., 1:, :] - attention[..., :-1, :]).abs().sum() + (
        attention[..., :, 1:] - attention[..., :, :-1]
    ).abs().sum()
    return weights.attention * attention.mean() + weights.tv * tv


class AURegressor(Critic):
    """An AU regressor: the critic's trunk and AU head, image (B, 3, S, S) in [-1, 1] → AUs (B, 17) in [0, 1]
    (arguments as :class:`Critic`'s; its patch head is built but unused). Trained on real faces and their AUs
    (:func:`fit_au_regressor`) and frozen, it can read the generator's edits in place of the critic's AU head,
    which trains alongside the generator and can be fooled by it. GANimation's AUs come from such a fixed regressor
    (OpenFace); its loss does not use one."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(image)[1]


def fit_au_regressor(
    regressor: nn.Module, pairs: RigPairs, steps: int, batch: int, lr: float = 1e-3, seed: int = 0
) -> list[float]:
    """Train ``regressor`` (image → AUs) on the faces of ``pairs`` and their AUs: ``steps`` Adam(lr) steps on the
    AU mean squared error over random batches of ``batch`` faces; returns the loss per step. Leaves it in eval
    mode with gradients off (frozen), ready for :class:`Trainer`'s ``au_regressor``."""
    if steps < 1 or batch < 1:
        raise ValueError(f"steps and batch must be positive, got {steps} and {batch}")
    g = torch.Generator().manual_seed(seed)
    device = next(regressor.parameters()).device
    opt = torch.optim.Adam(regressor.parameters(), lr=lr)
    regressor.train()
    history = []
    for _ in range(steps):
        i = torch.randint(len(pairs), (batch,), generator=g)
        loss = au_loss(regressor(pairs.images[i].to(device)), pairs.aus[i].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(loss.detach().item())
    regressor.eval().requires_grad_(False)
    return history


class Trainer:
    """WGAN-GP training of (G, D) on (image, AUs) pairs: ``n_critic`` D steps per G step, Adam(lr, betas).

    :meth:`step` takes real images (B, 3, H, W) in [-1, 1], their AUs and target AUs (B, 17) in [0, 1] and returns
    the scalar losses of that step. :meth:`fit` trains on rig pairs for a number of steps; :meth:`fit_loader` runs
    epochs of GANimation's schedule over a data loader (:func:`lr_factor`), and :meth:`state_dict` /
    :meth:`load_state_dict` save and restore G, D, both optimisers and the step count for a resumed run. G is
    updated on every ``n_critic``-th step of the whole run (the official code counts batches within an epoch).

    ``gp_step``: ``"separate"`` (the official code) takes the gradient penalty in a second critic step on the same
    batch after the Wasserstein and AU step; ``"joint"`` adds it to that step's loss (one step, as WGAN-GP's paper
    writes the loss). ``au_regressor``: a frozen image → AUs module (:class:`AURegressor`) that reads the edits
    for the generator's AU loss instead of the critic's AU head (None: the critic's, as the official code).
    """

    def __init__(
        self,
        generator: Generator,
        critic: Critic,
        weights: LossWeights = LossWeights(),
        lr: float = 1e-4,
        n_critic: int = 5,
        betas: tuple[float, float] = (0.5, 0.999),
        gp_step: str = "separate",
        au_regressor: nn.Module | None = None,
    ) -> None:
        if gp_step not in GP_STEPS:
            raise ValueError(f"gp_step must be one of {GP_STEPS}, got {gp_step!r}")
        if au_regressor is not None and any(p.requires_grad for p in au_regressor.parameters()):
            raise ValueError(
                "au_regressor must be frozen (requires_grad_(False)): fit_au_regressor leaves it so"
            )
        self.G, self.D, self.w, self.n_critic, self.lr = generator, critic, weights, n_critic, lr
        self.gp_step, self.au_regressor = gp_step, au_regressor
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
        self.steps = 0

    def _critic_step(self, loss: torch.Tensor) -> None:
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()

    def step(self, real: torch.Tensor, aus_real: torch.Tensor, aus_target: torch.Tensor) -> dict[str, float]:
        w = self.w
        with torch.no_grad():
            fake, _, _ = self.G(real, aus_target)
        score_real, au_real = self.D(real)
        score_fake, _ = self.D(fake)
        d_au = au_loss(au_real, aus_real)
        d_adv = score_fake.mean() - score_real.mean()
        d_loss = w.adversarial * d_adv + w.au_term(au_real, aus_real)
        if self.gp_step == "joint":
            self._critic_step(d_loss + w.gp * gradient_penalty(self.D, real, fake))
        else:
            self._critic_step(d_loss)
            self._critic_step(w.gp * gradient_penalty(self.D, real, fake))
        out = {"critic_wasserstein": -d_adv.detach().item(), "critic_au_mse": d_au.detach().item()}
        self.steps += 1
        if self.steps % self.n_critic == 0:
            fake, _, att = self.G(real, aus_target)
            rec, _, att_rec = self.G(fake, aus_real)
            score_fake, au_fake = self.D(fake)
            if self.au_regressor is not None:
                au_fake = self.au_regressor(fake)
            g_au, g_cyc = au_loss(au_fake, aus_target), cycle_loss(rec, real)
            g_att = attention_loss(att, w) + attention_loss(att_rec, w)
            g_loss = (
                -w.adversarial * score_fake.mean() + w.au_term(au_fake, aus_target) + w.cycle * g_cyc + g_att
            )
            if w.identity:
                g_loss = g_loss + w.identity * cycle_loss(self.G(real, aus_real)[0], real)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            out |= {
                "generator_au_mse": g_au.detach().item(),
                "cycle_l1": g_cyc.detach().item(),
                "attention_mean": att.detach().mean().item(),
            }
        return out

    def fit(
        self,
        pairs: RigPairs,
        steps: int,
        batch: int,
        seed: int = 0,
        progress: Callable[..., Iterable[Any]] = lambda x, **_: x,
    ) -> dict[str, list[float]]:
        """``steps`` critic steps on random pairs of ``pairs`` (their ground truth is not used); the loss history."""
        g = torch.Generator().manual_seed(seed)
        device = next(self.G.parameters()).device
        history: dict[str, list[float]] = {}
        for _ in progress(range(steps), desc="critic steps"):
            real, aus_real, aus_target, _ = pairs.batch(batch, g)
            losses = self.step(real.to(device), aus_real.to(device), aus_target.to(device))
            for key, value in losses.items():
                history.setdefault(key, []).append(value)
        return history

    def state_dict(self) -> dict[str, Any]:
        """G's and D's weights (this module's keys, which :func:`load_checkpoint` reads), both optimisers' states
        and the step count: plain tensors and numbers, loadable with ``torch.load(weights_only=True)``."""
        return {
            "generator": self.G.state_dict(),
            "critic": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (``ValueError`` naming a missing part)."""
        missing = [k for k in ("generator", "critic", "opt_g", "opt_d", "steps") if k not in state]
        if missing:
            raise ValueError(f"trainer state lacks {', '.join(missing)}")
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["critic"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.steps = int(state["steps"])

    def set_epoch_lr(self, epoch: int, epochs_const: int, epochs_decay: int) -> float:
        """Set both optimisers' learning rate for 0-based ``epoch`` of the schedule; returns it."""
        lr = self.lr * lr_factor(epoch, epochs_const, epochs_decay)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        return lr

    def fit_loader(
        self,
        loader: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
        epochs_const: int,
        epochs_decay: int = 0,
        *,
        start_epoch: int = 0,
        stop_epoch: int | None = None,
        max_steps: int | None = None,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        progress: Callable[..., Iterable[Any]] = lambda x, **_: x,
    ) -> list[dict[str, float]]:
        """Epochs ``start_epoch`` to ``stop_epoch`` − 1 (default: the schedule's end) of ``epochs_const`` epochs at
        the learning rate then ``epochs_decay`` of linear decay, over batches ``(images, aus, target_aus)``.

        Before each epoch the learning rate is set (:meth:`set_epoch_lr`) and ``set_epoch(epoch)`` is called on the
        loader's ``sampler`` and ``dataset`` where they have it, so an epoch's batches depend on the epoch alone (a
        resumed run sees the same ones). ``max_steps`` caps the steps per epoch. Each epoch's record
        ``{"epoch": 1-based, "lr", "steps": total so far, <loss>: its mean over the epoch}`` (generator losses over
        the G steps only) goes to ``on_epoch`` (e.g. to save a checkpoint) and into the returned list.
        """
        total = epochs_const + epochs_decay
        stop = total if stop_epoch is None else stop_epoch
        if not 0 <= start_epoch <= stop <= total:
            raise ValueError(
                f"need 0 <= start_epoch <= stop_epoch <= {total} epochs, got {start_epoch} and {stop_epoch}"
            )
        device = next(self.G.parameters()).device
        records = []
        for epoch in range(start_epoch, stop):
            lr = self.set_epoch_lr(epoch, epochs_const, epochs_decay)
            for part in (getattr(loader, "sampler", None), getattr(loader, "dataset", None)):
                if hasattr(part, "set_epoch"):
                    part.set_epoch(epoch)
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            n = 0
            for real, aus_real, aus_target in progress(loader, desc=f"epoch {epoch + 1}/{total}"):
                losses = self.step(real.to(device), aus_real.to(device), aus_target.to(device))
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
                n += 1
                if max_steps is not None and n >= max_steps:
                    break
            if n == 0:
                raise ValueError("the loader gave no batch (fewer items than one batch, with drop_last?)")
            record = {"epoch": epoch + 1, "lr": lr, "steps": self.steps}
            record |= {key: sums[key] / counts[key] for key in sums}
            if on_epoch is not None:
                on_epoch(record)
            records.append(record)
        return records


def lr_factor(epoch: int, epochs_const: int, epochs_decay: int) -> float:
    """GANimation's learning-rate factor for 0-based ``epoch``: 1 for the first ``epochs_const`` epochs, then
    ``1 − (epoch − epochs_const) / epochs_decay``, so the last epoch runs at 1 / epochs_decay (never at 0).

    This is the official schedule: it lowers the rate by lr/``nepochs_decay`` after every 1-based epoch above
    ``nepochs_no_decay``, so with 20 + 10 epochs epoch 21 still runs at the full rate and epoch 30 at 0.1 of it.
    """
    if not 0 <= epoch < epochs_const + epochs_decay:
        raise ValueError(f"epoch {epoch} is outside the schedule of {epochs_const} + {epochs_decay} epochs")
    return 1.0 if epoch < epochs_const else 1.0 - (epoch - epochs_const) / epochs_decay


class GanimationGenerator(nn.Module):
    """A GANimation generator as the search's generator: ``gen(aus)`` edits one fixed face.

    Maps AU intensities (B, 17) on the 0-5 scale to images (B, 3, S, S) in [0, 1], the rig's interface, so a trained
    or loaded generator replaces the rig in :class:`affect_lib.faces.search.ExpressionFitness`. As in EvoGAN the
    genes (intensity / 5) go in unclipped.

    Args:
        generator: a :class:`Generator` (trained here or loaded with :func:`load_checkpoint`).
        face: (3, S, S) or (1, 3, S, S) image in [0, 1], S a multiple of 4.
    """

    def __init__(self, generator: Generator, face: torch.Tensor) -> None:
        super().__init__()
        face = face if face.ndim == 4 else face[None]
        if face.shape[:2] != (1, 3) or not torch.isfinite(face).all() or face.min() < 0 or face.max() > 1:
            raise ValueError(f"face must be one (3, S, S) image in [0, 1], got shape {tuple(face.shape)}")
        self.generator = generator.eval()
        self.register_buffer("face", face.float() * 2 - 1)
        self.size = face.shape[-1]

    @torch.no_grad()
    def forward(self, aus: torch.Tensor) -> torch.Tensor:
        aus = torch.as_tensor(aus, dtype=torch.float32, device=self.face.device)
        if aus.ndim != 2 or aus.shape[1] != self.generator.n_aus or not torch.isfinite(aus).all():
            raise ValueError(
                f"aus must be finite with shape (B, {self.generator.n_aus}), got {tuple(aus.shape)}"
            )
        out, _, _ = self.generator(self.face.expand(len(aus), -1, -1, -1), aus / AU_MAX)
        return ((out + 1) / 2).clamp(0, 1)


def load_checkpoint(path: str | Path, model: Generator | Critic) -> Generator | Critic:
    """Load a GANimation state dict (official or donydchen-replicate keys, see the module doc) into ``model``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming missing, unexpected or mis-shaped keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    renamed = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        for old, new in REPLICATE_RENAMES:
            key = new + key[len(old) :] if key.startswith(old) else key
        renamed[key.replace(".conv_block.", ".main.")] = value
    expected = model.state_dict()
    missing = sorted(set(expected) - set(renamed))
    unexpected = sorted(set(renamed) - set(expected))
    shapes = [k for k in set(expected) & set(renamed) if expected[k].shape != renamed[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(
            f"checkpoint {path.name} does not match {type(model).__name__}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes {sorted(shapes)[:5]} (check ngf/n_res/layout)"
        )
    model.load_state_dict(renamed)
    return model
