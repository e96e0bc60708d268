"""Fused causal attention with dropout on the CPU: a small C kernel and its pure-PyTorch reference.

MulT's encoders spend an unaligned LMR-CBT step on T x T attention matrices (scores, softmax, dropout mask and
their gradients) with 5 features per head. :func:`fused_attention` never builds them: the C kernel
(``affect_lib/csrc/causal_attention.c``) computes each query row in one pass, keeps the row log-sum-exp, and
recomputes the scores in the backward pass; its dropout decisions come from a counter-based hash of
(seed, head, query, key), so the backward regenerates them instead of storing a mask.

:func:`reference_attention` is the same computation in plain PyTorch with the same dropout decisions
(:func:`dropout_keep`); it is the definition the kernel is tested against, and the fallback when no C compiler
is available. The kernel is compiled on first use (about a second, C11 with ``-O2``, no ``-march``) into
the book's cache folder; set ``AFFECT_FUSED_ATTENTION=0`` to never compile it.

:func:`hash_dropout` applies the same decisions to the encoders' other dropouts (embedding, residual, ReLU):
``torch.bernoulli_`` is the slowest operator of the fused step otherwise, and the backward needs no stored mask.

The fused path is opt-in (:func:`enable`, or ``AFFECT_FUSED_ATTENTION=1``): its dropout draws differ from the
default path's (``torch`` generator), so turning it on changes which values are dropped, not their
distribution, and the chapters keep their committed numbers.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import torch

SOURCE = Path(__file__).resolve().parents[1] / "csrc" / "causal_attention.c"
ENV = "AFFECT_FUSED_ATTENTION"
CFLAGS = ("-O2", "-std=c11", "-fPIC", "-shared", "-pthread", "-ffp-contract=off", "-fno-fast-math")
"""x86-64 baseline code (no ``-march``), no FMA contraction: every machine builds and computes the same thing."""

_GOLDEN = 0x9E3779B9
_MASK = 0xFFFFFFFF
_state = {"enabled": os.environ.get(ENV, "") == "1", "hash_draws": os.environ.get(ENV, "") == "1"}
_lock = threading.Lock()
_lib: list[ctypes.CDLL | None] = []


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


# ---- the kernel ----------------------------------------------------------------------------------------------


def library() -> ctypes.CDLL | None:
    """The compiled kernel (built on first call into the cache folder), or None without a C compiler."""
    with _lock:
        if not _lib:
            _lib.append(_build())
        return _lib[0]


def available() -> bool:
    """Whether the C kernel can be used here (it compiles it if needed)."""
    return library() is not None


def _build() -> ctypes.CDLL | None:
    if os.environ.get(ENV, "") == "0":
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not SOURCE.exists():
        return None
    from affect_lib.runtime import cache_dir

    tag = hashlib.sha256(SOURCE.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:16]
    target = cache_dir("kernels") / f"causal_attention_{tag}.so"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            built = Path(tmp) / target.name
            result = subprocess.run(
                [compiler, *CFLAGS, str(SOURCE), "-o", str(built), "-lm"], capture_output=True, text=True
            )
            if result.returncode != 0:
                return None
            os.replace(built, target)  # atomic: concurrent builders leave one complete file
    lib = ctypes.CDLL(str(target))
    i64, f32, u32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_uint32, ctypes.c_void_p
    common = [i64, i64, i64, i64, i64, i64, f32, u32, f32, u32, u32, ctypes.c_int]
    lib.affect_attention_forward.argtypes = [ptr] * 5 + common
    lib.affect_attention_backward.argtypes = [ptr] * 9 + common
    lib.affect_dropout.argtypes = [ptr, ptr, i64, i64, i64, i64, u32, f32, u32, u32, ctypes.c_int]
    lib.affect_attention_forward.restype = lib.affect_attention_backward.restype = ctypes.c_int
    lib.affect_dropout.restype = ctypes.c_int
    return lib


class _HashDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p, seed, position):
        ctx.args = (p, seed, position)
        return _apply_dropout(x, p, seed, position)

    @staticmethod
    def backward(ctx, grad):
        return _apply_dropout(grad, *ctx.args), None, None, None


def _apply_dropout(x: torch.Tensor, p: float, seed: tuple[int, int], position: int) -> torch.Tensor:
    x = x.contiguous()
    y = torch.empty_like(x)
    b, t, c = x.shape
    args = (b, t, c, position, _threshold(p), 1.0 / (1.0 - p), seed[0], seed[1], torch.get_num_threads())
    if library().affect_dropout(x.data_ptr(), y.data_ptr(), *args):
        raise RuntimeError("hashed dropout kernel failed")
    return y


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
    return _HashDropout.apply(x, p, seed, position)


def _scalars(q: torch.Tensor, k: torch.Tensor, offset: int | None, p: float, seed, query_start: int) -> list:
    b, t_q, e = q.shape
    t_k = k.shape[1]
    return [
        b,
        t_q,
        t_k,
        e,
        t_k if offset is None else offset,
        query_start,
        e**-0.5,
        _threshold(p),
        1.0 / (1.0 - p),
        seed[0],
        seed[1],
        torch.get_num_threads(),
    ]


class _FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, offset, p, seed, query_start):
        lib = library()
        q, k, v = (x.contiguous() for x in (q, k, v))
        out = torch.empty_like(q)
        lse = torch.empty(q.shape[:2], dtype=q.dtype)
        scalars = _scalars(q, k, offset, p, seed, query_start)
        code = lib.affect_attention_forward(
            q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), lse.data_ptr(), *scalars
        )
        if code:
            raise RuntimeError(f"fused attention kernel failed (code {code})")
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.scalars = scalars
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse = ctx.saved_tensors
        dout = dout.contiguous()
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        code = library().affect_attention_backward(
            *(x.data_ptr() for x in (q, k, v, out, lse, dout, dq, dk, dv)), *ctx.scalars
        )
        if code:
            raise RuntimeError(f"fused attention kernel failed (code {code})")
        return dq, dk, dv, None, None, None, None


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
        (N, H, T_q, e). Falls back to :func:`reference_attention` (same numbers up to float rounding) without
        a compiler, on other devices or dtypes, or when a query would see no key.
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
    flat = [x.reshape(n * h, -1, e) for x in (q, k, v)]
    return _FusedAttention.apply(*flat, offset, p, seed, query_start).reshape(n, h, t_q, e)
