"""The book's Sphinx extension: theme fixes, the re-run box, one citation style, and clean code listings.

- ``static/affect.css`` and ``static/affect.js``: the ☰ buttons of sphinx-book-theme 1.3.0 + pydata-sphinx-theme
  0.17.1 (whose listeners bind a hidden duplicate), the empty header band, code that fits the column, tables
  that scroll, equations scaled to fit, click-to-zoom figures.
- The re-run box: ```` ```{rerun} ```` (optional body: the chapter's own notes) or, failing that, the chapter's
  old "Re-run this chapter" admonition, is placed right under the learning goals with the command, the run time
  and machine from ``_build/records/<chapter>.<profile>.json``, and the student / instructor downloads.
- Citations: author-year labels in the text *and* the bibliography; DOIs and arXiv IDs as links.
- ``# noqa`` comments are dropped from the code a reader sees.
- ``repository.url`` in ``_config.yml`` is the one place that switches on the repository, issue, edit and
  Colab/Binder buttons (pointing at the committed chapter files) and fills ``{{ repository_url }}`` and
  ``{{ repository_clone }}`` (empty while it is unset).
- Downloads: ``{book-download}`label <file>``` links a student or instructor copy in ``downloads/``;
  ``{source-archive}`name``` the source archive of this build (``{{ source_archive }}``, written at the end of
  every HTML build). The theme's page download on a chapter serves the student copy, not ``_sources/``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive

sys.path.insert(0, str(Path(__file__).parent))
import affect_downloads  # noqa: E402 - a sibling module of this local extension

STATIC = Path(__file__).parent / "static"
CHAPTER_DIR = "book/notebooks/"
NOQA = re.compile(r"[ \t]*#[ \t]*noqa\b[^\n]*")


class rerun_box(nodes.Admonition, nodes.Element):
    """The re-run box of a chapter (rendered as a ``tip`` admonition)."""


class RerunDirective(Directive):
    """```` ```{rerun} ```` marks where the re-run box goes; its body is added to the box."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        box = rerun_box()
        if self.content:
            self.state.nested_parse(self.content, self.content_offset, box)
        return [box]


def format_seconds(seconds: float) -> str:
    """``about 25 s`` / ``about 8 min``: rounded so that the text stays within 1.5x of the record."""
    if seconds < 20:
        return f"about {max(1, round(seconds))} s"
    if seconds < 100:
        return f"about {5 * round(seconds / 5)} s"
    return f"about {round(seconds / 60)} min"


def read_record(records: Path, chapter: str) -> dict[str, Any] | None:
    """The run record of the executed page: the one written for ``book/notebooks``, else the quick one."""
    found = [json.loads(p.read_text()) for p in sorted(records.glob(f"{chapter}.*.json"))]
    for rec in found:
        if str(rec.get("output", "")).endswith(f"{CHAPTER_DIR}{chapter}.ipynb"):
            return rec
    quick = [r for r in found if r.get("profile") == "quick"]
    return (quick or found or [None])[0]


def machine_text(rec: dict[str, Any]) -> str:
    """``an Intel Xeon ... (2 of 2 cores, load 1.3), 2026-12-01`` from a record's ``machine`` entry."""
    m = rec.get("machine") or {}
    parts = []
    if m.get("cpu"):
        cores = f"{m['cores']} of {m['cpu_count']} cores" if m.get("cpu_count") else f"{m.get('cores')} cores"
        load = f", load {m['load']:.1f} at the end" if m.get("load") is not None else ""
        forced = {"default": "x86-64 baseline"}.get(m.get("kernels"), m.get("kernels"))
        kernels = f", {forced} kernels forced" if forced else ""
        parts.append(f"{m['cpu']} ({cores}{load}{kernels})")
    if m.get("gpu"):
        parts.append(f"GPU {m['gpu']}")
    when = str(rec.get("finished", ""))[:10]
    text = " with ".join(parts) if parts else "this build's machine"
    return text + (f", on {when}" if when else "")


def _para(*children: nodes.Node | str) -> nodes.paragraph:
    para = nodes.paragraph()
    for child in children:
        para += nodes.Text(child) if isinstance(child, str) else child
    return para


def _download(label: str, filename: str, *classes: str) -> nodes.reference:
    """A link to ``downloads/<filename>``; its relative URI is fixed per page in :func:`resolve_downloads`."""
    return nodes.reference("", label, refuri=f"affect-download:{filename}", classes=list(classes))


SOURCE_ARCHIVE = "source-archive"
ROLE_TARGET = re.compile(r"^(?P<label>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)


def download_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any, options=None, content=None):
    """```{book-download}`label <file>` ```: a link to ``downloads/<file>`` of the built book (a student or
    instructor copy); ``<source-archive>`` is the source archive of this build."""
    m = ROLE_TARGET.match(text)
    label, target = (m["label"], m["target"]) if m else (text, text)
    return [_download(label or target, target, "affect-book-download")], []


def source_archive_role(
    name: str, rawtext: str, text: str, lineno: int, inliner: Any, options=None, content=None
):
    """```{source-archive}`label` ```: a link to the source archive of this build; the label ``name`` shows the
    archive's file name (filled in by :func:`resolve_downloads`)."""
    return [_download("" if text == "name" else text, SOURCE_ARCHIVE, "affect-source-archive")], []


def box_contents(chapter: str, record: dict[str, Any] | None) -> list[nodes.Node]:
    """The generated paragraphs of a chapter's re-run box."""
    command = _para(
        nodes.literal(text=f"make chapter NB={chapter}"),
        " executes this chapter alone (quick profile) and rebuilds the book; ",
        nodes.literal(text=f"python -m affect_lib chapter {chapter} --profile paper --data-dir PATH"),
        " runs it on the paper's settings and data.",
    )
    if record is None:
        runtime = _para("This build has no run record for this chapter yet.")
    else:
        runtime = _para(
            "This page's run (",
            nodes.strong(text=f"{record.get('profile', 'quick')} profile"),
            ") took ",
            nodes.strong(text=format_seconds(float(record["seconds"]))),
            f" on {machine_text(record)}.",
        )
    files = affect_downloads.download_names(chapter)
    downloads = _para(
        "Download this chapter: ",
        _download(".ipynb", files["student_ipynb"]),
        ", ",
        _download(".py", files["student_py"]),
        " (the exercises, without their solutions) · instructors' copy, with the solutions: ",
        _download(".ipynb", files["instructor_ipynb"], "affect-instructor"),
        ", ",
        _download(".py", files["instructor_py"], "affect-instructor"),
        ".",
    )
    downloads["classes"].append("affect-downloads")
    return [command, runtime, downloads]


def _is_old_rerun(node: nodes.Node) -> bool:
    if not isinstance(node, nodes.admonition) or isinstance(node, rerun_box):
        return False
    titles = [c for c in node.children if isinstance(c, nodes.title)]
    return bool(titles) and titles[0].astext().strip().startswith("Re-run")


def _goals_anchor(doctree: nodes.document) -> tuple[nodes.Element, int] | None:
    """(parent, index) right after the list that follows the "Learning goals" paragraph."""
    for para in doctree.findall(nodes.paragraph):
        if not para.astext().strip().lower().startswith("learning goals"):
            continue
        parent = para.parent
        i = parent.index(para) + 1
        while i < len(parent) and isinstance(parent[i], nodes.bullet_list | nodes.enumerated_list):
            i += 1
        return parent, i
    return None


def place_rerun_box(app: Any, doctree: nodes.document) -> None:
    """Build the re-run box of a chapter page and put it under the learning goals."""
    docname = app.env.docname
    if not docname.startswith(CHAPTER_DIR):
        for box in list(doctree.findall(rerun_box)):
            box.parent.remove(box)
        return
    chapter = docname[len(CHAPTER_DIR) :]
    records = Path(app.confdir) / "_build" / "records"
    record = read_record(records, chapter)
    for path in records.glob(f"{chapter}.*.json"):
        app.env.note_dependency(str(path))

    notes: list[nodes.Node] = []
    for old in [
        *doctree.findall(rerun_box),
        *[n for n in doctree.findall(nodes.admonition) if _is_old_rerun(n)],
    ]:
        notes += [c.deepcopy() for c in old.children if not isinstance(c, nodes.title)]
        old.parent.remove(old)
    box = rerun_box(classes=["tip", "affect-rerun"])
    box += nodes.title(text="Re-run this chapter")
    box += box_contents(chapter, record)
    box += notes
    anchor = _goals_anchor(doctree)
    if anchor is None:  # no goals: after the chapter's first paragraph
        first = next(doctree.findall(nodes.paragraph), None)
        anchor = (
            (first.parent, first.parent.index(first) + 1) if first is not None else (doctree, len(doctree))
        )
    parent, index = anchor
    parent.insert(index, box)


def resolve_downloads(app: Any, doctree: nodes.document, docname: str) -> None:
    """Give each download link its URI relative to the page; in code listings drop ``# noqa`` comments and fill
    ``{{ repository_url }}``."""
    page = app.config.root_doc if app.builder.name == "singlehtml" else docname  # one page holds them all
    depth = page.count("/")
    archive = affect_downloads.source_archive_name(Path(app.confdir))
    for ref in doctree.findall(nodes.reference):
        uri = ref.get("refuri", "")
        if uri.startswith("affect-download:"):
            target = uri.split(":", 1)[1]
            if target == SOURCE_ARCHIVE:
                target = archive
                if not ref.astext().strip():
                    ref.children = [nodes.literal(text=archive)]
            ref["refuri"] = "../" * depth + "downloads/" + target
    substitutions = app.config.myst_substitutions or {}
    for block in doctree.findall(nodes.literal_block):
        text = block.astext()
        clean = NOQA.sub("", text)
        for key, value in substitutions.items():  # MyST does not substitute in code
            clean = clean.replace(f"{{{{ {key} }}}}", str(value))
        if clean != text:
            block.rawsource = clean
            block.children = [nodes.Text(clean)]


def visit_rerun(self: Any, node: rerun_box) -> None:
    self.visit_admonition(node)


def depart_rerun(self: Any, node: rerun_box) -> None:
    self.depart_admonition(node)


def remove_stale_downloads(outdir: Path, current: set[str]) -> list[Path]:
    """Remove every file in Sphinx's ``<outdir>/_downloads/`` but ``current`` (paths relative to that folder, as
    ``env.dlfiles`` names them), and the folders left empty; return the files removed. Sphinx only adds there, so
    an older build's copies (a chapter's source, solutions included) would stay published."""
    folder = outdir / "_downloads"
    removed = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() not in current
    ]
    for path in removed:
        path.unlink()
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(sub.iterdir()):
            sub.rmdir()
    return removed


def write_downloads(app: Any, exception: Exception | None) -> None:
    """Write every chapter's student and instructor copies and the source archive into ``<html>/downloads/``;
    remove what this build did not put in Sphinx's ``_downloads/``."""
    if exception is None and app.builder.format == "html":
        affect_downloads.write_all(Path(app.confdir), Path(app.outdir) / "downloads")
        affect_downloads.write_source_archive(Path(app.confdir), Path(app.outdir) / "downloads")
        remove_stale_downloads(Path(app.outdir), {dest for _, dest in app.env.dlfiles.values()})


def add_static(app: Any) -> None:
    app.config.html_static_path.append(str(STATIC))


LAUNCHERS = {"binderhub_url": "https://mybinder.org", "colab_url": "https://colab.research.google.com"}


def repository_buttons(app: Any, config: Any) -> None:
    """One setting, ``repository.url`` in ``_config.yml``, switches on the repository, issue, edit, Binder and
    Colab buttons (off while it is empty) and fills ``{{ repository_url }}`` in the text."""
    opts = config.html_theme_options
    url = str(opts.get("repository_url") or "").strip()
    for key in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
        opts[key] = bool(url)
    launch = opts.setdefault("launch_buttons", {})
    for key, default in LAUNCHERS.items():
        launch[key] = (launch.get(key) or default) if url else ""
    repo = Path(app.confdir)
    archive = affect_downloads.source_archive_name(repo)
    config.myst_substitutions = {
        **(config.myst_substitutions or {}),
        "repository_url": url,
        "repository_clone": (
            f"The same tree is a git repository: `git clone {url}` (the buttons at the top of each page lead "
            "there)."
            if url
            else ""
        ),
        "source_archive": archive,
        "source_dir": archive.removesuffix(".tar.gz"),
        "book_runtime": book_runtime(repo / "_build" / "records"),
    }


def book_runtime(records: Path) -> str:
    """``about 34 min on <machine>`` for the quick runs recorded in ``records``, for the reproducing page."""
    runs = (
        [json.loads(p.read_text()) for p in sorted(records.glob("*.quick.json"))] if records.is_dir() else []
    )
    if not runs:
        return "(no chapter has been executed in this build yet)"
    total = sum(float(r["seconds"]) for r in runs)
    return f"{format_seconds(total)} for {len(runs)} chapters on {machine_text(runs[-1])}"


def _retarget(buttons: list[Any], old: str, new: str, student: str = "") -> None:
    """Launch and edit buttons: ``old`` -> ``new`` in their URLs. The theme's download of the page source (the
    executed notebook under ``_sources/``, solutions included) becomes the ``student`` copy."""
    for button in buttons:
        if isinstance(button, dict):
            url = button.get("url")
            if isinstance(url, str) and "_sources/" in url:
                if student:
                    button["url"] = url.split("_sources/", 1)[0] + f"downloads/{student}"
                    button["tooltip"] = "Download this chapter for students (without the solutions)"
            elif isinstance(url, str):
                button["url"] = url.replace(old, new)
            _retarget(button.get("buttons", []), old, new, student)


def source_links(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Launch and edit buttons of a chapter point at its committed files (``notebooks/<name>.ipynb`` and the
    ``.py`` source), not at the executed copy in ``book/notebooks/``; generated pages have no edit button."""
    if pagename.startswith("book/generated/"):
        context["theme_use_edit_page_button"] = False
    if not pagename.startswith(CHAPTER_DIR):
        return
    name = pagename[len(CHAPTER_DIR) :]
    student = affect_downloads.download_names(name)["student_ipynb"]
    _retarget(context.get("header_buttons", []), f"/{CHAPTER_DIR}", "/notebooks/", student)
    edit = context.get("get_edit_provider_and_url")
    if callable(edit):

        def edit_source() -> tuple[str, str]:
            provider, url = edit()
            return provider, url.replace(f"{CHAPTER_DIR}{name}.ipynb", f"notebooks/{name}.py")

        context["get_edit_provider_and_url"] = edit_source


def setup(app: Any) -> dict[str, Any]:
    import affect_bibstyle  # noqa: F401 - registers the "affect" pybtex style

    app.add_node(rerun_box, html=(visit_rerun, depart_rerun), singlehtml=(visit_rerun, depart_rerun))
    # myst-nb registers its hide-input wrapper for the html builder only; the single-page (PDF) build needs it too
    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput, visit_HideCellInput

    app.add_node(
        HideCodeCellNode,
        override=True,
        html=(visit_HideCellInput, depart_HideCellInput),
        singlehtml=(visit_HideCellInput, depart_HideCellInput),
    )
    app.add_directive("rerun", RerunDirective)
    app.add_role("book-download", download_role)
    app.add_role("source-archive", source_archive_role)
    app.connect("builder-inited", add_static)
    app.connect("config-inited", repository_buttons)
    app.connect("html-page-context", source_links, priority=990)  # after sphinx-book-theme's buttons
    app.connect("doctree-read", place_rerun_box)
    app.connect("doctree-resolved", resolve_downloads)
    app.connect("build-finished", write_downloads)
    app.add_css_file("affect.css")
    app.add_js_file("affect.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
