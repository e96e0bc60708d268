"""One training step (forward, backward, Adam) of CFN-SR and the late-fusion baseline, paper and quick sizes.

Every configuration runs in a fresh child process, so that its peak resident memory (``ru_maxrss``) is its own.
The paper size is 30 frames of 224² and a 13 x 212 MFCC at batch 2; the anchor is the released implementation's
step on a 2-core machine of this kind: about 41 s and 3.5 GB peak memory.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

ANCHOR_SECONDS = 41.0
ANCHOR_PEAK_GB = 3.5

CASES = [
    # (label, builder, profile, batch, channels_last, steps)
    ("CFN-SR, paper (contiguous)", "cfn_sr", "paper", 2, False, 1),
    ("CFN-SR, paper (channels-last 3D)", "cfn_sr", "paper", 2, True, 1),
    ("late fusion, paper (channels-last 3D)", "av_late_fusion", "paper", 2, True, 1),
    ("CFN-SR, quick", "cfn_sr", "quick", 16, False, 5),
    ("late fusion, quick", "av_late_fusion", "quick", 16, False, 5),
]


def _step(builder: str, profile: str, batch: int, channels_last: bool, steps: int) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F

    from affect_lib.models import cfn_sr as models

    torch.manual_seed(0)
    model = getattr(models, builder)(profile, channels_last=channels_last)
    c = model.config
    video = torch.randn(batch, 3, c.frames, c.image_size, c.image_size)
    mfcc = torch.randn(batch, c.mfcc_bins, c.mfcc_frames)
    target = torch.randint(0, c.n_classes, (batch,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(steps):
        tic = time.perf_counter()
        loss = F.cross_entropy(model(video, mfcc), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - tic)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB -> GB
    return min(times[1:] or times), peak_gb


def measure(builder: str, profile: str, batch: int, channels_last: bool, steps: int) -> tuple[float, float]:
    """(seconds of one training step, peak RSS in GB) measured in a fresh Python process."""
    args = json.dumps([builder, profile, batch, channels_last, steps])
    out = subprocess.run(
        [sys.executable, __file__, "--child", args], check=True, capture_output=True, text=True
    ).stdout
    seconds, peak = json.loads(out.strip().splitlines()[-1])
    return seconds, peak


def main() -> str:
    rows = [
        "| configuration | batch | step (s) | peak RSS (GB) | speed-up vs released anchor (41 s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, builder, profile, batch, channels_last, steps in CASES:
        seconds, peak = measure(builder, profile, batch, channels_last, steps)
        ratio = f"{ANCHOR_SECONDS / seconds:.2f}x" if profile == "paper" and builder == "cfn_sr" else "-"
        rows.append(f"| {label} | {batch} | {seconds:.3g} | {peak:.2f} | {ratio} |")
    rows += [
        "",
        f"Anchor: the released CFN-SR step at 30 x 224², batch 2, took about {ANCHOR_SECONDS:.0f} s with about "
        f"{ANCHOR_PEAK_GB} GB peak memory on a 2-core machine of this kind (reference, not re-measured here). "
        "Paper-size steps are timed once (the first step, allocator warm-up included); quick steps are the best of "
        "4 after one warm-up. Peak RSS includes the Python process, torch and the model.",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_step(*json.loads(sys.argv[2]))))
    else:
        print(main())
