"""Part IV benchmark: one CFN-SR training step (forward, backward, Adam) at the paper size against the released form.

Forms of the same model (same initial weights, same inputs), timed in turn in one process:

- **released**: the released computation: contiguous (NCDHW) float32 3D convolutions, every activation
  stored, the clip in the loader's (N, T, C, H, W) layout permuted to (N, C, T, H, W), which the first
  convolution copies, and the audio Transformer's released attention
  (:func:`affect_lib.models.released_pattern.released_attention_pattern`);
- **channels-last**: :func:`affect_lib.models.cfn_sr.use_channels_last`, the clip handed over as a view of
  decoded (N, T, H, W, C) frames, so it is never copied (with the library's default fused attention, as every
  book form);
- **channels-last + checkpointing**: also :func:`affect_lib.models.cfn_sr.use_checkpointing` (the stem and
  every bottleneck recomputed in the backward pass instead of stored).

The outputs are equal (checkpointing exactly, channels-last to float rounding; tested). bf16 autocast is
measured on one grouped 3D convolution, and a whole bf16 training step of the paper's model is tried in a child
process (4 frames of 64²), whose outcome (time, or the way it failed) is printed: the CPU forms stay float32.
Then: where the step's time goes (torch.profiler, released vs the fastest form), and how step time and peak
memory grow with frames and resolution. Times are measured in this process, forms alternating; peak memory in a
fresh process per form and size (:func:`measure.step_peak_memory`). ``AFFECT_BENCH_SMOKE=1`` shrinks every
size, for a smoke test of the script (write it elsewhere with ``AFFECT_BENCH_RESULTS``).
"""

from __future__ import annotations

import contextlib
import copy
import os
import subprocess
import sys

import matplotlib
import torch
import torch.nn.functional as F
from measure import (
    GROWTH_INTERVAL_NOTE,
    MEMORY_NOTE,
    growth_curves,
    growth_exponent,
    growth_fit,
    interleaved,
    load,
    operator_profile,
    operator_table,
    peak_gb,
    ratio,
    save_growth_figure,
)

from affect_lib.models.cfn_sr import cfn_sr, use_channels_last, use_checkpointing
from affect_lib.models.released_pattern import released_attention_pattern

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SIZE_ENV = "AFFECT_BENCH_CFN_SR"
"""``FRAMESxSIZE`` (e.g. ``16x112``) replaces the paper's 30 x 224² clip of the main table (an overloaded host)."""
SMOKE = os.environ.get("AFFECT_BENCH_SMOKE") == "1"
"""Smoke test of the script: 4 x 32² clips unless ``AFFECT_BENCH_CFN_SR`` says otherwise, tiny growth points."""
BATCH, REPEATS = 2, 5
FRAMES, SIZE = (int(v) for v in os.environ.get(SIZE_ENV, "4x32" if SMOKE else "30x224").split("x"))
GROWTH_FRAMES, GROWTH_SIZES, GROWTH_REPEATS = (
    ((4, 8), (32, 48), 5) if SMOKE else ((8, 16, 32), (64, 112, 224), 5)
)
GROWTH_AT = (4, 32) if SMOKE else (16, 112)
"""The frames of the resolution axis and the resolution of the frames axis: sizes where the convolutions, not the
fixed cost of a step, set the time (at 4-16 frames of 64² the time hardly grows)."""
FIGURE = "audiovisual_growth.png"
FORMS = ("released", "channels-last", "channels-last + checkpointing")
RATIOS: dict[str, float] = {}
"""Speed-ups measured by :func:`main` (read by ``run.py`` for the summary chart)."""


