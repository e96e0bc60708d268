"""A late-fusion baseline for the MulT corpora: LF-LSTM, as in the MulT and LMR-CBT comparison tables.

Each modality has its own one-layer LSTM over time; only the three final hidden states meet, concatenated, in a
two-layer MLP. No modality sees another one before that point, so the model cannot pair events across time; it is
the reference point that shows what cross-modal attention adds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LateFusionLSTM(nn.Module):
    """LF-LSTM: per-modality LSTMs -> concat of final states -> MLP. ``forward(text, audio, vision) -> (N, out)``.

    Args:
        dims: input dims (text, audio, vision); out_dim: 1 or 8.
        hidden: LSTM units per modality; dropout: on the inputs and before the output layer.
    """

    def __init__(
        self,
        dims: tuple[int, int, int] = (300, 74, 35),
        out_dim: int = 1,
        *,
        hidden: int = 32,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.dropout = dropout
        self.lstms = nn.ModuleList(nn.LSTM(d, hidden, batch_first=True) for d in dims)
        self.fuse = nn.Linear(3 * hidden, hidden)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> torch.Tensor:
        """Inputs (N, T_m, d_m) -> (N, out_dim); sequences are left-padded, so the last step is real."""
        finals = [
            lstm(F.dropout(x, self.dropout, self.training))[1][0][-1]
            for lstm, x in zip(self.lstms, (text, audio, vision), strict=True)
        ]
        h = F.dropout(F.relu(self.fuse(torch.cat(finals, dim=-1))), self.dropout, self.training)
        return self.out(h)


def late_fusion(dims: tuple[int, int, int] = (300, 74, 35), out_dim: int = 1, **kwargs) -> LateFusionLSTM:
    """LateFusionLSTM for inputs of ``dims`` (text, audio, vision) features and ``out_dim`` outputs (1 sentiment score, 8 for
    IEMOCAP's 4 emotions x 2 logits); other ``kwargs`` go to :class:`LateFusionLSTM`. The defaults are the paper's sizes for
    MOSEI; :func:`affect_lib.recipes.build_model` fills them in from a recipe."""
    return LateFusionLSTM(dims, out_dim, **kwargs)
