"""MulT's Transformer encoder (the one LMR-CBT and CFN-SR reuse), on ``scaled_dot_product_attention``.

The layer is the fairseq-derived pre-LayerNorm block of MulT: input scaled by sqrt(d) plus sinusoidal positions,
embedding dropout; per layer ``x + Dropout(MHA(LN(x), LN(k), LN(v)))`` then ``x + Dropout(FFN(LN(x)))`` with a
ReLU FFN of width 4d; a final LayerNorm. With ``causal=True`` query i sees keys j <= i + |T_k - T_q| (MulT's
"future mask", which for self-attention is the usual causal mask). Tensors are batch-first, (N, T, d).

Faithful details: a time step whose first input feature is exactly 0 is treated as padding and gets the zero
position vector (MulT's positions, computed from ``x[..., 0]``); in cross-modal attention the keys and values,
although the same tensor, get independent embedding dropout.

Speed (the point of Part III's benchmark): only the last time step of these encoders is ever used by LMR-CBT and
by MulT's memory encoders, so ``last_only=True`` makes the final layer compute the last query alone. By default
every CPU attention, in training and in evaluation, goes through
:func:`~affect_lib.models.fused_attention.fused_attention`, which never builds a T x T matrix, and the encoders'
dropouts draw the same counter-hash decisions. On other devices, and on the CPU with the fused path switched off
(``AFFECT_FUSED_ATTENTION=0``, ``affect-lib train --no-fused-attention``), attention goes through
``scaled_dot_product_attention`` whenever it has a fast kernel (evaluation, no attention dropout, or CUDA), and CPU
training with attention dropout uses :func:`blocked_attention` (torch's CPU flash kernel refuses dropout): causal
attention in query blocks, each block against only the keys it can see, with cached masks drawn from torch's
generator.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from affect_lib.models import fused_attention

QUERY_BLOCK = 32
"""Rows per query block in :func:`blocked_attention` (sequences up to ``2 * QUERY_BLOCK`` form one block)."""


@lru_cache(maxsize=32)
def sinusoidal_table(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) fairseq/MulT sinusoids for positions 1..length (position 0, padding, is the zero vector)."""
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angles = torch.arange(1, length + 1, dtype=torch.float32)[:, None] * freq[None]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = F.pad(table, (0, 1))
    return table.to(device)


def positions(x: torch.Tensor) -> torch.Tensor:
    """MulT's position embedding of ``x`` (N, T, d): step t gets sinusoid t+1, or zeros where ``x[:, t, 0] == 0``."""
    table = sinusoidal_table(x.shape[1], x.shape[2], x.device)
    return table * (x[..., :1] != 0).to(table.dtype)


@lru_cache(maxsize=64)
def visible_mask(n_query: int, n_key: int, offset: int, device: torch.device | None = None) -> torch.Tensor:
    """(n_query, n_key) bool, True where key j is visible to query i: ``j <= i + offset``."""
    i = torch.arange(n_query, device=device)[:, None]
    j = torch.arange(n_key, device=device)[None]
    return j <= i + offset


@lru_cache(maxsize=64)
def future_mask(n_query: int, n_key: int, offset: int, device: torch.device | None = None) -> torch.Tensor:
    """(n_query, n_key) additive mask: 0 where ``j <= i + offset``, ``-inf`` elsewhere."""
    zero = torch.zeros((), device=device)
    return torch.where(visible_mask(n_query, n_key, offset, device), zero, float("-inf"))


def blocked_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, offset: int, dropout_p: float, block: int | None = None
) -> torch.Tensor:
    """Causal attention with dropout on the weights, in query blocks against only their visible keys.

    Args:
        q: (N, H, T_q, e); k, v: (N, H, T_k, e).
        offset: query i sees keys j <= i + offset.
        dropout_p: dropout on the attention weights (training), inverted scaling as in ``F.dropout``.
        block: query rows per block (default: :data:`QUERY_BLOCK`, or one block for short sequences).

    Returns:
        (N, H, T_q, e), equal in distribution to ``softmax(q k^T / sqrt(e) + mask)`` with dropout, times v;
        a block never builds the scores of keys it cannot see, which halves the T x T work of self-attention.
    """
    block = block or (QUERY_BLOCK if q.shape[2] > 2 * QUERY_BLOCK else q.shape[2])
    q = q * q.shape[-1] ** -0.5  # scale the small queries, not the large scores
    n_query, n_key = q.shape[2], k.shape[2]
    outputs = []
    for start in range(0, n_query, block):
        stop = min(start + block, n_query)
        keys = min(n_key, stop + offset)
        scores = torch.matmul(q[:, :, start:stop], k[:, :, :keys].transpose(-1, -2))
        first = start + offset + 1  # keys before this one are visible to every query of the block
        if first < keys:  # mask only the band where some queries see less than others (in place: cheap)
            scores[..., first:] += future_mask(stop - start, keys - first, offset + start - first, q.device)
        weights = torch.softmax(scores, dim=-1)
        kept, rescale = _drop(weights, dropout_p)
        outputs.append(torch.matmul(kept, v[:, :, :keys]) * rescale)
    return torch.cat(outputs, dim=2)


DROP_LEVELS = 10_000


