"""LMR-CBT: learning modality-fused representations with a CB-Transformer (Fu et al., arXiv 2112.01697).

Architecture (d = 40 for every modality; shapes batch-first):

1. Text (N, T_l, 300): embedding dropout, a 2-layer bidirectional LSTM (20 + 20 units, dropout 0.5 between the
   layers) over time, LayerNorm: X_L (N, T_l, 40).
2. Audio and vision: Conv1d(kernel 3, no padding, no bias) + BatchNorm, no activation (the "local structure"):
   (N, T - 2, 40), then each through a 5-layer causal MulT encoder; the last step gives F_A, F_V (N, 40).
3. Two cross-modal blocks, vision then audio: ``z1 = softmax(tanh(W_1 X_L + U_1 F_V))`` and
   ``z2 = softmax(tanh(W_2 z1 + U_2 F_A))``, softmax over the 40 features; the residual ``X_F = z2 + X_L``.
4. A third 5-layer encoder on X_F (global self-attention); its last step is F_F.
5. ``[F_F, F_A, F_V]`` (120) -> Linear -> ReLU -> Dropout -> Linear -> Linear(120, out_dim).

Released-code quirk behind a flag: ``lstm_over_batch_axis=True`` feeds the LSTM a (T, N, 300) tensor while it
expects batch-first input, so it recurs over the *batch* and a sample's output depends on its batch-mates.
The released model also creates an unused ``Linear(40, 1)`` in each cross-modal block (82 parameters); it is
left out here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from affect_lib.models.attention import MultEncoder
from affect_lib.runtime import intra_op_threads


class _OneThread(torch.autograd.Function):
    """``module(x)[0]``, its forward and its backward computed with one intra-op thread; the same bits as a plain
    call at one thread. The forward builds an inner graph on detached aliases of ``x`` and of the parameters (so
    that hooks on the real ones run once, from the outer graph), and :meth:`backward` differentiates it once."""

    @staticmethod
    def forward(ctx, module: nn.Module, names: tuple[str, ...], x: torch.Tensor, *params: torch.Tensor):
        with torch.enable_grad(), intra_op_threads(1):
            inputs = [t.detach().requires_grad_(t.requires_grad) for t in (x, *params)]
            ctx.out = torch.func.functional_call(
                module, dict(zip(names, inputs[1:], strict=True)), (inputs[0],)
            )[0]
        ctx.inputs = inputs
        return ctx.out.detach()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if not hasattr(ctx, "out"):
            raise RuntimeError("one_thread_rnn: its graph was already differentiated (no retain_graph)")
        out, inputs = ctx.out, ctx.inputs
        del ctx.out, ctx.inputs  # the inner graph is freed with them
        wanted = [t for t, need in zip(inputs, ctx.needs_input_grad[2:], strict=True) if need]
        with intra_op_threads(1):
            grads = iter(torch.autograd.grad(out, wanted, grad) if wanted else ())
        return (None, None, *(next(grads) if need else None for need in ctx.needs_input_grad[2:]))


def one_thread_rnn(rnn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``rnn(x)[0]`` on CPU with one intra-op thread, forward and backward: the numbers of a plain call at one
    thread, faster for a small recurrent layer. oneDNN's LSTM opens a parallel region per time step, each costing
    more than its work at LMR-CBT's 20 units. Differentiable once (no ``retain_graph``, no double backward).
    x (N, T, d_in) -> (N, T, d_out); on CUDA a plain call."""
    if x.is_cuda:
        return rnn(x)[0]
    named = [(n, p) for n, p in rnn.named_parameters() if p.requires_grad]
    if torch.is_grad_enabled() and (x.requires_grad or named):
        return _OneThread.apply(rnn, tuple(n for n, _ in named), x, *(p for _, p in named))
    with intra_op_threads(1):
        return rnn(x)[0]


