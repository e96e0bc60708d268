"""Check the built book as a reader's browser sees it: ``python tools/check_html.py _build/html``.

Serves the HTML on 127.0.0.1 and drives Debian's headless Chromium (Selenium + chromedriver) over every page at
each width in ``--widths`` (default 1280 and 390 px). On each page and width it fails on:

- a console error, an image that did not load, math that MathJax did not render;
- raw TeX or a ``$`` left in the rendered text (outside code);
- a code, output or equation block wider than its container (it scrolls or is cut), or anything that sticks out
  of the article column outside a scrolling container (a table may scroll inside its own container); hidden
  inputs are opened first, so they are checked as a reader who shows them sees them;
- a table whose last column ends past the visible edge without a scroll cue (the hint line affect.js puts above
  a table wider than its box; phones show no scroll bar), or inside a box that does not scroll;
- at 1200 px and wider (lines do not wrap), a chapter's code or output block with room for fewer than 101
  monospace characters (every line is at most 100, and fonts differ a little between systems);
- progress-bar residue in an output (``25%|###   | 75/300 [00:10<00:30, ...]``);
- a figure shown below 75% of its design size (its ``width`` attribute, else its natural width);
- a visible navigation button (☰) that does not open or close the chapter list;
- a stated run time ("about 25 s" in a re-run box, "the whole quick book ... about N minutes") more than 1.5x
  off the run record in ``_build/records``;
- an interactive figure (class ``affect-interactive``) that did not render, or whose slider does not work.

Without a browser, on the built files:

- project history in a chapter (an issue number, "the review", "an earlier version of this chapter";
  ``book/changelog.md`` is the place for it), an issue number on any page;
- a local link to a missing file (the PDF after ``make book``, a download);
- a file in Sphinx's ``_downloads/`` that no page links (an older build's copy, still published);
- a reader's download that serves the solutions: the page source under ``_sources/``, ``_downloads/``, a chapter
  ``.ipynb``/``.py`` other than its student copy, or an instructor copy not behind its labelled link; a student
  copy that holds a solution or lacks an empty answer cell after an exercise; a copy with raw MyST directive
  fences;
- raw TeX (``$W_\\mu$``) in a code block of a generated page (the record's checked outputs);
- no link to the source archive ``downloads/affect-book-<commit>.tar.gz`` on the introduction and the record, an
  archive that does not open or does not hold the tree, an unfilled ``<repository-url>`` placeholder.

The whole book's PDF, ``affect_book.pdf`` beside the pages (with poppler-utils): a blank page, a figure cut
across two pages, a link to the print server (127.0.0.1) or to a file missing beside the PDF. Printed (print media
at the PDF's width), each page fails on a framed block that may break around content that may not, a forced page
break before the first content, and a figure taller than a page.

Then linkchecker looks for broken internal links and anchors. Saves one screenshot per page and width.
Nothing here downloads a browser.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "mathjax", "sources", "_downloads"}
SKIP_PAGES = {"genindex.html", "search.html", "index.html"}  # index.html is a redirect to the root page
WIDTHS = (1280, 390)
FIGURE_MIN_SCALE = 0.75
RUNTIME_TOLERANCE = 1.5

WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
const settle = () => setTimeout(() => done(true), 50);
// no math, or no MathJax on the page (then "math not rendered" says so)
if (!document.querySelector('.math') || !document.querySelector('script[src*="mathjax" i]')) { settle(); return; }
const start = Date.now();
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(settle, () => done(false));
  } else if (Date.now() - start > 15000) { done(false); } else { setTimeout(poll, 100); }
})();
"""

