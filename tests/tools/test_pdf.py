"""tools/pdf.py prints a single-page build to PDF once its figures have loaded, and reports a missing figure."""

import importlib.util
import shutil
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "pdf.py"
spec = importlib.util.spec_from_file_location("pdf_tool", TOOL)
pdf_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pdf_tool)

pytestmark = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")), reason="needs Debian's chromium"
)


def site(tmp_path: Path, image: str) -> Path:
    from PIL import Image

    (tmp_path / "_images").mkdir()
    Image.new("RGB", (300, 100), "teal").save(tmp_path / "_images" / "fig.png")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.html").write_text(
        f'<!doctype html><html><body><h1>Book</h1><p>text</p><img src="{image}"></body></html>'
    )
    return tmp_path


def test_prints_the_book(tmp_path):
    root = site(tmp_path, "_images/fig.png")  # links relative to the site root, as Sphinx writes them
    assert pdf_tool.print_pdf(root, "book/intro.html", tmp_path / "out.pdf") == []
    assert (tmp_path / "out.pdf").read_bytes()[:5] == b"%PDF-"
    assert not (root / "_affect_print.html").exists()


def test_reports_a_missing_figure(tmp_path):
    root = site(tmp_path, "_images/missing.png")
    problems = pdf_tool.print_pdf(root, "book/intro.html", tmp_path / "out.pdf")
    assert any("image did not load" in p for p in problems)
