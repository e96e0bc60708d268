"""The released MulT/LMR-CBT computation, on the book's modules: the peer of the performance benchmarks.

Inside :func:`released_attention_pattern`, :class:`~affect_lib.models.attention.MultiheadAttention` and
:class:`~affect_lib.models.attention.MultEncoder` compute as the released fairseq-derived code does, with the
same weights, layers and dropouts:

- time-major (T, N, d) tensors; the packed in-projection, then the *queries* scaled by e^-1/2;
- heads folded into the batch, ``bmm`` to the full T_q x T_k score matrix, the future mask ``triu(-inf, 1 + |T_k - T_q|)``
  built at every call and added, softmax in float, ``F.dropout`` on the weights, ``bmm`` with the values;
- the head-averaged attention weights computed at every call (the released layer returns and discards them);
- every query of every layer, although LMR-CBT keeps only the last step;
- LMR-CBT's text LSTM called plainly, on every intra-op thread (the book runs it on one:
  :func:`affect_lib.models.lmr_cbt.one_thread_rnn`, the same numbers).

``draws="hash"`` replaces ``F.dropout`` (on the weights, and the encoders' embedding, residual and ReLU
dropouts) by the counter-hash decisions of :func:`affect_lib.models.fused_attention.dropout_keep`, drawn at
the same points of torch's random stream as the fused path draws its seeds, so that the released pattern and
the fused form can be compared in training mode, all dropouts on, given the same random draws.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

from affect_lib.models import attention, fused_attention, lmr_cbt


def _released_forward(self, query, key, value, causal_offset):
    """MultiheadAttention.forward in the released order (batch-first in and out, time-major inside)."""
    query, key, value = (x.transpose(0, 1) for x in (query, key, value))  # (T, N, d), as released
    t_q, n, d = query.shape
    heads = self.heads
    e = d // heads
    w, b = self.in_proj_weight, self.in_proj_bias
    if query is key and key is value:
        q, k, v = F.linear(query, w, b).chunk(3, dim=-1)
    elif key is value:
        q = F.linear(query, w[:d], b[:d])
        k, v = F.linear(key, w[d:], b[d:]).chunk(2, dim=-1)
    else:
        q = F.linear(query, w[:d], b[:d])
        k = F.linear(key, w[d : 2 * d], b[d : 2 * d])
        v = F.linear(value, w[2 * d :], b[2 * d :])
    q = q * e**-0.5
    q = q.contiguous().view(t_q, n * heads, e).transpose(0, 1)
    k = k.contiguous().view(-1, n * heads, e).transpose(0, 1)
    v = v.contiguous().view(-1, n * heads, e).transpose(0, 1)
    t_k = k.shape[1]
    weights = torch.bmm(q, k.transpose(1, 2))
    if causal_offset is not None:
        mask = torch.triu(torch.full((t_q, t_k), float("-inf")), 1 + causal_offset)
        weights = weights + mask.unsqueeze(0)
    weights = F.softmax(weights.float(), dim=-1).type_as(weights)
    p = self.dropout if self.training else 0.0
    if fused_attention.hash_draws() and p > 0:
        keep = fused_attention.dropout_keep(fused_attention.draw_seed(), n * heads, t_q, t_k, p)
        weights = weights * keep / (1 - p)
    else:
        weights = F.dropout(weights, p=p, training=self.training)
    out = torch.bmm(weights, v).transpose(0, 1).contiguous().view(t_q, n, d)
    out = self.out_proj(out)
    weights.view(n, heads, t_q, t_k).sum(dim=1) / heads  # the released layer's averaged weights, discarded
    return out.transpose(0, 1)


@contextmanager
def released_attention_pattern(draws: str = "torch"):
    """Compute MulT's encoders in the released pattern inside the block (see the module docstring).

    Args:
        draws: ``"torch"`` (``F.dropout``, as released) or ``"hash"`` (the fused path's dropout decisions).
    """
    if draws not in ("torch", "hash"):
        raise ValueError(f"draws must be 'torch' or 'hash', got {draws!r}")
    mha, encoder = attention.MultiheadAttention.forward, attention.MultEncoder.forward

    def mha_forward(self, query, key, value, causal_offset, query_start=0):
        if query_start:
            raise ValueError("the released pattern computes every query")
        return _released_forward(self, query, key, value, causal_offset)

    def every_query(self, x, kv=None, last_only=False):
        out = encoder(self, x, kv)
        return out[:, -1] if last_only else out

    def plain_rnn(rnn, x):
        return rnn(x)[0]

    one_thread_rnn = lmr_cbt.one_thread_rnn
    attention.MultiheadAttention.forward, attention.MultEncoder.forward = mha_forward, every_query
    lmr_cbt.one_thread_rnn = plain_rnn
    try:
        with fused_attention.enable(draws == "hash", kernel=False):
            yield
    finally:
        attention.MultiheadAttention.forward, attention.MultEncoder.forward = mha, encoder
        lmr_cbt.one_thread_rnn = one_thread_rnn
