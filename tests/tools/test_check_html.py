"""tools/check_html.py: each check fails on a small page planted with its defect and passes on a clean one.

The pages are served on 127.0.0.1 and read by Debian's headless Chromium, at a wide and a phone width.
"""

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_html.py"
spec = importlib.util.spec_from_file_location("check_html", TOOL)
check_html = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_html)

HAS_BROWSER = bool(shutil.which("chromium") and shutil.which("chromedriver"))
needs_browser = pytest.mark.skipif(not HAS_BROWSER, reason="needs Debian's chromium and chromium-driver")

# A page with the theme's moving parts: a chapter list that the ☰ button shows (narrow) or hides (wide).
PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ margin: 0; font: 16px sans-serif; display: flex; }}
#pst-primary-sidebar {{ width: 200px; flex: none; }}
#pst-primary-sidebar.hidden {{ display: none; }}
@media (max-width: 991px) {{
  #pst-primary-sidebar {{ display: none; }}
  #pst-primary-sidebar.open {{ display: block; position: fixed; inset: 0; background: white; }}
}}
article {{ flex: 1; min-width: 0; max-width: 600px; padding: 0 10px; }}
pre {{ overflow-x: auto; font-size: 12px; }}
div.math, mjx-container {{ display: block; overflow-x: auto; }}
img {{ max-width: 100%; height: auto; }}
</style></head><body>
<div id="pst-primary-sidebar"><nav><a href="#">Chapter 1</a><a href="#">Chapter 2</a></nav></div>
<article><button class="primary-toggle">☰</button>
<section id="body"><h1>A page</h1>{body}</section></article>
<script>
document.querySelector('.primary-toggle').addEventListener('click', () => {{
  const s = document.getElementById('pst-primary-sidebar');
  if ({nav_works}) s.classList.toggle(window.innerWidth >= 992 ? 'hidden' : 'open');
}});
</script>{script}</body></html>
"""

CLEAN = """
<p>The mechanism is <span class="math"><mjx-container>M</mjx-container></span>-WDP, it costs 5 euros.</p>
<div class="cell_input"><pre>print("short line")</pre></div>
<div class="cell_output"><div class="output"><pre>epoch 3 done</pre></div></div>
<div class="math"><mjx-container display="true"><span>W = 1</span></mjx-container></div>
<div class="affect-scroll-hint">scroll the table sideways for every column</div>
<div style="overflow-x: auto"><table><tr><td style="min-width: 900px">a wide table that scrolls</td></tr></table></div>
<div class="cell_output"><img src="fig.png" width="300"></div>
<div class="admonition"><p class="admonition-title">Re-run this chapter</p><p>It takes about 20 s.</p></div>
<div class="affect-interactive"><div class="js-plotly-plot"><div class="plot-container">
  <svg width="300" height="150"><rect width="300" height="150" fill="teal"/></svg></div></div></div>
