"""How chapter 40's quick sizes were chosen: learning curves of CFN-SR, concat and late fusion on the stand-in.

``python benchmarks/cfn_sr_sizing.py [--out benchmarks/results/cfn_sr_sizing.json]`` (one thread; about 15
minutes on a core shared with another job) writes the stand-in (24 actors, one repetition, with and without the
congruence cue) into ``/tmp`` and trains each model on the first 3, 6 or 12 actors (validation actors 13-18, test
actors 19-24, 4 frames of 40², 30 epochs, the test accuracy recorded after every epoch and never used for
selection), at 12 actors also with a second seed and on the control corpus without the cue. The result file keeps
every run's per-epoch accuracies and test predictions: accuracy against training actors and epochs, the seed
spread, and what the control changes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

MODELS = ("cfn_sr", "av_concat", "av_late_fusion")
SETTINGS = {"data.n_frames": 4, "data.size": 40, "train.epochs": 30}
STANDIN = {"actors": tuple(range(1, 25)), "repetitions": (1,), "duration": 2.0, "fps": 8, "height": 80}
VALID, TEST = tuple(range(13, 19)), tuple(range(19, 25))


def plan() -> list[tuple[str, int, bool, int]]:
    """(model, training actors, cue, seed) of every run, in the order they ran."""
    runs = [(m, n, True, 0) for n in (12, 3, 6) for m in MODELS]
    runs += [(m, 12, False, 0) for m in MODELS]
    runs += [(m, 12, True, 1) for m in MODELS]
    return runs


def main(argv: list[str] | None = None) -> int:
    from affect_lib.data.ravdess import ActorSplit
    from affect_lib.data.synthetic_ravdess import write_synthetic_ravdess
    from affect_lib.experiments import train_av

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "cfn_sr_sizing.json"))
    p.add_argument("--work", default="/tmp/cfn_sr_sizing")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    roots = {}
    for cue in (True, False):
        roots[cue] = Path(args.work) / ("cue" if cue else "nocue")
        write_synthetic_ravdess(roots[cue], **STANDIN, seed=0, cue=cue)
    records = []
    for model, n, cue, seed in plan():
        start = time.perf_counter()
        split = ActorSplit(tuple(range(1, n + 1)), VALID, TEST)
        run = train_av(model=model, root=roots[cue], split=split, seed=seed, overrides=SETTINGS, watch=True)
        records.append(
            {
                "model": model,
                "train_actors": n,
                "cue": cue,
                "seed": seed,
                "accuracy": run.accuracy,
                "best_epoch": run.best_epoch,
                "test_by_epoch": list(run.watch),
                "valid_by_epoch": list(run.valid),
                "pred": list(run.pred),
                "true": list(run.true),
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        print(model, n, cue, seed, f"{run.accuracy:.3f}", flush=True)
    out = {
        "settings": {**SETTINGS, "standin": STANDIN, "valid": VALID, "test": TEST, "threads": 1},
        "runs": records,
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