# Every check that reads the rendered page; returns a list of problem strings. arguments[0]: the minimum figure scale.
PAGE_PROBLEMS = r"""
const minScale = arguments[0];
const problems = [];
const article = document.querySelector('article') || document.querySelector('main') || document.body;
const snip = (s) => s.replace(/\s+/g, ' ').trim().slice(0, 80);
for (const d of article.querySelectorAll('details')) d.open = true;  // hidden inputs are checked as shown
const where = (el) => {
  const sec = el.closest('section[id]');
  return sec ? ' (in #' + sec.id + ')' : '';
};
for (const img of document.images) {
  if (!img.complete || img.naturalWidth === 0) problems.push('image did not load: ' + img.getAttribute('src'));
}
for (const el of document.querySelectorAll('.math')) {
  if (!el.querySelector('mjx-container')) problems.push('math not rendered: ' + snip(el.textContent));
}

// Raw TeX or a dollar sign in prose: text outside code, math and scripts.
const SKIP_TEXT = 'pre, code, kbd, samp, script, style, textarea, mjx-container, .math, .MathJax, .highlight, '
  + 'mjx-assistive-mml, .affect-interactive';
const TEX = /\$|\\[A-Za-z]{2,}|\\[{}_^]|[_^]\{/;
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
let rawTex = 0;
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!parent || parent.closest(SKIP_TEXT)) continue;
  const m = node.textContent.match(TEX);
  if (m && rawTex++ < 5) {
    const i = Math.max(0, m.index - 30);
    problems.push('raw TeX or $ in text: "' + snip(node.textContent.slice(i, i + 80)) + '"' + where(parent));
  }
}
if (rawTex > 5) problems.push('raw TeX or $ in text: ' + (rawTex - 5) + ' more');

// Blocks that must fit their container: code, outputs, display equations.
const BLOCKS = [
  ['output', '.cell_output pre, .output pre'],  // an HTML table may scroll inside its container
  ['code', 'pre, .literal-block'],
  ['equation', 'div.math, mjx-container[display="true"]'],
];
const seen = new Set();
for (const [kind, selector] of BLOCKS) {
  let wide = 0;
  for (const el of article.querySelectorAll(selector)) {
    if (seen.has(el) || !el.getClientRects().length) continue;
    seen.add(el);
    const over = el.scrollWidth - el.clientWidth;
    if (over > 1) {
      if (wide++ < 5) {
        problems.push(kind + ' block wider than its container by ' + over + ' px (' + el.scrollWidth + ' in '
          + el.clientWidth + '): "' + snip(el.textContent) + '"' + where(el));
      }
    }
  }
  if (wide > 5) problems.push(kind + ' blocks wider than their container: ' + (wide - 5) + ' more');
}

// Where lines do not wrap, a chapter's code and output blocks hold a 100-character line and one spare character
// (fonts differ a little between systems): tests/test_chapters.py keeps every line within 100.
if (window.innerWidth >= 1200) {
  const ctx = document.createElement('canvas').getContext('2d');
  for (const pre of article.querySelectorAll('.cell pre')) {
    const s = getComputedStyle(pre);
    if (!pre.getClientRects().length || s.whiteSpace !== 'pre') continue;
    ctx.font = s.fontSize + ' ' + s.fontFamily;
    const ch = ctx.measureText('0'.repeat(100)).width / 100;
    const room = pre.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
    if (room < 101 * ch) {
      problems.push('code column narrower than 101 characters (' + Math.round(room) + ' px, needs '
        + Math.ceil(101 * ch) + '): "' + snip(pre.textContent) + '"' + where(pre));
    }
  }
}

// Anything sticking out of the article column that is not inside a scrolling container is cut off.
const right = article.getBoundingClientRect().right;
const scrollCache = new Map();
const scrolls = (el) => {  // inside a scrolling container (below the article)?
  const p = el.parentElement;
  if (!p || p === article) return false;
  if (!scrollCache.has(p)) {
    const ox = getComputedStyle(p).overflowX;
    scrollCache.set(p, ox === 'auto' || ox === 'scroll' || scrolls(p));
  }
  return scrollCache.get(p);
};
let cut = 0;
for (const el of article.querySelectorAll('*')) {
  if (el.parentElement && el.parentElement.closest('pre, mjx-container, svg')) continue;  // the block is checked
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.right <= right + 1 || scrolls(el)) continue;
  if (el.parentElement && el.parentElement.getBoundingClientRect().right > right + 1 && !scrolls(el.parentElement)
      && el.parentElement !== article) continue;  // report the outermost element only
  if (cut++ < 5) {
    problems.push('cut off: <' + el.tagName.toLowerCase() + (el.className ? ' class="' + el.className + '"' : '')
      + '> ends ' + Math.round(r.right - right) + ' px right of the column: "' + snip(el.textContent) + '"'
      + where(el));
  }
}
if (cut > 5) problems.push('cut off: ' + (cut - 5) + ' more elements');

// A table whose last column ends past the visible edge (of its scrolling box, or of the screen) needs a visible
// scroll cue: phones hide scroll bars, so nothing else tells a reader that a column (a verdict) is off-screen.
// The cue is the hint line affect.js puts before the box (class affect-scroll-hint); a box that does not scroll
// at all cuts the column.
let offscreen = 0;
for (const table of article.querySelectorAll('table')) {
  if (!table.getClientRects().length) continue;
  let box = table.parentElement;
  while (box && box !== article && !['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(box).overflowX)) {
    box = box.parentElement;
  }
  if (!box) box = article;
  const edge = Math.min(box.getBoundingClientRect().right, window.innerWidth);
  let over = 0;
  for (const row of table.rows) {
    const last = row.cells[row.cells.length - 1];
    if (last && last.getClientRects().length) over = Math.max(over, last.getBoundingClientRect().right - edge);
  }
  if (over <= 1) continue;
  const ox = getComputedStyle(box).overflowX;
  const hint = box.previousElementSibling;
  const cued = box !== article && (ox === 'auto' || ox === 'scroll') && hint
    && hint.classList.contains('affect-scroll-hint') && hint.getClientRects().length
    && hint.getBoundingClientRect().height > 0 && getComputedStyle(hint).visibility !== 'hidden';
  if (!cued && offscreen++ < 5) {
    const head = table.rows.length ? table.rows[0].cells : [];
    const col = head.length ? snip(head[head.length - 1].textContent) : '';
    problems.push('table\'s last column "' + col + '" ends ' + Math.round(over) + ' px past the visible edge '
      + 'with no scroll cue: "' + snip(table.textContent) + '"' + where(table));
  }
}
if (offscreen > 5) problems.push('tables cut off with no scroll cue: ' + (offscreen - 5) + ' more');

// Progress-bar residue in outputs.
const BAR = /\d{1,3}%\|[^|\n]*\||\|\s*\d+\/\d+\s*\[\d+:\d+|\d+(\.\d+)?(it|s)\/(s|it)\]/;
let bars = 0, firstBar = '';
for (const el of article.querySelectorAll('.cell_output, .output')) {
  for (const line of el.textContent.split('\n')) {
    if (BAR.test(line)) { if (!bars) firstBar = line; bars++; }
  }
}
if (bars) problems.push('progress-bar residue: ' + bars + ' lines, e.g. "' + snip(firstBar) + '"');

// Figures below their design size.
const column = article.getBoundingClientRect().width;
for (const img of article.querySelectorAll('.cell_output img, figure img, img.figure')) {
  if (!img.complete || !img.naturalWidth || img.closest('.affect-interactive')) continue;
  // design size: the width myst-nb gives a 2x figure (style or attribute, in CSS px), else its natural width
  const given = img.style.width.endsWith('px') ? img.style.width : String(img.getAttribute('width') || '');
  const attr = parseFloat(given);
  const design = attr > 0 && !given.endsWith('%') ? attr : img.naturalWidth;
  const shown = img.getBoundingClientRect().width;
  const target = Math.min(design, column);  // a narrow screen may scale down to the column, not further
  const scale = shown / design;
  if (shown < minScale * target || (window.innerWidth >= 992 && scale < minScale)) {
    problems.push('figure shown at ' + Math.round(100 * scale) + '% of its design size (' + Math.round(shown)
      + ' of ' + Math.round(design) + ' px): ' + img.getAttribute('src') + where(img));
  }
}

// Interactive figures must have rendered.
for (const box of document.querySelectorAll('.affect-interactive')) {
  const r = box.getBoundingClientRect();
  const name = where(box) || (' ' + snip(box.textContent));
  if (r.width < 10 || r.height < 10) problems.push('interactive figure has no size' + name);
  const plotly = box.querySelector('.js-plotly-plot, .plotly-graph-div');
  if (plotly && !plotly.querySelector('.plot-container svg')) problems.push('plotly figure did not render' + name);
  const drawn = box.querySelector('svg, canvas, img, video');
  if (!drawn) problems.push('interactive figure shows nothing (no svg, canvas or image)' + name);
  for (const img of box.querySelectorAll('img')) {
    if (!img.complete || !img.naturalWidth) problems.push('interactive figure image did not load' + name);
  }
}
return problems;
"""

