"""A late-fusion baseline for the MulT corpora: an LF-LSTM sized like the comparison tables' row.

Each modality has its own one-layer LSTM over time; only the three final hidden states meet, concatenated, in a
two-layer MLP. No modality sees another one before that point, so the model cannot pair events across time; it is
the reference point that shows what cross-modal attention adds.

**Size.** The LF-LSTM row of the MulT-derived comparison tables (the LMR-CBT README's: F1 78.2, 1.22M parameters)
comes without its hidden sizes, and no released code builds it. With h LSTM units per modality this model has
``4h(d_l + d_a + d_v) + 15h^2 + 25h + (h + 1) * out_dim`` parameters (15h^2 + 1662h + 1 at MOSEI's 300/74/35
dims and one output), so the default ``hidden=235`` gives 1,218,946 (1.22M): a stand-in with the
row's parameter budget, not a copy of the row's model. The chapters' quick profile sets ``hidden=32`` (68,545).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LateFusionLSTM(nn.Module):
    """LF-LSTM: per-modality LSTMs -> concat of final states -> MLP. ``forward(text, audio, vision) -> (N, out)``.

    Args:
        dims: input dims (text, audio, vision); out_dim: 1 or 8.
        hidden: LSTM units per modality (235: the tables' 1.22M at MOSEI's dims, see the module docs);
            dropout: on the inputs and before the output layer.
    """

    def __init__(
        self,
        dims: tuple[int, int, int] = (300, 74, 35),
        out_dim: int = 1,
        *,
        hidden: int = 235,
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
    IEMOCAP's 4 emotions x 2 logits); other ``kwargs`` go to :class:`LateFusionLSTM`. The defaults give the comparison
    tables' 1.22M for MOSEI; :func:`affect_lib.runs.build_model` fills them in from a recipe."""
    return LateFusionLSTM(dims, out_dim, **kwargs)
