"""CFN-SR: parameter counts against the paper's table, shapes, the cross-modal block and batch independence."""

import numpy as np
import pytest
import torch
from torch import nn

from affect_lib import recipes
from affect_lib.models.cfn_sr import (
    av_concat,
    av_late_fusion,
    cfn_sr,
    count_parameters,
)

QUICK = {
    k: v for k, v in recipes.get("cfn_sr", "ravdess", "quick").model_kwargs().items() if k != "channels_last"
}
"""The book's narrow CPU sizes (8 frames of 48², 13 x 130 MFCC; 64² inputs are fine too: the pool adapts)."""


def test_paper_parameter_counts_match_the_table():
    full = cfn_sr()
    # exact counts; the paper's table rounds them to 26.30M and 25.92M
    assert count_parameters(full) == 26_301_417 and round(26_301_417 / 1e6, 2) == 26.30
    late = av_late_fusion()
    assert count_parameters(late) == 25_916_080 and round(25_916_080 / 1e6, 2) == 25.92
    # late fusion's two heads (2048 -> 8, 1664 -> 8) against concat's one (3712 -> 8): 8 biases more
    heads = (2048 + 1664 + 2) * 8 - (3712 * 8 + 8)
    assert count_parameters(late) - count_parameters(av_concat()) == heads == 8
    # the residual has no parameters: the ablation without it has the full model's count
    assert count_parameters(cfn_sr(residual=False)) == count_parameters(full)
    concat = av_concat()
    assert count_parameters(full) - count_parameters(concat) == count_parameters(full.cross)
    assert full.fused_width == 2048 + 64 * 26 == 3712


def test_paper_shapes_on_the_meta_device():
    model = cfn_sr().to("meta")
    video = torch.empty(2, 3, 30, 224, 224, device="meta")
    mfcc = torch.empty(2, 13, 212, device="meta")
    assert model.video(video).shape == (2, 2048, 2, 7, 7)
    assert model.audio(mfcc).shape == (2, 64, 26)
    assert model(video, mfcc).shape == (2, 8)


@pytest.mark.parametrize("build", [cfn_sr, av_concat, av_late_fusion])
def test_classifier_width_follows_the_input_sizes(build):
    model = build(**{**QUICK, "frames": 4, "image_size": 48, "mfcc_frames": 60}).eval()
    out = model(torch.randn(3, 3, 4, 48, 48), torch.randn(3, 13, 60))
    assert out.shape == (3, 8) and torch.isfinite(out).all()
    if build is not av_late_fusion:
        assert model.classifier.in_features == model.video.out_channels + model.audio.out_channels * 7


def _inputs(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 64, 64, generator=g), torch.randn(n, 13, 130, generator=g)


def test_default_outputs_do_not_depend_on_batch_mates():
    torch.manual_seed(0)
    model = cfn_sr(**QUICK).eval()
    video, mfcc = _inputs()
    other_video, other_mfcc = _inputs(seed=1)
    with torch.no_grad():
        alone = model(video[:1], mfcc[:1])
        batch = model(video, mfcc)[:1]
        mixed = model(torch.cat([video[:1], other_video]), torch.cat([mfcc[:1], other_mfcc]))[:1]
    torch.testing.assert_close(alone, batch, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(alone, mixed, rtol=1e-5, atol=1e-5)


def test_released_batch_coupling_is_only_an_option():
    torch.manual_seed(0)
    model = cfn_sr(**QUICK, batch_coupled_attention=True).eval()
    video, mfcc = _inputs()
    with torch.no_grad():
        alone = model(video[:1], mfcc[:1])
        batch = model(video, mfcc)[:1]
    assert (alone - batch).abs().max() > 1e-4


def test_cross_modal_block_matches_a_numpy_reference():
    torch.manual_seed(0)
    model = cfn_sr(**QUICK).eval()
    block = model.cross
    video_map = torch.randn(2, 256, 2, 3, 3)
    audio = torch.randn(2, 32, 16)
    with torch.no_grad():
        fused = block(video_map, audio)
        query = block.audio_encoder(audio.transpose(1, 2), last_only=True).numpy()
    wv, bv = block.video_proj.weight.detach().numpy(), block.video_proj.bias.detach().numpy()
    wa = block.audio_proj.weight.detach().numpy()
    ws, bs = block.score.weight.detach().numpy()[0], block.score.bias.detach().numpy()[0]
    x = video_map.numpy()
    expected = np.empty_like(x)
    for i in range(2):
        q = wa @ query[i]
        for s in range(2):
            scores = np.array(
                [[ws @ np.tanh(wv @ x[i, :, s, h, w] + bv + q) + bs for w in range(3)] for h in range(3)]
            )
            att = np.exp(scores - scores.max())
            att /= att.sum()
            expected[i, :, s] = x[i, :, s] * att + x[i, :, s]
    np.testing.assert_allclose(fused.numpy(), expected, rtol=1e-4, atol=1e-5)
    block.residual = False
    with torch.no_grad():
        np.testing.assert_allclose(block(video_map, audio).numpy(), expected - x, rtol=1e-4, atol=1e-5)


def test_audio_transformer_is_causal_and_returns_the_last_step():
    torch.manual_seed(0)
    encoder = cfn_sr(**QUICK).cross.audio_encoder.eval()
    audio = torch.randn(1, 10, 32)
    changed = audio.clone()
    changed[:, 7:] += torch.randn(1, 3, 32)
    with torch.no_grad():
        steps, steps_changed = encoder(audio), encoder(changed)
        last = encoder(audio, last_only=True)
    torch.testing.assert_close(steps[:, :7], steps_changed[:, :7])  # steps before 7 never see the change
    assert not torch.allclose(steps[:, 7:], steps_changed[:, 7:])
    torch.testing.assert_close(last, steps[:, -1], rtol=1e-5, atol=1e-5)


def test_stem_relu_option_and_bad_arguments():
    relus = [m for m in cfn_sr(**QUICK, stem_relu=True).video.stem if isinstance(m, nn.ReLU)]
    assert len(relus) == 1
    assert not any(isinstance(m, nn.ReLU) for m in cfn_sr(**QUICK).video.stem)
    with pytest.raises(ValueError, match="unknown CFN-SR setting"):
        cfn_sr(**QUICK, depth=3)
    with pytest.raises(ValueError, match="mfcc_frames"):
        cfn_sr(**{**QUICK, "mfcc_frames": 8})


@pytest.mark.parametrize("build", [cfn_sr, av_late_fusion])
def test_channels_last_gives_the_same_outputs(build):
    video, mfcc = _inputs(2)
    torch.manual_seed(0)
    plain = build(**QUICK).eval()
    torch.manual_seed(0)
    fast = build(**QUICK, channels_last=True).eval()
    assert fast.video.stem[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    with torch.no_grad():
        torch.testing.assert_close(fast(video, mfcc), plain(video, mfcc), rtol=1e-4, atol=1e-4)
