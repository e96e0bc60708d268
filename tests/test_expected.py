"""The tolerance checker: stable lines within tolerance, a failure line outside it, and missing names caught."""

import json

import pytest

from affect_lib import expected
from affect_lib.stats import summarize


def _write(tmp_path, values):
    path = tmp_path / "demo.json"
    path.write_text(json.dumps({"values": values}))
    return path


def test_lines_do_not_depend_on_the_value_within_tolerance(tmp_path):
    path = _write(tmp_path, {"acc": {"value": 0.62, "tol": 0.05, "basis": "spread"}})
    a = expected.check("demo", {"acc": 0.60}, path=path)
    b = expected.check("demo", {"acc": 0.66}, path=path)
    assert a.ok and b.ok and str(a) == str(b) == "✓ acc: within 0.62 ± 0.05"


def test_outside_tolerance_missing_and_unexpected_names_fail(tmp_path):
    path = _write(tmp_path, {"acc": {"value": 0.62, "tol": 0.05}, "f1": {"value": 0.5, "tol": 0.1}})
    report = expected.check("demo", {"acc": 0.50, "mae": 1.0}, path=path)
    assert not report.ok
    text = str(report)
    assert "✗ acc: measured 0.5, outside 0.62 ± 0.05" in text
    assert "✗ mae: no expected value" in text and "✗ f1: expected but not measured" in text
    assert not expected.check("demo", {"acc": float("nan"), "f1": 0.5}, path=path).ok


def test_seed_values_are_read_when_given(tmp_path):
    path = _write(
        tmp_path, {"acc": {"value": 0.62, "tol": 0.05, "seeds": [0.6, 0.64]}, "f1": {"value": 1, "tol": 0}}
    )
    got = expected.load_expected("demo", path)
    assert got["acc"].seeds == (0.6, 0.64) and got["f1"].seeds == ()


def test_malformed_files_name_the_file_and_field(tmp_path):
    bad = _write(tmp_path, {"acc": {"value": 0.62}})
    with pytest.raises(ValueError, match=r"demo.json.*acc.*tol"):
        expected.load_expected("demo", bad)
    seeds = _write(tmp_path, {"acc": {"value": 0.62, "tol": 0.05, "seeds": [0.6, "x"]}})
    with pytest.raises(ValueError, match=r"acc.*seeds"):
        expected.load_expected("demo", seeds)
    with pytest.raises(FileNotFoundError, match="no expected values"):
        expected.load_expected("demo", tmp_path / "none.json")


def test_record_mode_writes_measured_values(tmp_path, monkeypatch):
    path = _write(tmp_path, {"acc": {"value": 0.62, "tol": 0.05}})
    monkeypatch.setenv(expected.RECORD_ENV, str(tmp_path / "rec"))
    expected.check("demo", {"acc": 0.61}, path=path)
    assert json.loads((tmp_path / "rec" / "demo.json").read_text()) == {
        "acc": {"value": 0.61, "se": None, "seeds": []}
    }
    seeds = summarize([0.60, 0.62, 0.64])
    assert expected.check("demo", {"acc": seeds}, path=path).ok  # a Summary is checked by its mean
    rec = json.loads((tmp_path / "rec" / "demo.json").read_text())["acc"]
    assert rec["value"] == pytest.approx(0.62) and rec["se"] == pytest.approx(0.02 / 3**0.5)


def test_a_band_that_contains_the_constant_predictor_is_refused(tmp_path):
    path = _write(tmp_path, {"acc": {"value": 0.30, "tol": 0.2, "constant": 0.167}})
    with pytest.raises(ValueError, match=r"acc.*contains the constant predictor"):
        expected.load_expected("demo", path)
    ok = _write(tmp_path, {"acc": {"value": 0.50, "tol": 0.2, "constant": 0.167, "kernels": {"avx2": [0.5]}}})
    got = expected.load_expected("demo", ok)["acc"]
    assert got.constant == 0.167 and dict(got.kernels) == {"avx2": (0.5,)}
    assert not expected.check("demo", {"acc": 0.167}, path=ok).ok  # a model that learnt nothing fails


def test_a_moved_constant_predictor_fails_the_check(tmp_path):
    path = _write(tmp_path, {"acc": {"value": 0.50, "tol": 0.05, "constant": 0.25}})
    assert expected.check("demo", {"acc": 0.5}, path=path, constants={"acc": 0.25}).ok
    report = expected.check("demo", {"acc": 0.5}, path=path, constants={"acc": 0.3})
    assert not report.ok and "constant predictor scores 0.3" in str(report)


def test_record_mode_keeps_seed_values_and_constants(tmp_path, monkeypatch):
    path = _write(tmp_path, {"acc": {"value": 0.62, "tol": 0.05, "constant": 0.25}})
    monkeypatch.setenv(expected.RECORD_ENV, str(tmp_path / "rec"))
    expected.check("demo", {"acc": summarize([0.6, 0.62, 0.64])}, path=path, constants={"acc": 0.25})
    rec = json.loads((tmp_path / "rec" / "demo.json").read_text())["acc"]
    assert rec["seeds"] == [0.6, 0.62, 0.64] and rec["constant"] == 0.25


@pytest.mark.parametrize(
    "chapter",
    ["30_multimodal_lmr_cbt", "40_audiovisual_cfn_sr"],
)
def test_a_constant_predictor_fails_every_trained_check(chapter):
    """Every checked trained number of Parts III and IV records the constant predictor's score, and checking
    those scores as if a model had produced them fails every line."""
    entries = expected.load_expected(chapter)
    assert all(e.constant is not None for e in entries.values()), [
        name for name, e in entries.items() if e.constant is None
    ]
    report = expected.check(chapter, {name: e.constant for name, e in entries.items()})
    assert all(line.startswith("✗") for line in report.lines), report
    assert all(set(e.kernels) >= {"native", "avx2", "baseline"} for e in entries.values())
