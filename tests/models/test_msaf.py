"""MSAF: the split attention block by hand, its softmax over blocks, the paper's count and shapes, training."""

import math

import pytest
import torch

from affect_lib import recipes, runs
from affect_lib.models import build_model
from affect_lib.models.cfn_sr import av_late_fusion, count_parameters
from affect_lib.models.msaf import MSAFBlock, msaf

QUICK = {
    k: v for k, v in recipes.get("msaf", "ravdess", "quick").model_kwargs().items() if k != "channels_last"
}


def block_params(channels, c, r=4):
    """One block's parameters: Linear(c, c/r) + BatchNorm(c/r) + one Linear(c/r, c) per channel block."""
    return (c * (c // r) + c // r) + 2 * (c // r) + sum(ch // c for ch in channels) * ((c // r) * c + c)


def test_paper_parameter_count():
    # MSAF's table: 25.94M = the two unimodal networks (25.92M) + the blocks at (1024, 32) / 16, (2048, 64) / 32
    blocks = block_params((1024, 32), 16) + block_params((2048, 64), 32)
    assert blocks == 5356 + 19288 == 24644
    with torch.device("meta"):
        n = count_parameters(msaf())
        assert n == count_parameters(av_late_fusion()) + blocks == 25_940_724
    assert round(n / 1e6, 2) == 25.94


def test_paper_shapes_on_the_meta_device():
    model = build_model("msaf").to("meta")
    out = model(torch.empty(2, 3, 30, 224, 224, device="meta"), torch.empty(2, 13, 212, device="meta"))
    assert out.shape == (2, 8)
    assert [b.n_blocks for b in model.fusion] == [[64, 2], [64, 2]]


def test_hand_computed_forward():
    # x1: 4 channels = 2 blocks of c = 2, 2 positions; x2: 2 channels = 1 block, 3 positions
    x1 = torch.tensor([[[1.0, 3.0], [2.0, 2.0], [0.0, 4.0], [1.0, 1.0]]])
    x2 = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]]])
    block = MSAFBlock([4, 2], 2, reduction=2).eval()
    with torch.no_grad():
        # squeeze: z = relu(0.5 s_0 - 0.5 s_1), BatchNorm the identity (running mean 0, variance 1, eps 0)
        block.squeeze[0].weight.copy_(torch.tensor([[0.5, -0.5]]))
        block.squeeze[0].bias.zero_()
        block.squeeze[1].eps = 0.0
        # excite: logits (block, channel) = z * log of (1, 1), (2, 1), (1, 2)
        block.excite.weight.copy_(torch.tensor([[0.0], [0.0], [math.log(2)], [0.0], [0.0], [math.log(2)]]))
        block.excite.bias.zero_()
    # blocks summed per modality, averaged over positions: s1 = mean([1+0, 3+4], [2+1, 2+1]) = (4, 3);
    # s2 = (2, 1); joint s = (6, 4); z = relu(3 - 2) = 1; weights per channel: c0 (1, 2, 1) / 4, c1 (1, 1, 2) / 4
    y1, y2 = block([x1, x2])
    expected1 = torch.tensor([[[0.25, 0.75], [0.5, 0.5], [0.0, 2.0], [0.25, 0.25]]])
    expected2 = torch.tensor([[[0.25, 0.5, 0.75], [0.0, 0.0, 1.5]]])
    torch.testing.assert_close(y1, expected1)
    torch.testing.assert_close(y2, expected2)
    weights = block.attention([x1, x2])
    torch.testing.assert_close(weights, torch.tensor([[[0.25, 0.25], [0.5, 0.25], [0.25, 0.5]]]))
    block.lowest_attention = 0.5  # weights mapped to 0.5 + 0.5 w
    torch.testing.assert_close(block([x1, x2])[1], torch.tensor([[[0.625, 1.25, 1.875], [0.0, 0.0, 2.25]]]))


def test_weights_sum_to_one_over_blocks_and_modalities():
    torch.manual_seed(0)
    block = MSAFBlock([64, 16], 16).eval()
    video, audio = torch.randn(5, 64, 2, 3, 3), torch.randn(5, 16, 7)
    weights = block.attention([video, audio])
    assert weights.shape == (5, 4 + 1, 16) and (weights > 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(5, 16))
    # one block per modality: a softmax over the modalities
    pair = MSAFBlock([16, 16], 16).eval()
    w = pair.attention([torch.randn(3, 16, 4), torch.randn(3, 16, 9)])
    torch.testing.assert_close(w.sum(1), torch.ones(3, 16))
    assert not torch.allclose(w[:, 0], w[:, 1])


