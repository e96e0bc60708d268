"""GPU performance checks in one command, at most 8 minutes on one GPU: ``python tools/gpu_perf.py``.

Three parts, each in its own share of a fixed time budget (:data:`PLAN`), each guarded so that a failure or an
overrun still leaves the others' results:

1. **CFN-SR training throughput** at the paper size (30 x 224², 13 x 212 MFCC), channels-last 3D, bf16 autocast:
   batch sizes doubled from 8 while the next one fits the part's time left (up to 128, or until out of memory);
   clips per second (median of the timed steps after warm-up) and peak memory per batch, and the float32 step
   at batch 16 for the AMP ratio.
2. **LMR-CBT and MulT, unaligned** (50/500/500, MOSEI dims), training mode: utterances per second at batch 16
   and 256, the book's default path against the released pattern
   (:func:`affect_lib.models.released_pattern.released_attention_pattern`).
3. **GANimation's peak memory explained** (128², batch 25, one critic and one generator update a step): the
   model state (weights, gradients, Adam moments, inputs), the step's peak with cudnn autotuning on and off (the
   difference is cudnn's workspace), and the peak above the state of each phase of the step: the critic update,
   the gradient-penalty update (its double-backward graph) and the generator update.

It prints one Markdown table and writes it, with the raw numbers, to ``gpu_perf.md`` and ``gpu_perf.json`` in
``benchmarks/results`` (or ``$AFFECT_BENCH_RESULTS``, or ``--out DIR``); the performance appendix shows every
``benchmarks/results/*.md``.

The time budget holds by design: fixed step counts; before each measurement the part checks that its estimate
(the last step time, scaled by the batch) fits the part's time left, else the row says it was skipped for time;
and a wall-clock alarm stops whatever still runs at :data:`HARD_LIMIT_S`, after which the table is written with
what was measured. ``--dry-run`` runs every part on the CPU at tiny sizes in seconds (the tests do, so that the
script cannot rot); it must be given ``--out`` so that it never replaces the GPU table.

Needs only torch and numpy (the lent GPU machine has no POT, opacus or librosa).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # gpu_check beside this file, when imported
from gpu_check import timed  # noqa: E402

GB = 2**30
BUDGET_S = 8 * 60
"""The promise: the whole command, start-up included, within 8 minutes on one GPU."""
HARD_LIMIT_S = BUDGET_S - 45
"""The alarm that stops a part still running: 45 s left for start-up, writing the table and exit."""
PLAN = {"cfn_sr": 200.0, "sequence": 150.0, "ganimation": 60.0}
"""Each part's share of the budget, in seconds (their sum stays below :data:`HARD_LIMIT_S`)."""
RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


@dataclass
class Sizes:
    """What each part runs: the GPU sizes (the defaults) or the dry run's tiny ones."""

    device: str = "cuda"
    cfn_sr: dict = field(default_factory=dict)  # CFN-SR config overrides (none: the paper's)
    cfn_batches: tuple[int, ...] = (8, 16, 32, 64, 128)
    cfn_fp32_batch: int = 16
    amp: bool = True
    seq_lengths: tuple[int, int, int] = (50, 500, 500)
    seq_batches: tuple[int, ...] = (16, 256)
    seq_models: dict = field(default_factory=dict)  # model kwargs (none: the paper's)
    gan_image: int = 128
    gan_batch: int = 25
    gan_models: dict = field(default_factory=dict)  # Generator / Critic kwargs beyond the image size
    warmup: int = 2
    steps: int = 3


