"""Models, built by name from their sizes: ``build_model("lmr_cbt", dims=(300, 74, 35), out_dim=1)``.

Like torchvision's builders, a model knows its architecture and nothing of any dataset: it takes its input sizes and
its output width as arguments (defaults: the paper's sizes). A run's sizes come from its recipe
(:func:`affect_lib.runs.build_model`).

Each name maps to a function ``name(**kwargs) -> nn.Module`` in one module; the module is imported only when the
model is built, so that the audio-visual models' dependencies do not load with the sequence models and vice versa.

=================  ==========================================  =================================================
name               function                                    model
=================  ==========================================  =================================================
``lmr_cbt``        :func:`affect_lib.models.lmr_cbt.lmr_cbt`   LMR-CBT (Part III)
``mult``           :func:`affect_lib.models.mult.mult`         MulT, the Multimodal Transformer (Part III)
``late_fusion``    :func:`affect_lib.models.baselines.late_fusion`  LF-LSTM late-fusion baseline (Part III)
``cfn_sr``         :func:`affect_lib.models.cfn_sr.cfn_sr`     CFN-SR (Part IV)
``av_late_fusion`` :func:`affect_lib.models.cfn_sr.av_late_fusion`  audio-visual late fusion (Part IV)
``av_concat``      :func:`affect_lib.models.cfn_sr.av_concat`  audio-visual concat + FC (Part IV)
``msaf``           :func:`affect_lib.models.msaf.msaf`         MSAF, split attention fusion (Part IV)
``video_only``     :func:`affect_lib.models.cfn_sr.video_only`  unimodal video classifier (pretraining, Part IV)
``audio_only``     :func:`affect_lib.models.cfn_sr.audio_only`  unimodal audio classifier (pretraining, Part IV)
=================  ==========================================  =================================================
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

_REGISTRY: dict[str, str] = {
    "lmr_cbt": "affect_lib.models.lmr_cbt",
    "mult": "affect_lib.models.mult",
    "late_fusion": "affect_lib.models.baselines",
    "cfn_sr": "affect_lib.models.cfn_sr",
    "av_late_fusion": "affect_lib.models.cfn_sr",
    "av_concat": "affect_lib.models.cfn_sr",
    "video_only": "affect_lib.models.cfn_sr",
    "audio_only": "affect_lib.models.cfn_sr",
    "msaf": "affect_lib.models.msaf",
}


def model_names() -> list[str]:
    """The names :func:`build_model` accepts."""
    return sorted(_REGISTRY)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build model ``name`` (see the table above); ``kwargs`` go to its function, e.g. ``dims=(300, 5, 20)``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(model_names())}")
    module = importlib.import_module(_REGISTRY[name])
    return getattr(module, name)(**kwargs)
