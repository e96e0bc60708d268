"""GPU performance checks (issue 15), one short run: ``python tools/gpu_perf.py OUT.json`` (about 3-5 minutes).

Needs only torch and numpy. Three parts, each guarded so that one failure still leaves the others' results:

1. **CFN-SR training throughput** at the paper size (30 x 224², 13 x 212 MFCC), channels-last 3D, bf16 autocast:
   batch sizes are doubled until the GPU runs out of memory (or 128); clips per second (median of timed steps
   after warm-up) and peak memory per batch, and the fp32 step at batch 16 for the AMP ratio.
2. **LMR-CBT unaligned** (50/500/500, MOSEI dims): utterances per second at batch 16 and 256, book form vs the
   released pattern (:func:`affect_lib.models.released_pattern.released_attention_pattern`), training mode.
3. **GANimation peak memory** (128², batch 25, one critic + generator step): the model state (weights, gradients,
   Adam), the peak with cudnn autotuning on (``benchmark=True``) and off, and the peak of each phase, so that
   cudnn workspaces and the gradient penalty's double-backward graph are told apart from the activations.
"""

from __future__ import annotations

import json
import sys
import time

import torch
import torch.nn.functional as F
from gpu_check import timed  # tools/ is on sys.path when run as a script

GB = 2**30


def cfn_sr_throughput(max_batch: int = 128) -> dict:
    from affect_lib.models.cfn_sr import cfn_sr

    torch.backends.cudnn.benchmark = True
    res: dict = {"batches": {}}
    model = cfn_sr(channels_last=True).cuda().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step_fn(batch: int, amp: bool):
        video = torch.randn(batch, 3, 30, 224, 224, device="cuda").contiguous(
            memory_format=torch.channels_last_3d
        )
        mfcc = torch.randn(batch, 13, 212, device="cuda")
        target = torch.randint(0, 8, (batch,), device="cuda")

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(model(video, mfcc), target)
            loss.backward()
            opt.step()

        return step

    batch = 8
    while batch <= max_batch:
        try:
            torch.cuda.reset_peak_memory_stats()
            seconds = timed(step_fn(batch, True), steps=3, warmup=2)
            res["batches"][batch] = {
                "clips_per_s": batch / seconds,
                "step_s": seconds,
                "peak_gb": torch.cuda.max_memory_allocated() / GB,
            }
        except torch.OutOfMemoryError:
            res["batches"][batch] = "out of memory"
            break
        finally:
            torch.cuda.empty_cache()
        batch *= 2
    fp32 = timed(step_fn(16, False), steps=3, warmup=2)
    res["fp32_batch16_clips_per_s"] = 16 / fp32
    best = max((v["clips_per_s"] for v in res["batches"].values() if isinstance(v, dict)), default=None)
    res["best_amp_clips_per_s"] = best
    return res


def lmr_cbt_unaligned() -> dict:
    from affect_lib.models.lmr_cbt import lmr_cbt
    from affect_lib.models.released_pattern import released_attention_pattern

    res = {}
    torch.manual_seed(0)
    model = lmr_cbt().cuda().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for batch in (16, 256):
        x = [
            torch.randn(batch, t, d, device="cuda")
            for t, d in zip((50, 500, 500), (300, 74, 35), strict=True)
        ]
        y = torch.randn(batch, 1, device="cuda")

        def step(x=x, y=y):
            opt.zero_grad(set_to_none=True)
            F.l1_loss(model(*x), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        def released(step=step):
            with released_attention_pattern():
                step()

        try:
            book, rel = timed(step, warmup=2), timed(released, warmup=2)
            res[f"batch{batch}"] = {"book_utt_per_s": batch / book, "released_utt_per_s": batch / rel}
        except torch.OutOfMemoryError:
            res[f"batch{batch}"] = "out of memory"
        torch.cuda.empty_cache()
    return res


def ganimation_memory(batch: int = 25) -> dict:
    from affect_lib.faces import ganimation as gan

    res = {}
    for bench in (True, False):
        torch.backends.cudnn.benchmark = bench
        torch.manual_seed(0)
        g, d = gan.Generator().cuda().train(), gan.Critic(image_size=128).cuda().train()
        trainer = gan.Trainer(g, d, n_critic=1)
        real = torch.rand(batch, 3, 128, 128, device="cuda") * 2 - 1
        a_real, a_tgt = torch.rand(batch, 17, device="cuda"), torch.rand(batch, 17, device="cuda")
        trainer.step(real, a_real, a_tgt)  # allocates the Adam state
        torch.cuda.synchronize()
        state = torch.cuda.memory_allocated() / GB
        torch.cuda.reset_peak_memory_stats()
        trainer.step(real, a_real, a_tgt)
        torch.cuda.synchronize()
        key = "cudnn_benchmark_on" if bench else "cudnn_benchmark_off"
        res[key] = {
            "state_gb": state,  # weights + gradients + Adam moments + inputs
            "peak_gb": torch.cuda.max_memory_allocated() / GB,
            "reserved_gb": torch.cuda.max_memory_reserved() / GB,
        }
        # activations alone: one generator forward + backward of a plain L1 loss (no penalty, no critic)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        out = g(real, a_tgt)
        out = out[0] if isinstance(out, tuple) else out
        out.abs().mean().backward()
        torch.cuda.synchronize()
        res[key]["generator_fwd_bwd_gb"] = (torch.cuda.max_memory_allocated() - base) / GB
        del g, d, trainer, out
        torch.cuda.empty_cache()
    res["params"] = sum(p.numel() for p in gan.Generator().parameters()) + sum(
        p.numel() for p in gan.Critic(image_size=128).parameters()
    )
    return res


def main(out: str) -> int:
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for name, fn in (
        ("cfn_sr", cfn_sr_throughput),
        ("lmr_cbt", lmr_cbt_unaligned),
        ("ganimation", ganimation_memory),
    ):
        tic = time.perf_counter()
        try:
            result[name] = fn()
        except Exception as err:  # keep the other parts' results
            result[name] = f"failed: {type(err).__name__}: {err}"
        result[f"{name}_seconds"] = time.perf_counter() - tic
        print(name, json.dumps(result[name], default=str)[:2000], flush=True)
        with open(out, "w") as f:
            json.dump(result, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/gpu_perf.py OUT.json")
    sys.exit(main(sys.argv[1]))