DRY_RUN = Sizes(
    device="cpu",
    cfn_sr={
        "frames": 4,
        "image_size": 32,
        "mfcc_frames": 40,
        "stem_channels": 8,
        "planes": (32, 32, 64, 64),
        "blocks": (1, 1, 1, 1),
        "cardinality": 8,
        "audio_channels": (8, 8, 16),
        "heads": 2,
        "layers": 1,
        "attn_dim": 8,
    },
    cfn_batches=(2, 4),
    cfn_fp32_batch=2,
    amp=False,  # a whole CPU bf16 autocast step of CFN-SR corrupts the heap in torch 2.14 (performance appendix)
    seq_lengths=(6, 10, 10),
    seq_batches=(2,),
    seq_models={"dim": 8, "heads": 2, "layers": 1},
    gan_image=32,
    gan_batch=2,
    gan_models={"generator": {"ngf": 8, "n_res": 1}, "critic": {"ndf": 8, "n_layers": 2}},
    warmup=1,
    steps=1,
)


class OverBudget(Exception):
    """Raised by the wall-clock alarm in whatever part is running at :data:`HARD_LIMIT_S`."""


class Clock:
    """Time left to one part (its share of :data:`PLAN`, capped by the hard limit of the whole run)."""

    def __init__(self, started: float, share: float, hard_limit: float) -> None:
        self.end = min(time.perf_counter() + share, started + hard_limit)

    def left(self) -> float:
        return self.end - time.perf_counter()

    def fits(self, estimate: float) -> bool:
        return estimate < self.left()


