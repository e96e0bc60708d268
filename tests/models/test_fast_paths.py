"""The fast paths against their references: the fused attention kernel, the released pattern, checkpointing."""

import copy
import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from affect_lib import kernels
from affect_lib.models import fused_attention as fa
from affect_lib.models.cfn_sr import cfn_sr, use_channels_last, use_checkpointing
from affect_lib.models.lmr_cbt import lmr_cbt
from affect_lib.models.released_pattern import released_attention_pattern

needs_kernel = pytest.mark.skipif(
    not kernels.available(), reason="no C compiler: the fused kernel is not built"
)

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


def test_fused_path_is_the_default_and_switches_off():
    assert fa.enabled() == fa.hash_draws() == (os.environ.get(fa.ENV, "1") != "0")
    with fa.enable(False):
        assert not fa.enabled() and not fa.hash_draws()
    code = (
        "from affect_lib import kernels\n"
        "from affect_lib.models import fused_attention as fa\n"
        "print(fa.enabled(), fa.hash_draws())\n"
        "with fa.enable(True):\n"
        "    print(kernels.available())\n"
    )
    built = str(kernels.available())  # an explicit switch builds the kernel whatever the variable says
    cases = [("0", "False False"), ("Off", "False False"), ("false", "False False"), ("1", "True True")]
    cases += [(None, "True True"), ("hash", "False True")]
    for value, state in cases:
        env = {k: v for k, v in os.environ.items() if k != fa.ENV} | ({fa.ENV: value} if value else {})
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert result.stdout.split() == [*state.split(), built], (value, result.stderr)


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


# ---- how the kernel is built and what happens where it cannot be -------------------------------------------


@pytest.fixture(scope="module")
def plain_c(tmp_path_factory):
    """causal_attention.c compiled as plain C11 and loaded with ctypes (the kernel as it shipped before it became
    PyTorch operators)."""
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no cc to compile the plain C kernel")
    target = tmp_path_factory.mktemp("plain_c") / "plain.so"
    flags = ["-O2", "-std=c11", "-fPIC", "-shared", "-pthread", "-ffp-contract=off", "-fno-fast-math"]
    subprocess.run(
        [cc, *flags, str(kernels.CSRC / "causal_attention.c"), "-o", str(target), "-lm"], check=True
    )
    lib = ctypes.CDLL(str(target))
    i64, f32, u32 = ctypes.c_int64, ctypes.c_float, ctypes.c_uint32
    common = [i64, i64, i64, i64, i64, i64, f32, u32, f32, u32, u32, ctypes.c_int]
    lib.affect_attention_forward.argtypes = [ctypes.c_void_p] * 5 + common
    lib.affect_attention_backward.argtypes = [ctypes.c_void_p] * 9 + common
    lib.affect_dropout.argtypes = [ctypes.c_void_p] * 2 + [i64] * 4 + [u32, f32, u32, u32, ctypes.c_int]
    return lib


@needs_kernel
@pytest.mark.parametrize(("n", "h", "t_q", "t_k", "e", "offset", "start", "p"), CASES)
def test_operators_compute_the_bits_of_the_plain_c_kernel(plain_c, n, h, t_q, t_k, e, offset, start, p):
    lib = plain_c
    g = torch.Generator().manual_seed(3)
    q, k, v, dout = (
        torch.randint(-512, 512, (n * h, t, e), generator=g) / 128.0 for t in (t_q, t_k, t_k, t_q)
    )
    seed = (12345, 678)
    scalars = [n * h, t_q, t_k, e, t_k if offset is None else offset, start, e**-0.5, fa._threshold(p)]
    scalars += [1 / (1 - p), *seed, 2]
    out, lse = torch.empty_like(q), torch.empty(n * h, t_q)
    assert lib.affect_attention_forward(*(x.data_ptr() for x in (q, k, v, out, lse)), *scalars) == 0
    grads = [torch.empty_like(x) for x in (q, k, v)]
    ptrs = (x.data_ptr() for x in (q, k, v, out, lse, dout, *grads))
    assert lib.affect_attention_backward(*ptrs, *scalars) == 0
    op_out, op_lse = torch.ops.affect.attention_forward(q, k, v, *scalars[4:-1])
    op_grads = torch.ops.affect.attention_backward(q, k, v, op_out, op_lse, dout, *scalars[4:-1])
    assert torch.equal(op_out, out) and torch.equal(op_lse, lse)
    assert all(torch.equal(a, b) for a, b in zip(op_grads, grads, strict=True))
    y = torch.empty_like(q)
    assert lib.affect_dropout(q.data_ptr(), y.data_ptr(), n * h, t_q, e, start, *scalars[7:]) == 0
    assert torch.equal(torch.ops.affect.hash_dropout(q, start, *scalars[7:-1]), y)


@needs_kernel
def test_operators_pass_torch_opcheck():
    q, k, v = (torch.randn(4, t, 5, requires_grad=True) for t in (6, 9, 9))
    torch.library.opcheck(torch.ops.affect.attention_forward, (q, k, v, 3, 0, 5**-0.5, 2**30, 1.25, 1, 2))
    x = torch.randn(3, 4, 7, requires_grad=True)
    torch.library.opcheck(torch.ops.affect.hash_dropout, (x, 2, 2**30, 1.25, 1, 2))