# The page as Chromium prints it (print media, PRINT_WIDTH px): returns a list of problem strings.
# arguments[0]: the height of a printed page's content box in CSS px.
PRINT_PROBLEMS = r"""
const pageHeight = arguments[0];
const problems = [];
const article = document.querySelector('article') || document.querySelector('main') || document.body;
const snip = (s) => s.replace(/\s+/g, ' ').trim().slice(0, 60);
const avoids = (s) => s.breakInside === 'avoid' || s.breakInside === 'avoid-page';
const framed = (s) => ['Top', 'Left', 'Right', 'Bottom'].some(
    (side) => parseFloat(s['border' + side + 'Width']) > 0 && s['border' + side + 'Style'] !== 'none')
  || !/^(transparent|rgba\(0, 0, 0, 0\))$/.test(s.backgroundColor);
// A frame (a border or background) that may break across pages around content that may not: when the content
// moves to the next page, the frame's top prints empty at the foot of this one.
const frames = new Set();
for (const el of article.querySelectorAll('*')) {
  if (!el.getClientRects().length || !avoids(getComputedStyle(el))) continue;
  for (let a = el.parentElement; a && a !== article; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (avoids(s) || a.getBoundingClientRect().height > pageHeight) break;  // kept whole, or too tall to be
    if (framed(s)) {
      if (!frames.has(a) && frames.size < 5) {
        problems.push('print: a framed <' + a.tagName.toLowerCase() + ' class="' + a.className + '"> may break '
          + 'while its content may not (an empty frame at a page foot): "' + snip(a.textContent) + '"');
      }
      frames.add(a);
      break;
    }
  }
}
if (frames.size > 5) problems.push('print: ' + (frames.size - 5) + ' more framed blocks that may print empty');
// A figure taller than a page: Chromium moves it to a new page (leaving a blank one) and then cuts it.
for (const el of article.querySelectorAll('img, svg, canvas, video')) {
  const h = el.getBoundingClientRect().height;
  if (h > pageHeight && !el.parentElement.closest('svg')) {
    problems.push('print: a figure ' + Math.round(h) + ' px tall, taller than a page (' + pageHeight + ' px), is cut '
      + 'across pages: <' + el.tagName.toLowerCase() + ' src="' + (el.getAttribute('src') || '') + '">');
  }
}
// A forced page break before the first content: what comes before it is printed on a page of its own.
const forced = (v) => ['page', 'left', 'right', 'recto', 'verso'].includes(v);
for (const el of document.body.querySelectorAll('*')) {
  if (!el.getClientRects().length || !forced(getComputedStyle(el).breakBefore)) continue;
  const above = el.getBoundingClientRect().top + window.scrollY;
  if (above > 1 && above < pageHeight / 2) {
    problems.push('print: a forced page break before <' + el.tagName.toLowerCase() + '> "' + snip(el.textContent)
      + '" leaves the first page ' + Math.round(100 * (1 - above / pageHeight)) + '% empty');
  }
  break;
}
return problems;
"""
PRINT_WIDTH = 720  # CSS px: A4 less 0.5-in margins (tools/pdf.py prints at this width)
PRINT_PAGE_HEIGHT = 1000  # CSS px: A4 less its top and bottom margins, about


