"""LMR-CBT, MulT and the late-fusion baseline: sizes, shapes, the attention against torch's reference, quirks."""

import pytest
import torch
from torch import nn

from affect_lib import recipes, runs, runtime
from affect_lib.models import build_model, model_names
from affect_lib.models.attention import (
    MultEncoder,
    MultiheadAttention,
    blocked_attention,
    positions,
    visible_mask,
)
from affect_lib.models.lmr_cbt import lmr_cbt, one_thread_rnn


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def lmr_cbt_count(d_l, d_a, d_v, out, d=40, layers=5):
    """LMR-CBT's parameter count from the architecture, term by term."""
    layer = (3 * d * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * 2 * d
    encoder = layers * layer + 2 * d
    h = d // 2
    lstm = 2 * (4 * h * (d_l + h) + 8 * h) + 2 * (4 * h * (2 * h + h) + 8 * h)
    convs = 3 * d * (d_a + d_v) + 2 * 2 * d  # two Conv1d(k=3, no bias) + two BatchNorm
    cross = 2 * (d * d + d + d * d)
    head = 2 * (9 * d * d + 3 * d) + (3 * d * out + out)
    return 3 * encoder + lstm + 2 * d + convs + cross + head


@pytest.mark.parametrize(
    ("dataset", "dims", "out"),
    [("mosei", (300, 74, 35), 1), ("mosi", (300, 5, 20), 1), ("iemocap", (300, 74, 35), 8)],
)
@pytest.mark.parametrize("layers", [5, 4, 3])
def test_lmr_cbt_parameter_count_from_the_architecture(dataset, dims, out, layers):
    assert n_params(lmr_cbt(dims, out, layers=layers)) == lmr_cbt_count(*dims, out, layers=layers)


@pytest.mark.parametrize(("dataset", "count"), [("mosei", 406_441), ("mosi", 396_361), ("iemocap", 407_288)])
def test_lmr_cbt_exact_parameter_counts(dataset, count):
    # the paper's model at each corpus's dims (MOSEI and IEMOCAP 300/74/35, MOSI 300/5/20; IEMOCAP 8 outputs),
    # without the released code's two unused Linear(40, 1) (2 x 41 = 82 parameters)
    recipe = recipes.get("lmr_cbt", dataset, "paper")
    n = n_params(runs.build_model(recipe))
    assert n == count == lmr_cbt_count(*recipe.data.dims, recipe.data.out_dim)


def test_paper_sizes():
    # LMR-CBT's 0.41M for MOSEI (with or without the released code's two unused Linear(40, 1), 82 parameters)
    n = n_params(build_model("lmr_cbt"))
    assert round(n / 1e6, 2) == round((n + 2 * (40 + 1)) / 1e6, 2) == 0.41
    assert round(n_params(build_model("mult")) / 1e6, 2) == 1.07  # MulT's 1.07M in the same table


def lf_lstm_count(dims, out, h):
    """LF-LSTM: LSTM(d, h) per modality (4 gates x (input + recurrent weights) + 2 biases), Linear(3h, h),
    Linear(h, out)."""
    return sum(4 * h * (d + h) + 2 * 4 * h for d in dims) + (3 * h * h + h) + (h * out + out)


def test_late_fusion_has_the_tables_budget_and_the_quick_profile_keeps_its_size():
    n = n_params(build_model("late_fusion"))  # MOSEI dims, one output: the tables' 1.22M
    assert n == lf_lstm_count((300, 74, 35), 1, 235) == 1_218_946 and round(n / 1e6, 2) == 1.22
    assert n_params(runs.build_model(recipes.get("late_fusion", "mosei", "paper"))) == n
    quick = runs.build_model(recipes.get("late_fusion", "mosei", "quick"))
    assert n_params(quick) == lf_lstm_count((300, 74, 35), 1, 32) == 68_545


@pytest.mark.parametrize("name", ["lmr_cbt", "mult", "late_fusion"])
@pytest.mark.parametrize(
    ("dataset", "lengths", "out"), [("mosi", (10, 30, 40), 1), ("iemocap", (8, 8, 8), 8)]
)
def test_output_shapes_and_backward(name, dataset, lengths, out):
    torch.manual_seed(0)
    dims = {"mosi": (300, 5, 20), "iemocap": (300, 74, 35)}[dataset]
    depth = {"layers": 2} if name != "late_fusion" else {}
    model = build_model(name, dims=dims, out_dim=out, **depth)
    x = [torch.randn(3, t, d) for t, d in zip(lengths, dims, strict=True)]
    y = model(*x)
    assert y.shape == (3, out)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_registry():
    names = {"lmr_cbt", "mult", "late_fusion", "cfn_sr", "av_late_fusion", "av_concat", "msaf"}
    assert names <= set(model_names())
    with pytest.raises(ValueError, match="unknown model 'lmrcbt'"):
        build_model("lmrcbt")
    with pytest.raises(TypeError, match="dataset"):
        build_model("lmr_cbt", dataset="mosei")  # models know sizes, not datasets


@pytest.mark.parametrize("released", [True, False])
def test_lstm_batch_axis_quirk(released):
    torch.manual_seed(0)
    model = lmr_cbt((300, 5, 20), layers=1, lstm_over_batch_axis=released).eval()
    x = [torch.randn(4, 6, d) for d in (300, 5, 20)]
    others = [torch.cat([xi[:1], torch.randn_like(xi[1:])]) for xi in x]
    with torch.no_grad():
        first = model(*x)[0]
        mates_changed = model(*others)[0]
    assert torch.allclose(first, mates_changed, atol=1e-6) != released


class _Recorder(nn.Module):
    """``(x @ w, None)``, recording the intra-op thread count in its forward and in its backward."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 2))
        self.seen: list[tuple[str, int]] = []

    def forward(self, x):
        self.seen.append(("forward", torch.get_num_threads()))
        y = x @ self.w
        y.register_hook(lambda g: self.seen.append(("backward", torch.get_num_threads())))
        return y, None


def test_one_thread_rnn_runs_forward_and_backward_on_one_thread_and_keeps_the_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rec = _Recorder()
        x = torch.randn(4, 3, requires_grad=True)
        one_thread_rnn(rec, x).sum().backward()
        assert rec.seen == [("forward", 1), ("backward", 1)] and torch.get_num_threads() == 2
        assert torch.equal(x.grad, rec.w.sum(1).expand(4, 3)) and torch.equal(
            rec.w.grad, x.sum(0)[:, None].expand(3, 2)
        )
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("input_grad", [False, True])
def test_one_thread_rnn_gives_the_bits_of_a_plain_call(input_grad):
    """The LSTM's output and every gradient, bit for bit, against the plain module at one thread (the dropout
    between its layers drawn from the same seed); the wrapper must route each gradient to its own tensor."""
    lstm = nn.LSTM(30, 10, num_layers=2, bidirectional=True, dropout=0.5, batch_first=True).train()
    x = torch.randn(4, 7, 30, requires_grad=input_grad)
    g = torch.randn(4, 7, 20)
    results = []
    for wrapped in (True, False):
        torch.manual_seed(3)
        if wrapped:
            out = one_thread_rnn(lstm, x)
        else:
            with runtime.intra_op_threads(1):
                out = lstm(x)[0]
        wrt = [x] * input_grad + list(lstm.parameters())
        results.append([out, *torch.autograd.grad(out, wrt, g)])
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))
    with torch.no_grad():
        torch.manual_seed(3)
        assert torch.equal(one_thread_rnn(lstm, x), results[0][0])


def test_one_thread_rnn_runs_each_parameter_hook_once_and_refuses_a_second_backward():
    lstm = nn.LSTM(6, 3, batch_first=True)
    calls = []
    for p in lstm.parameters():
        p.register_hook(lambda g: calls.append(1) or g * 0.5)
    x = torch.randn(2, 4, 6)
    torch.manual_seed(0)
    one_thread_rnn(lstm, x).sum().backward(retain_graph=True)
    wrapped = [p.grad.clone() for p in lstm.parameters()]
    n_wrapped = len(calls)
    lstm.zero_grad()
    with runtime.intra_op_threads(1):
        lstm(x)[0].sum().backward()
    assert n_wrapped == len(calls) - n_wrapped == 4  # once per parameter, as in a plain call
    assert all(torch.equal(a, p.grad) for a, p in zip(wrapped, lstm.parameters(), strict=True))
    out = one_thread_rnn(lstm, x).sum()
    out.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="already differentiated"):
        out.backward()


def test_attention_matches_torch_multihead_attention():
    torch.manual_seed(0)
    ours = MultiheadAttention(40, 8).eval()
    ref = nn.MultiheadAttention(40, 8, batch_first=True).eval()
    ref.load_state_dict(
        {
            "in_proj_weight": ours.in_proj_weight,
            "in_proj_bias": ours.in_proj_bias,
            "out_proj.weight": ours.out_proj.weight,
            "out_proj.bias": ours.out_proj.bias,
        }
    )
    q, kv = torch.randn(2, 7, 40), torch.randn(2, 11, 40)
    for key, offset in [(q, 0), (kv, 4), (kv, None)]:
        mask = None if offset is None else ~visible_mask(7, key.shape[1], offset)
        expected = ref(q, key, key, attn_mask=mask, need_weights=False)[0]
        torch.testing.assert_close(ours(q, key, key, offset), expected, atol=1e-5, rtol=1e-5)


def test_blocked_attention_equals_masked_softmax_without_dropout():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 70, 5), torch.randn(2, 3, 90, 5), torch.randn(2, 3, 90, 5)
    for offset in (0, 20):
        mask = visible_mask(70, 90, offset)
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        ref = [t.clone().requires_grad_() for t in (q, k, v)]
        expected = (
            torch.softmax(
                (ref[0] @ ref[1].transpose(-1, -2)) / 5**0.5 + torch.where(mask, 0.0, float("-inf")), -1
            )
            @ ref[2]
        )
        ours = blocked_attention(*leaves, offset, 0.0, block=16)
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
        (ours * expected.detach()).sum().backward()
        (expected * expected.detach()).sum().backward()
        for a, b in zip(leaves, ref, strict=True):
            torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("p", [0.25, 1 / 3])  # the integer-draw path and the F.dropout fallback
def test_blocked_attention_dropout_is_unbiased_and_drops_at_rate_p(p):
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 6, 4), torch.randn(1, 1, 6, 4)
    v = torch.eye(6)[None, None]  # the output rows are then the (dropped) attention weights themselves
    draws = torch.stack([blocked_attention(q, k, v, 0, p, block=4) for _ in range(4000)])
    exact = blocked_attention(q, k, v, 0, 0.0)
    torch.testing.assert_close(draws.mean(0), exact, atol=0.02, rtol=0.05)
    visible = visible_mask(6, 6, 0).expand_as(draws[..., 0, 0, :, :])
    assert (draws[..., 0, 0, :, :][visible] == 0).float().mean().item() == pytest.approx(p, abs=0.01)


def test_last_only_equals_last_step_of_the_full_encoder():
    torch.manual_seed(0)
    enc = MultEncoder(40, 8, 3).eval()
    x, kv = torch.randn(2, 9, 40), torch.randn(2, 13, 40)
    torch.testing.assert_close(enc(x, last_only=True), enc(x)[:, -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(enc(x, kv, last_only=True), enc(x, kv)[:, -1], atol=1e-5, rtol=1e-5)


def test_causal_encoder_ignores_the_future():
    torch.manual_seed(0)
    enc = MultEncoder(16, 4, 2).eval()
    x = torch.randn(1, 10, 16)
    y = x.clone()
    y[:, 6:] = torch.randn(1, 4, 16)
    torch.testing.assert_close(enc(x)[:, :6], enc(y)[:, :6])


def test_zero_first_feature_gets_the_padding_position():
    x = torch.randn(2, 5, 6)
    x[0, :2, 0] = 0.0
    pos = positions(x)
    assert (pos[0, :2] == 0).all() and (pos[0, 2:] != 0).any(dim=-1).all()
    torch.testing.assert_close(pos[0, 2:], pos[1, 2:])
    assert pos[1, 0, 0] == pytest.approx(torch.sin(torch.tensor(1.0)).item())  # position 1 for the first step
