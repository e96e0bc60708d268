"""CFN-SR (Fu et al. 2021): a 3D ResNeXt video branch, an MFCC 1D-CNN audio branch and a cross-modal block.

The cross-modal block runs MulT's causal Transformer encoder (:class:`affect_lib.models.attention.MultEncoder`,
shared with Part III) over the audio features, takes its last step as a query and scores every (time-slice, row, column) position of the video feature map with additive attention:

    a = softmax_{h,w}( w^T tanh(W_v x_{s,h,w} + W_a q) ),   x' = x * a + x   (residual)

The fused video map is average-pooled and concatenated with the flattened audio features before one linear
classifier whose width is computed from the input sizes. Two released quirks are options, off by default:
``batch_coupled_attention`` (the map summed over the batch) and, for the stem, ``stem_relu=False`` is the
released fused model (its ReLU after ``bn1`` is missing); see the book's Part IV chapter.

Builders: :func:`cfn_sr`, :func:`av_late_fusion`, :func:`av_concat` take the sizes (:class:`CFNSRConfig` fields,
whose defaults are the paper's: 30 frames of 224², 13 x 212 MFCC, 26.30M parameters); the book's narrow CPU sizes
are a recipe (:mod:`affect_lib.recipes`). :func:`video_only` and :func:`audio_only` are the unimodal classifiers
that the release (after MSAF) trains per fold before fine-tuning a fusion model; :func:`init_from_unimodal` copies
their branches into one (:mod:`affect_lib.runs.pretrain` runs that stage).
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from affect_lib.models.attention import MultEncoder

N_CLASSES = 8


@dataclass(frozen=True)
class CFNSRConfig:
    """Sizes of both branches; the defaults are the released model's.

    Attributes:
        frames, image_size: video input (frames, image_size, image_size); sets the pooled map size.
        mfcc_bins, mfcc_frames: audio input (mfcc_bins, mfcc_frames); sets the flattened audio width.
        stem_channels: output channels of the 7x7x7 stem convolution.
        planes: the four ResNeXt stages' planes (outputs are 2 x planes).
        blocks: bottleneck blocks per stage ([3, 4, 6, 3] for ResNeXt-50).
        cardinality: groups of the 3x3x3 convolution; inner width = cardinality * planes / 32.
        audio_channels: the MFCC CNN's (conv1, conv2, conv3) channels; conv3 is the Transformer width.
        heads, layers: the audio Transformer; attn_dim is the additive attention's hidden width.
    """

    frames: int = 30
    image_size: int = 224
    mfcc_bins: int = 13
    mfcc_frames: int = 212
    n_classes: int = N_CLASSES
    stem_channels: int = 64
    planes: tuple[int, int, int, int] = (128, 256, 512, 1024)
    blocks: tuple[int, int, int, int] = (3, 4, 6, 3)
    cardinality: int = 32
    audio_channels: tuple[int, int, int] = (32, 32, 64)
    heads: int = 8
    layers: int = 5
    attn_dim: int = 64


def make_config(**sizes: Any) -> CFNSRConfig:
    """A :class:`CFNSRConfig` with ``sizes`` (any field) replacing the paper's; an unknown field is named."""
    try:
        return CFNSRConfig(**sizes)
    except TypeError as err:
        raise ValueError(f"unknown CFN-SR setting in {sorted(sizes)}: {err}") from err


# ---- video branch: 3D ResNeXt (shortcut B) -----------------------------------------------------------------


class ResNeXtBottleneck3d(nn.Module):
    """1x1x1 -> grouped 3x3x3 (stride) -> 1x1x1 (x2 channels), each with BN; projection shortcut when needed."""

    expansion = 2

    def __init__(self, inplanes: int, planes: int, cardinality: int, stride: int) -> None:
        super().__init__()
        mid = cardinality * planes // 32
        out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv3d(inplanes, mid, 1, bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, mid, 3, stride=stride, padding=1, groups=cardinality, bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, out, 1, bias=False),
            nn.BatchNorm3d(out),
        )
        self.shortcut = (
            nn.Sequential(nn.Conv3d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm3d(out))
            if stride != 1 or inplanes != out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x), inplace=True)