def print_problems(driver: Any) -> list[str]:
    """Problems of the loaded page as printed (print media at ``PRINT_WIDTH``); the screen media is restored."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        return driver.execute_script(PRINT_PROBLEMS, PRINT_PAGE_HEIGHT)
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


PDF_NAME = "affect_book.pdf"  # the whole book printed (tools/pdf.py), at the root of the HTML build
PDF_DPI = 20  # enough to see one line of text on an otherwise empty page
PDF_FOOTER_IN = 0.6  # in: the bottom margin, where the footer (title and page number) is on every page
LOCAL_URL = re.compile(r"^[a-z][a-z0-9+.-]*://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)", re.IGNORECASE)
POPPLER = ("pdftoppm", "pdfimages", "pdfinfo")  # Debian's poppler-utils


def _poppler(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def pdf_blank_pages(pdf: Path) -> list[int]:
    """Pages (1-based) of ``pdf`` with nothing printed above the footer margin, as poppler renders them."""
    from PIL import Image

    blank = []
    with tempfile.TemporaryDirectory() as tmp:
        _poppler("pdftoppm", "-r", str(PDF_DPI), "-gray", str(pdf), f"{tmp}/p")
        for path in sorted(Path(tmp).glob("p-*.pgm")):
            with Image.open(path) as page:
                body = page.crop((0, 0, page.width, page.height - round(PDF_FOOTER_IN * PDF_DPI)))
                if body.getextrema()[0] > 240:  # no pixel darker than near-white
                    blank.append(int(path.stem.rsplit("-", 1)[1]))
    return blank


def pdf_cut_images(pdf: Path) -> list[tuple[int, str]]:
    """Images of ``pdf`` drawn on two consecutive pages (one picture sliced by a page break): (first page, size)."""
    pages_of: dict[str, list[int]] = {}
    size: dict[str, str] = {}
    for line in _poppler("pdfimages", "-list", str(pdf)).splitlines()[2:]:
        f = line.split()  # page num type width height color comp bpc enc interp object ID ...
        if len(f) > 10 and f[2] == "image":
            pages_of.setdefault(f[10], []).append(int(f[0]))
            size[f[10]] = f"{f[3]}x{f[4]} px"
    return sorted((p, size[obj]) for obj, ps in pages_of.items() for p in sorted(set(ps)) if p + 1 in ps)


def pdf_links(pdf: Path) -> list[tuple[int, str]]:
    """Every link (URI annotation) of ``pdf``: (page, URI)."""
    out = []
    for line in _poppler("pdfinfo", "-url", str(pdf)).splitlines()[1:]:
        page, _, url = line.split(None, 2)
        out.append((int(page), url))
    return out


def pdf_problems(pdf: Path) -> list[str]:
    """A blank page, a figure cut across pages, a link to the print server or to a file missing beside the PDF."""
    missing = [tool for tool in POPPLER if not shutil.which(tool)]
    if missing:
        return [f"cannot check the PDF: {', '.join(missing)} missing (apt-get install poppler-utils)"]
    problems = [f"page {p} is blank" for p in pdf_blank_pages(pdf)]
    problems += [f"a {s} figure is cut across pages {p} and {p + 1}" for p, s in pdf_cut_images(pdf)]
    bad: dict[str, list[int]] = {}
    for page, url in pdf_links(pdf):
        if LOCAL_URL.match(url):
            bad.setdefault(f"a link to the print server: {url}", []).append(page)
        elif not re.match(r"^[a-z][a-z0-9+.-]*:|^#", url, re.IGNORECASE):
            path = urllib.parse.unquote(url.split("#", 1)[0].split("?", 1)[0])
            target = (pdf.parent / path).resolve()
            if not target.is_relative_to(pdf.parent.resolve()) or not target.exists():
                bad.setdefault(f"a link to a file missing beside the PDF: {url}", []).append(page)
    for what, pages in bad.items():
        shown = sorted(set(pages))
        problems.append(f"{what} (page {', '.join(map(str, shown[:5]))}{', ...' if len(shown) > 5 else ''})")
    return problems


def check_print(driver: Any, url: str) -> list[str]:
    """Problems of one page printed (Chromium's print of a chapter page, as a reader's browser prints it)."""
    set_width(driver, PRINT_WIDTH)
    driver.get(url)
    driver.execute_async_script(WAIT_FOR_MATH)
    return print_problems(driver)


# Moves every slider of every interactive figure to its last position; returns the number of sliders moved.
MOVE_SLIDERS = """
let n = 0;
for (const input of document.querySelectorAll('.affect-interactive input[type=range]')) {
  input.value = input.max || 100;
  input.dispatchEvent(new Event('input', {bubbles: true}));
  input.dispatchEvent(new Event('change', {bubbles: true}));
  n++;
}
return n;
"""

INTERACTIVE_IMAGES = """
return Array.from(document.querySelectorAll('.affect-interactive img'))
  .filter(img => !img.complete || !img.naturalWidth).map(img => img.getAttribute('src'));
