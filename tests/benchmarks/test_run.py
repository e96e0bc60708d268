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
