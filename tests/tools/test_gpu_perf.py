"""The CPU dry run of tools/gpu_perf.py (tiny sizes), so that the GPU script cannot rot, and its time guards."""

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest
import torch

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture(scope="module")
def gpu_perf():
    spec = importlib.util.spec_from_file_location("gpu_perf", TOOLS / "gpu_perf.py")
    module = sys.modules["gpu_perf"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_perf", None)
    sys.modules.pop("gpu_check", None)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_dry_run_measures_every_part_and_writes_one_table(gpu_perf, tmp_path, one_thread):
    assert gpu_perf.main(["--dry-run", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "gpu_perf.json").read_text())
    table = (tmp_path / "gpu_perf.md").read_text()
    for part in ("cfn_sr", "sequence", "ganimation"):
        assert isinstance(result[part], dict), result[part]  # measured, not failed
    sizes = gpu_perf.DRY_RUN
    assert all(result["cfn_sr"]["batches"][str(b)]["clips_per_s"] > 0 for b in sizes.cfn_batches)
    assert result["cfn_sr"]["fp32"]["clips_per_s"] > 0
    for model in ("lmr_cbt", "mult"):
        row = result["sequence"][f"{model}_batch{sizes.seq_batches[0]}"]
        assert row["book_utt_per_s"] > 0 and row["released_utt_per_s"] > 0
    assert result["ganimation"]["cudnn_benchmark_off"]["step_s"] > 0
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    # CFN-SR: each batch and float32; LMR-CBT and MulT: book and released; GANimation: cudnn on and off
    assert len(rows) == len(sizes.cfn_batches) + 1 + 2 * 2 * len(sizes.seq_batches) + 2
    assert "failed" not in table and "skipped" not in table
    assert result["total_seconds"] < gpu_perf.HARD_LIMIT_S


def test_a_part_out_of_time_skips_its_remaining_measurements(gpu_perf, one_thread):
    clock = gpu_perf.Clock(time.perf_counter(), 0.0, 100.0)  # no time left after the first measurement
    res = gpu_perf.cfn_sr_throughput(gpu_perf.DRY_RUN, clock)
    first, second = gpu_perf.DRY_RUN.cfn_batches[:2]
    assert isinstance(res["batches"][first], dict)
    assert res["batches"][second] == "skipped: time budget" and res["fp32"] == "skipped: time budget"


def test_wall_clock_guard_stops_a_running_part_and_the_table_is_still_written(gpu_perf, monkeypatch):
    def stuck(sizes, clock):
        time.sleep(30)
        return {}

    monkeypatch.setattr(gpu_perf, "PARTS", {"cfn_sr": stuck, "sequence": stuck, "ganimation": stuck})
    tic = time.perf_counter()
    result = gpu_perf.run(gpu_perf.DRY_RUN, hard_limit=0.5)
    assert time.perf_counter() - tic < 5
    assert "wall-clock guard" in result["cfn_sr"]
    assert result["sequence"] == result["ganimation"] == "skipped: time budget"
    table = gpu_perf.render(result)
    assert "wall-clock guard" in table and table.count("skipped: time budget") == 2


def test_the_plan_fits_the_promised_budget(gpu_perf):
    assert gpu_perf.BUDGET_S == 8 * 60
    assert sum(gpu_perf.PLAN.values()) < gpu_perf.HARD_LIMIT_S < gpu_perf.BUDGET_S


def test_cli_refuses_what_would_replace_the_gpu_table(gpu_perf, tmp_path, capsys):
    assert gpu_perf.main(["--dry-run"]) == 2
    assert "error: --dry-run needs --out" in capsys.readouterr().err
    file = tmp_path / "a_file"
    file.write_text("x")
    assert gpu_perf.main(["--dry-run", "--out", str(file)]) == 2
    assert "is a file" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert gpu_perf.main(["--out", str(tmp_path)]) == 2
        assert "no CUDA device" in capsys.readouterr().err