"""

# Is any link of the chapter list visible on screen?
NAV_VISIBLE = """
const links = document.querySelectorAll('#pst-primary-sidebar a, #pst-primary-sidebar-modal a, .bd-sidebar-primary a');
for (const a of links) {
  const r = a.getBoundingClientRect();
  if (r.width > 0 && r.height > 0 && r.right > 0 && r.left < window.innerWidth && a.checkVisibility()) return true;
}
return false;
"""

VISIBLE_TOGGLES = """
return Array.from(document.querySelectorAll('.primary-toggle')).filter(b => {
  const r = b.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && b.checkVisibility();
});
"""

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45,
    "fifty": 50, "sixty": 60, "ninety": 90, "a": 1, "an": 1,
}  # fmt: skip
UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "min": 60, "minute": 60, "minutes": 60, "h": 3600,
                "hour": 3600, "hours": 3600}  # fmt: skip
DURATION = re.compile(
    r"about (?P<n>\d+(?:\.\d+)?|[a-z]+(?:-[a-z]+)?)\s*(?P<unit>s|sec|seconds?|min|minutes?|h|hours?)\b"
)
BOOK_RUNTIME = re.compile(r"(?:whole|entire|full) (?:quick )?book[^.]*?(?P<duration>about [^.,;()]+)")


def stated_seconds(text: str) -> list[float]:
    """Every duration stated as "about N unit" in ``text``, in seconds ("about fifteen minutes" -> 900)."""
    found = []
    for m in DURATION.finditer(text):
        n = m["n"]
        value = float(n) if n[0].isdigit() else NUMBER_WORDS.get(n)
        if value is not None:
            found.append(value * UNIT_SECONDS[m["unit"]])
    return found


def read_records(records: Path) -> dict[str, float]:
    """Chapter name -> seconds of its quick run (else its only run), from ``records/<name>.<profile>.json``."""
    found: dict[str, float] = {}
    for path in sorted(records.glob("*.json")) if records.is_dir() else []:
        rec = json.loads(path.read_text())
        if rec.get("profile") == "quick" or rec["chapter"] not in found:
            found[rec["chapter"]] = float(rec["seconds"])
    return found


def runtime_problems(rerun_text: str, page_text: str, chapter: str, records: dict[str, float]) -> list[str]:
    """Stated run times more than :data:`RUNTIME_TOLERANCE` off the run record.

    ``rerun_text``: the text of the page's re-run box (compared with the chapter's record); ``page_text``: the
    whole page, where a "whole quick book ... about N" sentence is compared with the sum of the quick records.
    """

    def off(stated: float, actual: float) -> bool:
        return actual > 0 and not (1 / RUNTIME_TOLERANCE <= stated / actual <= RUNTIME_TOLERANCE)

    problems = []
    if rerun_text and chapter in records:
        for stated in stated_seconds(rerun_text):
            if off(stated, records[chapter]):
                problems.append(
                    f"re-run box states {stated:.0f} s, the run record {records[chapter]:.0f} s "
                    f"(more than {RUNTIME_TOLERANCE}x off)"
                )
    if records:
        total = sum(records.values())
        for m in BOOK_RUNTIME.finditer(page_text):
            for stated in stated_seconds(m["duration"]):
                if off(stated, total):
                    problems.append(
                        f"page states the book runs in {stated:.0f} s, the run records sum to {total:.0f} s"
                    )
    return problems


# Project history has no place in a chapter: readers need the current result (book/changelog.md keeps the history,
# without internal issue numbers). Each pattern names what it found.
HISTORY = (
    (re.compile(r"\bissues?\s*#?\s*\d+", re.IGNORECASE), "an issue number"),
    (
        re.compile(
            r"\b(?:the|this|that|an?|same|independent|external|earlier|our|code|book's)\s+review(?:'s|’s)?\b",
            re.IGNORECASE,
        ),
        "a review as project history",
    ),
    (
        re.compile(
            r"\b(?:an?|the)\s+earlier\s+version(?:'s|’s|\s+of\s+(?:this|the)\s+(?:chapter|page|book|code))",
            re.IGNORECASE,
        ),
        "an earlier version",
    ),
    (re.compile(r"\bwhat\s+changed\s+(?:after|since)\b", re.IGNORECASE), "what changed"),
)
CHAPTER_PAGES = "book/notebooks/"


def history_problems(text: str, chapter: bool = True) -> list[str]:
    """Project history in a chapter's text: an issue number, "the review", "an earlier version of this chapter".
    On other pages (``chapter=False``, the changelog among them) only an issue number is a problem."""
    found = []
    for pattern, what in HISTORY if chapter else HISTORY[:1]:
        for m in pattern.finditer(text):
            quote = " ".join(text[max(0, m.start() - 40) : m.end()].split())
            found.append(f'project history ({what}): "...{quote}"')
    return found


INTERACTIVE_CLAIM = re.compile(
    r"\binteractive (?:figure|plot|chart|explorer)s?\b|\bmove the sliders?\b", re.I
)


def interactivity_problems(text: str, html: str) -> list[str]:
    """A page whose text promises an interactive figure or sliders but holds no ``affect-interactive`` element
    (the class every interactive figure of the book carries, and that the browser checks then exercise)."""
    m = INTERACTIVE_CLAIM.search(text)
    if m is None or "affect-interactive" in html:
        return []
    quote = " ".join(text[max(0, m.start() - 40) : m.end()].split())
    return [f'promises interactivity but has no interactive figure: "...{quote}"']


class _Text(HTMLParser):
    """The text of a page's ``<article>`` (else its body), scripts and styles left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.article = 0
        self.parts: list[str] = []
        self.article_parts: list[str] = []
        self.links: list[tuple[str, list[str]]] = []  # (href, classes) of every <a>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag == "article":
            self.article += 1
        elif tag == "a" and dict(attrs).get("href"):
            self.links.append((str(dict(attrs)["href"]), str(dict(attrs).get("class") or "").split()))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag == "article":
            self.article = max(0, self.article - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)
            if self.article:
                self.article_parts.append(data)


