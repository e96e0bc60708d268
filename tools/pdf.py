"""The whole book as one PDF: ``python tools/pdf.py _build/singlehtml _build/html/affect_book.pdf``.

Prints the single-page HTML build (``jupyter-book build . --builder singlehtml``) with Debian's headless
Chromium (``Page.printToPDF``, the engine of ``chromium --print-to-pdf``) after MathJax has typeset every
equation and every figure has loaded; fails if either did not happen, if the print layout would leave a code
frame empty at a page foot, break the page before the first content or cut a figure taller than a page
(``check_html.print_problems``), or if the PDF has a blank page, a figure cut across pages or a link that does not
resolve (``check_html.pdf_problems``). Links into the book become links inside the PDF; links to the build's other
files (downloads, the source archive, images) become paths relative to the PDF, which belongs at the root of the
HTML build (``_build/html/affect_book.pdf``). A4, page numbers in the footer. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from check_html import browser, pdf_problems, print_problems, serve, set_width  # noqa: E402 - a sibling script, not a package

PRINT_WIDTH = 720  # CSS px: A4 less 0.5-in margins, so equations and tables are fitted to the printed column
# Sets window.__affectReady once every image has loaded and MathJax has typeset the page (false if it failed).
WATCH_READY = """
window.__affectReady = null;
(function poll() {
  const images = Array.from(document.images).every(img => img.complete);
  const math = !document.querySelector('.math') || (window.MathJax && MathJax.startup && MathJax.startup.promise);
  if (!(images && math)) { setTimeout(poll, 200); return; }
  const finish = () => { window.dispatchEvent(new Event('resize')); setTimeout(() => { window.__affectReady = true; }, 800); };
  if (document.querySelector('.math')) MathJax.startup.promise.then(finish, () => { window.__affectReady = false; });
  else finish();
})();
"""
READY_TIMEOUT = 900  # s: MathJax typesets a whole book on one page
PROBLEMS = """
const out = [];
for (const img of document.images) if (!img.naturalWidth) out.push('image did not load: ' + img.getAttribute('src'));
const untypeset = Array.from(document.querySelectorAll('.math')).filter(el => !el.querySelector('mjx-container'));
if (untypeset.length) out.push(untypeset.length + ' equations not typeset');
return out;
"""
# Points every link to a place in the book at that place (an in-document link in the PDF, not a URL on the print
# server). The one-page build repeats ids across chapters (a citation's id in each chapter that cites it, "id2" in
# both chapters 10 and 30): a citation goes to its bibliography entry, any other link to the element with that id
# in its own chapter, else the first. arguments[0]: the page's paths on the server. Returns the links retargeted.
INTERNAL_LINKS = """
const paths = arguments[0];
const ids = new Map();
for (const el of document.querySelectorAll('[id]')) {
  if (!ids.has(el.id)) ids.set(el.id, []);
  ids.get(el.id).push(el);
}
const chapter = (el) => { let s = el.closest('section'), up; while (s && (up = s.parentElement.closest('section'))) s = up; return s; };
let n = 0, fresh = 0;
const renamed = new Set();
for (const a of document.querySelectorAll('a[href]')) {
  let url;
  try { url = new URL(a.href); } catch (e) { continue; }
  if (url.origin !== location.origin || !paths.includes(url.pathname) || url.hash.length < 2) continue;
  const all = (ids.get(decodeURIComponent(url.hash.slice(1))) || []).filter((t) => !t.contains(a));
  const target = all.find((t) => t.getAttribute('role') === 'doc-biblioentry')
    || all.find((t) => chapter(t) === chapter(a)) || all[0];
  if (!target) continue;
  if (!renamed.has(target) && ids.get(target.id).length > 1) {  // an id of its own, so the PDF goes to this one
    renamed.add(target);
    target.id = 'affect-print-' + (++fresh);
  }
  a.setAttribute('href', '#' + target.id);
  n++;
}
return n;
"""
FOOTER = (
    '<div style="font-size:8px; width:100%; text-align:center; color:#666">'
    '<span class="title"></span> — <span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


def relative_links(data: bytes, base: str) -> tuple[bytes, int]:
    """``data`` (a PDF) with every link to the print server ``base`` made relative to the PDF, which sits at the
    root of the HTML build (``http://127.0.0.1:8000/downloads/x.ipynb`` -> ``downloads/x.ipynb``), and how many.
    The URI strings are uncompressed dictionary entries; whitespace before each keeps every byte offset."""
    server = re.compile(rb"/URI \(" + re.escape(base.encode()) + rb"/")
    return server.subn(lambda m: b"/URI " + b" " * (len(m[0]) - 6) + b"(", data)


def print_pdf(site: Path, page: str, pdf: Path) -> list[str]:
    """Print ``site/page`` to ``pdf``; return the problems found (empty when the PDF is complete)."""
    # Sphinx writes the single page at the root document's path (book/intro.html) with links computed for the
    # site root (_images/...); a copy at the root resolves both those and its own ../_static links over HTTP.
    root_copy = site / "_affect_print.html"
    root_copy.write_text((site / page).read_text())
    server, base = serve(site)
    try:
        with tempfile.TemporaryDirectory() as profile:
            driver = browser(profile)
            try:
                driver.set_page_load_timeout(READY_TIMEOUT)
                set_width(driver, PRINT_WIDTH, 1000)
                driver.get(f"{base}/{root_copy.name}")
                driver.execute_script(WATCH_READY)
                start = time.monotonic()
                while (ready := driver.execute_script("return window.__affectReady")) is None:
                    waited = time.monotonic() - start
                    if int(waited) % 30 < 2:
                        print(f"pdf: waiting for MathJax and the figures ({waited:.0f} s)", flush=True)
                    if waited > READY_TIMEOUT:
                        return [f"MathJax or the images did not finish within {READY_TIMEOUT} s"]
                    time.sleep(2)
                if not ready:
                    return ["MathJax failed"]
                problems = driver.execute_script(PROBLEMS)
                problems += print_problems(driver)  # frames that print empty, a forced break first
                driver.execute_script(INTERNAL_LINKS, [f"/{page}", f"/{root_copy.name}"])
                result = driver.execute_cdp_cmd(
                    "Page.printToPDF",
                    {
                        "paperWidth": 8.27,
                        "paperHeight": 11.69,
                        "marginTop": 0.5,
                        "marginBottom": 0.6,
                        "marginLeft": 0.5,
                        "marginRight": 0.5,
                        "printBackground": True,
                        "displayHeaderFooter": True,
                        "headerTemplate": "<div></div>",
                        "footerTemplate": FOOTER,
                    },
                )
            finally:
                driver.quit()
    finally:
        server.shutdown()
        root_copy.unlink(missing_ok=True)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(relative_links(base64.b64decode(result["data"]), base)[0])
    return problems + pdf_problems(pdf)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("site", type=Path, help="the single-page build, e.g. _build/singlehtml")
    parser.add_argument("pdf", type=Path, help="the PDF to write")
    parser.add_argument("--page", default="book/intro.html", help="the page inside SITE that holds the book")
    args = parser.parse_args(argv)
    if not (args.site / args.page).exists():
        print(
            f"error: {args.site / args.page} does not exist; build the single-page HTML first",
            file=sys.stderr,
        )
        return 2
    problems = print_pdf(args.site, args.page, args.pdf)
    for problem in problems:
        print(f"FAIL {problem}")
    size = args.pdf.stat().st_size / 1e6 if args.pdf.exists() else 0
    print(f"pdf: wrote {args.pdf} ({size:.1f} MB), {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
