"""Helpers shared by the benchmarks: interleaved timing in one process, step memory in a fresh one, growth curves,
load, fits.

A ratio against a peer is measured by running the two (or more) variants in turn, repeat after repeat, in the
same process, so that a burst of load on the shared host slows both: the reported ratio is the median of the
per-repeat ratios, and its spread is their range. Process CPU time is recorded beside the wall clock, as a
load-independent cross-check of each ratio.

Peak memory cannot be read in that process: the heap serves a step from memory it kept from earlier steps, so
the resident set hardly moves. :func:`step_peak_memory` runs one form at one size in a fresh process instead:
it builds the step, runs it once (weights, gradients, optimiser state, thread pools now exist), hands the freed
heap back to the system (``malloc_trim``), resets the kernel's resident high-water mark (``VmHWM``, via
``/proc/self/clear_refs``), runs one more step and reads the mark again. The result is the step's peak resident
growth above the state it starts from. (``ru_maxrss`` is not used: a child started by ``fork``/``exec`` inherits
the parent's high-water mark, and it cannot be reset after the warm-up step.)
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

P = TypeVar("P")

GB = 2**30
MEMORY_NOTE = (
    "Peak memory: the peak resident growth of one training step above the state it starts from (weights, "
    "Adam state, the previous step's gradients and the inputs), measured in a fresh process per form and "
    "size after one warm-up step, the freed heap handed back to the system first (``measure.step_peak_memory``"
    "; Linux ``VmHWM``)."
)
"""The benchmarks' sentence on how :func:`peak_gb` measures."""
RESULTS_ENV = "AFFECT_BENCH_RESULTS"
"""Folder for the tables and figures instead of ``benchmarks/results`` (smoke runs that must not replace them)."""


def results_dir() -> Path:
    """Where the benchmarks write: ``$AFFECT_BENCH_RESULTS`` if set, else ``benchmarks/results`` (created)."""
    path = Path(os.environ.get(RESULTS_ENV) or Path(__file__).resolve().parent / "results")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _status_kib(field_name: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmHWM``, ``VmRSS``), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no field {field_name}")


def _measure_child(path: str, builder: str, kwargs: dict, warmup: int, threads: int) -> dict[str, int]:
    """In the child: build ``builder(**kwargs)`` from the file ``path``, run the step; peak growth in bytes."""
    import torch

    torch.set_num_threads(threads)
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    step = getattr(module, builder)(**kwargs)
    for _ in range(warmup):
        step()
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS (Linux >= 4.0)
    base = _status_kib("VmHWM")
    step()
    return {"peak_bytes": (_status_kib("VmHWM") - base) * 1024, "base_bytes": base * 1024}


def step_peak_memory(
    path: str | Path, builder: str, warmup: int = 1, threads: int | None = None, **kwargs
) -> int:
    """Peak resident growth (bytes) of one call of the step that ``builder(**kwargs)`` in the Python file
    ``path`` returns (a ``Callable[[], object]``), above the state the step starts from, measured in a fresh
    process after ``warmup`` calls (see the module docstring). ``kwargs`` must be JSON values; ``threads``
    (default: this process's torch threads) is the child's ``torch.set_num_threads``."""
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    args = json.dumps(
        {"path": str(path), "builder": builder, "kwargs": kwargs, "warmup": warmup, "threads": threads}
    )
    done = child_json(Path(__file__), [args], f"memory child for {builder}{kwargs} in {path}")
    return int(done["peak_bytes"])