def _parse(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    return parser


def page_text(html: str) -> str:
    """What a reader can read on a page (its article; hidden solutions and collapsed code included)."""
    parser = _parse(html)
    return "".join(parser.article_parts or parser.parts)


# Reader-facing downloads: a chapter notebook or its text form may only be a student copy, or an instructor copy
# behind a link labelled for instructors (class affect-instructor, from the re-run box).
STUDENT = re.compile(r"(^|/)downloads/[^/]+\.student\.(ipynb|py)$")
INSTRUCTOR = re.compile(r"(^|/)downloads/[^/]+\.instructor\.(ipynb|py)$")
NOTEBOOK_LINK = re.compile(r"\.(ipynb|py)$")
SOURCE_ARCHIVE = re.compile(r"(^|/)downloads/affect-book-[\w.+-]+\.tar\.gz$")
GENERATED_PAGES = "book/generated/"  # the record, results at a glance, performance (tools/book_pages.py)
INLINE_TEX = re.compile(r"\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$|\$[^$\s]\$")  # $W_\mu$, $x$
ARCHIVE_PAGES = ("book/intro.html", "book/generated/reproducibility.html")  # must link this build's source
SOLUTION_TEXT = re.compile(  # a solution's heading; in a .py copy, behind the "# " of a Markdown cell
    r"^\s*(?:#\s)?\s*(?:\*\*|#+\s*|`{3,}\{\w+\}\s*|:{3,}\{\w+\}\s*)(?:solutions?|answers?)\b",
    re.IGNORECASE | re.MULTILINE,
)
MYST_FENCE = re.compile(r"^\s*(?:#\s)?\s*(?:`{3,}|:{3,})\{", re.MULTILINE)
ANSWER_CELL = re.compile(r"^# Your answer to exercise \d+")  # a student copy's empty answer cell
EXERCISE = re.compile(r"^\s*\d+\. \*\(\d+ min, (?:easy|medium|hard)\)\*", re.M)


def link_problems(root: Path, rel: Path, links: list[tuple[str, list[str]]]) -> list[str]:
    """Local links to missing files (the PDF, a download), and downloads that serve the solutions to a reader."""
    problems = []
    for href, classes in links:
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^//", href, re.IGNORECASE):
            continue
        path = href.split("#", 1)[0].split("?", 1)[0]
        if not path:
            continue
        target = (root / rel).parent / path
        if not target.resolve().is_relative_to(root.resolve()) or not target.exists():
            problems.append(f"link to a missing file: {href}")
        if "_sources/" in path and NOTEBOOK_LINK.search(path) or "_downloads/" in path:
            problems.append(
                f"download of Sphinx's copy of a source, solutions included: {href} (link the student copy)"
            )
        elif NOTEBOOK_LINK.search(path) and not STUDENT.search(path):
            if not INSTRUCTOR.search(path):
                problems.append(f"download of a chapter with its solutions: {href} (link the student copy)")
            elif "affect-instructor" not in classes:
                problems.append(f"instructor copy linked as a reader's download: {href}")
    return problems


def download_problems(root: Path) -> list[str]:
    """Student copies without solutions, copies without raw MyST, a source archive that opens."""
    import tarfile

    problems = []
    folder = root / "downloads"
    for path in sorted(folder.glob("*.ipynb")) + sorted(folder.glob("*.py")) if folder.is_dir() else []:
        text = path.read_text(errors="replace")
        if path.suffix == ".ipynb":
            cells = json.loads(text).get("cells", [])
            text = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "markdown")
        if ".student." in path.name and SOLUTION_TEXT.search(text):
            problems.append(f"downloads/{path.name}: a student copy holds a solution")
        if MYST_FENCE.search(text) and (".student." in path.name or ".instructor." in path.name):
            problems.append(f"downloads/{path.name}: raw MyST directive fence (Jupyter shows it as code)")
        student = folder / path.name.replace(".instructor.", ".student.")
        if path.name.endswith(".instructor.ipynb") and student.exists():
            student_cells = json.loads(student.read_text(errors="replace")).get("cells", [])
            answers = sum(
                1
                for c in student_cells
                if c.get("cell_type") == "code" and ANSWER_CELL.match("".join(c.get("source", "")))
            )
            exercises = sum(  # an exercise starts with its estimate, "1. *(10 min, easy)* ..."
                len(EXERCISE.findall("".join(c.get("source", ""))))
                for c in student_cells
                if c.get("cell_type") == "markdown"
            )
            solutions = max(len(SOLUTION_TEXT.findall(text)), exercises)
            if answers < solutions:
                problems.append(
                    f"downloads/{student.name}: {answers} answer cells for {solutions} exercises "
                    "(an empty '# Your answer to exercise n' cell after each)"
                )
    for archive in sorted(folder.glob("affect-book-*.tar.gz")) if folder.is_dir() else []:
        try:
            with tarfile.open(archive) as tar:
                names = tar.getnames()
        except (OSError, tarfile.TarError) as err:
            problems.append(f"downloads/{archive.name}: not a readable archive ({err})")
            continue
        top = archive.name.removesuffix(".tar.gz") + "/"
        if not all(n.startswith(top) for n in names) or not any(n == top + "Makefile" for n in names):
            problems.append(f"downloads/{archive.name}: not the book's tree under {top} (no {top}Makefile)")
    return problems


