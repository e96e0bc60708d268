"""How large chapter 30's quick corpus must be: the tones' worth to each model at a few corpus sizes.

For each size, the MOSEI unaligned stand-in is written with and without its tone events
(:func:`affect_lib.data.synthetic_mult.write_standin`), and each quick model is trained on both from the same
seeds (:func:`affect_lib.mult_runs.train_mult_run`, two worker processes). Writes
``benchmarks/results/mult_sizing.json``, which chapter 30 prints::

    python benchmarks/mult_sizing.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from affect_lib import recipes  # noqa: E402
from affect_lib.data.synthetic_mult import write_standin  # noqa: E402
from affect_lib.mult_runs import train_mult_run  # noqa: E402
from affect_lib.pool import run_jobs  # noqa: E402

MODELS = ("late_fusion", "lmr_cbt", "mult")
SIZES = ((1000, 12, (0,)), (2000, 12, (0, 1, 2)))
"""(training utterances, epochs, seeds) measured."""
_QUICK = recipes.get("mult", "mosei", "quick", aligned=False).data  # chapter 30's stand-in
LENGTHS = _QUICK.standin_lengths
TEST = _QUICK.standin_sizes[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mult_sizing.json")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, epochs, seeds in SIZES:
            sizes = {"train": n, "valid": max(96, n // 5), "test": TEST}
            paths = {
                tones: write_standin(
                    Path(tmp) / f"{n}-{tones}",
                    "mosei",
                    aligned=False,
                    sizes=sizes,
                    lengths=LENGTHS,
                    tones="paired" if tones else "removed",
                )
                for tones in (True, False)
            }
            jobs = [
                dict(
                    model=m,
                    dataset="mosei",
                    path=str(paths[tones]),
                    aligned=False,
                    seed=s,
                    overrides={"train.epochs": epochs},
                )
                for m in MODELS
                for tones in (True, False)
                for s in seeds
            ]
            runs = iter(run_jobs(train_mult_run, jobs, desc=f"{n} utterances"))
            for m in MODELS:
                acc = {
                    tones: [round(next(runs).test["non0_acc2"], 4) for _ in seeds] for tones in (True, False)
                }
                rows.append(
                    dict(
                        model=m,
                        train=n,
                        epochs=epochs,
                        seeds=list(seeds),
                        with_tones=acc[True],
                        without_tones=acc[False],
                    )
                )
    setting = (
        f"MOSEI unaligned stand-in ({'/'.join(map(str, LENGTHS))} steps), {TEST:,} test utterances; Non0 Acc-2 "
        "of the validation-selected epoch, with and without the tones, same seeds"
    )
    args.out.write_text(
        json.dumps(
            {"setting": setting, "made_with": "python benchmarks/mult_sizing.py", "rows": rows}, indent=1
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
