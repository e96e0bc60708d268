"""Set a chapter's committed tolerances from measured runs: ``notebooks/expected/<chapter>.json``.

Run the chapter under several kernel settings with ``$AFFECT_RECORD_MEASURED`` pointing at one folder per run
(e.g. native kernels, ``ATEN_CPU_CAPABILITY=avx2 …`` and the baseline ``ATEN_CPU_CAPABILITY=default …``), then::

    python tools/expected_spread.py 22_evogan_search /tmp/rec/native /tmp/rec/baseline [--write]

The rule, printed into each entry's ``basis``: the expected value is the mean over the runs; the tolerance is the
largest of (a) 4 standard errors of a seed mean (its seed-to-seed spread / sqrt(n): a change of instruction set
moves a float-chaotic training run like a new draw, so a seed mean moves by about one standard error; because 3
seeds estimate a standard error poorly, the larger of the entry's own and the pooled one of all entries that
measure the same metric, the text after the last ": " of the name, is used), (b) 1.5 times the largest deviation
of a run from that mean, and (c) the resolution floor ``--floor`` (default 1e-6), for values that are not seed
means. Without ``--write`` it only prints the table. Each entry also keeps the per-seed values of every run under
``kernels`` (keyed by the run folder's name, e.g. ``native``, ``avx2``, ``baseline``) and the constant predictor's
score that the chapter recorded (``constant``); a band that contains it is refused.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from affect_lib.expected import expected_file  # noqa: E402

CONSTANT_TOL = 1e-6
"""Kernel sets may move a constant predictor's score in its last bits; :func:`affect_lib.expected.check` compares
it to 10⁻⁶, so runs that agree to that share their mean."""


def round_up(value: float, digits: int = 2) -> float:
    """``value`` rounded up to ``digits`` significant figures, so that a band is never narrower than its rule."""
    scale = 10 ** (math.floor(math.log10(value)) - digits + 1)
    return float(f"{math.ceil(round(value / scale, 9)) * scale:.{digits}g}")


def propose(runs: list[dict], floor: float, labels: list[str] | None = None) -> dict[str, dict]:
    """One entry per name measured in every run: value, tol and the basis of the tolerance."""
    names = sorted(set.intersection(*(set(r) for r in runs)))
    metric = {name: name.rsplit(": ", 1)[-1] for name in names}
    pooled: dict[str, list[float]] = {}
    for name in names:
        pooled.setdefault(metric[name], []).extend(
            r[name]["se"] for r in runs if r[name].get("se") is not None
        )
    out = {}
    for name in names:
        values = [r[name]["value"] for r in runs]
        ses = [r[name]["se"] for r in runs if r[name].get("se") is not None]
        mid = sum(values) / len(values)
        dev = max(abs(v - mid) for v in values)
        group = pooled[metric[name]]
        se = max([*ses, math.sqrt(sum(x * x for x in group) / len(group))]) if ses else 0.0
        tol = max(4 * se, 1.5 * dev, floor)
        basis = (
            f"{len(runs)} runs (kernel settings); largest deviation {dev:.3g}"
            + (
                f"; standard error of the seed mean {se:.3g} (own or pooled over '{metric[name]}')"
                if ses
                else ""
            )
            + f"; tol = max(4 SE, 1.5 x deviation, {floor:g})"
        )
        entry = {
            "value": round(mid, 6),
            "tol": round_up(tol) if tol > floor else floor,
            "basis": basis,
        }
        constants = sorted(r[name]["constant"] for r in runs if "constant" in r[name])
        if constants and constants[-1] - constants[0] > CONSTANT_TOL:  # the check's own tolerance
            raise ValueError(f"{name}: the constant predictor differs between runs: {constants}")
        if constants:
            entry["constant"] = constants[0] if len(set(constants)) == 1 else sum(constants) / len(constants)
            if abs(entry["value"] - entry["constant"]) <= entry["tol"]:
                raise ValueError(
                    f"{name}: the band {entry['value']:.4g} ± {entry['tol']:.2g} contains the constant "
                    f"predictor's {entry['constant']:.4g}: the experiment cannot tell learning from none"
                )
        if labels is not None:
            entry["kernels"] = {
                label: [round(x, 6) for x in r[name].get("seeds", [])]
                for label, r in zip(labels, runs, strict=True)
            }
        out[name] = entry
    return out


def committed_range(chapter: str) -> list[dict]:
    """The committed entries of ``chapter`` as two runs: value - and + the largest deviation of the runs they came
    from (read from their ``basis``), with their constant predictor's score."""
    values = json.loads(expected_file(chapter).read_text())["values"]
    ends: list[dict] = [{}, {}]
    for name, e in values.items():
        dev = float(e["basis"].split("largest deviation ", 1)[1].split(";", 1)[0])
        for end, sign in zip(ends, (-1, 1), strict=True):
            end[name] = {"value": e["value"] + sign * dev}
            if "constant" in e:
                end[name]["constant"] = e["constant"]
    return ends


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("chapter")
    p.add_argument("runs", nargs="+", help="folders written by $AFFECT_RECORD_MEASURED, one per run")
    p.add_argument("--floor", type=float, default=1e-6)
    p.add_argument("--write", action="store_true", help="write notebooks/expected/<chapter>.json")
    p.add_argument(
        "--keep-committed",
        metavar="WHERE",
        help="keep the committed runs' range: each committed entry enters as two runs, its value minus and plus "
        "its largest deviation (the ends of the range its runs spanned), labelled WHERE (e.g. the machine)",
    )
    args = p.parse_args(argv)
    runs, labels = [], [Path(folder).name for folder in args.runs]
    if args.keep_committed:
        kept = committed_range(args.chapter)
        runs += kept
        labels = [f"{args.keep_committed}, low end", f"{args.keep_committed}, high end", *labels]
    for folder in args.runs:
        f = Path(folder) / f"{args.chapter}.json"
        if not f.exists():
            p.error(f"{f} does not exist: run the chapter with $AFFECT_RECORD_MEASURED={folder}")
        runs.append(json.loads(f.read_text()))
    entries = propose(runs, args.floor, labels)
    if args.keep_committed:
        for e in entries.values():
            e["basis"] = e["basis"].replace(
                f"{len(runs)} runs (kernel settings)",
                f"{len(runs) - 2} runs (kernel settings) and the range of the committed runs on {args.keep_committed}",
            )
    for name, e in entries.items():
        print(f"{name:60s} {e['value']:>12.6g} ± {e['tol']:<8.2g} {e['basis']}")
    if args.write:
        target = expected_file(args.chapter)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"chapter": args.chapter, "values": entries}, indent=1) + "\n")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
