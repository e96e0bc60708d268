"""Fused causal attention with dropout on the CPU: a small C kernel and its pure-PyTorch reference.

MulT's encoders spend an unaligned LMR-CBT step on T x T attention matrices (scores, softmax, dropout mask and
their gradients) with 5 features per head. :func:`fused_attention` never builds them: the C kernel
(``affect_lib/csrc/causal_attention.c``) computes each query row in one pass, keeps the row log-sum-exp, and
recomputes the scores in the backward pass; its dropout decisions come from a counter-based hash of
(seed, head, query, key), so the backward regenerates them instead of storing a mask.

:func:`reference_attention` is the same computation in plain PyTorch with the same dropout decisions
(:func:`dropout_keep`); it is the definition the kernel is tested against, and the fallback wherever the kernel
cannot be built. The kernel is shipped as PyTorch operators (``torch.ops.affect.attention_forward``,
``attention_backward``, ``hash_dropout``), built on first use by :mod:`affect_lib.kernels`. Where they cannot be
built or loaded (no compiler, no ninja, a compile error, a bad library file), stderr says so once, in one line
with the reason, and everything runs on the reference path with the same dropout decisions (the worker
processes of :func:`affect_lib.pool.run_jobs` inherit the verdict and stay quiet).

:func:`hash_dropout` applies the same decisions to the encoders' other dropouts (embedding, residual, ReLU):
``torch.bernoulli_`` is the slowest operator of the fused step otherwise, and the backward needs no stored mask.

The fused path is the default on the CPU: ``AFFECT_FUSED_ATTENTION=0`` (or ``false``, ``off``, ``no``),
``affect-lib train --no-fused-attention`` or ``with enable(False):`` switch it off, back to
:mod:`affect_lib.models.attention`'s own CPU path (causal query blocks with torch-drawn dropout masks, and
``F.dropout``); an explicit ``enable(True)`` or ``--fused-attention`` turns it on whatever the variable says. Both
paths compute the same function; their dropout decisions have the same distribution but are drawn differently
(a counter hash seeded from torch's generator here, torch's generator element by element there), so a run gives
other numbers on the other path. On other devices the encoders never take it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

from affect_lib.kernels import library
from affect_lib.pool import before_spawn

ENV = "AFFECT_FUSED_ATTENTION"
_GOLDEN = 0x9E3779B9
_MASK = 0xFFFFFFFF
OFF = ("0", "false", "off", "no")
"""Values of :data:`ENV` that switch the fused path off (any other value, or none, leaves it on)."""
HASH_ONLY = "hash"
"""The value that keeps the hashed dropout decisions with the encoders' own attention (``enable(kernel=False)``),
how :func:`enable`'s state reaches worker processes."""


def _from_environment() -> dict[str, bool]:
    value = os.environ.get(ENV, "1").strip().lower()
    return {"enabled": value not in OFF and value != HASH_ONLY, "hash_draws": value not in OFF}


_state = _from_environment()


def enabled() -> bool:
    """Whether MulT's encoders use :func:`fused_attention` (and :func:`hash_dropout`) on the CPU."""
    return _state["enabled"]


def hash_draws() -> bool:
    """Whether MulT's encoders draw their dropout decisions with :func:`hash_dropout` (set by :func:`enable`)."""
    return _state["hash_draws"]


@contextmanager
def enable(on: bool = True, *, kernel: bool | None = None):
    """Inside the block, MulT's encoders use the fused attention and the hashed dropout decisions (``on``), or
    (``kernel=False``) the hashed decisions with their own attention code (the released pattern's tests)."""
    before = dict(_state)
    _state["enabled"], _state["hash_draws"] = on if kernel is None else kernel, on
    try:
        yield
    finally:
        _state.update(before)


@before_spawn
def _worker_environment() -> dict[str, str]:
    """Worker processes follow this process's switch; the kernel is built here first (or found unavailable and
    said so, once), so that the workers load it, or stay quiet."""
    if _state["enabled"]:
        library()
    if not _state["hash_draws"]:
        return {ENV: "0"}
    return {ENV: "1" if _state["enabled"] else HASH_ONLY}


# ---- the dropout decisions, shared by the kernel and the reference ----------------------------------------