class Memory:
    """Peak memory on CUDA; nothing on the CPU (the dry run), where every reading is None."""

    def __init__(self, device: str) -> None:
        self.cuda = device == "cuda"

    def reset(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak(self) -> float | None:
        if not self.cuda:
            return None
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / GB

    def now(self) -> float | None:
        return torch.cuda.memory_allocated() / GB if self.cuda else None

    def empty(self) -> None:
        if self.cuda:
            torch.cuda.empty_cache()


def cfn_sr_throughput(sizes: Sizes, clock: Clock) -> dict:
    """CFN-SR's training step with bf16 autocast over doubling batches, and float32 at one batch."""
    from affect_lib.models.cfn_sr import cfn_sr

    dev, mem = sizes.device, Memory(sizes.device)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = cfn_sr(channels_last=True, **sizes.cfn_sr).to(dev).train()
    c = model.config
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step_fn(batch: int, amp: bool) -> Callable[[], None]:
        video = torch.randn(batch, 3, c.frames, c.image_size, c.image_size, device=dev)
        video = video.contiguous(memory_format=torch.channels_last_3d)
        mfcc = torch.randn(batch, c.mfcc_bins, c.mfcc_frames, device=dev)
        target = torch.randint(0, c.n_classes, (batch,), device=dev)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(model(video, mfcc), target)
            loss.backward()
            opt.step()

        return step

    res: dict = {
        "size": f"{c.frames} x {c.image_size}², MFCC {c.mfcc_bins} x {c.mfcc_frames}",
        "amp": sizes.amp,
        "batches": {},
    }
    per_clip = None  # seconds per clip of the last batch measured
    for batch in sizes.cfn_batches:
        # the warm-up steps (cudnn autotuning) count double in the estimate
        if per_clip is not None and not clock.fits(per_clip * batch * (2 * sizes.warmup + sizes.steps)):
            res["batches"][batch] = "skipped: time budget"
            break
        try:
            mem.reset()
            seconds = timed(step_fn(batch, sizes.amp), steps=sizes.steps, warmup=sizes.warmup)
            res["batches"][batch] = {"clips_per_s": batch / seconds, "step_s": seconds, "peak_gb": mem.peak()}
            per_clip = seconds / batch
        except torch.OutOfMemoryError:
            res["batches"][batch] = "out of memory"
            break
        finally:
            mem.empty()
    b = sizes.cfn_fp32_batch
    if per_clip is not None and clock.fits(3 * per_clip * b * (sizes.warmup + sizes.steps)):
        seconds = timed(step_fn(b, False), steps=sizes.steps, warmup=sizes.warmup)
        res["fp32"] = {"batch": b, "clips_per_s": b / seconds}
    else:
        res["fp32"] = "skipped: time budget"
    return res


def sequence_throughput(sizes: Sizes, clock: Clock) -> dict:
    """LMR-CBT's and MulT's training steps on unaligned sequences: the book's path and the released pattern."""
    from affect_lib.models.lmr_cbt import lmr_cbt
    from affect_lib.models.mult import mult
    from affect_lib.models.released_pattern import released_attention_pattern

    dev, mem = sizes.device, Memory(sizes.device)
    dims = (300, 74, 35)
    res: dict = {"lengths": "/".join(map(str, sizes.seq_lengths))}
    for name, build in (("lmr_cbt", lmr_cbt), ("mult", mult)):
        torch.manual_seed(0)
        model = build(dims, **sizes.seq_models).to(dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        per_utt = None
        for batch in sizes.seq_batches:
            key = f"{name}_batch{batch}"
            # two variants, each warm-up and timed steps, at this batch
            if per_utt is not None and not clock.fits(per_utt * batch * 2 * (sizes.warmup + sizes.steps)):
                res[key] = "skipped: time budget"
                continue
            x = [torch.randn(batch, t, d, device=dev) for t, d in zip(sizes.seq_lengths, dims, strict=True)]
            y = torch.randn(batch, 1, device=dev)

            def step(x=x, y=y, model=model, opt=opt) -> None:
                opt.zero_grad(set_to_none=True)
                F.l1_loss(model(*x), y).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()

            def released(step=step) -> None:
                with released_attention_pattern():
                    step()

            try:
                mem.reset()
                book = timed(step, steps=sizes.steps, warmup=sizes.warmup)
                book_peak = mem.peak()
                mem.reset()
                rel = timed(released, steps=sizes.steps, warmup=sizes.warmup)
                res[key] = {
                    "book_utt_per_s": batch / book,
                    "released_utt_per_s": batch / rel,
                    "book_peak_gb": book_peak,
                    "released_peak_gb": mem.peak(),
                }
                per_utt = max(book, rel) / batch
            except torch.OutOfMemoryError:
                res[key] = "out of memory"
            finally:
                mem.empty()
    return res


@contextmanager
def _phase_peaks(trainer, mem: Memory, state: float | None, out: dict):
    """Record the peak memory above ``state`` of each phase of one ``trainer.step``: each critic update (the
    Wasserstein and AU loss, then the gradient penalty) and the generator update (wrapping the optimisers'
    ``step``, where each phase's graph has been used and is still alive)."""
    names = iter(("critic_update", "gradient_penalty_update"))
    d_step, g_step = trainer.opt_d.step, trainer.opt_g.step

    def record(name: str, fn: Callable, *args, **kwargs):
        result = fn(*args, **kwargs)
        peak = mem.peak()
        out[name] = None if peak is None or state is None else peak - state
        mem.reset()
        return result

    trainer.opt_d.step = lambda *a, **k: record(next(names, "critic_extra_update"), d_step, *a, **k)
    trainer.opt_g.step = lambda *a, **k: record("generator_update", g_step, *a, **k)
    try:
        yield
    finally:
        trainer.opt_d.step, trainer.opt_g.step = d_step, g_step


def ganimation_memory(sizes: Sizes, clock: Clock) -> dict:
    """GANimation's state, step peak (cudnn autotuning on and off) and the peak of each phase of the step."""
    from affect_lib.faces import ganimation as gan

    dev, mem = sizes.device, Memory(sizes.device)
    g_kw, d_kw = sizes.gan_models.get("generator", {}), sizes.gan_models.get("critic", {})
    res: dict = {"size": f"{sizes.gan_image}², batch {sizes.gan_batch}"}
    for bench in (True, False):
        if not clock.fits(5.0):
            res[f"cudnn_benchmark_{'on' if bench else 'off'}"] = "skipped: time budget"
            continue
        torch.backends.cudnn.benchmark = bench
        torch.manual_seed(0)
        g = gan.Generator(**g_kw).to(dev).train()
        d = gan.Critic(image_size=sizes.gan_image, **d_kw).to(dev).train()
        trainer = gan.Trainer(g, d, n_critic=1)  # every step updates the critic and the generator
        real = torch.rand(sizes.gan_batch, 3, sizes.gan_image, sizes.gan_image, device=dev) * 2 - 1
        a_real, a_tgt = (
            torch.rand(sizes.gan_batch, 17, device=dev),
            torch.rand(sizes.gan_batch, 17, device=dev),
        )
        trainer.step(real, a_real, a_tgt)  # allocates the Adam state (and autotunes)
        state = mem.now()
        mem.reset()
        row: dict = {"state_gb": state}
        with _phase_peaks(trainer, mem, state, row):
            tic = time.perf_counter()
            trainer.step(real, a_real, a_tgt)
            row["step_s"] = time.perf_counter() - tic
        row["peak_gb"] = (
            None
            if state is None
            else state + max(v for k, v in row.items() if k.endswith("_update") and v is not None)
        )
        row["reserved_gb"] = torch.cuda.max_memory_reserved() / GB if mem.cuda else None
        res[f"cudnn_benchmark_{'on' if bench else 'off'}"] = row
        del g, d, trainer
        mem.empty()
    res["parameters"] = sum(p.numel() for p in gan.Generator(**g_kw).parameters()) + sum(
        p.numel() for p in gan.Critic(image_size=sizes.gan_image, **d_kw).parameters()
    )
    return res


PARTS: dict[str, Callable[[Sizes, Clock], dict]] = {
    "cfn_sr": cfn_sr_throughput,
    "sequence": sequence_throughput,
    "ganimation": ganimation_memory,
}


def _alarm(_signum, _frame) -> None:
    raise OverBudget(f"stopped by the wall-clock guard at {HARD_LIMIT_S:.0f} s")


def run(sizes: Sizes, plan: dict[str, float] = PLAN, hard_limit: float = HARD_LIMIT_S) -> dict:
    """Every part in turn within its share of ``plan`` and the whole within ``hard_limit`` seconds; a part that
    fails or is stopped records why and the next one runs (if time is left)."""
    started = time.perf_counter()
    result: dict = {
        "device": torch.cuda.get_device_name(0) if sizes.device == "cuda" else "cpu (dry run)",
        "torch": torch.__version__,
        "plan_s": dict(plan),
        "hard_limit_s": hard_limit,
    }
    use_alarm = hasattr(signal, "SIGALRM")
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, hard_limit)
    try:
        for name, fn in PARTS.items():
            tic = time.perf_counter()
            if time.perf_counter() - started >= hard_limit:
                result[name] = "skipped: time budget"
                continue
            try:
                result[name] = fn(sizes, Clock(started, plan[name], hard_limit))
            except OverBudget as err:
                result[name] = f"failed: {err}"
            except Exception as err:  # keep the other parts' results
                result[name] = f"failed: {type(err).__name__}: {err}"
            result[f"{name}_seconds"] = time.perf_counter() - tic
            print(name, json.dumps(result[name], default=str)[:2000], flush=True)
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    result["total_seconds"] = time.perf_counter() - started
    return result


def _num(value, fmt: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{fmt}}{unit}"


def render(result: dict) -> str:
    """One Markdown table of a :func:`run` result, with the lines that read it."""
    lines = [
        f"GPU throughput and memory on {result['device']} (torch {result['torch']}), by `tools/gpu_perf.py` in "
        f"{result['total_seconds']:.0f} s (budget {BUDGET_S} s). Throughput: median of the timed training steps "
        "after warm-up; memory: peak allocated by torch.",
        "",
        "| model | setting | throughput | peak memory |",
        "|---|---|---|---|",
    ]

    def failed(label: str, value) -> bool:
        if isinstance(value, dict):
            return False
        lines.append(f"| {label} | | {value} | |")
        return True

    cfn = result.get("cfn_sr", "not run")
    if not failed("CFN-SR", cfn):
        for batch, row in cfn["batches"].items():
            amp = "bf16 autocast" if cfn["amp"] else "float32 (the dry run: no autocast)"
            setting = f"{cfn['size']}, {amp}, channels-last, batch {batch}"
            if isinstance(row, dict):
                lines.append(
                    f"| CFN-SR | {setting} | {row['clips_per_s']:.1f} clips/s | {_num(row['peak_gb'], '.2f', ' GiB')} |"
                )
            else:
                lines.append(f"| CFN-SR | {setting} | {row} | |")
        fp32 = cfn["fp32"]
        if isinstance(fp32, dict):
            lines.append(
                f"| CFN-SR | {cfn['size']}, float32, batch {fp32['batch']} | {fp32['clips_per_s']:.1f} clips/s | |"
            )
    seq = result.get("sequence", "not run")
    if not failed("LMR-CBT / MulT", seq):
        for key, row in seq.items():
            if key == "lengths":
                continue
            name, batch = key.rsplit("_batch", 1)
            model = {"lmr_cbt": "LMR-CBT", "mult": "MulT"}[name]
            setting = f"unaligned {seq['lengths']}, batch {batch}"
            if isinstance(row, dict):
                lines.append(
                    f"| {model} | {setting}, book | {row['book_utt_per_s']:.1f} utterances/s "
                    f"({row['book_utt_per_s'] / row['released_utt_per_s']:.2f}x the released pattern) | "
                    f"{_num(row['book_peak_gb'], '.2f', ' GiB')} |"
                )
                lines.append(
                    f"| {model} | {setting}, released pattern | {row['released_utt_per_s']:.1f} utterances/s | "
                    f"{_num(row['released_peak_gb'], '.2f', ' GiB')} |"
                )
            else:
                lines.append(f"| {model} | {setting} | {row} | |")
    gan = result.get("ganimation", "not run")
    notes = []
    if not failed("GANimation", gan):
        for mode in ("on", "off"):
            row = gan[f"cudnn_benchmark_{mode}"]
            setting = f"{gan['size']}, one critic + one generator update, cudnn autotuning {mode}"
            if not isinstance(row, dict):
                lines.append(f"| GANimation | {setting} | {row} | |")
                continue
            phases = ", ".join(
                f"{k.removesuffix('_update').replace('_', ' ')} +{_num(v, '.2f')}"
                for k, v in row.items()
                if k.endswith("_update")
            )
            lines.append(
                f"| GANimation | {setting} | {1e3 * row['step_s']:.0f} ms a step | "
                f"{_num(row['peak_gb'], '.2f', ' GiB')} = state {_num(row['state_gb'], '.2f')} + largest phase "
                f"(phases above the state, GiB: {phases}) |"
            )
        on, off = gan.get("cudnn_benchmark_on"), gan.get("cudnn_benchmark_off")
        if isinstance(on, dict) and isinstance(off, dict) and on["peak_gb"] is not None:
            notes.append(
                f"GANimation ({gan['parameters'] / 1e6:.2f}M parameters): the state is the weights, gradients, "
                "Adam moments and inputs; each phase's figure is its peak above that state (its activations, "
                "and for the gradient penalty the double-backward graph); cudnn autotuning adds "
                f"{on['peak_gb'] - off['peak_gb']:+.2f} GiB to the peak (its convolution workspaces)."
            )
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_perf.md and gpu_perf.json")
    parser.add_argument(
        "--dry-run", action="store_true", help="tiny sizes on the CPU, in seconds (needs --out)"
    )
    args = parser.parse_args(argv)
    if args.dry_run and args.out is None:
        print("error: --dry-run needs --out DIR (it must not replace the GPU table)", file=sys.stderr)
        return 2
    if not args.dry_run and not torch.cuda.is_available():
        print("error: no CUDA device; use --dry-run --out DIR for the CPU check", file=sys.stderr)
        return 2
    out = args.out or Path(os.environ.get("AFFECT_BENCH_RESULTS") or RESULTS)
    if out.exists() and not out.is_dir():
        print(f"error: --out {out} is a file, not a folder", file=sys.stderr)
        return 2
    result = run(DRY_RUN if args.dry_run else Sizes())
    table = render(result)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_perf.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (out / "gpu_perf.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
