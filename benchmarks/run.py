"""Run the book's benchmarks: ``python benchmarks/run.py [NAME ...]`` (or ``make bench [BENCH=NAME]``).

Each ``benchmarks/bench_<name>.py`` defines ``main() -> str`` that times the book's code against a peer *in the
same process* and returns a Markdown table of ratios. The tables go to ``benchmarks/results/<name>.md`` with the
machine they were measured on and its load, and the performance appendix of the book includes them. A module
that also fills a ``RATIOS`` dict (label -> speed-up) gets it saved as ``results/<name>.json``; the speed-ups
of all saved files are drawn at a glance in ``results/speedups.png`` (``results/speedups.md``). The run lowers
its own priority (``nice`` 10): the host is shared. Each table records the load before and after its benchmark,
and one started while the 1-minute load exceeds the core count carries a warning line. ``AFFECT_BENCH_RESULTS``
names another output folder (smoke runs); ``AFFECT_BENCH_SMOKE=1`` shrinks the sizes of the benchmarks that
read it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import sys
import time
from datetime import date
from pathlib import Path

from measure import quiet_warning, results_dir

HERE = Path(__file__).resolve().parent


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (
        f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"GPU: {gpu}; measured {date.today().isoformat()}"
    )


def main(names: list[str]) -> int:
    available = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {sorted(available)}", file=sys.stderr)
        return 2
    out_dir = results_dir()
    os.nice(10)
    where = machine()
    for name in names or list(available):
        spec = importlib.util.spec_from_file_location(f"bench_{name}", available[name])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        warning = quiet_warning()
        load_before = "load average {:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
        start = time.perf_counter()
        table = module.main()
        seconds = time.perf_counter() - start
        load = "load average {:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
        text = (
            f"{table.rstrip()}\n\n*Machine: {where}; {load_before} at the start, {load} at the end. The benchmark "
            f"took {seconds:.0f} s.*\n"
        )
        if warning:
            text = f"{warning}\n\n{text}"
        (out_dir / f"{name}.md").write_text(text)
        if getattr(module, "RATIOS", None):
            (out_dir / f"{name}.json").write_text(json.dumps(module.RATIOS, indent=1) + "\n")
        print(f"## {name}\n\n{text}", flush=True)
    summary(out_dir)
    return 0


def summary(out_dir: Path) -> None:
    """Draw every saved speed-up (``results/<name>.json`` of a ``bench_<name>.py``; the other result files, such
    as the sizing studies', hold no ratios) as one bar chart, with ``speedups.md`` to show it."""
    ratios, machines = {}, {}
    for path in sorted(out_dir.glob("*.json")):
        if (HERE / f"bench_{path.stem}.py").exists():
            found = json.loads(path.read_text())
            ratios.update(found)
            machines.update(dict.fromkeys(found, measured_on(out_dir / f"{path.stem}.md")))
    if not ratios:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(ratios)
    several = len({cpu for cpu, _ in machines.values()}) > 1
    fig, ax = plt.subplots(
        figsize=(7, (0.7 if several else 0.45) * len(labels) + 1.2), constrained_layout=True
    )
    # bars start at 1 (no change), so that a slow-down points left on the log axis
    ax.barh(
        [f"{k}\n{', '.join(machines[k])}" if several else k for k in labels],
        [ratios[k] - 1 for k in labels],
        left=1,
        color=["tab:blue" if ratios[k] >= 1 else "tab:red" for k in labels],
    )
    ax.axvline(1.0, color="k", lw=0.8)
    for i, k in enumerate(labels):
        ax.text(
            ratios[k],
            i,
            f" {ratios[k]:.2f}x ",
            va="center",
            ha="left" if ratios[k] >= 1 else "right",
            fontsize=8,
        )
    ax.set_xscale("log")
    ticks = [
        t
        for t in (0.25, 0.5, 1, 2, 4, 8, 16, 32)
        if min(ratios.values()) / 2 <= t <= 2 * max(ratios.values())
    ]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("speed-up over the released pattern, same process")
    ax.invert_yaxis()
    fig.savefig(out_dir / "speedups.png", dpi=110)
    plt.close(fig)
    where = (
        " Its bars were measured on different machines, named under each label: compare a bar with the released "
        "pattern it was measured against, not with a bar from another machine."
        if several
        else f" Measured on one machine, {machines[labels[0]][0]}, on "
        f"{', '.join(sorted({day for _, day in machines.values()}))}."
    )
    (out_dir / "speedups.md").write_text(
        "Speed-ups at a glance (each from its benchmark below, measured against the released pattern in the same "
        f"process).{where}\n\n![Speed-ups over the released code](../../benchmarks/results/speedups.png)\n"
    )


def measured_on(table: Path) -> tuple[str, str]:
    """The CPU and the date of a benchmark's result page (its closing machine line), or "not recorded"."""
    text = table.read_text() if table.exists() else ""
    found = re.search(r"\*Machine: ([^;]+);.*?measured (\d{4}-\d{2}-\d{2})", text)
    return (found[1], found[2]) if found else ("machine not recorded", "date not recorded")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
