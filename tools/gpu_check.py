"""Paper-profile checks on a CUDA GPU: ``python tools/gpu_check.py OUT.json``.

``python tools/gpu_check.py --render IN.json OUT.md`` turns a result into the performance appendix's table.

Needs only torch and numpy (the lent GPU machine has no POT, opacus or librosa), so it imports the model modules
directly. For each paper-size model: parameters, the step time (median of timed steps after warm-up), peak CUDA
memory, and the CPU-vs-CUDA agreement of an eval-mode forward pass with the same weights.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def timed(fn, steps: int = 5, warmup: int = 1) -> float:
    """Median seconds of ``steps`` calls of ``fn`` after ``warmup`` calls, each waited for on CUDA (on a machine
    without CUDA, as the dry run of ``gpu_perf.py``, the calls are timed as they return)."""

    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(steps):
        tic = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def cpu_cuda_gap(model: torch.nn.Module, *inputs: torch.Tensor) -> float:
    model = model.eval()
    with torch.no_grad():
        ref = model.cpu()(*inputs)
        out = model.cuda()(*(x.cuda() for x in inputs)).cpu()
    return float((ref - out).abs().max() / ref.abs().max().clamp_min(1e-12))


def cfn_sr_checks() -> dict:
    from affect_lib.models import cfn_sr as av

    res = {}
    for name in ("cfn_sr", "av_late_fusion"):
        torch.manual_seed(0)
        model = getattr(av, name)()  # the builders default to the paper sizes
        c = model.config
        res[f"{name}_params"] = av.count_parameters(model)
        video, mfcc = (
            torch.randn(2, 3, c.frames, c.image_size, c.image_size),
            torch.randn(2, c.mfcc_bins, c.mfcc_frames),
        )
        res[f"{name}_cpu_cuda_rel_gap"] = cpu_cuda_gap(model, video, mfcc)
        model = model.cuda().train()
        opt = torch.optim.Adam(model.parameters(), 1e-4)
        v, m, y = video.cuda(), mfcc.cuda(), torch.randint(0, c.n_classes, (2,), device="cuda")

        def step(model=model, opt=opt, v=v, m=m, y=y):
            loss = F.cross_entropy(model(v, m), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        torch.cuda.reset_peak_memory_stats()
        res[f"{name}_train_step_s_batch2"] = timed(step)
        res[f"{name}_peak_cuda_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return res


class FirstOutput(torch.nn.Module):
    """The generator's output image alone (it also returns the attention and colour masks)."""

    def __init__(self, generator: torch.nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor, aus: torch.Tensor) -> torch.Tensor:
        return self.generator(image, aus)[0]


def ganimation_checks() -> dict:
    from affect_lib.faces import ganimation as gan

    torch.manual_seed(0)
    g, d = gan.Generator(), gan.Critic(image_size=128)
    res = {
        "ganimation_generator_params": sum(p.numel() for p in g.parameters()),
        "ganimation_critic_params": sum(p.numel() for p in d.parameters()),
    }
    image, aus = torch.rand(2, 3, 128, 128) * 2 - 1, torch.rand(2, 17)
    res["ganimation_generator_cpu_cuda_rel_gap"] = cpu_cuda_gap(FirstOutput(g), image, aus)
    trainer = gan.Trainer(g.cuda().train(), d.cuda().train(), n_critic=1)  # every step updates G and D
    real, a_real, a_tgt = (
        torch.rand(25, 3, 128, 128, device="cuda") * 2 - 1,
        torch.rand(25, 17, device="cuda"),
        torch.rand(25, 17, device="cuda"),
    )
    losses = []
    torch.cuda.reset_peak_memory_stats()
    res["ganimation_train_step_s_batch25"] = timed(lambda: losses.append(trainer.step(real, a_real, a_tgt)))
    res["ganimation_peak_cuda_gb"] = torch.cuda.max_memory_allocated() / 2**30
    res["ganimation_losses_finite"] = all(
        all(map(lambda v: v == v and abs(v) < 1e9, d_.values())) for d_ in losses
    )
    return res


def render(result: dict) -> str:
    """The result as a Markdown table for ``benchmarks/results/``."""
    rows = [
        ("CFN-SR, paper (30 x 224^2), batch 2", "cfn_sr"),
        ("audio-visual late fusion, paper, batch 2", "av_late_fusion"),
    ]
    lines = [
        f"Paper-profile checks on a lent GPU ({result['device']}, torch {result['torch']}), by `tools/gpu_check.py`.",
        "",
        "| model | parameters | training step | peak CUDA memory | CPU vs CUDA (rel. max diff) |",
        "|---|---|---|---|---|",
    ]
    for label, key in rows:
        lines.append(
            f"| {label} | {result[key + '_params'] / 1e6:.2f}M | {1e3 * result[key + '_train_step_s_batch2']:.0f} ms "
            f"| {result[key + '_peak_cuda_gb']:.2f} GiB | {result[key + '_cpu_cuda_rel_gap']:.1e} |"
        )
    lines.append(
        f"| GANimation G + critic (128^2), batch 25, one G and one D update | "
        f"{result['ganimation_generator_params'] / 1e6:.2f}M + {result['ganimation_critic_params'] / 1e6:.2f}M "
        f"| {1e3 * result['ganimation_train_step_s_batch25']:.0f} ms | {result['ganimation_peak_cuda_gb']:.1f} GiB "
        f"| {result['ganimation_generator_cpu_cuda_rel_gap']:.1e} (generator) |"
    )
    lines += [
        "",
        "The CPU-vs-CUDA differences are of the size TF32 convolutions give (PyTorch enables TF32 for cuDNN by default); "
        "that cause was not isolated.",
        f"GANimation's losses stayed finite: {result['ganimation_losses_finite']}.",
    ]
    return "\n".join(lines) + "\n"


def main(out: str) -> int:
    assert torch.cuda.is_available(), "no CUDA device"
    torch.backends.cudnn.benchmark = True
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for check in (cfn_sr_checks, ganimation_checks):
        try:
            result |= check()
        except Exception as err:  # report and go on: one failing check should not hide the others
            result[f"{check.__name__}_error"] = f"{type(err).__name__}: {err}"
    print(json.dumps(result, indent=1))
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--render":
        with open(sys.argv[2]) as fh:
            text = render(json.load(fh))
        with open(sys.argv[3], "w") as fh:
            fh.write(text)
        sys.exit(0)
    sys.exit(main(sys.argv[1]))