def tree_problems(root: Path) -> list[str]:
    """Checks on the built files themselves (no browser): see the module docstring."""
    problems = []
    linked: set[Path] = set()
    for rel in pages(root):
        html = (root / rel).read_text(errors="replace")
        parsed = _parse(html)
        linked |= {
            ((root / rel).parent / urllib.parse.unquote(h.split("#")[0])).resolve() for h, _ in parsed.links
        }
        text = "".join(parsed.article_parts or parsed.parts)
        chapter = rel.as_posix().startswith(CHAPTER_PAGES)
        found = history_problems(text, chapter) + interactivity_problems(text, html)
        found += link_problems(root, rel, parsed.links)
        if "<repository-url>" in text or re.search(r"\{\{ [a-z_]+ \}\}", text):
            found.append("an unfilled placeholder (<repository-url> or {{ ... }}) in the text")
        if rel.as_posix().startswith(GENERATED_PAGES):  # no reader code there: TeX in a code block is raw
            for block in re.findall(r"<pre\b[^>]*>(.*?)</pre>", html, re.S):
                if tex := INLINE_TEX.search(page_text(block)):
                    found.append(f"raw TeX in a code block (render it as Markdown): {tex[0]}")
        if rel.as_posix() in ARCHIVE_PAGES and not any(SOURCE_ARCHIVE.search(h) for h, _ in parsed.links):
            found.append("no link to the source archive (downloads/affect-book-<commit>.tar.gz)")
        problems += [f"{rel}: {p}" for p in found]
    stale = [p for p in sorted(root.glob("_downloads/**/*")) if p.is_file() and p.resolve() not in linked]
    problems += [
        f"{p.relative_to(root)}: in Sphinx's _downloads/ but linked from no page (an older build's)"
        for p in stale
    ]
    return problems + download_problems(root)


def pages(root: Path) -> list[Path]:
    """Every content page of the built book."""
    found = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP_DIRS or str(rel) in SKIP_PAGES:
            continue
        found.append(rel)
    return found


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # linkchecker hangs up after the headers
                super().handle_error(request, client_address)

    handler = functools.partial(Quiet, directory=str(root))
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def browser(profile_dir: str) -> Any:
    """Headless Debian Chromium through chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=1280,1400",
        f"--user-data-dir={profile_dir}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=opts, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    )
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


def set_width(driver: Any, width: int, height: int = 1000) -> None:
    """Make the page's layout viewport ``width`` CSS px wide (phones included: device metrics, not the window)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def navigation_problems(driver: Any) -> list[str]:
    """The visible ☰ button must open the chapter list (narrow screens) or toggle it (wide screens)."""
    toggles = driver.execute_script(VISIBLE_TOGGLES)
    if not toggles:
        return ["no visible navigation (☰) button"]
    before = driver.execute_script(NAV_VISIBLE)
    toggles[0].click()
    time.sleep(0.25)
    after = driver.execute_script(NAV_VISIBLE)
    if before and after:
        return ["the ☰ button does not close the chapter list"]
    if not before and not after:
        return ["the ☰ button does not open the chapter list"]
    if before:  # wide screen: it hid the list; it must bring it back
        toggles[0].click()
        time.sleep(0.25)
        if not driver.execute_script(NAV_VISIBLE):
            return ["the ☰ button hides the chapter list but does not bring it back"]
    return []


