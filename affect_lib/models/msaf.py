"""MSAF (Su, Hu, Li & Cao, "MSAF: Multimodal Split Attention Fusion", arXiv 2012.07175), the RAVDESS model whose
code and protocol CFN-SR's release inherits, on CFN-SR's two branches (:mod:`affect_lib.models.cfn_sr`).

**The block** (:class:`MSAFBlock`), for modalities m = 1..M with feature maps x_m of shape (N, C_m, *S_m) (any
positions: (T, H, W) for video, (T,) for audio):

1. *split* x_m along its channels into B_m = C_m / c blocks X_{m,1}, ..., X_{m,B_m} of c channels each;
2. *sum* each modality's blocks and average over its positions: s_m = mean_S sum_j X_{m,j}, shape (N, c);
3. *squeeze* the joint descriptor s = sum_m s_m to z = ReLU(BN(W s + b)), shape (N, c / r);
4. *excite* every block, a_{m,j} = W_{m,j} z + b_{m,j} (N, c), and take a softmax over all the blocks of all the
   modalities, channel by channel: alpha_{m,j} = exp(a_{m,j}) / sum_{m',j'} exp(a_{m',j'});
5. *re-weight*: X_{m,j} <- (lambda + (1 - lambda) alpha_{m,j}) X_{m,j}, broadcast over the positions
   (lambda = ``lowest_attention``, 0 in the release), and merge the blocks back into (N, C_m, *S_m).

With one block per modality (C_m = c) the weights are a softmax over the modalities. In training, block dropout
zeroes whole blocks of a sample (probability ``block_dropout``, survivors scaled by 1 / (1 - p)) before the
descriptor and in the output. The release multiplies its dropout mask into the output twice (survivors scaled by
1 / (1 - p)^2 in training only); ``squared_dropout_mask=True`` reproduces that. The release pads a channel count
that c does not divide by the wrong amount; here such a count is refused.

**The network** (:class:`MSAFNet`, :func:`msaf`), as in MSAF's RAVDESS code: the 3D ResNeXt video branch and the
MFCC CNN, each with its unimodal classifier (the fused model's stem has no ReLU, as released), two blocks, and the
two logits summed:

- after the video's third stage (1024 channels) and the audio's second convolution, before its max-pool (32):
  c = 16;
- after the video's fourth stage (2048) and the audio's last BatchNorm (64): c = 32;
- reduction r = 4, block dropout 0.2.

At the paper's sizes it has 25,940,724 parameters (MSAF's table: 25.94M): the two unimodal networks of
:func:`~affect_lib.models.cfn_sr.av_late_fusion` plus 24,644 in the two blocks.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from affect_lib.models.cfn_sr import (
    CFNSRConfig,
    LateFusionNet,
    _memory_format,
    make_config,
    use_channels_last,
)


def _broadcast(weights: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """(N, B) or (N, B, c) weights, shaped to multiply blocks (N, B, c, *S)."""
    return weights.reshape(*weights.shape, *([1] * (blocks.dim() - weights.dim())))


class MSAFBlock(nn.Module):
    """Split attention fusion of M feature maps: ``[(N, C_m, *S_m)] -> [(N, C_m, *S_m)]`` (see the module docs).

    Args:
        channels: C_m of each modality; each must be a multiple of ``block_channels``.
        block_channels: c, the channels of one block (the descriptor's width).
        reduction: r, the squeeze width is c // r.
        block_dropout: p, the probability of dropping one block of one sample in training.
        lowest_attention: lambda, the weights are mapped from [0, 1] to [lambda, 1].
        squared_dropout_mask: the release's double application of the dropout mask to the output.
    """

    def __init__(
        self,
        channels: Sequence[int],
        block_channels: int,
        *,
        reduction: int = 4,
        block_dropout: float = 0.0,
        lowest_attention: float = 0.0,
        squared_dropout_mask: bool = False,
    ) -> None:
        super().__init__()
        bad = [ch for ch in channels if ch < block_channels or ch % block_channels]
        if len(channels) < 2 or bad:
            raise ValueError(
                f"MSAF needs at least two modalities whose channels are multiples of block_channels="
                f"{block_channels}, got channels {list(channels)}"
            )
        if block_channels // reduction < 1:
            raise ValueError(f"block_channels {block_channels} // reduction {reduction} must be at least 1")
        if not 0.0 <= block_dropout < 1.0 or not 0.0 <= lowest_attention < 1.0:
            raise ValueError(
                f"block_dropout and lowest_attention must lie in [0, 1), got {block_dropout}, {lowest_attention}"
            )
        self.block_channels = block_channels
        self.n_blocks = [ch // block_channels for ch in channels]
        self.block_dropout = block_dropout
        self.lowest_attention = lowest_attention
        self.squared_dropout_mask = squared_dropout_mask
        squeezed = block_channels // reduction
        self.squeeze = nn.Sequential(nn.Linear(block_channels, squeezed), nn.BatchNorm1d(squeezed), nn.ReLU())
        # one Linear(c / r, c) per block, stored as one matrix: the same parameters, one matmul
        self.excite = nn.Linear(squeezed, sum(self.n_blocks) * block_channels)

    def _split(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != len(self.n_blocks):
            raise ValueError(f"expected {len(self.n_blocks)} modalities, got {len(features)}")
        blocks = []
        for x, b in zip(features, self.n_blocks, strict=True):
            if x.shape[1] != b * self.block_channels:
                raise ValueError(f"expected {b * self.block_channels} channels, got shape {tuple(x.shape)}")
            blocks.append(x.reshape(x.shape[0], b, self.block_channels, *x.shape[2:]))
        return blocks

    def _weights(self, blocks: Sequence[torch.Tensor]) -> torch.Tensor:
        descriptor = sum(x.sum(1).flatten(2).mean(-1) for x in blocks)  # (N, c)
        logits = self.excite(self.squeeze(descriptor))
        return logits.reshape(logits.shape[0], -1, self.block_channels).softmax(dim=1)

    def attention(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """The weights alpha, (N, sum_m B_m, c), blocks in modality order; they sum to one over dim 1
        (no block dropout, no ``lowest_attention`` mapping)."""
        return self._weights(self._split(features))

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        blocks = self._split(features)
        masks: list[torch.Tensor] | None = None
        if self.training and self.block_dropout > 0:
            keep = torch.full(
                (blocks[0].shape[0], sum(self.n_blocks)), 1.0 - self.block_dropout, device=blocks[0].device
            )
            masks = list((torch.bernoulli(keep) / (1.0 - self.block_dropout)).split(self.n_blocks, dim=1))
            blocks = [x * _broadcast(m.to(x.dtype), x) for x, m in zip(blocks, masks, strict=True)]
        weights = self._weights(blocks)
        weights = self.lowest_attention + (1.0 - self.lowest_attention) * weights
        out = []
        for i, (x, a, original) in enumerate(
            zip(blocks, weights.split(self.n_blocks, dim=1), features, strict=True)
        ):
            y = x * _broadcast(a, x)
            if masks is not None and self.squared_dropout_mask:
                y = y * _broadcast(masks[i].to(x.dtype), x)
            out.append(y.reshape(original.shape))
        return out


class MSAFNet(LateFusionNet):
    """MSAF's RAVDESS network: video (N, 3, T, H, W) and MFCC (N, mfcc_bins, F) -> logits (N, n_classes).

    The branches and unimodal heads are :class:`~affect_lib.models.cfn_sr.LateFusionNet`'s; two
    :class:`MSAFBlock` fuse the branches after the video's stages 3 and 4, and the two heads' logits are summed.
    """

    def __init__(
        self,
        config: CFNSRConfig,
        *,
        block_channels: tuple[int, int] = (16, 32),
        reduction: int = 4,
        block_dropout: float = 0.2,
        lowest_attention: float = 0.0,
        squared_dropout_mask: bool = False,
        stem_relu: bool = False,
    ) -> None:
        super().__init__(config, stem_relu=stem_relu)
        self.video_split = sum(config.blocks[:3])  # bottlenecks up to the end of stage 3
        self.audio_split = next(i for i, m in enumerate(self.audio.net) if isinstance(m, nn.MaxPool1d))
        taps = [
            (2 * config.planes[2], config.audio_channels[1]),
            (self.video.out_channels, self.audio.out_channels),
        ]
        self.fusion = nn.ModuleList(
            MSAFBlock(
                channels,
                c,
                reduction=reduction,
                block_dropout=block_dropout,
                lowest_attention=lowest_attention,
                squared_dropout_mask=squared_dropout_mask,
            )
            for channels, c in zip(taps, block_channels, strict=True)
        )

    def forward(self, video: torch.Tensor, mfcc: torch.Tensor) -> torch.Tensor:
        v = self.video.stem(_memory_format(video, self.channels_last))
        v, a = self.fusion[0](
            [self.video.stages[: self.video_split](v), self.audio.net[: self.audio_split](mfcc)]
        )
        v, a = self.fusion[1](
            [self.video.stages[self.video_split :](v), self.audio.net[self.audio_split :](a)]
        )
        return self.video_head(v.mean(dim=(2, 3, 4))) + self.audio_head(a)


def msaf(*, channels_last: bool = False, **kwargs: Any) -> MSAFNet:
    """MSAF on RAVDESS: ``msaf()`` is the paper's model, 25,940,724 parameters at 30 x 224² and a 13 x 212 MFCC.

    ``kwargs`` are :class:`MSAFNet`'s options (``block_channels``, ``reduction``, ``block_dropout``,
    ``lowest_attention``, ``squared_dropout_mask``, ``stem_relu``; defaults as released except
    ``squared_dropout_mask=False``, the corrected block dropout: ``True`` reproduces the release's mask applied
    twice) and
    :func:`~affect_lib.models.cfn_sr.cfn_sr`'s sizes (any :class:`~affect_lib.models.cfn_sr.CFNSRConfig` field,
    e.g. ``frames=16``, ``n_classes=6``; the audio Transformer's fields are accepted and unused).
    """
    options = [name for name in inspect.signature(MSAFNet).parameters if name != "config"]
    model = MSAFNet(
        make_config(**{k: v for k, v in kwargs.items() if k not in options}),
        **{k: v for k, v in kwargs.items() if k in options},
    )
    return use_channels_last(model) if channels_last else model