def _forms(frames: int, size: int, batch: int = BATCH, names: tuple[str, ...] = FORMS) -> dict:
    """Training-step closures of the forms ``names`` (see the module docstring) on one set of inputs."""
    torch.manual_seed(0)
    base = cfn_sr().train()
    g = torch.Generator().manual_seed(1)
    frames_hwc = torch.randn(
        batch, frames, size, size, 3, generator=g
    )  # decoded frames, as a loader stacks them
    mfcc = torch.randn(batch, 13, 212, generator=g)
    target = torch.randint(0, 8, (batch,), generator=g)
    clip_tchw = frames_hwc.permute(0, 1, 4, 2, 3).contiguous()  # the released loader's (N, T, C, H, W) tensor
    models = {
        "released": lambda: (copy.deepcopy(base), clip_tchw.permute(0, 2, 1, 3, 4)),
        "channels-last": lambda: (use_channels_last(copy.deepcopy(base)), frames_hwc.permute(0, 4, 1, 2, 3)),
        "channels-last + checkpointing": lambda: (
            use_checkpointing(use_channels_last(copy.deepcopy(base))),
            frames_hwc.permute(0, 4, 1, 2, 3),
        ),
    }

    def trainer(model, video, released: bool):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with released_attention_pattern() if released else contextlib.nullcontext():
                loss = F.cross_entropy(model(video, mfcc), target)
                loss.backward()
            opt.step()

        return step

    return {name: trainer(*models[name](), name == "released") for name in names}


def memory_step(form: str, frames: int, size: int, batch: int):
    """The training step of one form at one clip size: built in the fresh process of :func:`measure.peak_gb`."""
    return _forms(frames, size, batch, names=(form,))[form]


def _peak_gb(form: str, point: tuple[int, int]) -> float:
    """Peak step memory (GB) of one form at (frames, size), batch :data:`BATCH`."""
    return peak_gb(__file__, form, frames=point[0], size=point[1], batch=BATCH)


def _bf16_conv_ratio() -> float:
    """Time of one grouped 3x3x3 convolution (forward + backward) under bf16 autocast / in float32."""
    conv = torch.nn.Conv3d(256, 256, 3, padding=1, groups=32, bias=False).to(
        memory_format=torch.channels_last_3d
    )
    x = torch.randn(2, 256, 8, 28, 28).contiguous(memory_format=torch.channels_last_3d).requires_grad_()

    def run(bf16: bool):
        def call():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                y = conv(x)
            y.float().sum().backward()

        return call

    runs = interleaved({"fp32": run(False), "bf16": run(True)}, REPEATS)
    return ratio(runs["bf16"], runs["fp32"])[0]


BF16_PROBE = """
import time, torch, torch.nn.functional as F
from affect_lib.models.cfn_sr import cfn_sr, use_channels_last

torch.set_num_threads({threads})
torch.manual_seed(0)
model = use_channels_last(cfn_sr()).train()
video, mfcc = torch.randn(2, 4, 64, 64, 3).permute(0, 4, 1, 2, 3), torch.randn(2, 13, 212)
for bf16 in (False, True, False, True):
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(video, mfcc)
    F.cross_entropy(logits.float(), torch.tensor([1, 2])).backward()
    print("bf16" if bf16 else "fp32", time.perf_counter() - start, flush=True)
"""


