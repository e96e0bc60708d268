"""Timing helpers shared by the benchmarks: interleaved repeats in one process, peak memory, load, growth fits.

A ratio against a peer is measured by running the two (or more) variants in turn, repeat after repeat, in the
same process, so that a burst of load on the shared host slows both: the reported ratio is the median of the
per-repeat ratios, and its spread is their range. Peak memory is the resident-set growth during one call,
sampled every millisecond by a background thread (torch releases the GIL inside its kernels). Process CPU time
is recorded beside the wall clock, as a load-independent cross-check of each ratio.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Context manager: ``peak`` is the largest RSS growth (bytes) over the block, sampled every ``interval`` s."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes() - self.base)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.base = rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes() - self.base)


@dataclass
class Runs:
    """Seconds and peak RSS growth (bytes) of each repeat of one variant."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_gb(self) -> float:
        return statistics.median(self.peaks) / 2**30

    def spread(self) -> str:
        """``min-max`` of the repeats, in seconds."""
        return f"{min(self.seconds):.3g}-{max(self.seconds):.3g}"


def interleaved(
    variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1, memory: bool = True
) -> dict[str, Runs]:
    """Run each variant ``warmup`` times, then ``repeats`` rounds of every variant in turn (the order rotates
    each round); returns the timings of the rounds after the warm-up."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    runs = {name: Runs() for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            peak = PeakRSS() if memory else None
            start, cpu = time.perf_counter(), time.process_time()
            if peak:
                with peak:
                    variants[name]()
            else:
                variants[name]()
            runs[name].seconds.append(time.perf_counter() - start)
            runs[name].cpu.append(time.process_time() - cpu)
            runs[name].peaks.append(peak.peak if peak else 0)
    return runs


def ratio(slow: Runs, fast: Runs, cpu: bool = False) -> tuple[float, float, float]:
    """Median, min and max of the per-round ratios slow / fast, of wall-clock or (``cpu``) process CPU time.

    CPU time (all threads) is the cross-check that load cannot bias: other processes slow the wall clock of
    whichever variant they happen to overlap, but not the CPU time a variant needs."""
    a, b = (slow.cpu, fast.cpu) if cpu else (slow.seconds, fast.seconds)
    r = [x / y for x, y in zip(a, b, strict=True)]
    return statistics.median(r), min(r), max(r)


def growth_exponent(sizes, values) -> float:
    """Least-squares slope of log(value) against log(size): cost ~ size^exponent."""
    return float(np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(values, float)), 1)[0])


def load() -> str:
    """The host's 1-, 5- and 15-minute load averages and core count, for the record."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"
