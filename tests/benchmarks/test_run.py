"""benchmarks/run.py: the speed-up summary draws the benchmarks' ratio files and skips the other result files."""

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))  # run.py imports its sibling measure.py
spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)


def test_summary_reads_only_the_benchmarks_ratio_files(tmp_path):
    (tmp_path / "multimodal.json").write_text(json.dumps({"LMR-CBT aligned": 1.5, "LMR-CBT unaligned": 0.8}))
    (tmp_path / "ganimation_recipe.json").write_text(json.dumps({"rows": [{"seed": 0}]}))  # a sizing study's
    run.summary(tmp_path)
    assert (tmp_path / "speedups.png").stat().st_size > 0
    assert "speedups.png" in (tmp_path / "speedups.md").read_text()


def test_summary_names_the_machine_of_each_bar_when_they_differ(tmp_path):
    (tmp_path / "multimodal.json").write_text(json.dumps({"LMR-CBT aligned": 1.5}))
    (tmp_path / "audiovisual.json").write_text(json.dumps({"CFN-SR channels-last": 1.6}))
    footer = "*Machine: {}; 2 cores; torch 2; GPU: none; measured {}; load average 1 at the start.*\n"
    (tmp_path / "multimodal.md").write_text("table\n\n" + footer.format("Intel Xeon", "2026-12-07"))
    (tmp_path / "audiovisual.md").write_text("table\n\n" + footer.format("AMD EPYC", "2026-12-02"))
    run.summary(tmp_path)
    assert "different machines" in (tmp_path / "speedups.md").read_text()
    assert run.measured_on(tmp_path / "audiovisual.md") == ("AMD EPYC", "2026-12-02")
    (tmp_path / "audiovisual.md").write_text("table\n\n" + footer.format("Intel Xeon", "2026-12-02"))
    run.summary(tmp_path)  # the same CPU on two days is one machine
    assert "one machine, Intel Xeon, on 2026-12-02, 2026-12-07." in (tmp_path / "speedups.md").read_text()
