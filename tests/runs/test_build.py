"""affect_lib.runs.build: the line that says which fast paths a run takes."""

from affect_lib import kernels, recipes, runs
from affect_lib.models import fused_attention as fa


def test_fast_paths_names_the_attention_and_the_layout_actually_used(monkeypatch):
    lmr = recipes.get("lmr_cbt", "mosei", "quick", aligned=False)
    av = recipes.get("cfn_sr", "ravdess", "quick")
    with fa.enable(False):
        assert runs.fast_paths(lmr).endswith("own attention and torch's dropout draws (fused path off)")
    with fa.enable(True):
        monkeypatch.setattr(kernels, "_loaded", [None])  # a machine where the kernel could not be built
        monkeypatch.setattr(kernels, "_said", [True])
        assert "PyTorch reference (no kernel here), hashed dropout draws" in runs.fast_paths(lmr)
        monkeypatch.setattr(kernels, "_loaded", [object()])
        assert runs.fast_paths(lmr).endswith("the fused attention kernel, hashed dropout draws")
        assert runs.fast_paths(av).endswith("; 3-D convolutions channels-last")
        off = av.replace(**{"model.channels_last": False})
        assert runs.fast_paths(off).endswith("; 3-D convolutions channels-first")
    assert "3-D" not in runs.fast_paths(lmr)
