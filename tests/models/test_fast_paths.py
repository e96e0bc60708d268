"""The fast paths against their references: the fused attention kernel, the released pattern, checkpointing."""

import copy

import pytest
import torch
import torch.nn.functional as F

from affect_lib.models import fused_attention as fa
from affect_lib.models.cfn_sr import cfn_sr, use_channels_last, use_checkpointing
from affect_lib.models.lmr_cbt import lmr_cbt
from affect_lib.models.released_pattern import released_attention_pattern

needs_kernel = pytest.mark.skipif(not fa.available(), reason="no C compiler: the fused kernel is not built")

CASES = [  # (N, H, T_q, T_k, e, offset, query_start, p)
    (2, 3, 7, 7, 5, 0, 0, 0.0),
    (2, 3, 9, 9, 5, 0, 0, 0.1),
    (1, 2, 5, 13, 4, 8, 0, 0.3),  # cross-modal: T_k > T_q, MulT's offset |T_k - T_q|
    (2, 2, 6, 6, 8, None, 0, 0.2),
    (2, 2, 1, 11, 5, 0, 10, 0.1),  # the last query alone
    (1, 1, 3, 3, 3, 0, 0, 0.5),
]


def _inputs(n, h, t_q, t_k, e, dtype=torch.float32):
    g = torch.Generator().manual_seed(n * 100 + t_q * 10 + t_k)
    return [torch.randn(n, h, t, e, generator=g, dtype=dtype).requires_grad_() for t in (t_q, t_k, t_k)]


def _grads(out, inputs, seed=7):
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).to(out.dtype)
    return torch.autograd.grad(out, inputs, g)


@needs_kernel
@pytest.mark.parametrize(("n", "h", "t_q", "t_k", "e", "offset", "start", "p"), CASES)
def test_kernel_matches_the_reference_forward_and_backward(n, h, t_q, t_k, e, offset, start, p):
    q, k, v = _inputs(n, h, t_q, t_k, e)
    seed = (12345, 678)
    out = fa.fused_attention(q, k, v, offset, p, seed, query_start=start)
    grads = _grads(out, (q, k, v))
    ref_inputs = [x.detach().double().requires_grad_() for x in (q, k, v)]
    ref = fa.reference_attention(*ref_inputs, offset, p, seed, query_start=start)
    ref_grads = _grads(ref, ref_inputs)
    torch.testing.assert_close(out, ref.float(), atol=2e-6, rtol=1e-5)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b.float(), atol=5e-6, rtol=1e-5)


def test_reference_without_dropout_is_masked_softmax_attention():
    q, k, v = _inputs(2, 3, 6, 9, 5)
    visible = torch.arange(9)[None] <= torch.arange(6)[:, None] + 3
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
    torch.testing.assert_close(fa.reference_attention(q, k, v, 3, 0.0, (0, 0)), expected)


def test_dropout_decisions_rate_and_positions():
    keep = fa.dropout_keep((3, 4), 16, 64, 64, 0.1)
    n = keep.numel()
    dropped = (~keep).sum().item()
    assert abs(dropped - 0.1 * n) < 5 * (0.1 * 0.9 * n) ** 0.5  # binomial, 5 sigma
    # a position draws the same whether computed alone or with the others, and other seeds draw differently
    assert torch.equal(fa.dropout_keep((3, 4), 16, 1, 64, 0.1, query_start=63)[:, 0], keep[:, 63])
    assert not torch.equal(fa.dropout_keep((3, 5), 16, 64, 64, 0.1), keep)


@needs_kernel
def test_kernel_does_not_depend_on_the_thread_count():
    q, k, v = _inputs(3, 4, 40, 40, 5)
    threads = torch.get_num_threads()
    try:
        results = []
        for t in (1, 3):
            torch.set_num_threads(t)
            out = fa.fused_attention(q, k, v, 0, 0.1, (1, 2))
            results.append((out, *_grads(out, (q, k, v))))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def test_without_the_kernel_it_falls_back_to_the_reference(monkeypatch):
    q, k, v = _inputs(1, 2, 5, 5, 5)
    x = torch.randn(2, 5, 7)
    fast = fa.fused_attention(q, k, v, 0, 0.2, (9, 9)), fa.hash_dropout(x, 0.3, seed=(1, 1))
    monkeypatch.setattr(fa, "library", lambda: None)
    assert torch.equal(
        fa.fused_attention(q, k, v, 0, 0.2, (9, 9)), fa.reference_attention(q, k, v, 0, 0.2, (9, 9))
    )
    torch.testing.assert_close(fa.fused_attention(q, k, v, 0, 0.2, (9, 9)), fast[0])
    torch.testing.assert_close(fa.hash_dropout(x, 0.3, seed=(1, 1)), fast[1])


