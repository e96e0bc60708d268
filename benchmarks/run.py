"""Run the book's benchmarks: ``python benchmarks/run.py [NAME ...]`` (or ``make bench [BENCH=NAME]``).

Each ``benchmarks/bench_<name>.py`` defines ``main() -> str`` that times the book's code against a peer *in the
same process* and returns a Markdown table of ratios. The tables go to ``benchmarks/results/<name>.md`` with the
machine they were measured on, and the performance appendix of the book includes them.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

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
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    where = machine()
    for name in names or list(available):
        spec = importlib.util.spec_from_file_location(f"bench_{name}", available[name])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        start = time.perf_counter()
        table = module.main()
        seconds = time.perf_counter() - start
        text = f"{table.rstrip()}\n\n*Machine: {where}. The benchmark took {seconds:.0f} s.*\n"
        (out_dir / f"{name}.md").write_text(text)
        print(f"## {name}\n\n{text}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
