"""Part IV benchmark: one CFN-SR training step (forward, backward, Adam) at the paper size against the released form.

Forms of the same model (same initial weights, same inputs), timed in turn in one process:

- **released**: the released computation: contiguous (NCDHW) float32 3D convolutions, every activation
  stored, and the clip in the loader's (N, T, C, H, W) layout permuted to (N, C, T, H, W), which the first
  convolution copies;
- **channels-last**: :func:`affect_lib.models.cfn_sr.use_channels_last`, the clip handed over as a view of
  decoded (N, T, H, W, C) frames, so it is never copied;
- **channels-last + checkpointing**: also :func:`affect_lib.models.cfn_sr.use_checkpointing` (the stem and
  every bottleneck recomputed in the backward pass instead of stored).

The outputs are equal (checkpointing exactly, channels-last to float rounding; tested). bf16 autocast is
measured on one grouped 3D convolution: on a CPU without bf16 arithmetic it is slower, and it is left to GPUs.
Then: how step time and peak memory grow with frames and resolution.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import matplotlib
import torch
import torch.nn.functional as F
from measure import growth_exponent, interleaved, load, ratio

from affect_lib.models.cfn_sr import cfn_sr, use_channels_last, use_checkpointing

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SIZE_ENV = "AFFECT_BENCH_CFN_SR"
"""``FRAMESxSIZE`` (e.g. ``16x112``) replaces the paper's 30 x 224² clip of the main table (an overloaded host)."""
BATCH, REPEATS = 2, 5
FRAMES, SIZE = (int(v) for v in os.environ.get(SIZE_ENV, "30x224").split("x"))
GROWTH_FRAMES, GROWTH_SIZES, GROWTH_REPEATS = (4, 8, 16), (32, 64, 112), 2
FIGURE = Path(__file__).resolve().parent / "results" / "audiovisual_growth.png"
MEMORY_NOTE = (
    " Peak memory is the growth of the resident set during a step, which cannot see what the heap serves "
    "from memory it kept from the warm-up step: at this size these values (and the memory exponents) unde"
    "rstate the activations and do not measure the checkpointing saving; a fresh process per form (ru_max"
    "rss) is needed."
)
RATIOS: dict[str, float] = {}
"""Speed-ups measured by :func:`main` (read by ``run.py`` for the summary chart)."""


def _forms(frames: int, size: int, batch: int = BATCH) -> dict:
    """Training-step closures of the three forms (see the module docstring) on one set of inputs."""
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
        "released": (copy.deepcopy(base), clip_tchw.permute(0, 2, 1, 3, 4)),
        "channels-last": (use_channels_last(copy.deepcopy(base)), frames_hwc.permute(0, 4, 1, 2, 3)),
        "channels-last + checkpointing": (
            use_checkpointing(use_channels_last(copy.deepcopy(base))),
            frames_hwc.permute(0, 4, 1, 2, 3),
        ),
    }

    def trainer(model, video):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(video, mfcc), target).backward()
            opt.step()

        return step

    return {name: trainer(*mv) for name, mv in models.items()}


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

    runs = interleaved({"fp32": run(False), "bf16": run(True)}, 3, memory=False)
    return ratio(runs["bf16"], runs["fp32"])[0]