COMPILE_PROBE = """
import copy, statistics, time, torch, torch.nn.functional as F
from affect_lib.models.cfn_sr import cfn_sr, use_channels_last
torch.set_num_threads({threads})
torch.manual_seed(0)
base = use_channels_last(cfn_sr()).train()
g = torch.Generator().manual_seed(1)
video = torch.randn(2, {frames}, {size}, {size}, 3, generator=g).permute(0, 4, 1, 2, 3)
mfcc, target = torch.randn(2, 13, 212, generator=g), torch.tensor([1, 2])
eager, compiled = copy.deepcopy(base), torch.compile(copy.deepcopy(base))
with torch.no_grad():
    diff = (eager.eval()(video, mfcc) - compiled.eval()(video, mfcc)).abs().max().item()
eager.train(), compiled.train()
def trainer(model):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(video, mfcc), target).backward()
        opt.step()
    return step
steps = {{"eager": trainer(eager), "compiled": trainer(compiled)}}
start = time.perf_counter()
steps["compiled"]()
first = time.perf_counter() - start
for _ in range(2):  # a recompilation for the next dropout seeds, if any, happens here, not in the rounds
    steps["compiled"]()
    steps["eager"]()
times = {{k: [] for k in steps}}
for r in range({repeats}):
    for k in (("eager", "compiled") if r % 2 == 0 else ("compiled", "eager")):
        start = time.perf_counter()
        steps[k]()
        times[k].append(time.perf_counter() - start)
ratios = sorted(e / c for e, c in zip(times["eager"], times["compiled"]))
print("result", first, statistics.median(times["eager"]), statistics.median(times["compiled"]),
      statistics.median(ratios), ratios[0], ratios[-1], diff)
"""
COMPILE_AT = (4, 32) if SMOKE else (8, 64)
"""(frames, size) of the ``torch.compile`` probe: where the convolutions weigh least, so that a compiler's fusion of
everything else shows most."""


def _compile_probe(timeout: float = 900.0) -> str:
    """``torch.compile`` (inductor, CPU) of the channels-last paper model against the same model eager, one training
    step each in turn, in a child process: a sentence with the compile time, the step times and their ratio."""
    frames, size = COMPILE_AT
    code = COMPILE_PROBE.format(threads=torch.get_num_threads(), frames=frames, size=size, repeats=REPEATS)
    done = _run_child(code, timeout)
    if done is None:
        return f"``torch.compile`` (inductor) did not compile and run within {timeout:.0f} s"
    result = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("result")]
    if done.returncode != 0 or not result:
        return f"``torch.compile`` (inductor) failed (exit code {done.returncode}: {_last_error(done)})"
    first, eager, compiled, r, lo, hi, diff = (float(v) for v in result[0])
    return (
        f"``torch.compile`` (inductor's CPU backend, default mode) of the channels-last model, at {frames} x "
        f"{size}² (batch 2, where the convolutions weigh least): the first step, which compiles, took {first:.0f} "
        f"s; after two more warm-up steps, {compiled:.3f} s per step against {eager:.3f} s eager, a speed-up of "
        f"{r:.2f}x (range {lo:.2f}-{hi:.2f}, {REPEATS} rounds in turn); evaluation outputs differ by at most "
        f"{diff:.1e}. Inductor hands the 3-D convolutions to the same oneDNN kernels, so it can only shorten the "
        "rest of the step"
    )


def _run_child(code: str, timeout: float) -> subprocess.CompletedProcess | None:
    """``python -c code`` in a fresh process, output captured; None if it ran past ``timeout`` seconds."""
    try:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None


def _last_error(done: subprocess.CompletedProcess) -> str:
    """The last line a failed child wrote to stderr (at most 120 characters)."""
    return (done.stderr.strip().splitlines() or ["no message"])[-1][:120]


def _bf16_step_probe(timeout: float = 120.0) -> str:
    """One CFN-SR training step (paper model, 4 x 64², batch 2) in float32 and under CPU bf16 autocast, twice
    each, in a child process: how it went, in words (the times of the second round, or how it failed)."""
    done = _run_child(BF16_PROBE.format(threads=torch.get_num_threads()), timeout)
    if done is None:
        return f"did not finish within {timeout:.0f} s"
    times = dict(line.split() for line in done.stdout.splitlines() if line.startswith(("fp32", "bf16")))
    if done.returncode != 0:
        steps = len(done.stdout.splitlines())
        return f"failed (exit code {done.returncode}, after {steps} of 4 steps: {_last_error(done)})"
    return f"took {float(times['bf16']):.2f} s against {float(times['fp32']):.2f} s in float32"


