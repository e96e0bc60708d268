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