def child_json(script: str | Path, args: list[str], what: str, env: dict[str, str] | None = None) -> Any:
    """Run ``python script *args`` in a fresh process (with ``env``, default this one's) and return the JSON of
    its last line of output; ``RuntimeError`` naming ``what``, with the child's stderr, if it fails."""
    done = subprocess.run(
        [sys.executable, str(Path(script).resolve()), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_gb(path: str | Path, form: str, **size) -> float:
    """Peak step memory (GB) of one form at one size: :func:`step_peak_memory` of ``memory_step(form, **size)``,
    the function every benchmark file ``path`` with a memory column defines."""
    return step_peak_memory(path, "memory_step", form=form, **size) / GB


@dataclass
class Runs:
    """Wall-clock and process CPU seconds of each repeat of one variant."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def spread(self) -> str:
        """``min-max`` of the repeats, in seconds."""
        return f"{min(self.seconds):.3g}-{max(self.seconds):.3g}"


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, Runs]:
    """Run each variant ``warmup`` times, then ``repeats`` rounds of every variant in turn (the order rotates
    each round); returns the timings of the rounds after the warm-up."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    runs = {name: Runs() for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start, cpu = time.perf_counter(), time.process_time()
            variants[name]()
            runs[name].seconds.append(time.perf_counter() - start)
            runs[name].cpu.append(time.process_time() - cpu)
    return runs


def ratio(slow: Runs, fast: Runs, cpu: bool = False) -> tuple[float, float, float]:
    """Median, min and max of the per-round ratios slow / fast, of wall-clock or (``cpu``) process CPU time.

    CPU time (all threads) is the cross-check that load cannot bias: other processes slow the wall clock of
    whichever variant they happen to overlap, but not the CPU time a variant needs."""
    a, b = (slow.cpu, fast.cpu) if cpu else (slow.seconds, fast.seconds)
    r = [x / y for x, y in zip(a, b, strict=True)]
    return statistics.median(r), min(r), max(r)


def widest_spread(runs: Iterable[Runs]) -> float:
    """The largest (max - min) / median of the given runs' wall-clock times, as a fraction."""
    return max((max(r.seconds) - min(r.seconds)) / r.median for r in runs)


@dataclass
class Curve:
    """One form's growth: median seconds, the timed rounds and peak GB, one entry per point."""

    seconds: list[float] = field(default_factory=list)
    rounds: list[list[float]] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)


def growth_curves(
    points: Sequence[P],
    forms: Callable[[P], dict[str, Callable[[], object]]],
    peak: Callable[[str, P], float],
    repeats: int,
) -> tuple[dict[str, Curve], float]:
    """How step time and peak memory grow: at every point, the steps ``forms(point)`` timed in turn
    (:func:`interleaved`, ``repeats`` rounds), then ``peak(form, point)`` of each (GB, e.g. :func:`peak_gb`).

    Returns:
        form -> its :class:`Curve`, and the widest spread of a timed point (:func:`widest_spread`).
    """
    curves: dict[str, Curve] = {}
    widest = 0.0
    for point in points:
        runs = interleaved(forms(point), repeats)
        widest = max(widest, widest_spread(runs.values()))
        for name, run in runs.items():
            curve = curves.setdefault(name, Curve())
            curve.seconds.append(run.median)
            curve.rounds.append(list(run.seconds))
            curve.peaks.append(peak(name, point))
    return curves, widest


def save_growth_figure(fig, axes, name: str, fontsize: int = 7, xticks=None) -> None:
    """Legends (``fontsize``) and log grids on every axis, plain tick labels at 1, 2, 3 and 5 per decade (none on the
    minor ticks, which crowd a short log axis), ``xticks`` (per axis: (positions, labels), or None) at the measured
    sizes; ``fig`` saved as ``results_dir() / name`` and closed."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for k, ax in enumerate(axes):
        ax.legend(fontsize=fontsize)
        ax.grid(True, which="both", alpha=0.3)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        if xticks is not None and xticks[k] is not None:
            ax.set_xticks(*xticks[k])
            ax.xaxis.set_minor_formatter(NullFormatter())
    fig.savefig(results_dir() / name, dpi=110)
    plt.close(fig)


def growth_exponent(sizes, values) -> float:
    """Least-squares slope of log(value) against log(size): cost ~ size^exponent."""
    return float(np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(values, float)), 1)[0])


GROWTH_DRAWS = 2000
GROWTH_INTERVAL_NOTE = (
    "A time exponent's interval (in square brackets) is a bootstrap over the timed rounds: the rounds of every size "
    f"resampled with replacement, their medians refitted, {GROWTH_DRAWS} times from a fixed seed, the 2.5-97.5% "
    "range of the slopes: how far the timing noise moves the exponent."
)


def growth_fit(sizes: Sequence[float], rounds: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """(exponent, low, high): :func:`growth_exponent` of the per-size medians of ``rounds`` (one list of timed
    rounds per size), and the 95% bootstrap range of that exponent (each size's rounds resampled with replacement,
    medians refitted; :data:`GROWTH_DRAWS` draws from a fixed seed)."""
    x = np.log(np.asarray(sizes, float))
    exponent = growth_exponent(sizes, [statistics.median(r) for r in rounds])
    rng = np.random.default_rng(0)
    medians = np.stack(
        [
            np.median(np.log(np.asarray(r, float))[rng.integers(len(r), size=(GROWTH_DRAWS, len(r)))], axis=1)
            for r in rounds
        ],
        axis=1,
    )  # (draws, sizes): log of the resampled medians
    xc = x - x.mean()
    slopes = (medians - medians.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    low, high = np.percentile(slopes, [2.5, 97.5])
    return exponent, float(low), float(high)


def load() -> str:
    """The host's 1-, 5- and 15-minute load averages and core count, for the record."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def quiet_warning() -> str | None:
    """The line a results file carries when the 1-minute load average exceeds the core count, else None."""
    one, cores = os.getloadavg()[0], os.cpu_count()
    if one <= cores:
        return None
    return f"**Warning: measured under load {one:.2f} on {cores} cores: not a quiet machine.**"


def operator_profile(step: Callable[[], object]) -> list[tuple[str, int, float]]:
    """(operator, calls, self CPU seconds) of every operator in one call of ``step`` (torch.profiler), the most
    expensive first."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.count, e.self_cpu_time_total / 1e6) for e in events]


def operator_table(ops: list[tuple[str, int, float]], rows: int = 6) -> list[str]:
    """Markdown rows of an :func:`operator_profile`: the first ``rows`` operators with their calls, self seconds
    and share, then the total over all operators."""
    total = sum(t for _, _, t in ops)
    out = [f"| {key} | {n} | {t:.3f} | {100 * t / total:.0f}% |" for key, n, t in ops[:rows]]
    return out + [f"| all operators | {sum(n for _, n, _ in ops)} | {total:.3f} | 100% |"]


WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
"""What decides how idle OpenMP threads wait (read when the runtime starts; the Makefile's ``RUNENV`` sets both)."""


def wait_setting(env: dict[str, str]) -> str:
    """The wait variables set in ``env``, as text for a results page."""
    found = [f"`{k}={env[k]}`" for k in WAIT_VARIABLES if env.get(k)]
    return " with ".join(found) if found else "libgomp's default wait policy"


def without_wait_variables(env: dict[str, str]) -> dict[str, str]:
    """``env`` without :data:`WAIT_VARIABLES` (libgomp's default, or a base to set one of them on)."""
    return {k: v for k, v in env.items() if k not in WAIT_VARIABLES}


if __name__ == "__main__":  # the child of step_peak_memory: one JSON argument, one JSON line out
    spec = json.loads(sys.argv[1])
    print(
        json.dumps(
            _measure_child(spec["path"], spec["builder"], spec["kwargs"], spec["warmup"], spec["threads"])
        )
    )