def rerun_text(driver: Any) -> str:
    """Text of the page's re-run box (an admonition whose title starts with "Re-run"), else ""."""
    return driver.execute_script(
        """
        for (const box of document.querySelectorAll('.admonition, .affect-rerun')) {
          const title = box.querySelector('.admonition-title');
          if (box.classList.contains('affect-rerun') || (title && /^\\s*Re-run/.test(title.textContent)))
            return box.innerText;
        }
        return '';
        """
    )


def console_errors(driver: Any) -> list[str]:
    return [
        f"console {entry['level']}: {entry['message'][:200]}"
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
    ]


def check_page(driver: Any, url: str, width: int, records: dict[str, float], chapter: str) -> list[str]:
    """Problems of one page at one width."""
    set_width(driver, width)
    driver.get(url)
    problems = [] if driver.execute_async_script(WAIT_FOR_MATH) else ["MathJax did not finish"]
    problems += driver.execute_script(PAGE_PROBLEMS, FIGURE_MIN_SCALE)
    if driver.execute_script(MOVE_SLIDERS):
        time.sleep(0.5)
        problems += [f"interactive figure image did not load after moving its slider: {s}"
                     for s in driver.execute_script(INTERACTIVE_IMAGES)]  # fmt: skip
    problems += runtime_problems(
        rerun_text(driver), driver.find_element("tag name", "body").text, chapter, records
    )
    problems += navigation_problems(driver)
    problems += console_errors(driver)
    return problems


def screenshot(driver: Any, url: str, width: int, path: Path) -> None:
    """The whole page at ``width``, not only the first screen."""
    driver.get(url)
    driver.execute_async_script(WAIT_FOR_MATH)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    set_width(driver, width, min(max(height, 800), 16000))
    driver.execute_async_script(WAIT_FOR_MATH)
    driver.save_screenshot(str(path))


def check_pages(
    root: Path,
    base: str,
    shots: Path | None,
    *,
    widths: tuple[int, ...] = WIDTHS,
    records: dict[str, float] | None = None,
    only: str = "",
) -> list[str]:
    """Problems found on every page of ``root`` served at ``base``, as ``page @ width: problem`` strings."""
    problems: list[str] = []
    records = records or {}
    with tempfile.TemporaryDirectory() as profile_dir:
        driver = browser(profile_dir)
        try:
            for rel in [p for p in pages(root) if only in p.as_posix()]:
                url = f"{base}/{rel.as_posix()}"
                for width in widths:
                    found = check_page(driver, url, width, records, rel.stem)
                    problems += [f"{rel} @ {width}px: {p}" for p in found]
                    if shots is not None:
                        name = rel.with_suffix("").as_posix().replace("/", "__")
                        screenshot(driver, url, width, shots / f"{name}.{width}.png")
                problems += [f"{rel} printed: {p}" for p in check_print(driver, url)]
                print(f"checked {rel}", flush=True)
        finally:
            driver.quit()
    return problems


def check_links(base: str) -> list[str]:
    """Broken internal links and anchors, by linkchecker (Debian's package), over HTTP.

    Over HTTP rather than file:// because linkchecker run as root drops to ``nobody``, who may not read the tree.
    """
    if shutil.which("linkchecker") is None:
        return ["linkchecker is not installed (apt-get install linkchecker)"]
    config = Path(__file__).with_name("linkcheckerrc")
    result = subprocess.run(
        ["linkchecker", "--no-status", "-f", str(config), f"{base}/index.html"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or "0 warnings found" not in result.stdout:
        return ["linkchecker found problems:\n" + result.stdout[-4000:]]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("html", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument(
        "--screenshots", type=Path, default=None, help="folder for one PNG per page and width"
    )
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="CSS px, comma-separated")
    parser.add_argument("--records", type=Path, default=None, help="run records (default: HTML/../records)")
    parser.add_argument("--no-links", action="store_true", help="skip linkchecker")
    parser.add_argument("--only", default="", help="check only pages whose path contains this text")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").exists():
        print(f"error: {args.html} has no index.html; run `make book` first", file=sys.stderr)
        return 2
    if args.screenshots is not None:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    widths = tuple(int(w) for w in args.widths.split(","))
    records = read_records(args.records or args.html.parent / "records")
    problems = tree_problems(args.html)
    if (args.html / PDF_NAME).exists():  # after `make book`; a link to it when it is missing fails above
        problems += [f"{PDF_NAME}: {p}" for p in pdf_problems(args.html / PDF_NAME)]
    server, base = serve(args.html)
    try:
        problems += check_pages(
            args.html, base, args.screenshots, widths=widths, records=records, only=args.only
        )
        if not args.no_links:
            problems += check_links(base)
    finally:
        server.shutdown()
    for problem in problems:
        print(f"FAIL {problem}")
    n = len(pages(args.html))
    print(
        f"check-html: {n} pages at {', '.join(f'{w} px' for w in widths)}, {len(problems)} problems"
        + (f"; screenshots in {args.screenshots}" if args.screenshots else "")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