def _growth() -> list[str]:
    """Released vs the fastest form against frames (at 112²) and resolution (at 8 frames); writes FIGURE."""
    fast = "channels-last + checkpointing"
    axes_def = {"frames": [(t, 64) for t in GROWTH_FRAMES], "resolution": [(8, s) for s in GROWTH_SIZES]}
    results = {}
    for axis, points in axes_def.items():
        curves = {"released": ([], []), fast: ([], [])}
        for frames, size in points:
            forms = _forms(frames, size)
            runs = interleaved({k: forms[k] for k in curves}, GROWTH_REPEATS)
            for k, (secs, peaks) in curves.items():
                secs.append(runs[k].median)
                peaks.append(runs[k].peak_gb)
        results[axis] = curves
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), constrained_layout=True)
    rows = [
        "| axis | form | " + "sizes | s/step | peak GB | exponent (time / memory) |",
        "|---|---|---|---|---|---|",
    ]
    for col, (axis, curves) in enumerate(results.items()):
        xs = [p[0] if axis == "frames" else p[1] ** 2 for p in axes_def[axis]]
        for k, (secs, peaks) in curves.items():
            e_t, e_m = growth_exponent(xs, secs), growth_exponent(xs, [max(p, 1e-3) for p in peaks])
            axes[2 * col].loglog(xs, secs, "o-", label=f"{k}, slope {e_t:.2f}")
            axes[2 * col + 1].loglog(xs, [max(p, 1e-3) for p in peaks], "o-", label=f"{k}, slope {e_m:.2f}")
            sizes = ", ".join(f"{f}x{s}²" for f, s in axes_def[axis])
            rows.append(
                f"| {axis} | {k} | {sizes} | {', '.join(f'{s:.3g}' for s in secs)} | "
                f"{', '.join(f'{p:.2f}' for p in peaks)} | {e_t:.2f} / {e_m:.2f} |"
            )
        unit = "frames (at 64²)" if axis == "frames" else "pixels per frame (8 frames)"
        axes[2 * col].set(xlabel=unit, ylabel="s per step", title=f"CFN-SR time vs {axis}")
        axes[2 * col + 1].set(xlabel=unit, ylabel="peak RSS growth (GB)", title=f"CFN-SR memory vs {axis}")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)
    return rows


def main() -> str:
    before = load()
    runs = interleaved(_forms(FRAMES, SIZE), REPEATS)
    rel = runs["released"]
    rows = [
        "| form | s/step, median (range) | CPU s/step | speed-up vs released (range) | CPU-time ratio | "
        "peak RSS growth (GB) | memory vs released |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in runs.items():
        wall, lo, hi = ratio(rel, r)
        cpu = ratio(rel, r, cpu=True)[0]
        if name != "released":
            RATIOS[f"CFN-SR {name}"] = wall
        rows.append(
            f"| {name} | {r.median:.2f} ({r.spread()}) | {sorted(r.cpu)[len(r.cpu) // 2]:.2f} | "
            f"{wall:.2f}x ({lo:.2f}-{hi:.2f}) | {cpu:.2f}x | {r.peak_gb:.2f} | {r.peak_gb / rel.peak_gb:.2f} |"
        )
    bf16 = _bf16_conv_ratio()
    rows += [
        "",
        f"CFN-SR (the paper's 26.30M-parameter model) on clips of {FRAMES} frames of {SIZE}² "
        f"({'the paper size' if (FRAMES, SIZE) == (30, 224) else 'reduced from 30 x 224² by `' + SIZE_ENV + '`'})"
        f" and a 13 x 212 MFCC, batch {BATCH}, Adam, "
        f"{torch.get_num_threads()} torch threads; medians of {REPEATS} rounds after a warm-up, the forms in turn "
        "in each round, a speed-up is the median of the per-round ratios. Peak memory: median growth of the "
        "resident set during a step (the weights, gradients and Adam state exist before it)." + MEMORY_NOTE,
        "",
        f"bf16 autocast: one grouped 3x3x3 convolution (256 channels, 8 x 28²) forward + backward takes "
        f"{bf16:.1f}x the float32 time on this CPU (no bf16 arithmetic units), so the CPU forms stay float32; "
        "bf16 is for GPUs (``tools/gpu_perf.py``).",
        "",
        f"How cost grows (batch {BATCH}, median of {GROWTH_REPEATS}; exponents fitted on log-log axes; the "
        "resolution exponent is per pixel, so 1.0 means linear in H x W):",
        "",
        *_growth(),
        "",
        f"![CFN-SR step time and peak memory against frames and resolution](../../benchmarks/results/{FIGURE.name})",
        "",
        f"Host load: before, {before}; after, {load()}.",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(main())