def _drop(weights: torch.Tensor, p: float) -> tuple[torch.Tensor, float]:
    """Zero each weight with probability ``p``; returns the kept weights and the 1/(1-p) rescaling, which the
    caller applies to the (much smaller) attention output instead of the T x T weights.

    Integer random numbers (``random_`` into int16) cost about half of ``bernoulli_``; they give probability
    exactly ``p`` whenever ``p`` is a multiple of 1/10000 (all the papers' rates), else ``F.dropout`` is used.
    """
    if p == 0:
        return weights, 1.0
    threshold = p * DROP_LEVELS
    if abs(threshold - round(threshold)) > 1e-9:
        return F.dropout(weights, p, training=True), 1.0
    draws = torch.empty(weights.shape, dtype=torch.int16, device=weights.device).random_(0, DROP_LEVELS)
    return weights.masked_fill(draws < round(threshold), 0.0), 1.0 / (1.0 - p)


class MultiheadAttention(nn.Module):
    """MulT's multi-head attention (packed in-projection with bias, out-projection) on SDPA."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.dropout = heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        causal_offset: int | None,
        query_start: int = 0,
    ) -> torch.Tensor:
        """query (N, T_q, d), key/value (N, T_k, d) -> (N, T_q, d); the query at position i (``query_start`` for
        the first row) sees keys j <= i + ``causal_offset``, or every key if None."""
        n, t_q, d = query.shape
        w, b = self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:
            q, k, v = F.linear(query, w, b).chunk(3, dim=-1)
        else:
            q = F.linear(query, w[:d], b[:d])
            k = F.linear(key, w[d : 2 * d], b[d : 2 * d])
            v = F.linear(value, w[2 * d :], b[2 * d :])
        q, k, v = (x.unflatten(-1, (self.heads, -1)).transpose(1, 2) for x in (q, k, v))
        p = self.dropout if self.training else 0.0
        if fused_attention.enabled() and q.device.type == "cpu":
            out = fused_attention.fused_attention(q, k, v, causal_offset, p, query_start=query_start)
            return self.out_proj(out.transpose(1, 2).reshape(n, t_q, d))
        if query_start and causal_offset is not None:  # relative to the first row; None if all keys are seen
            causal_offset = (
                None if query_start + causal_offset >= k.shape[2] - 1 else query_start + causal_offset
            )
        if causal_offset is not None and p > 0 and q.device.type == "cpu":
            out = blocked_attention(q, k, v, causal_offset, p)
        elif causal_offset is None:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        elif causal_offset == 0 and t_q == k.shape[2]:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            mask = visible_mask(t_q, k.shape[2], causal_offset, q.device)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out_proj(out.transpose(1, 2).reshape(n, t_q, d))


def _dropout(x: torch.Tensor, p: float, training: bool, position: int = 0) -> torch.Tensor:
    """``F.dropout``, or on the CPU the hashed decisions of the fused path (time steps from ``position``)."""
    if fused_attention.hash_draws() and x.device.type == "cpu":
        return fused_attention.hash_dropout(x, p, training, position)
    return F.dropout(x, p, training)


class EncoderLayer(nn.Module):
    """One pre-LayerNorm MulT layer: attention then a ReLU FFN (width 4d), each with residual dropout."""

    def __init__(
        self, dim: int, heads: int, attn_dropout: float, relu_dropout: float, res_dropout: float
    ) -> None:
        super().__init__()
        self.attn = MultiheadAttention(dim, heads, attn_dropout)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.norm_attn = nn.LayerNorm(dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.relu_dropout, self.res_dropout = relu_dropout, res_dropout
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(
        self,
        x: torch.Tensor,
        kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        causal: bool = True,
        last_only: bool = False,
    ) -> torch.Tensor:
        """x (N, T, d); ``kv`` cross-modal keys and values (N, T_k, d); ``last_only`` returns (N, 1, d)."""
        h = self.norm_attn(x)
        k, v = (h, h) if kv is None else (self.norm_attn(kv[0]), self.norm_attn(kv[1]))
        n_key = k.shape[1]
        offset = abs(n_key - x.shape[1]) if causal else None
        start = x.shape[1] - 1 if last_only else 0
        if last_only:  # the last query (position start) sees every key under any of these masks
            x, h = x[:, -1:], h[:, -1:]
        x = x + _dropout(self.attn(h, k, v, offset, start), self.res_dropout, self.training, start)
        h = _dropout(F.relu(self.fc1(self.norm_ffn(x))), self.relu_dropout, self.training, start)
        return x + _dropout(self.fc2(h), self.res_dropout, self.training, start)


class MultEncoder(nn.Module):
    """MulT's ``TransformerEncoder``: sqrt(d)-scaled input + positions, dropout, ``layers`` layers, LayerNorm.

    Args:
        dim, heads, layers: width, attention heads, depth.
        attn_dropout, relu_dropout, res_dropout, embed_dropout: MulT's four dropouts.
        causal: MulT's ``attn_mask`` (see the module docstring).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        layers: int,
        *,
        attn_dropout: float = 0.0,
        relu_dropout: float = 0.0,
        res_dropout: float = 0.0,
        embed_dropout: float = 0.0,
        causal: bool = True,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.layers = nn.ModuleList(
            EncoderLayer(dim, heads, attn_dropout, relu_dropout, res_dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.scale = math.sqrt(dim)
        self.embed_dropout, self.causal = embed_dropout, causal

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return _dropout(self.scale * x + positions(x), self.embed_dropout, self.training)

    def forward(
        self, x: torch.Tensor, kv: torch.Tensor | None = None, last_only: bool = False
    ) -> torch.Tensor:
        """x (N, T, d), cross-modal source ``kv`` (N, T_k, d) or None -> (N, T, d), or (N, d) if ``last_only``."""
        h = self._embed(x)
        pair = None if kv is None else (self._embed(kv), self._embed(kv))
        for i, layer in enumerate(self.layers):
            h = layer(h, pair, self.causal, last_only=last_only and i == len(self.layers) - 1)
        h = self.norm(h)
        return h[:, -1] if last_only else h