def test_block_dropout_drops_whole_blocks_in_training_only():
    torch.manual_seed(0)
    block = MSAFBlock([64, 16], 16, block_dropout=0.5).train()
    video = torch.rand(400, 64, 3) + 0.1  # positive, so that only a dropped block is zero
    audio = torch.rand(400, 16, 5) + 0.1
    y_video, y_audio = block([video, audio])
    zeros = []
    for y, n_blocks in ((y_video, 4), (y_audio, 1)):
        blocks = y.reshape(400, n_blocks, -1)
        zero = (blocks == 0).all(-1)
        assert ((blocks == 0).any(-1) == zero).all()  # a block is dropped as a whole or not at all
        zeros.append(zero)
    assert torch.cat(zeros, 1).float().mean().item() == pytest.approx(0.5, abs=0.03)
    block.eval()
    a, b = block([video, audio]), block([video, audio])
    assert all(torch.equal(x, y) and (x != 0).all() for x, y in zip(a, b, strict=True))


def test_squared_dropout_mask_scales_survivors_once_more():
    torch.manual_seed(0)
    once = MSAFBlock([32, 16], 16, block_dropout=0.2).train()
    twice = MSAFBlock([32, 16], 16, block_dropout=0.2, squared_dropout_mask=True).train()
    twice.load_state_dict(once.state_dict())
    x = [torch.rand(8, 32, 4) + 0.1, torch.rand(8, 16, 4) + 0.1]
    torch.manual_seed(1)
    y_once = once(x)
    torch.manual_seed(1)
    y_twice = twice(x)
    for a, b in zip(y_once, y_twice, strict=True):
        torch.testing.assert_close(b, a / 0.8)  # survivors x m^2 alpha, m = 1 / 0.8; dropped blocks stay 0


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="multiples of block_channels=16"):
        MSAFBlock([1000, 32], 16)
    with pytest.raises(ValueError, match="at least two modalities"):
        MSAFBlock([32], 16)
    with pytest.raises(ValueError, match="expected 32 channels"):
        MSAFBlock([32, 16], 16)([torch.randn(2, 16, 3), torch.randn(2, 16, 3)])
    with pytest.raises(ValueError, match="unknown CFN-SR setting"):
        msaf(**QUICK, depth=3)


def test_quick_model_shapes_batch_independence_and_a_training_step():
    torch.manual_seed(0)
    model = build_model("msaf", **QUICK)
    # blocks: 256 / 16 and 16 / 16 channels after stage 3; 256 / 32 and 32 / 32 after stage 4
    assert [b.n_blocks for b in model.fusion] == [[16, 1], [8, 1]]
    size, frames = QUICK["image_size"], QUICK["frames"]
    video, mfcc = torch.randn(4, 3, frames, size, size), torch.randn(4, 13, QUICK["mfcc_frames"])
    labels = torch.tensor([0, 3, 5, 7])
    model.eval()
    with torch.no_grad():
        alone, batch = model(video[:1], mfcc[:1]), model(video, mfcc)
    assert batch.shape == (4, 8) and torch.isfinite(batch).all()
    torch.testing.assert_close(alone, batch[:1], rtol=1e-5, atol=1e-5)
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = model.fusion[1].excite.weight.detach().clone()
    losses = []
    for _ in range(5):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(video, mfcc), labels)
        loss.backward()
        if not losses:  # every parameter, the blocks' included, gets a gradient
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        optimiser.step()
        losses.append(loss.item())
    assert not torch.equal(model.fusion[1].excite.weight, before)
    assert losses[-1] < losses[0]


def test_builder_passes_block_options_and_sizes_apart():
    model = msaf(**{**QUICK, "n_classes": 6}, block_dropout=0.0, block_channels=(8, 16), stem_relu=True)
    assert [b.block_dropout for b in model.fusion] == [0.0, 0.0]
    assert [b.block_channels for b in model.fusion] == [8, 16]
    assert any(isinstance(m, torch.nn.ReLU) for m in model.video.stem)
    assert model.video_head.out_features == model.audio_head[-1].out_features == 6
    assert msaf(**QUICK, channels_last=True).channels_last


def test_recipe_builds_msaf_at_the_quick_and_paper_sizes():
    assert "msaf" in recipes.AV_MODELS
    paper = recipes.get("msaf", "ravdess", "paper")
    with torch.device("meta"):
        assert count_parameters(runs.build_model(paper)) == 25_940_724
    assert runs.build_model(recipes.get("msaf", "ravdess", "quick")).channels_last  # the default fast path
    off = recipes.get("msaf", "ravdess", "quick").replace(**{"model.channels_last": False})
    assert runs.build_model(off).channels_last is False