class CrossModalBlock(nn.Module):
    """``softmax(tanh(W x + U f))`` over the feature axis: x (N, T, d), f (N, d) -> (N, T, d)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.x_affine = nn.Linear(dim, dim)
        self.f_affine = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return torch.softmax(torch.tanh(self.x_affine(x) + self.f_affine(f)[:, None]), dim=-1)


class LMRCBT(nn.Module):
    """LMR-CBT (see the module docstring). ``forward(text, audio, vision) -> (N, out_dim)``.

    Args:
        dims: input feature dims (text, audio, vision).
        out_dim: 1 (sentiment regression) or 8 (IEMOCAP: 4 emotions x 2 logits).
        dim, heads, layers: encoder width, heads and depth (paper: 40, 8, 5).
        attn_dropout, relu_dropout, res_dropout, embed_dropout, out_dropout: as in the released code.
        lstm_dropout: dropout between the two LSTM layers.
        conv_kernel: kernel of the audio/vision Conv1d.
        lstm_over_batch_axis: reproduce the released LSTM that recurs over the batch axis.
    """

    def __init__(
        self,
        dims: tuple[int, int, int] = (300, 74, 35),
        out_dim: int = 1,
        *,
        dim: int = 40,
        heads: int = 8,
        layers: int = 5,
        attn_dropout: float = 0.1,
        relu_dropout: float = 0.1,
        res_dropout: float = 0.2,
        embed_dropout: float = 0.3,
        out_dropout: float = 0.1,
        lstm_dropout: float = 0.5,
        conv_kernel: int = 3,
        lstm_over_batch_axis: bool = False,
    ) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"dim must be even (a bidirectional LSTM of dim/2 units), got {dim}")
        d_l, d_a, d_v = dims
        self.embed_dropout, self.out_dropout = embed_dropout, out_dropout
        self.conv_kernel = conv_kernel
        self.lstm_over_batch_axis = lstm_over_batch_axis
        self.text_lstm = nn.LSTM(
            d_l, dim // 2, num_layers=2, bidirectional=True, dropout=lstm_dropout, batch_first=True
        )
        self.text_norm = nn.LayerNorm(dim)
        self.audio_conv = nn.Sequential(nn.Conv1d(d_a, dim, conv_kernel, bias=False), nn.BatchNorm1d(dim))
        self.vision_conv = nn.Sequential(nn.Conv1d(d_v, dim, conv_kernel, bias=False), nn.BatchNorm1d(dim))
        encoder = dict(
            attn_dropout=attn_dropout,
            relu_dropout=relu_dropout,
            res_dropout=res_dropout,
            embed_dropout=embed_dropout,
        )
        self.audio_encoder = MultEncoder(dim, heads, layers, **encoder)
        self.vision_encoder = MultEncoder(dim, heads, layers, **encoder)
        self.fused_encoder = MultEncoder(dim, heads, layers, **encoder)
        self.cross_vision = CrossModalBlock(dim)
        self.cross_audio = CrossModalBlock(dim)
        self.proj1 = nn.Linear(3 * dim, 3 * dim)
        self.proj2 = nn.Linear(3 * dim, 3 * dim)
        self.out = nn.Linear(3 * dim, out_dim)

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        """X_L (N, T_l, d) from text (N, T_l, d_l)."""
        x = F.dropout(text, self.embed_dropout, self.training)
        if self.lstm_over_batch_axis:  # as released: time-major input to a batch-first LSTM
            x = one_thread_rnn(self.text_lstm, x.transpose(0, 1)).transpose(0, 1)
        else:
            x = one_thread_rnn(self.text_lstm, x)
        return self.text_norm(x)

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> torch.Tensor:
        """text (N, T_l, d_l), audio (N, T_a, d_a), vision (N, T_v, d_v) -> (N, out_dim)."""
        for name, x in (("audio", audio), ("vision", vision)):
            if x.shape[1] < self.conv_kernel:
                raise ValueError(f"{name} needs at least {self.conv_kernel} time steps, got {x.shape[1]}")
        x_l = self.encode_text(text)
        f_a = self.audio_encoder(self.audio_conv(audio.transpose(1, 2)).transpose(1, 2), last_only=True)
        f_v = self.vision_encoder(self.vision_conv(vision.transpose(1, 2)).transpose(1, 2), last_only=True)
        x_f = self.cross_audio(self.cross_vision(x_l, f_v), f_a) + x_l
        f_f = self.fused_encoder(x_f, last_only=True)
        h = torch.cat([f_f, f_a, f_v], dim=-1)
        return self.out(self.proj2(F.dropout(F.relu(self.proj1(h)), self.out_dropout, self.training)))


def lmr_cbt(dims: tuple[int, int, int] = (300, 74, 35), out_dim: int = 1, **kwargs) -> LMRCBT:
    """LMRCBT for inputs of ``dims`` (text, audio, vision) features and ``out_dim`` outputs (1 sentiment score, 8 for
    IEMOCAP's 4 emotions x 2 logits); other ``kwargs`` go to :class:`LMRCBT`. The defaults are the paper's sizes for
    MOSEI; :func:`affect_lib.runs.build_model` fills them in from a recipe."""
    return LMRCBT(dims, out_dim, **kwargs)
