"""tools/expected_spread.py: a band is never narrower than the rule printed in its basis."""

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "expected_spread", Path(__file__).resolve().parents[2] / "tools" / "expected_spread.py"
)
spread = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(spread)


@pytest.mark.parametrize(
    ("value", "rounded"), [(0.1118, 0.12), (0.123, 0.13), (0.12, 0.12), (0.0951, 0.096), (3.0, 3.0)]
)
def test_tolerances_round_up(value, rounded):
    assert spread.round_up(value) == rounded


def test_a_band_covers_four_standard_errors():
    runs = [{"acc": {"value": v, "se": 0.02795, "seeds": [v], "constant": 0.1}} for v in (0.70, 0.71, 0.705)]
    entry = spread.propose(runs, 1e-6, ["native", "avx2", "baseline"])["acc"]
    assert entry["tol"] >= 4 * 0.02795  # 0.1118 rounds to 0.12, not to 0.11


def test_keeping_the_committed_range_covers_the_old_runs_and_the_new(tmp_path, monkeypatch):
    import json

    committed = tmp_path / "c.json"
    basis = "3 runs (kernel settings); largest deviation 0.001; tol = max(4 SE, 1.5 x deviation, 1e-06)"
    entry = {"value": 0.02, "tol": 0.0015, "basis": basis, "constant": 0.05}
    committed.write_text(json.dumps({"chapter": "c", "values": {"l1": entry}}))
    monkeypatch.setattr(spread, "expected_file", lambda chapter: committed)
    for name, value in (("xeon_native", 0.0175), ("xeon_avx2", 0.0178)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "c.json").write_text(json.dumps({"l1": {"value": value, "constant": 0.05}}))
    runs = [str(tmp_path / n) for n in ("xeon_native", "xeon_avx2")]
    assert spread.main(["c", *runs, "--keep-committed", "an AMD EPYC", "--write"]) == 0
    new = json.loads(committed.read_text())["values"]["l1"]
    for old_run in (0.019, 0.021, 0.0175, 0.0178):  # the old runs' ends and the new runs
        assert abs(old_run - new["value"]) <= new["tol"]
    assert "2 runs (kernel settings) and the range of the committed runs on an AMD EPYC" in new["basis"]
    assert set(new["kernels"]) == {
        "an AMD EPYC, low end",
        "an AMD EPYC, high end",
        "xeon_native",
        "xeon_avx2",
    }