@needs_kernel
@pytest.mark.parametrize(("shape", "position"), [((3, 10, 40), 0), ((2, 1, 13), 9)])
def test_hash_dropout_kernel_matches_its_decisions(shape, position):
    x = torch.randn(shape, requires_grad=True)
    y = fa.hash_dropout(x, 0.2, seed=(5, 6), position=position)
    keep = fa.dropout_keep((5, 6), shape[0], shape[1], shape[2], 0.2, position)
    torch.testing.assert_close(y, x * keep / 0.8)
    (grad,) = torch.autograd.grad(y, x, torch.ones_like(y))
    torch.testing.assert_close(grad, keep / 0.8)
    assert fa.hash_dropout(x, 0.2, training=False) is x


def test_fused_path_is_opt_in():
    assert not fa.enabled() or fa.ENV in __import__("os").environ
    with fa.enable(True):
        assert fa.enabled()


def _lmr(**kw):
    torch.manual_seed(0)
    return lmr_cbt(layers=2, **kw)


def _sequences(n=3, lengths=(6, 17, 14)):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(n, t, d, generator=g) for t, d in zip(lengths, (300, 74, 35), strict=True)]


def test_released_pattern_equals_the_book_in_evaluation():
    model, x = _lmr().eval(), _sequences()
    with torch.no_grad():
        book = model(*x)
        with released_attention_pattern():
            released = model(*x)
        with fa.enable(True):
            fused = model(*x)
    torch.testing.assert_close(book, released, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fused, released, atol=1e-6, rtol=1e-5)


def test_fused_training_step_equals_the_released_pattern_given_the_same_draws():
    model = _lmr().train()  # every dropout of the paper configuration on
    x = _sequences()

    def run(context):
        torch.manual_seed(5)
        with context:
            y = model(*x)
        return y, torch.autograd.grad(y.sum(), list(model.parameters()))

    y_fused, g_fused = run(fa.enable(True))
    y_rel, g_rel = run(released_attention_pattern(draws="hash"))
    torch.testing.assert_close(y_fused, y_rel, atol=1e-6, rtol=1e-5)
    for a, b in zip(g_fused, g_rel, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    # the draws matter: another seed gives another output
    torch.manual_seed(6)
    with fa.enable(True):
        assert not torch.allclose(model(*x), y_fused)


QUICK = dict(  # a narrow CFN-SR, 4 frames of 32²
    frames=4,
    image_size=32,
    mfcc_bins=13,
    mfcc_frames=60,
    stem_channels=8,
    planes=(32, 32, 64, 64),
    blocks=(1, 2, 1, 1),
    cardinality=8,
    audio_channels=(8, 8, 16),
    heads=2,
    layers=1,
    attn_dim=8,
)


def _cfn_step(model):
    g = torch.Generator().manual_seed(2)
    video = torch.randn(3, 3, QUICK["frames"], QUICK["image_size"], QUICK["image_size"], generator=g)
    mfcc = torch.randn(3, QUICK["mfcc_bins"], QUICK["mfcc_frames"], generator=g)
    torch.manual_seed(3)
    y = model(video, mfcc)
    grads = torch.autograd.grad(y.square().sum(), list(model.parameters()))
    return y, grads, [b.clone() for b in model.buffers()]


def test_checkpointing_gives_the_same_step_and_running_statistics():
    torch.manual_seed(0)
    base = cfn_sr(**QUICK).train()
    ref = _cfn_step(copy.deepcopy(base))
    ckpt = _cfn_step(use_checkpointing(copy.deepcopy(base)))
    assert torch.equal(ref[0], ckpt[0])
    assert all(torch.equal(a, b) for a, b in zip(ref[1], ckpt[1], strict=True))
    assert all(torch.equal(a, b) for a, b in zip(ref[2], ckpt[2], strict=True))  # counted once, not twice
    fast = _cfn_step(use_checkpointing(use_channels_last(copy.deepcopy(base))))
    torch.testing.assert_close(fast[0], ref[0], atol=1e-5, rtol=1e-4)
    # other summation orders: compared relative to the size of the whole gradient (some entries are ~0)
    diff = torch.cat([(a - b).flatten() for a, b in zip(fast[1], ref[1], strict=True)])
    assert diff.norm() <= 1e-4 * torch.cat([b.flatten() for b in ref[1]]).norm()