<div class="affect-interactive"><input type="range" min="0" max="2" value="0"><img src="fig.png" width="200"></div>
"""
CLEAN_SCRIPT = """<script>
const s = document.querySelector('.affect-interactive input');
s.addEventListener('input', () => { s.nextElementSibling.src = 'fig.png?frame=' + s.value; });
</script>"""

DEFECTS = {
    "raw TeX": ("<p>the critic's objective $\\mathbb E[D_I(G(I_o|y_f))]$ in plain text</p>", "", "raw TeX"),
    "dollar": ("<p>a stray $ sign</p>", "", "raw TeX or $"),
    "wide code": ('<div class="cell_input"><pre>' + "x = 1; " * 40 + "</pre></div>", "", "code block wider"),
    "wide output": (
        '<div class="cell_output"><div class="output"><pre>' + "| BDP " * 60 + "</pre></div></div>",
        "",
        "output block wider",
    ),
    "wide equation": (
        '<div class="math"><mjx-container display="true"><span style="display:inline-block;width:1500px">'
        "W</span></mjx-container></div>",
        "",
        "equation block wider",
    ),
    "cut table": (
        '<div style="overflow: hidden"><table><tr><td style="min-width: 1500px">Has0-F1 MAE Corr</td></tr>'
        "</table></div>",
        "",
        "cut off",
    ),
    "table with no scroll cue": (  # a verdict column off-screen inside a box that scrolls, but says nothing
        '<div style="overflow-x: auto"><table><tr><td style="min-width: 900px">claim</td><td>agrees?</td></tr>'
        "</table></div>",
        "",
        'last column "agrees?" ends',
    ),
    "table cut by its box": (  # a hint, but the box does not scroll: the column is cut
        '<div class="affect-scroll-hint">scroll</div><div style="overflow: hidden; max-width: 300px"><table><tr>'
        '<td style="min-width: 500px">W1</td><td>W2</td></tr></table></div>',
        "",
        'last column "W2" ends',
    ),
    "progress bar": (
        '<div class="cell_output"><div class="output"><pre>critic steps:  25%|#######   | 75/300 '
        "[00:10&lt;00:30,  7.20it/s]</pre></div></div>",
        "",
        "progress-bar residue",
    ),
    "small figure": (  # a 15-in four-panel figure in a narrow column, squeezed further by a style
        '<div class="cell_output"><img src="fig.png" width="1500" style="max-width: 40%"></div>',
        "",
        "figure shown at",
    ),
    "stale run time": (
        '<div class="admonition"><p class="admonition-title">Re-run this chapter</p><p>about 60 s</p></div>',
        "",
        "re-run box states 60 s",
    ),
    "plotly not rendered": (
        '<div class="affect-interactive"><div class="js-plotly-plot"></div></div>',
        "",
        "plotly",
    ),
    "empty interactive": (
        '<div class="affect-interactive" style="height:50px">loading</div>',
        "",
        "shows nothing",
    ),
    "broken slider": (
        '<div class="affect-interactive"><input type="range" min="0" max="2" value="0" id="s2">'
        '<img src="fig.png" width="200"></div>',
        "<script>const t = document.getElementById('s2');"
        "t.addEventListener('input', () => { t.nextElementSibling.src = 'missing-frame.png'; });</script>",
        "after moving its slider",
    ),
    "console error": ("<p>fine text</p>", "<script>undefinedFunction();</script>", "console SEVERE"),
}


def write_page(folder: Path, name: str, body: str, script: str = "", nav_works: bool = True) -> None:
    (folder / f"{name}.html").write_text(
        PAGE.format(body=body, script=script, nav_works="true" if nav_works else "false")
    )


@pytest.fixture(scope="module")
def site():
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        Image.new("RGB", (600, 200), "white").save(root / "fig.png")
        write_page(root, "clean", CLEAN, CLEAN_SCRIPT)
        for i, (body, script, _) in enumerate(DEFECTS.values()):
            write_page(root, f"defect{i}", body, script)
        write_page(root, "deadnav", "<p>text</p>", nav_works=False)
        server, base = check_html.serve(root)
        driver = check_html.browser(str(root / "profile"))
        try:
            yield driver, base
        finally:
            driver.quit()
            server.shutdown()


def problems(site, page: str, width: int) -> list[str]:
    driver, base = site
    return check_html.check_page(driver, f"{base}/{page}.html", width, {"demo": 20.0}, "demo")


@needs_browser
@pytest.mark.parametrize("width", check_html.WIDTHS)
def test_clean_page_passes(site, width):
    assert problems(site, "clean", width) == []


@needs_browser
@pytest.mark.parametrize("width", check_html.WIDTHS)
@pytest.mark.parametrize("defect", list(DEFECTS))
def test_planted_defect_fails(site, defect, width):
    page = f"defect{list(DEFECTS).index(defect)}"
    found = problems(site, page, width)
    expected = DEFECTS[defect][2]
    assert any(expected in p for p in found), found


@needs_browser
@pytest.mark.parametrize("width", check_html.WIDTHS)
def test_dead_navigation_button_fails(site, width):
    found = problems(site, "deadnav", width)
    assert any("☰ button does not" in p for p in found), found


def test_stated_durations():
    assert check_html.stated_seconds("runs in about 25 s, the book about fifteen minutes") == [25.0, 900.0]
    assert check_html.stated_seconds("about 1.5 min") == [90.0]


def test_runtime_against_records():
    records = {"21_ganimation_training": 483.0, "22_evogan_search": 1304.0}
    assert check_html.runtime_problems("about 25 s", "", "21_ganimation_training", records)
    assert not check_html.runtime_problems("about 8 min", "", "21_ganimation_training", records)
    assert check_html.runtime_problems("", "the whole quick book takes about fifteen minutes", "x", records)
    assert not check_html.runtime_problems("", "the whole quick book takes about 30 min", "x", records)


def test_records_prefer_the_quick_run(tmp_path):
    (tmp_path / "a.paper.json").write_text('{"chapter": "a", "profile": "paper", "seconds": 900}')
    (tmp_path / "a.quick.json").write_text('{"chapter": "a", "profile": "quick", "seconds": 30}')
    assert check_html.read_records(tmp_path) == {"a": 30.0}
    assert check_html.read_records(tmp_path / "missing") == {}


# ---- checks on the built files (no browser) ----------------------------------------------------------------------

HISTORY_DEFECTS = [
    "## What changed after the review (issue 14)",
    "an independent review's runs of this quick setup",
    "the same review found it does not beat the unchanged input",
    "the whole frame, which an earlier version of this\nchapter fed the classifier",
    'easy_old = ["1000000"]  # the earlier version\'s hand-picked list',
    "fixed in issue #27",
]
HISTORY_CLEAN = [
    "which is what lets a reviewer re-execute a chapter",
    "the text form (the reviewed source, in jupytext's percent format)",
    "the paper's Table 1 issues no number for fear",
]


@pytest.mark.parametrize("text", HISTORY_DEFECTS)
def test_project_history_in_a_chapter_fails(text):
    assert check_html.history_problems(text), text


@pytest.mark.parametrize("text", HISTORY_CLEAN)
def test_ordinary_prose_is_not_history(text):
    assert check_html.history_problems(text) == []


def test_issue_numbers_fail_on_every_page_history_only_in_chapters():
    assert check_html.history_problems("the review of issue 3", chapter=False) == [
        'project history (an issue number): "...the review of issue 3"'
    ]
    assert check_html.history_problems("what changed after the review", chapter=False) == []


def _page(body: str) -> str:
    return (
        "<html><head><script>var issue = 'issue 14';</script></head><body><nav>What changed after the review</nav>"
        f"<article class='bd-article'>{body}</article></body></html>"
    )


def test_tree_problems_read_the_article_of_chapter_pages(tmp_path):
    (tmp_path / "book" / "notebooks").mkdir(parents=True)
    (tmp_path / "book" / "notebooks" / "21_x.html").write_text(
        _page("<h2>What changed after the review</h2>")
    )
    (tmp_path / "book" / "notebooks" / "22_x.html").write_text(_page("<p>current results only</p>"))
    (tmp_path / "book" / "changelog.html").write_text(_page("<p>an earlier version of this chapter</p>"))
    found = check_html.tree_problems(tmp_path)
    assert found and all(p.startswith("book/notebooks/21_x.html: project history") for p in found), found
    (tmp_path / "book" / "changelog.html").write_text(_page("<p>fixed in issue 14</p>"))
    assert any(p.startswith("book/changelog.html") for p in check_html.tree_problems(tmp_path))


def _tree(root: Path, *, intro: str = "", chapter: str = "", record: str = "") -> Path:
    """A built book with the source archive, a student and an instructor copy and the PDF."""
    import io
    import tarfile

    (root / "book" / "notebooks").mkdir(parents=True, exist_ok=True)
    (root / "book" / "generated").mkdir(parents=True, exist_ok=True)
    (root / "downloads").mkdir(exist_ok=True)
    (root / "affect_book.pdf").write_bytes(b"%PDF-1.4")
    archive = "affect-book-0123456789ab.tar.gz"
    with tarfile.open(root / "downloads" / archive, "w:gz") as tar:
        info = tarfile.TarInfo("affect-book-0123456789ab/Makefile")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"all:"))
    student = {
        "cells": [
            {"cell_type": "markdown", "source": "**Exercise 1**\n\nCount them."},
            {"cell_type": "code", "source": "# Your answer to exercise 1\n"},
        ]
    }
    instructor = {"cells": [{"cell_type": "markdown", "source": "**Solution**\n\n42."}]}
    (root / "downloads" / "c.student.ipynb").write_text(json.dumps(student))
    (root / "downloads" / "c.instructor.ipynb").write_text(json.dumps(instructor))
    link = f'<a href="../downloads/{archive}">{archive}</a>'
    (root / "book" / "intro.html").write_text(_page(intro or f"<p>The source: {link}</p>"))
    (root / "book" / "reproducing.html").write_text(_page('<a href="../affect_book.pdf">PDF</a>'))
    (root / "book" / "generated" / "reproducibility.html").write_text(
        _page(record or f'<p>source <a href="../../downloads/{archive}">{archive}</a></p>')
    )
    (root / "book" / "notebooks" / "c.html").write_text(
        _page(
            chapter
            or '<a href="../../downloads/c.student.ipynb">.ipynb</a> <a class="reference affect-instructor" '
            'href="../../downloads/c.instructor.ipynb">instructors</a>'
        )
    )
    return root


def test_a_clean_tree_passes(tmp_path):
    assert check_html.tree_problems(_tree(tmp_path)) == []


TREE_DEFECTS = {
    "dead PDF link": (lambda r: (r / "affect_book.pdf").unlink(), "missing file: ../affect_book.pdf"),
    "theme download of the executed notebook": (
        lambda r: _tree(r, chapter='<a href="../../_sources/book/notebooks/c.ipynb">.ipynb</a>'),
        "solutions included",
    ),
    "the source with its solutions": (
        lambda r: _tree(r, chapter='<a href="../../downloads/c.py">c.py</a>'),
        "download of a chapter with its solutions",
    ),
    "record links the committed notebook": (
        lambda r: _tree(r, record='<a href="../../_downloads/ab12/c.ipynb">c.ipynb</a>'),
        "solutions included",
    ),
    "instructor copy as the reader's download": (
        lambda r: _tree(r, chapter='<a href="../../downloads/c.instructor.ipynb">.ipynb</a>'),
        "instructor copy linked as a reader's download",
    ),
    "student copy with a solution": (
        lambda r: (r / "downloads" / "c.student.py").write_text("# **Solution**\n#\n# 42\n"),
        "a student copy holds a solution",
    ),
    "raw MyST in a copy": (
        lambda r: (r / "downloads" / "c.instructor.py").write_text(
            "# ```{admonition} Solution\n# 42\n# ```\n"
        ),
        "raw MyST directive fence",
    ),
    "student copy without answer cells": (
        lambda r: (r / "downloads" / "c.student.ipynb").write_text(
            json.dumps({"cells": [{"cell_type": "markdown", "source": "**Exercise 1**"}]})
        ),
        "0 answer cells for 1 exercises",
    ),
    "one answer cell for three exercises": (
        lambda r: (r / "downloads" / "c.student.ipynb").write_text(
            json.dumps(
                {
                    "cells": [
                        {
                            "cell_type": "markdown",
                            "source": "1. *(5 min, easy)* a\n2. *(5 min, easy)* b\n3. *(9 min, hard)* c",
                        },
                        {"cell_type": "code", "source": "# Your answer to exercise 1\n"},
                    ]
                }
            )
        ),
        "1 answer cells for 3 exercises",
    ),
    "no source archive on the introduction": (
        lambda r: _tree(r, intro="<p>git clone &lt;repository-url&gt;</p>"),
        "intro.html: no link to the source archive",
    ),
    "placeholder left in the text": (
        lambda r: _tree(r, intro="<p>git clone &lt;repository-url&gt;</p>"),
        "unfilled placeholder",
    ),
    "archive without the tree": (
        lambda r: (r / "downloads" / "affect-book-0123456789ab.tar.gz").write_bytes(b"not gzip"),
        "not a readable archive",
    ),
    "an older build's file in Sphinx's _downloads": (
        lambda r: (
            (r / "_downloads" / "ab12").mkdir(parents=True)
            or (r / "_downloads" / "ab12" / "c.ipynb").write_text("{}")
        ),
        "_downloads/ab12/c.ipynb: in Sphinx's _downloads/ but linked from no page",
    ),
}


def test_a_linked_sphinx_download_is_not_stale(tmp_path):
    root = _tree(tmp_path, intro='<a href="../_downloads/ab12/data.csv">data</a>')
    (root / "_downloads" / "ab12").mkdir(parents=True)
    (root / "_downloads" / "ab12" / "data.csv").write_text("a,b")
    assert not any("linked from no page" in p for p in check_html.tree_problems(root))


@pytest.mark.parametrize("defect", list(TREE_DEFECTS))
def test_planted_tree_defect_fails(tmp_path, defect):
    plant, expected = TREE_DEFECTS[defect]
    root = _tree(tmp_path)
    plant(root)
    found = check_html.tree_problems(root)
    assert any(expected in p for p in found), found


@needs_browser
def test_hidden_input_is_opened_and_needs_room_for_100_characters(site, tmp_path):
    # the page's 600 px column cannot hold 101 characters of 12 px monospace: a code cell in it fails at 1280 px,
    # hidden behind a toggle or not; at a phone's width lines wrap and the check does not apply
    driver, _ = site
    body = (
        '<div class="cell"><details class="above-input"><summary>Show code cell source</summary>'
        '<div class="cell_input"><pre style="white-space: pre">x = 1</pre></div></details></div>'
    )
    write_page(tmp_path, "hidden", body)
    server, local = check_html.serve(tmp_path)
    try:
        wide = check_html.check_page(driver, f"{local}/hidden.html", 1280, {}, "demo")
        narrow = check_html.check_page(driver, f"{local}/hidden.html", 390, {}, "demo")
    finally:
        server.shutdown()
    assert any("narrower than 101 characters" in p for p in wide), wide
    assert not any("101 characters" in p for p in narrow), narrow


@needs_browser
def test_book_tables_on_a_phone(site, tmp_path):
    # without the book's script a claims table's verdict and a wide data table's last column are off-screen at
    # 390 px with no cue; with it the claims table stacks (verdict first) and the data table gets a scroll hint
    driver, _ = site
    static = TOOL.parents[1] / "book" / "_ext" / "static"
    for name in ("affect.js", "affect.css"):
        shutil.copy(static / name, tmp_path / name)
    cell = '<td style="min-width: 150px">exact OT on samples within 0.33; formulas in [0.0968, 0.5000]</td>'
    body = (
        '<div style="overflow-x: auto"><table><thead><tr><th>claim</th><th>paper</th><th>this book</th>'
        f"<th>agrees?</th></tr></thead><tbody><tr>{cell * 3}"
        "<td>no</td></tr></tbody></table></div>"
        '<div class="cell_output"><div class="output text_html" style="overflow-x: auto"><div><table>'
        + "<tr>"
        + "".join(f"<th>column{i}</th>" for i in range(12))
        + "</tr>"
        + "<tr>"
        + "".join(f"<td>{i}.0000</td>" for i in range(12))
        + "</tr></table></div></div></div>"
    )
    head = '<link rel="stylesheet" href="affect.css"><script src="affect.js"></script>'
    write_page(tmp_path, "bare", body)
    write_page(tmp_path, "book", body, script=head)
    server, local = check_html.serve(tmp_path)
    try:
        bare = check_html.check_page(driver, f"{local}/bare.html", 390, {}, "demo")
        book = check_html.check_page(driver, f"{local}/book.html", 390, {}, "demo")
        verdict_first = driver.execute_script(
            "const c = document.querySelector('table.affect-claims td:last-child');"
            "return c.getBoundingClientRect().top < c.parentElement.cells[0].getBoundingClientRect().top;"
        )
    finally:
        server.shutdown()
    assert any('last column "agrees?"' in p for p in bare), bare
    assert any('last column "column11"' in p for p in bare), bare
    assert book == [], book
    assert verdict_first


TALL_FIGURE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='300' height='1500'/%3E"
PRINT_PAGES = {  # name: (body, expected problem or "" for none)
    "framed cell breaks": (  # the code may not break, its bordered container may: an empty frame at a page foot
        '<div class="cell_input" style="border-left: 3px solid green; background: #f7f7f7">'
        '<div class="highlight" style="break-inside: avoid"><pre>x = 1</pre></div></div>',
        "may break while its content may not",
    ),
    "forced break first": (  # a title block, then a page break before the chapter: the first page half empty
        '<div style="height: 200px">The book</div><h1 style="break-before: page">Chapter</h1><p>text</p>',
        "leaves the first page",
    ),
    "figure taller than a page": (  # moved to a new page whole (a blank one left behind), then cut
        f'<p>text</p><div class="cell_output"><img src="{TALL_FIGURE}"></div>',
        "taller than a page",
    ),
    "book print css": (  # the book's print rules: cells kept whole, a page break only between documents
        '<div style="height: 200px">The book</div><section><h1>Intro</h1><p style="height: 600px">text</p></section>'
        '<span id="document-ch"></span><section><h2>Chapter</h2>'
        '<div class="cell_input" style="border-left: 3px solid green; background: #f7f7f7">'
        '<div class="highlight" style="break-inside: avoid"><pre>x = 1</pre></div></div>'
        f'<div class="cell_output"><img src="{TALL_FIGURE}"></div></section>',
        "",
    ),
}


@needs_browser
@pytest.mark.parametrize("name", list(PRINT_PAGES))
def test_print_layout(site, tmp_path, name):
    driver, _ = site
    body, expected = PRINT_PAGES[name]
    shutil.copy(TOOL.parents[1] / "book" / "_ext" / "static" / "affect.css", tmp_path / "affect.css")
    css = '<link rel="stylesheet" href="affect.css">' if not expected else ""
    write_page(tmp_path, "printed", body, script=css)
    server, local = check_html.serve(tmp_path)
    try:
        found = check_html.check_print(driver, f"{local}/printed.html")
    finally:
        server.shutdown()
    if expected:
        assert any(expected in p for p in found), found
    else:
        assert found == [], found


def test_a_promise_of_interactivity_needs_an_interactive_figure():
    promise = "Move the sliders: every curve falls as the noise grows."
    assert check_html.interactivity_problems(promise, "<p>a static png</p>")  # planted: nothing to move
    assert check_html.interactivity_problems(promise, '<div class="affect-interactive">...</div>') == []
    assert check_html.interactivity_problems("The frames were rendered when the book was built.", "") == []
