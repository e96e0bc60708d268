"""tools/pdf.py prints a single-page build to PDF once its figures have loaded, and reports a missing figure."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "pdf.py"
spec = importlib.util.spec_from_file_location("pdf_tool", TOOL)
pdf_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pdf_tool)
check_html = sys.modules["check_html"]  # the sibling script pdf.py imports

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("chromium", "chromedriver", *check_html.POPPLER)),
    reason="needs Debian's chromium and poppler-utils",
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


def write_book(tmp_path: Path, body: str) -> Path:
    """A one-page 'book' (book/intro.html) with a 300 x 100 px and a 300 x 1600 px figure and a download."""
    from PIL import Image

    (tmp_path / "_images").mkdir()
    Image.new("RGB", (300, 100), "teal").save(tmp_path / "_images" / "fig.png")
    Image.new("RGB", (300, 1600), "teal").save(tmp_path / "_images" / "tall.png")
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "ch.student.ipynb").write_text("{}")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.html").write_text(f"<!doctype html><html><body>{body}</body></html>")
    return tmp_path


def test_links_point_inside_the_pdf_or_beside_it(tmp_path):
    # as Sphinx's one-page build writes them: a fragment, the page's own path with a fragment (an id repeated in
    # two chapters: the link goes to its own chapter's), a download relative to the page
    body = (
        '<section><h1 id="one">One</h1><p id="dup">first</p></section>'
        '<section><h1 id="two">Two</h1><p id="dup">second</p>'
        '<p><a href="#one">back</a> <a href="book/intro.html#dup">here</a> <a href="#dup">again</a> '
        '<a href="../downloads/ch.student.ipynb">the notebook</a></p></section>'
    )
    root = write_book(tmp_path, body)
    assert pdf_tool.print_pdf(root, "book/intro.html", root / "out.pdf") == []
    links = [url for _, url in check_html.pdf_links(root / "out.pdf")]
    assert links == ["downloads/ch.student.ipynb"], links  # the others are in-document links
    pdf = (root / "out.pdf").read_bytes()
    assert pdf.count(b"/Dest ") == 3 and b"/Dest /affect-print-1" in pdf  # the repeated id: a name of its own


def test_a_link_to_the_print_server_fails(tmp_path, monkeypatch):
    # planted: the PDF as printed, links not rewritten (every local link a URL on 127.0.0.1)
    root = write_book(tmp_path, '<p><a href="../downloads/ch.student.ipynb">the notebook</a></p>')
    monkeypatch.setattr(pdf_tool, "relative_links", lambda data, base: (data, 0))
    problems = pdf_tool.print_pdf(root, "book/intro.html", root / "out.pdf")
    assert any("a link to the print server: http://127.0.0.1:" in p for p in problems), problems


def test_a_link_to_a_missing_file_fails(tmp_path):
    root = write_book(tmp_path, '<p><a href="../downloads/gone.ipynb">the notebook</a></p>')
    problems = pdf_tool.print_pdf(root, "book/intro.html", root / "out.pdf")
    assert any("missing beside the PDF: downloads/gone.ipynb" in p for p in problems), problems


def test_a_blank_page_fails(tmp_path):
    body = '<p style="break-after: page">one</p><div style="break-after: page"></div><p>three</p>'
    root = write_book(tmp_path, body)
    problems = pdf_tool.print_pdf(root, "book/intro.html", root / "out.pdf")
    assert "page 2 is blank" in problems, problems


def test_a_figure_taller_than_a_page_fails_and_the_book_css_fits_it(tmp_path):
    # planted: the figure is kept whole (break-inside: avoid) but is taller than a page, so it moves on and is cut
    figure = (
        '<p>text</p><div class="cell_output"><img src="_images/tall.png" style="break-inside: avoid"></div>'
    )
    root = write_book(tmp_path, figure)
    problems = pdf_tool.print_pdf(root, "book/intro.html", root / "out.pdf")
    assert any("taller than a page" in p for p in problems), problems
    assert any("cut across pages 1 and 2" in p or "cut across pages 2 and 3" in p for p in problems), problems
    shutil.copy(TOOL.parents[1] / "book" / "_ext" / "static" / "affect.css", root / "affect.css")
    html = (root / "book" / "intro.html").read_text()
    (root / "book" / "intro.html").write_text(
        html.replace("<body>", '<body><link rel="stylesheet" href="affect.css">')
    )
    assert pdf_tool.print_pdf(root, "book/intro.html", root / "out.pdf") == []
