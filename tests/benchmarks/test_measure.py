"""benchmarks/measure.py: the fresh-process step memory sees what the step allocates, and only that."""

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

MEASURE = Path(__file__).resolve().parents[2] / "benchmarks" / "measure.py"
spec = importlib.util.spec_from_file_location("measure", MEASURE)
measure = sys.modules["measure"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(measure)

MB = 2**20


def allocating_step(setup_mb: int, step_mb: int, pieces: int):
    """A step that holds ``step_mb`` MB of written float32 tensors in ``pieces`` parts at once, after a set-up
    that keeps ``setup_mb`` MB alive (built in the child of ``step_peak_memory``)."""
    kept = torch.ones(setup_mb * MB // 4)

    def step() -> None:
        parts = [torch.ones(step_mb * MB // 4 // pieces) for _ in range(pieces)]
        assert kept.numel() >= 0 and len(parts) == pieces

    return step


@pytest.mark.parametrize(
    "setup_mb, pieces",
    [
        (300, 1),  # the set-up's 300 MB is the baseline, not part of the step
        (
            0,
            200,
        ),  # 1 MB parts come from the heap the warm-up step freed: seen only if it went back to the system
    ],
)
def test_step_peak_memory_reports_what_one_step_allocates(setup_mb, pieces):
    peak = measure.step_peak_memory(
        __file__, "allocating_step", setup_mb=setup_mb, step_mb=200, pieces=pieces
    )
    assert 190 * MB <= peak <= 215 * MB


def test_quiet_warning_names_the_load_and_the_cores(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (5.5, 1.0, 1.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert "measured under load 5.50 on 2 cores: not a quiet machine" in measure.quiet_warning()
    monkeypatch.setattr(os, "getloadavg", lambda: (1.9, 1.0, 1.0))
    assert measure.quiet_warning() is None


def test_results_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(measure.RESULTS_ENV, str(tmp_path / "smoke"))
    assert measure.results_dir() == tmp_path / "smoke" and (tmp_path / "smoke").is_dir()
    monkeypatch.delenv(measure.RESULTS_ENV)
    assert measure.results_dir() == MEASURE.parent / "results"


def memory_step(form: str, mb: int):
    """The step of ``form`` (``ones``: ``mb`` MB of float32 ones; ``none``: nothing) for :func:`measure.peak_gb`."""
    return allocating_step(0, mb, 1) if form == "ones" else (lambda: None)


def test_growth_curves_time_every_form_and_measure_its_peak_in_a_fresh_process():
    def forms(mb):
        return {"ones": memory_step("ones", mb), "none": memory_step("none", mb)}

    def peak(form, mb):
        return measure.peak_gb(__file__, form, mb=mb)

    curves, widest = measure.growth_curves([100, 300], forms, peak, repeats=3)
    assert list(curves) == ["ones", "none"] and widest >= 0
    secs, peaks, nothing = curves["ones"].seconds, curves["ones"].peaks, curves["none"].peaks
    assert len(secs) == 2 and all(s > 0 for s in secs)
    assert [len(r) for r in curves["ones"].rounds] == [3, 3] and secs[0] in curves["ones"].rounds[0]
    for got, mb in zip(peaks, (100, 300), strict=True):
        assert 0.95 * mb * MB <= got * measure.GB <= (mb + 15) * MB
    assert all(g * measure.GB < 15 * MB for g in nothing)


def test_growth_fit_recovers_a_known_exponent_and_its_noise():
    sizes = [100, 300, 1000]
    exact = [[2e-6 * n**1.5] * 4 for n in sizes]
    assert measure.growth_fit(sizes, exact) == pytest.approx((1.5, 1.5, 1.5))
    rng = np.random.default_rng(1)
    noisy = [[2e-6 * n**1.5 * np.exp(rng.normal(0, 0.2)) for _ in range(5)] for n in sizes]
    e, lo, hi = measure.growth_fit(sizes, noisy)
    assert lo < e < hi and lo < 1.5 < hi and 0.05 < hi - lo < 1.0
    assert measure.growth_fit(sizes, noisy) == (e, lo, hi)  # seeded
