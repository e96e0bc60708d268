"""MulT, the Multimodal Transformer (Tsai et al., ACL 2019): LMR-CBT's main comparison.

Each modality is projected to d by a Conv1d (kernel 1, no bias; text after embedding dropout). Six cross-modal
encoders let every target modality attend to each source (L<-A, L<-V, A<-L, A<-V, V<-L, V<-A); per target the two
outputs are concatenated (2d) and pass a self-attention "memory" encoder whose last step is kept. The three last
steps (6d) go through a residual two-layer MLP to the output. Defaults are the MulT code's (d 30, 5 heads,
5 layers, which gives the 1.07M parameters quoted in the LMR-CBT paper for MOSEI dims). The cross-modal encoder
of target X from source Y uses Y's attention dropout, the memory encoder of X uses X's, as in the released code.
No CTC module: like LMR-CBT, this model reads unaligned sequences directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from affect_lib.data.mult import MODALITIES
from affect_lib.models.attention import MultEncoder


class MulT(nn.Module):
    """MulT (see the module docstring). ``forward(text, audio, vision) -> (N, out_dim)``.

    Args:
        dims: input feature dims (text, audio, vision); out_dim: 1 or 8.
        dim, heads, layers: width of every modality, heads, cross-modal depth (memory encoders: max(layers, 3)).
        attn_dropout: attention dropout of (text, audio, vision).
        relu_dropout, res_dropout, embed_dropout, out_dropout: MulT's other dropouts.
    """

    def __init__(
        self,
        dims: tuple[int, int, int] = (300, 74, 35),
        out_dim: int = 1,
        *,
        dim: int = 30,
        heads: int = 5,
        layers: int = 5,
        attn_dropout: tuple[float, float, float] = (0.1, 0.0, 0.0),
        relu_dropout: float = 0.1,
        res_dropout: float = 0.1,
        embed_dropout: float = 0.25,
        out_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed_dropout, self.out_dropout = embed_dropout, out_dropout
        self.proj = nn.ModuleList(nn.Conv1d(d, dim, kernel_size=1, bias=False) for d in dims)
        common = dict(relu_dropout=relu_dropout, res_dropout=res_dropout, embed_dropout=embed_dropout)
        drop = dict(zip(MODALITIES, attn_dropout, strict=True))
        self.cross = nn.ModuleDict(
            {
                f"{target}_from_{source}": MultEncoder(
                    dim, heads, layers, attn_dropout=drop[source], **common
                )
                for target in MODALITIES
                for source in MODALITIES
                if source != target
            }
        )
        self.memory = nn.ModuleDict(
            {
                m: MultEncoder(2 * dim, heads, max(layers, 3), attn_dropout=drop[m], **common)
                for m in MODALITIES
            }
        )
        self.proj1 = nn.Linear(6 * dim, 6 * dim)
        self.proj2 = nn.Linear(6 * dim, 6 * dim)
        self.out = nn.Linear(6 * dim, out_dim)

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> torch.Tensor:
        """text (N, T_l, d_l), audio (N, T_a, d_a), vision (N, T_v, d_v) -> (N, out_dim)."""
        text = F.dropout(text, self.embed_dropout, self.training)
        h = {
            m: conv(x.transpose(1, 2)).transpose(1, 2)
            for m, conv, x in zip(MODALITIES, self.proj, (text, audio, vision), strict=True)
        }
        last = []
        for target in MODALITIES:
            both = [self.cross[f"{target}_from_{s}"](h[target], h[s]) for s in MODALITIES if s != target]
            last.append(self.memory[target](torch.cat(both, dim=-1), last_only=True))
        z = torch.cat(last, dim=-1)
        z = z + self.proj2(F.dropout(F.relu(self.proj1(z)), self.out_dropout, self.training))
        return self.out(z)


def mult(dims: tuple[int, int, int] = (300, 74, 35), out_dim: int = 1, **kwargs) -> MulT:
    """MulT for inputs of ``dims`` (text, audio, vision) features and ``out_dim`` outputs (1 sentiment score, 8 for
    IEMOCAP's 4 emotions x 2 logits); other ``kwargs`` go to :class:`MulT`. The defaults are the paper's sizes for
    MOSEI; :func:`affect_lib.runs.build_model` fills them in from a recipe."""
    return MulT(dims, out_dim, **kwargs)