def _fmix32(h: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finaliser on int64 tensors holding uint32 values."""
    h = h ^ (h >> 16)
    h = (h * 0x85EBCA6B) & _MASK
    h = h ^ (h >> 13)
    h = (h * 0xC2B2AE35) & _MASK
    return h ^ (h >> 16)


def dropout_keep(
    seed: tuple[int, int], heads: int, n_query: int, n_key: int, p: float, query_start: int = 0
) -> torch.Tensor:
    """(heads, n_query, n_key) bool: True where weight (b, i, j) is kept, for query positions
    ``query_start + i``. Dropped with probability ``p`` (exactly ``round(p * 2**32) / 2**32``) when
    ``fmix32(row_key(b, position) + j * golden) < p * 2**32``; the decisions of a position do not depend on
    how many queries are computed."""
    s1, s2 = seed
    b = _fmix32((torch.arange(heads, dtype=torch.int64) + s2) & _MASK)
    pos = torch.arange(query_start, query_start + n_query, dtype=torch.int64)
    key = _fmix32(s1 ^ _fmix32((pos[None] * _GOLDEN + b[:, None]) & _MASK))
    cols = (torch.arange(n_key, dtype=torch.int64) * _GOLDEN) & _MASK
    bits = _fmix32((key[..., None] + cols) & _MASK)
    return bits >= _threshold(p)


def _threshold(p: float) -> int:
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    return min(round(p * 2**32), _MASK)


def draw_seed(generator: torch.Generator | None = None) -> tuple[int, int]:
    """Two 31-bit seeds from torch's generator, so that ``torch.manual_seed`` fixes the dropout decisions."""
    s = torch.randint(0, 2**31 - 1, (2,), generator=generator)
    return int(s[0]), int(s[1])


# ---- the reference -----------------------------------------------------------------------------------------


def reference_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    offset: int | None,
    p: float,
    seed: tuple[int, int],
    query_start: int = 0,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(e) + causal mask) * keep / (1 - p) @ v, q (N, H, T_q, e), k/v (N, H, T_k, e).

    Query row i is position ``query_start + i`` and sees keys j <= position + ``offset`` (None: every key);
    ``keep`` is :func:`dropout_keep`.
    """
    n, h, t_q, e = q.shape
    t_k = k.shape[2]
    scores = torch.matmul(q, k.transpose(-1, -2)) * e**-0.5
    if offset is not None:
        position = torch.arange(query_start, query_start + t_q)[:, None]
        scores = scores.masked_fill(torch.arange(t_k)[None] > position + offset, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if p > 0:
        keep = dropout_keep(seed, n * h, t_q, t_k, p, query_start).reshape(n, h, t_q, t_k)
        weights = weights * keep / (1 - p)
    return torch.matmul(weights, v)


def hash_dropout(
    x: torch.Tensor, p: float, training: bool = True, position: int = 0, seed: tuple[int, int] | None = None
) -> torch.Tensor:
    """Dropout of ``x`` (N, T, C) with the counter-hash decisions of :func:`dropout_keep` (sample n as the head,
    time step ``position + t`` as the query, feature c as the key); the backward regenerates them, so no mask is
    stored and the last step alone (``position = T - 1``) draws what the whole sequence draws for it."""
    if not training or p == 0:
        return x
    if seed is None:
        seed = draw_seed()
    usable = x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 3 and library() is not None
    if not usable:
        n, t, c = x.shape
        return x * dropout_keep(seed, n, t, c, p, position).to(x.dtype) / (1 - p)
    return torch.ops.affect.hash_dropout(x.contiguous(), position, _threshold(p), 1.0 / (1.0 - p), *seed)


def fused_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    offset: int | None,
    p: float,
    seed: tuple[int, int] | None = None,
    query_start: int = 0,
) -> torch.Tensor:
    """:func:`reference_attention`, computed by the C kernel when it is available (CPU, float32).

    Args:
        q: (N, H, T_q, e); k, v: (N, H, T_k, e).
        offset: the query at position i sees keys j <= i + offset; None: every key.
        p: dropout on the attention weights (0 in evaluation).
        seed: the dropout decisions' seed; drawn from torch's generator if None.
        query_start: position of the first query (e.g. T - 1 when only the last query is computed).

    Returns:
        (N, H, T_q, e). Falls back to :func:`reference_attention` (same numbers up to float rounding) where
        the kernel is unavailable (:func:`library`), on other devices or dtypes, or when a query would see no key.
    """
    if seed is None:
        seed = draw_seed() if p > 0 else (0, 0)
    n, h, t_q, e = q.shape
    usable = (
        q.device.type == "cpu"
        and q.dtype == k.dtype == v.dtype == torch.float32
        and (offset is None or query_start + offset >= 0)
        and library() is not None
    )
    if not usable:
        return reference_attention(q, k, v, offset, p, seed, query_start)
    flat = [x.reshape(n * h, -1, e).contiguous() for x in (q, k, v)]
    scalars = (k.shape[2] if offset is None else offset, query_start, e**-0.5, _threshold(p), 1.0 / (1.0 - p))
    out, _ = torch.ops.affect.attention_forward(*flat, *scalars, *seed)
    return out.reshape(n, h, t_q, e)