class ResNeXt3d(nn.Module):
    """(N, 3, T, H, W) -> feature map (N, 2 * planes[-1], T', H', W') (no pooling, no classifier)."""

    def __init__(self, config: CFNSRConfig, *, stem_relu: bool = False) -> None:
        super().__init__()
        c = config
        stem: list[nn.Module] = [
            nn.Conv3d(3, c.stem_channels, 7, stride=(1, 2, 2), padding=3, bias=False),
            nn.BatchNorm3d(c.stem_channels),
        ]
        if stem_relu:
            stem.append(nn.ReLU(inplace=True))
        stem.append(nn.MaxPool3d(3, stride=2, padding=1))
        stages: list[nn.Module] = []
        inplanes = c.stem_channels
        for i, (planes, blocks) in enumerate(zip(c.planes, c.blocks, strict=True)):
            for b in range(blocks):
                stride = 2 if i > 0 and b == 0 else 1
                stages.append(ResNeXtBottleneck3d(inplanes, planes, c.cardinality, stride))
                inplanes = planes * ResNeXtBottleneck3d.expansion
        self.stem = nn.Sequential(*stem)
        self.stages = nn.Sequential(*stages)
        self.out_channels = inplanes

    checkpoint = False
    """Recompute the stem and each bottleneck in the backward pass instead of storing their activations
    (training only; set by :func:`use_checkpointing`): the same numbers, a fraction of the peak memory."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.checkpoint and self.training and torch.is_grad_enabled()):
            return self.stages(self.stem(x))
        for module in (self.stem, *self.stages):
            x = checkpoint(module, x, use_reentrant=False, context_fn=partial(_frozen_recompute, module))
        return x


@contextmanager
def _no_running_stats(module: nn.Module):
    """Restore the BatchNorm running statistics after the block (the recomputation of a checkpointed segment
    must not count its batch twice)."""
    buffers = [
        b for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) for b in m.buffers()
    ]
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, value in zip(buffers, saved, strict=True):
                b.copy_(value)


def _frozen_recompute(module: nn.Module):
    return nullcontext(), _no_running_stats(module)


# ---- audio branch: MFCC 1D CNN ------------------------------------------------------------------------------


class MFCCNet(nn.Module):
    """(N, mfcc_bins, F) -> (N, C, F') with F' = (F - 4) // 8 (the released layer order, BN after ReLU)."""

    def __init__(self, config: CFNSRConfig) -> None:
        super().__init__()
        c1, c2, c3 = config.audio_channels
        self.net = nn.Sequential(
            nn.Conv1d(config.mfcc_bins, c1, 7, padding=2),
            nn.ReLU(),
            nn.BatchNorm1d(c1),
            nn.Conv1d(c1, c2, 7, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(8),
            nn.BatchNorm1d(c2),
            nn.Dropout(0.2),
            nn.Conv1d(c2, c3, 5, padding=2),
            nn.ReLU(),
            nn.BatchNorm1d(c3),
        )
        self.out_channels = c3
        self.out_frames = (config.mfcc_frames - 4) // 8
        if self.out_frames < 1:
            raise ValueError(f"mfcc_frames must be at least 12, got {config.mfcc_frames}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ---- cross-modal block --------------------------------------------------------------------------------------


class CrossModalBlock(nn.Module):
    """Audio-driven spatial attention over the video map: (N, C, S, H, W), (N, Ca, T) -> (N, C, S, H, W).

    Args:
        residual: ``x * a + x`` (paper) or ``x * a`` (the ablation without the residual).
        batch_coupled_attention: sum the attention maps over the batch as the released code does, so a
            sample's output depends on its batch-mates. Off by default: the per-sample map of the paper figure.
    """

    def __init__(
        self,
        video_channels: int,
        audio_channels: int,
        config: CFNSRConfig,
        *,
        residual: bool = True,
        batch_coupled_attention: bool = False,
    ) -> None:
        super().__init__()
        self.audio_encoder = MultEncoder(
            audio_channels,
            config.heads,
            config.layers,
            attn_dropout=0.1,
            relu_dropout=0.1,
            res_dropout=0.1,
            embed_dropout=0.3,
            causal=True,
        )
        self.video_proj = nn.Linear(video_channels, config.attn_dim)
        self.audio_proj = nn.Linear(audio_channels, config.attn_dim, bias=False)
        self.score = nn.Linear(config.attn_dim, 1)
        self.residual = residual
        self.batch_coupled_attention = batch_coupled_attention

    def attention(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """The per-sample map (N, S, H, W), a softmax over H x W for each time slice S."""
        query = self.audio_proj(self.audio_encoder(audio.transpose(1, 2), last_only=True))  # (N, k)
        keys = self.video_proj(video.movedim(1, -1))  # (N, S, H, W, k)
        scores = self.score(torch.tanh(keys + query[:, None, None, None, :])).squeeze(-1)
        n, s, h, w = scores.shape
        return scores.reshape(n, s, h * w).softmax(-1).reshape(n, s, h, w)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        att = self.attention(video, audio)
        if self.batch_coupled_attention:
            att = att.sum(0, keepdim=True)
        fused = video * att.unsqueeze(1)
        return fused + video if self.residual else fused


# ---- the models ---------------------------------------------------------------------------------------------


class AudioVisualNet(nn.Module):
    """Video and audio branches, optional cross-modal block, concat (video pooled, audio flat) -> Linear.

    Inputs: video (N, 3, T, H, W) normalised frames; mfcc (N, mfcc_bins, F). Output: logits (N, n_classes).
    """

    def __init__(
        self,
        config: CFNSRConfig,
        *,
        cross_modal: bool = True,
        residual: bool = True,
        batch_coupled_attention: bool = False,
        stem_relu: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        self.video = ResNeXt3d(config, stem_relu=stem_relu)
        self.audio = MFCCNet(config)
        self.cross = (
            CrossModalBlock(
                self.video.out_channels,
                self.audio.out_channels,
                config,
                residual=residual,
                batch_coupled_attention=batch_coupled_attention,
            )
            if cross_modal
            else None
        )
        self.audio_dropout = nn.Dropout(0.4)
        self.classifier = nn.Linear(self.fused_width, config.n_classes)
        self.channels_last = False

    @property
    def fused_width(self) -> int:
        """Classifier in-features: video channels + audio channels x audio frames (3712 in the paper)."""
        return self.video.out_channels + self.audio.out_channels * self.audio.out_frames

    def forward(self, video: torch.Tensor, mfcc: torch.Tensor) -> torch.Tensor:
        v = self.video(_memory_format(video, self.channels_last))
        a = self.audio(mfcc)
        if self.cross is not None:
            v = self.cross(v, a)
        return self.classifier(torch.cat([v.mean(dim=(2, 3, 4)), self.audio_dropout(a.flatten(1))], dim=1))


class LateFusionNet(nn.Module):
    """Two unimodal classifiers on the same branches; their logits are averaged ("Averaging", late fusion)."""

    def __init__(self, config: CFNSRConfig, *, stem_relu: bool = True) -> None:
        super().__init__()
        self.config = config
        self.video = ResNeXt3d(config, stem_relu=stem_relu)
        self.audio = MFCCNet(config)
        self.video_head = nn.Linear(self.video.out_channels, config.n_classes)
        self.audio_head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.4),
            nn.Linear(self.audio.out_channels * self.audio.out_frames, config.n_classes),
        )
        self.channels_last = False

    def forward(self, video: torch.Tensor, mfcc: torch.Tensor) -> torch.Tensor:
        v = self.video_head(self.video(_memory_format(video, self.channels_last)).mean(dim=(2, 3, 4)))
        return 0.5 * (v + self.audio_head(self.audio(mfcc)))


class VideoOnlyNet(nn.Module):
    """The unimodal video classifier: ResNeXt -> global average pool -> Linear (MSAF's per-fold ``resnext50``).

    ``forward(video, mfcc)`` ignores ``mfcc``, so that the audio-visual loaders and trainer work unchanged.
    """

    def __init__(self, config: CFNSRConfig, *, stem_relu: bool = True) -> None:
        super().__init__()
        self.config = config
        self.video = ResNeXt3d(config, stem_relu=stem_relu)
        self.head = nn.Linear(self.video.out_channels, config.n_classes)
        self.channels_last = False

    def forward(self, video: torch.Tensor, mfcc: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.video(_memory_format(video, self.channels_last)).mean(dim=(2, 3, 4)))


class AudioOnlyNet(nn.Module):
    """The unimodal audio classifier: MFCC CNN -> flatten -> Dropout(0.4) -> Linear (MSAF's per-fold ``mfccNet``).

    ``forward(video, mfcc)`` ignores ``video``.
    """

    def __init__(self, config: CFNSRConfig) -> None:
        super().__init__()
        self.config = config
        self.audio = MFCCNet(config)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.4),
            nn.Linear(self.audio.out_channels * self.audio.out_frames, config.n_classes),
        )

    def forward(self, video: torch.Tensor | None, mfcc: torch.Tensor) -> torch.Tensor:
        return self.head(self.audio(mfcc))


def cfn_sr(
    *,
    residual: bool = True,
    batch_coupled_attention: bool = False,
    stem_relu: bool = False,
    channels_last: bool = False,
    **sizes: Any,
) -> AudioVisualNet:
    """CFN-SR: ``cfn_sr()`` is the paper's model, 26.30M parameters at 30 x 224² and a 13 x 212 MFCC.

    ``residual=False`` is the paper's ablation without the residual; ``sizes`` override any
    :class:`CFNSRConfig` field (e.g. ``frames=16``, ``n_classes=6``); the classifier width follows from them.
    """
    model = AudioVisualNet(
        make_config(**sizes),
        residual=residual,
        batch_coupled_attention=batch_coupled_attention,
        stem_relu=stem_relu,
    )
    return use_channels_last(model) if channels_last else model


def av_concat(*, stem_relu: bool = False, channels_last: bool = False, **sizes: Any) -> AudioVisualNet:
    """The same branches without the cross-modal block: concat + Linear (the ablation "w/o cross-modal block")."""
    model = AudioVisualNet(make_config(**sizes), cross_modal=False, stem_relu=stem_relu)
    return use_channels_last(model) if channels_last else model


def av_late_fusion(*, stem_relu: bool = True, channels_last: bool = False, **sizes: Any) -> LateFusionNet:
    """Late fusion by averaging two unimodal classifiers built from the same branches (25.92M in the paper)."""
    model = LateFusionNet(make_config(**sizes), stem_relu=stem_relu)
    return use_channels_last(model) if channels_last else model


def video_only(*, stem_relu: bool = True, channels_last: bool = False, **sizes: Any) -> VideoOnlyNet:
    """The unimodal video classifier of the same sizes as :func:`cfn_sr` (``sizes``: :class:`CFNSRConfig`
    fields). Its stem has the ReLU of MSAF's unimodal ResNeXt (the released fused model drops it)."""
    model = VideoOnlyNet(make_config(**sizes), stem_relu=stem_relu)
    return use_channels_last(model) if channels_last else model


def audio_only(*, channels_last: bool = False, **sizes: Any) -> AudioOnlyNet:
    """The unimodal audio classifier of the same sizes as :func:`cfn_sr` (``sizes``: :class:`CFNSRConfig`
    fields). ``channels_last`` is accepted so that every audio-visual recipe builds it; the MFCC CNN has no 3D
    convolution, so it changes nothing."""
    del channels_last
    return AudioOnlyNet(make_config(**sizes))


def init_from_unimodal(
    model: nn.Module, video_state: dict[str, torch.Tensor], audio_state: dict[str, torch.Tensor]
) -> nn.Module:
    """Copy the branches of trained unimodal models into a fusion model, in place; returns ``model``.

    ``video_state`` / ``audio_state`` are state dicts of :func:`video_only` / :func:`audio_only`: their
    ``video.*`` / ``audio.*`` entries (weights and BatchNorm statistics) replace the fusion model's ``video`` /
    ``audio`` branch exactly (any model with such attributes: CFN-SR, concat, late fusion, MSAF). A model with
    ``video_head`` / ``audio_head`` (late fusion) also takes the unimodal heads, so that it starts as the
    average of the two unimodal classifiers. Everything else (cross-modal block, classifier) is left as it is.

    Raises:
        ValueError: the model lacks a branch, or a state misses a key, has an extra one or a tensor of
            another shape (each named); nothing is copied then.
    """
    pairs = [("video", video_state, "video_only"), ("audio", audio_state, "audio_only")]
    heads = {"video": "video_head", "audio": "audio_head"}
    plan: list[tuple[nn.Module, dict[str, torch.Tensor]]] = []
    for branch, state, builder in pairs:
        if not isinstance(getattr(model, branch, None), nn.Module):
            raise ValueError(f"{type(model).__name__} has no {branch!r} branch to initialise from {builder}")
        targets = [(branch, branch)]
        if isinstance(getattr(model, heads[branch], None), nn.Module):
            targets.append(("head", heads[branch]))
        for prefix, name in targets:
            module = getattr(model, name)
            part = {k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(f"{prefix}.")}
            where = f"{type(model).__name__}.{name}"
            _check_state(module.state_dict(), part, f"{builder} state {prefix}.*", where)
            plan.append((module, part))
    for module, part in plan:
        module.load_state_dict(part, strict=True)
    return model


def _check_state(
    wanted: dict[str, torch.Tensor], given: dict[str, torch.Tensor], what: str, where: str
) -> None:
    """Refuse ``given`` unless it has exactly ``wanted``'s keys and shapes (the first difference is named)."""
    if not given:
        raise ValueError(f"the {what} is empty: not a state dict of that model")
    missing, extra = sorted(set(wanted) - set(given)), sorted(set(given) - set(wanted))
    if missing or extra:
        raise ValueError(
            f"the {what} does not fit the {where}: "
            + "; ".join(
                f"{label} {keys[0]!r}" + (f" (+{len(keys) - 1} more)" if len(keys) > 1 else "")
                for label, keys in (("missing", missing), ("unexpected", extra))
                if keys
            )
        )
    for key, tensor in wanted.items():
        if tuple(given[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"the {what} does not fit the {where}: {key!r} has shape {tuple(given[key].shape)}, "
                f"the model's is {tuple(tensor.shape)} (built with other sizes?)"
            )


def use_channels_last(model: nn.Module) -> nn.Module:
    """Store the 3D convolutions' weights and the video input channels-last (NDHWC): the same numbers, and
    about 1.7x faster training steps of the paper model on a 2-core CPU (see the performance appendix)."""
    model.to(memory_format=torch.channels_last_3d)
    model.channels_last = True
    return model


def use_checkpointing(model: nn.Module, on: bool = True) -> nn.Module:
    """Activation checkpointing of the video branch (stem and every bottleneck, see ``ResNeXt3d.checkpoint``):
    training steps store only each block's input and recompute the rest in the backward pass."""
    model.video.checkpoint = on
    return model


def _memory_format(video: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return video.contiguous(memory_format=torch.channels_last_3d) if channels_last else video


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