def _stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("compiler", ["/nonexistent/c++", "/bin/false"])
def test_without_a_working_compiler_it_says_so_once_and_runs_the_reference(monkeypatch, capsys, compiler):
    monkeypatch.setattr(kernels, "_loaded", [])
    monkeypatch.setattr(kernels, "_said", [])
    monkeypatch.setenv(kernels.UNAVAILABLE_ENV, "")  # no parent process has spoken; restored after
    monkeypatch.setenv("CXX", compiler)
    q, k, v = _inputs(1, 2, 5, 5, 5)
    x = torch.randn(2, 5, 7)
    capsys.readouterr()
    with fa.enable(True):
        outs = [fa.fused_attention(q, k, v, 0, 0.2, (9, 9)) for _ in range(2)]
        y = fa.hash_dropout(x, 0.3, seed=(1, 1))
    (line,) = _stderr_lines(capsys)
    assert line.startswith("warning: the fused attention kernel is unavailable") and compiler in line
    assert "reference path" in line
    assert all(torch.equal(o, fa.reference_attention(q, k, v, 0, 0.2, (9, 9))) for o in outs)
    assert torch.equal(y, x * fa.dropout_keep((1, 1), 2, 5, 7, 0.3) / 0.7)


def test_a_machine_without_a_compiler_trains_on_the_reference_path_and_says_so_once(tmp_path):
    script = (
        "import torch\n"
        "from affect_lib.models import fused_attention as fa\n"
        "from affect_lib.models.lmr_cbt import lmr_cbt\n"
        "assert fa.enabled()\n"
        "torch.manual_seed(0)\n"
        "model = lmr_cbt(layers=1).train()\n"
        "x = [torch.randn(2, t, d) for t, d in ((6, 300), (9, 74), (7, 35))]\n"
        "for _ in range(2):\n"
        "    model(*x).sum().backward()\n"
        "print('trained')\n"
    )
    env = {**os.environ, "PATH": str(tmp_path), "AFFECT_CACHE_DIR": str(tmp_path / "cache")}
    for name in ("CXX", fa.ENV, kernels.UNAVAILABLE_ENV):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=Path(__file__).parents[2]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "trained"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "warning: the fused attention kernel is unavailable (no C++ compiler: 'c++' not found; set CXX to "
        "one); using the PyTorch reference path (same results up to float rounding)"
    ]


def test_worker_processes_inherit_the_verdict_and_stay_quiet(tmp_path):
    """A chapter's pool of workers on a machine without a compiler: one warning line in all, from the parent."""
    script = (
        "from affect_lib.data.synthetic_mult import write_standin\n"
        "from affect_lib.mult_runs import train_mult_run\n"
        "from affect_lib.pool import run_jobs\n"
        "if __name__ == '__main__':\n"
        f"    path = write_standin({str(tmp_path)!r}, 'mosei', aligned=False,\n"
        "        sizes={'train': 16, 'valid': 8, 'test': 8}, lengths=(4, 6, 6))\n"
        "    jobs = [dict(model='lmr_cbt', dataset='mosei', path=str(path), aligned=False, seed=s,\n"
        "        overrides={'train.epochs': 1}) for s in (0, 1)]\n"
        "    runs = run_jobs(train_mult_run, jobs, workers=2)\n"
        "    print(len(runs))\n"
    )
    (tmp_path / "chapter.py").write_text(script)
    env = {**os.environ, "PATH": str(tmp_path), "AFFECT_CACHE_DIR": str(tmp_path / "cache")}
    env["AFFECT_PROGRESS"] = "off"
    for name in ("CXX", fa.ENV, kernels.UNAVAILABLE_ENV):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "chapter.py")],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: the fused attention kernel is unavailable")


def test_the_train_command_switches_the_fused_path_for_its_run(tmp_path, monkeypatch, capsys):
    from affect_lib import commands

    monkeypatch.setattr(
        kernels, "_loaded", [None]
    )  # the switch, not the kernel: the reference path draws alike
    monkeypatch.setattr(kernels, "_said", [True])
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AFFECT_PROGRESS", "off")
    monkeypatch.delenv(fa.ENV, raising=False)
    monkeypatch.delenv("AFFECT_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    base = ["train", "lmr_cbt", "--dataset", "mosi", "--epochs", "1", "--max-steps", "2", "--seed", "3"]
    monkeypatch.setitem(fa._state, "enabled", True)  # the default, whatever the environment of the tests
    monkeypatch.setitem(fa._state, "hash_draws", True)
    for name, flag in (("on", ["--fused-attention"]), ("off", ["--no-fused-attention"]), ("default", [])):
        assert commands.main([*base, *flag, "--out", name]) == 0
        assert fa.enabled()  # the switch was for that run only
    test, fp = {}, {}
    for name in ("on", "off", "default"):
        test[name] = json.loads((tmp_path / name / "metrics.json").read_text())["test"]
        fp[name] = json.loads((tmp_path / name / "run.json").read_text())["fingerprint"]
    assert test["on"] == test["default"] and test["on"] != test["off"]  # other dropout draws
    assert fp["on"]["fused_attention"] is True and fp["off"]["fused_attention"] is False
    assert fp["default"]["fused_attention"] is True  # recorded as resolved: the default (on)
    capsys.readouterr()
    assert commands.main([*base, "--no-fused-attention", "--out", "on", "--resume"]) == 2
    assert "its fused_attention is True, this run's is False" in capsys.readouterr().err
