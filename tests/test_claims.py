"""The claims table: verdict validation, the printed rule, and the saved rows."""

import json

import pytest

from affect_lib import claims


def test_claims_table_validates_and_saves(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "CLAIMS_DIR", tmp_path)
    rows = [("W1 of a shift", "1.0", "1.000", True), ("A beats B", "+2 pt", "+0.1 ± 1.0", "inconclusive")]
    table = claims.claims_table("99_demo", "quick", rows, rule="Rule: intervals.")
    assert "| W1 of a shift | 1.0 | 1.000 | ✓ yes |" in table.data
    assert "| A beats B | +2 pt | +0.1 ± 1.0 | ? inconclusive |" in table.data
    assert table.data.rstrip().endswith("Rule: intervals.")
    saved = json.loads((tmp_path / "99_demo.json").read_text())
    assert [r["verdict"] for r in saved["rows"]] == ["yes", "inconclusive"] and saved["profile"] == "quick"
    with pytest.raises(ValueError, match="row"):
        claims.claims_table("99_demo", "quick", [("claim", "paper", 1.0, True)])
    with pytest.raises(ValueError, match="verdict"):
        claims.claims_table("99_demo", "quick", [("claim", "paper", "1.0", "maybe")])


def test_significant_keeps_every_row_of_a_column_alike():
    # hand-written: one column of chapter 12's budget table read 1.9e+04 beside 1.401e+04
    assert [claims.significant(v) for v in (19_000.0, 14_010.0, 1_654_000.0)] == [
        "19,000",
        "14,010",
        "1,654,000",
    ]
    assert [claims.significant(v) for v in (26.7, 19.28, 843.4, 1.513)] == [
        "26.70",
        "19.28",
        "843.4",
        "1.513",
    ]
    assert claims.significant(0.5) == "0.5000" and claims.significant(0.0) == "0.000"
    assert claims.significant(9999.6) == "10,000" and claims.significant(-0.012345) == "-0.01235"
    assert claims.significant(2.2e-15) == "2.2 × 10⁻¹⁵" and claims.significant(float("inf")) == "∞"


def test_number_writes_powers_of_ten_as_a_reader_does():
    # hand-written expectations: the g format's rounding, the exponent as a superscript
    assert claims.number(14000.0) == "1.4 × 10⁴"
    assert claims.number(22_200.4) == "2.22 × 10⁴"
    assert claims.number(163_000.0) == "1.63 × 10⁵"
    assert claims.number(2.2e-15, 1) == "2 × 10⁻¹⁵"
    assert claims.number(1e5) == "10⁵"
    assert claims.number(-3.5e-7, 2) == "-3.5 × 10⁻⁷"
    assert (
        claims.number(156.94, 4) == "156.9"
        and claims.number(0.01234) == "0.0123"
        and claims.number(623.2) == "623"
    )
    assert claims.number(float("inf")) == "∞"


def test_verdicts_lists_each_claim_and_fails_on_a_moved_verdict(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "CLAIMS_DIR", tmp_path)
    rows = [("A claim", "1", "1.02 [0.9, 1.1]", "yes"), ("Another claim", "2", "0.1", "inconclusive")]
    claims.claims_table("99_verdicts", "quick", rows)
    first = claims.verdicts("99_verdicts")
    assert "yes  A claim" in first and "inconclusive  Another claim" in first
    assert "1.02" not in first  # measured values stay out: only verdicts are compared exactly
    claims.claims_table("99_verdicts", "quick", [rows[0], (*rows[1][:3], "no")])
    assert claims.verdicts("99_verdicts") != first
    long = [("word " * 40, "p", "m", "no")]
    claims.claims_table("99_long", "quick", long)
    assert max(map(len, claims.verdicts("99_long").splitlines())) <= 96
    with pytest.raises(ValueError, match="no claims table"):
        claims.verdicts("99_never_shown")