def _growth() -> tuple[list[str], float]:
    """Every form against frames (at ``GROWTH_AT``'s resolution) and resolution (at its frames); writes the
    figure. Returns the table rows and the widest spread of a timed point."""
    axes_def = {
        "frames": [(t, GROWTH_AT[1]) for t in GROWTH_FRAMES],
        "resolution": [(GROWTH_AT[0], s) for s in GROWTH_SIZES],
    }
    results, widest = {}, 0.0
    for axis, points in axes_def.items():
        results[axis], spread = growth_curves(points, lambda p: _forms(*p), _peak_gb, GROWTH_REPEATS)
        widest = max(widest, spread)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), constrained_layout=True)
    rows = [
        "| axis | form | sizes | s/step | peak step GB | exponent (time / memory) |",
        "|---|---|---|---|---|---|",
    ]
    for col, (axis, curves) in enumerate(results.items()):
        xs = [p[0] if axis == "frames" else p[1] ** 2 for p in axes_def[axis]]
        for k, c in curves.items():
            (e_t, lo, hi), e_m = growth_fit(xs, c.rounds), growth_exponent(xs, c.peaks)
            axes[2 * col].loglog(xs, c.seconds, "o-", label=f"{k}, slope {e_t:.2f}")
            axes[2 * col + 1].loglog(xs, c.peaks, "o-", label=f"{k}, slope {e_m:.2f}")
            sizes = ", ".join(f"{f}x{s}²" for f, s in axes_def[axis])
            rows.append(
                f"| {axis} | {k} | {sizes} | {', '.join(f'{s:.3g}' for s in c.seconds)} | "
                f"{', '.join(f'{p:.3g}' for p in c.peaks)} | {e_t:.2f} [{lo:.2f}, {hi:.2f}] / {e_m:.2f} |"
            )
        unit = (
            f"frames (at {GROWTH_AT[1]}²)"
            if axis == "frames"
            else f"pixels per frame ({GROWTH_AT[0]} frames)"
        )
        axes[2 * col].set(xlabel=unit, ylabel="s per step", title=f"CFN-SR time vs {axis}")
        axes[2 * col + 1].set(xlabel=unit, ylabel="peak step memory (GB)", title=f"CFN-SR memory vs {axis}")
    ticks = []
    for axis, points in axes_def.items():
        xs = [p[0] if axis == "frames" else p[1] ** 2 for p in points]
        labels = [str(p[0]) if axis == "frames" else f"{p[1]}²" for p in points]
        ticks += [(xs, labels)] * 2
    save_growth_figure(fig, axes, FIGURE, xticks=ticks)
    return rows, widest


def _seconds(ops: list[tuple[str, int, float]], word: str) -> float:
    """Self CPU seconds of the profiled operators whose name contains ``word``."""
    return sum(t for key, _, t in ops if word in key)


def _limit_note(ops: dict[str, list[tuple[str, int, float]]], best: str) -> str:
    """Where the two profiled steps spend their operator time, and the bound the convolutions set."""
    total = {k: sum(t for _, _, t in v) for k, v in ops.items()}
    conv = {k: _seconds(v, "convolution") for k, v in ops.items()}
    norm = {k: _seconds(v, "batch_norm") for k, v in ops.items()}
    rel = "released"
    return (
        f"The 3D convolutions (``aten::mkldnn_convolution`` forward, ``aten::convolution_backward``, oneDNN) "
        f"take {conv[rel]:.2f} s ({100 * conv[rel] / total[rel]:.0f}%) of the released step's operator time "
        f"and {conv[best]:.2f} s ({100 * conv[best] / total[best]:.0f}%) of the {best} step's, so the layout "
        f"makes them {conv[rel] / conv[best]:.1f}x faster; the BatchNorms (forward and backward) take "
        f"{norm[rel]:.2f} s and {norm[best]:.2f} s, everything else {total[rel] - conv[rel] - norm[rel]:.2f} s "
        f"and {total[best] - conv[best] - norm[best]:.2f} s. With every operator but the convolutions free, "
        f"the {best} step would be at most {total[rel] / conv[best]:.1f}x faster than the released one."
    )


