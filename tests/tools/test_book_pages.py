"""tools/book_pages.py writes the generated appendix pages from the run records, the claims and the benchmarks."""

import importlib.util
import json
import re
from pathlib import Path

from affect_lib import claims

TOOL = Path(__file__).resolve().parents[2] / "tools" / "book_pages.py"
spec = importlib.util.spec_from_file_location("book_pages", TOOL)
book_pages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book_pages)


def test_generated_pages_carry_records_and_claims(tmp_path, monkeypatch):
    records, claims_dir, generated = tmp_path / "records", tmp_path / "claims", tmp_path / "generated"
    records.mkdir()
    record = {
        "chapter": "10_demo",
        "profile": "quick",
        "seconds": 12.3,
        "checked_outputs": ["W1 = 1.000"],
        "machine": {"cpu": "Demo CPU", "cores": 2, "cpu_count": 4, "load": 0.5},
        "commit": "abc123",
        "finished": "2026-12-01T18:00:00+00:00",
    }
    (records / "10_demo.quick.json").write_text(json.dumps(record))
    monkeypatch.setattr(book_pages, "RECORD_DIR", records)
    monkeypatch.setattr(book_pages, "CLAIMS_DIR", claims_dir)
    monkeypatch.setattr(claims, "CLAIMS_DIR", claims_dir)
    monkeypatch.setattr(book_pages, "GENERATED_DIR", generated)
    claims.claims_table("10_demo", "quick", [("shift", "1", "1.000", "yes")], rule="Rule: demo.")
    record_page, glance_page, perf_page = book_pages.write_generated_pages()
    assert record_page.parent == generated
    text = record_page.read_text()
    assert (
        "Runtime 12.3 s on Demo CPU (2 of 4 cores, load 0.5), commit `abc123`, 2026-12-01T18:00:00+00:00."
        in text
    )
    assert (
        "W1 = 1.000" in text and "SHA-256" in text and "Total runtime of the executed chapters: 12 s." in text
    )
    assert re.search(r"\| built \| \d{4}-\d\d-\d\d \d\d:\d\d UTC \|", text) and "| commit | `" in text
    # the source archive, and the chapters' downloads as student copies (the committed notebooks hold the solutions)
    assert "| source | {source-archive}`name`" in text
    assert "{book-download}`.ipynb <10_wdp_definition.student.ipynb>`" in text
    assert "../../notebooks/" not in text and "{download}" not in text and ".instructor." not in text
    # every banded number of the committed expected files, with its band and basis
    assert "## Numbers checked within a band" in text and "### 21 ganimation training" in text
    glance = glance_page.read_text()
    assert "## Part I: Wasserstein differential privacy" in glance
    assert "| shift | 1 | 1.000 | ✓ yes |" in glance and "Rule: demo." in glance
    perf = perf_page.read_text()
    assert perf.startswith("# Performance") and "## GPU paper profile" in perf and "## Gpu" not in perf


def test_headings_keep_acronyms():
    assert book_pages.heading("gpu_paper_profile") == "GPU paper profile"
    assert book_pages.heading("accountant_growth") == "Accountant growth"
    assert book_pages.heading("mult_sizing") == "MulT sizing"


def test_refuses_options(capsys):
    assert book_pages.main(["--out", "x"]) == 2
    assert "no options" in capsys.readouterr().err


def test_record_renders_tex_tables_and_verdicts_outside_code():
    # a chapter's checked outputs: printed numbers, a Markdown table and a line with TeX, then its verdicts (one
    # of them wrapped, one with TeX); the TeX must reach MyST as Markdown, never inside a code block
    claims._SHOWN["10_demo"] = [
        ("Budgets are the $W_\\mu$ of the mechanism " + "x" * 80, "no"),
        ("shift", "yes"),
    ]
    outputs = [
        "W1 = 1.000\nexact $W_\\mu$: 5 of 6\n\n| a | $b$ |\n|---|---|\n| 1 | 2 |",
        claims.verdicts("10_demo"),
    ]
    lines = book_pages.checked_lines("\n".join(outputs))
    text = "\n".join(lines)
    fenced = re.findall(r"```text\n(.*?)```", text, re.S)
    assert fenced == ["W1 = 1.000\n"], fenced
    assert "exact $W_\\mu$: 5 of 6" in lines and "| a | $b$ |" in lines
    rows = [ln for ln in lines if ln.startswith("| no ") or ln.startswith("| yes ")]
    assert rows == ["| no | Budgets are the $W_\\mu$ of the mechanism " + "x" * 80 + " |", "| yes | shift |"]
    assert book_pages.checked_lines("(none)") == ["```text", "(none)", "```", ""]
