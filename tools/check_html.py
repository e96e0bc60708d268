"""Check the built book as a reader's browser sees it: ``python tools/check_html.py _build/html``.

Serves the HTML on 127.0.0.1, drives Debian's headless Chromium through Selenium and chromedriver over every page,
and fails on a console error, an image that did not load, math that MathJax did not render, or a broken internal
link or anchor (linkchecker). Saves one screenshot per page. Nothing here downloads a browser.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "mathjax", "sources"}
SKIP_PAGES = {"genindex.html", "search.html", "index.html"}  # index.html is a redirect to the root page

WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
const settle = () => setTimeout(() => done(true), 50);
if (!document.querySelector('.math')) { settle(); return; }
const start = Date.now();
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(settle, () => done(false));
  } else if (Date.now() - start > 15000) { done(false); } else { setTimeout(poll, 100); }
})();
"""

PAGE_PROBLEMS = """
const problems = [];
for (const img of document.images) {
  if (!img.complete || img.naturalWidth === 0) problems.push('image did not load: ' + img.getAttribute('src'));
}
for (const el of document.querySelectorAll('.math')) {
  if (!el.querySelector('mjx-container')) problems.push('math not rendered: ' + el.textContent.slice(0, 60));
}
return problems;
"""


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


def browser(profile_dir: str):
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


def check_pages(root: Path, base: str, shots: Path | None) -> list[str]:
    """Problems found on every page of ``root`` served at ``base``, as ``page: problem`` strings."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as profile_dir:
        driver = browser(profile_dir)
        try:
            for rel in pages(root):
                driver.get(f"{base}/{rel.as_posix()}")
                if not driver.execute_async_script(WAIT_FOR_MATH):
                    problems.append(f"{rel}: MathJax did not finish")
                problems += [f"{rel}: {p}" for p in driver.execute_script(PAGE_PROBLEMS)]
                problems += [
                    f"{rel}: console {entry['level']}: {entry['message'][:200]}"
                    for entry in driver.get_log("browser")
                    if entry["level"] == "SEVERE"
                ]
                if shots is not None:  # the whole page, not only the first screen
                    height = driver.execute_script("return document.documentElement.scrollHeight")
                    driver.set_window_size(1280, min(max(height, 800), 16000))
                    shot = shots / (rel.with_suffix("").as_posix().replace("/", "__") + ".png")
                    driver.save_screenshot(str(shot))
                    driver.set_window_size(1280, 1400)
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("html", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, default=None, help="folder for one PNG per page")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").exists():
        print(f"error: {args.html} has no index.html; run `make book` first", file=sys.stderr)
        return 2
    if args.screenshots is not None:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    server, base = serve(args.html)
    try:
        problems = check_pages(args.html, base, args.screenshots) + check_links(base)
    finally:
        server.shutdown()
    for problem in problems:
        print(f"FAIL {problem}")
    n = len(pages(args.html))
    print(
        f"check-html: {n} pages, {len(problems)} problems"
        + (f"; screenshots in {args.screenshots}" if args.screenshots else "")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