def main() -> str:
    before = load()
    forms = _forms(FRAMES, SIZE)
    runs = interleaved(forms, REPEATS)
    rel = runs["released"]
    peaks = {name: _peak_gb(name, (FRAMES, SIZE)) for name in FORMS}
    rows = [
        "| form | s/step, median (range) | CPU s/step | speed-up vs released (range) | CPU-time ratio | "
        "peak step GB | memory vs released |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in runs.items():
        wall, lo, hi = ratio(rel, r)
        cpu = ratio(rel, r, cpu=True)[0]
        if name != "released":
            RATIOS[f"CFN-SR {name}"] = wall
        rows.append(
            f"| {name} | {r.median:.2f} ({r.spread()}) | {sorted(r.cpu)[len(r.cpu) // 2]:.2f} | "
            f"{wall:.2f}x ({lo:.2f}-{hi:.2f}) | {cpu:.2f}x | {peaks[name]:.3f} | "
            f"{peaks[name] / peaks['released']:.2f} |"
        )
    best = min((n for n in FORMS if n != "released"), key=lambda n: runs[n].median)
    ops = {k: operator_profile(forms[k]) for k in ("released", best)}
    bf16 = _bf16_conv_ratio()
    growth_rows, growth_spread = _growth()
    rows += [
        "",
        f"CFN-SR (the paper's 26.30M-parameter model) on clips of {FRAMES} frames of {SIZE}² "
        f"({'the paper size' if (FRAMES, SIZE) == (30, 224) else 'reduced from 30 x 224² by `' + SIZE_ENV + '`'})"
        f" and a 13 x 212 MFCC, batch {BATCH}, Adam, "
        f"{torch.get_num_threads()} torch threads; times are medians of {REPEATS} rounds after a warm-up round, "
        "the forms in turn in each round (range of the rounds in brackets), a speed-up is the median of the "
        "per-round ratios. " + MEMORY_NOTE,
        "",
        "Where the step's time goes (torch.profiler, one step at the size above; self CPU time per operator):",
        "",
    ]
    for k, title in (("released", "released"), (best, f"{best} (fastest book form)")):
        rows += [
            f"| {title}: operator | calls | self s | share |",
            "|---|---:|---:|---:|",
            *operator_table(ops[k]),
        ]
        rows.append("")
    rows += [
        _limit_note(ops, best),
        "",
        f"bf16 autocast: one grouped 3x3x3 convolution (256 channels, 8 x 28²) forward + backward takes "
        f"{bf16:.1f}x the float32 time on this CPU (median of {REPEATS}; oneDNN reports "
        f"{'native' if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 'no'} bf16 arithmetic). A whole "
        f"training step of the paper's model under CPU bf16 autocast (4 x 64², batch 2, a child process) "
        f"{_bf16_step_probe()}. The CPU forms stay float32; bf16 is for GPUs (``tools/gpu_perf.py``). The probe, "
        "which reproduces it on its own (`python -c`, from the repository root):",
        "",
        "```python",
        BF16_PROBE.format(threads=torch.get_num_threads()).strip(),
        "```",
        "",
        "Folding each BatchNorm into its convolution, exact in evaluation (Part II's classifier runs so), does not "
        "apply to a training step: there the BatchNorm normalises with the batch's own statistics.",
        "",
        _compile_probe() + ".",
        "",
        f"How cost grows (batch {BATCH}; times are medians of {GROWTH_REPEATS} rounds after a warm-up, the forms "
        f"in turn, the widest range of a point {100 * growth_spread:.0f}% of its median; peak step memory as "
        "above, one fresh process per point; exponents fitted on log-log axes; the resolution exponent is per "
        "pixel, so 1.0 means linear in H x W). " + GROWTH_INTERVAL_NOTE,
        "",
        *growth_rows,
        "",
        f"![CFN-SR step time and peak memory against frames and resolution](../../benchmarks/results/{FIGURE})",
        "",
        f"Host load: before, {before}; after, {load()}.",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
