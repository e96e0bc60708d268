"""Student and instructor copies of each chapter, as ``.ipynb`` (with the committed outputs) and ``.py``, and the
source archive: the exact tree the book was built from, ``affect-book-<commit>.tar.gz``.

Jupyter does not know MyST, so in both copies directives become plain Markdown, ``{cite}`key``` becomes
"Author (year)", ``{eq}`label``` becomes "Eq. (n)" with ``\\tag{n}`` on the equation, and other roles keep their
text. The student copy drops every solution (an admonition titled "Solution..." or "Answer...") and puts an empty
answer cell where it was (a code cell headed ``# Your answer to exercise n``); the instructor copy shows the
solutions as plain Markdown. ``write_all`` is called by the book build (``affect_book``).
"""

from __future__ import annotations

import copy
import gzip
import io
import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
OPTION = re.compile(r"^\s*:[\w-]+:.*$")
SOLUTION = re.compile(r"^(solutions?|answers?)\b", re.IGNORECASE)
ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<text>[^`]*)`")
EQ_LABEL = re.compile(r"\$\$[ \t]*\((?P<label>[\w.:-]+)\)")
TARGET = re.compile(r"^\s*\([\w.:-]+\)=\s*$", re.MULTILINE)
ANSWER_MARK = "\x00answer\x00"  # where a student copy's answer cell goes (a dropped solution)
ANSWER_HEADER = "# Your answer to exercise {n}"


def download_names(chapter: str) -> dict[str, str]:
    """File names (in the book's ``downloads/`` folder) of one chapter's downloads. A reader's downloads are the
    student copies; only the instructor copies hold the solutions (the chapter's own source is in the source
    archive, :func:`write_source_archive`)."""
    return {
        "student_ipynb": f"{chapter}.student.ipynb",
        "student_py": f"{chapter}.student.py",
        "instructor_ipynb": f"{chapter}.instructor.ipynb",
        "instructor_py": f"{chapter}.instructor.py",
    }


def read_citations(bibfile: Path) -> dict[str, str]:
    """Citation key -> ``Yang et al. (2024)`` for every entry of ``bibfile``."""
    from affect_bibstyle import author_year
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(bibfile)).entries.items():
        names, year = author_year(entry).rsplit(", ", 1)
        out[key] = f"{names} ({year})"
    return out


def _directives(lines: list[str], solutions: bool) -> list[str]:
    """Fenced MyST directives as plain Markdown; solution admonitions kept (``solutions``) or dropped."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence, name, arg = m["fence"], m["name"], m["arg"].strip()
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:  # MyST nests with longer outer fences
            body.append(lines[i])
            i += 1
        i += 1
        body = [ln for ln in body if not OPTION.match(ln)]
        inner = _directives(body, solutions)
        if name == "math":
            out += ["$$", *inner, "$$"]
        elif SOLUTION.match(arg):
            out += [f"**{arg}**", "", *inner] if solutions else [ANSWER_MARK]
        elif name in ("admonition", "note", "tip", "important", "warning", "seealso", "hint", "attention"):
            out += [f"**{arg or name.capitalize()}**", "", *inner]
        else:  # figures, tables and the like: keep their content
            out += inner
    return out


def convert_markdown(text: str, citations: dict[str, str], equations: dict[str, int], solutions: bool) -> str:
    """One Markdown cell, MyST to plain Jupyter Markdown (see the module docstring)."""
    text = "\n".join(_directives(text.split("\n"), solutions))
    text = TARGET.sub("", text)
    text = EQ_LABEL.sub(lambda m: f"\\tag{{{equations.get(m['label'], '?')}}}$$", text)

    def role(m: re.Match[str]) -> str:
        name, body = m["role"], m["text"]
        if name.startswith("cite"):
            return "; ".join(citations.get(k.strip(), k.strip()) for k in body.split(","))
        if name == "eq":
            return f"Eq. ({equations.get(body.strip(), '?')})"
        if name == "numref":
            return "the figure"
        shown = body.split("<", 1)[0].strip() if "<" in body else body
        return f"`{shown}`" if name in ("download", "py:func", "func", "mod") else shown

    return ROLE.sub(role, text)


def equation_numbers(nb: Any) -> dict[str, int]:
    """Equation label -> number, in order of appearance in the notebook's Markdown."""
    numbers: dict[str, int] = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for m in EQ_LABEL.finditer(cell.source):
                numbers.setdefault(m["label"], len(numbers) + 1)
    return numbers


def reader_copy(nb: Any, citations: dict[str, str], *, solutions: bool) -> Any:
    """A copy of notebook ``nb`` for students (``solutions=False``) or instructors."""
    import nbformat

    out = copy.deepcopy(nb)
    equations = equation_numbers(nb)
    cells, answers = [], 0
    for cell in out.cells:
        cells.append(cell)
        if cell.cell_type != "markdown":
            continue
        parts = convert_markdown(cell.source, citations, equations, solutions).split(ANSWER_MARK)
        cell.source = parts[0].rstrip("\n") if len(parts) > 1 else parts[0]
        for k, part in enumerate(
            parts[1:], 1
        ):  # a student copy: an empty answer cell where each solution was
            answers += 1
            new = {"answer": nbformat.v4.new_code_cell(ANSWER_HEADER.format(n=answers) + "\n")}
            if part.strip():
                new["part"] = nbformat.v4.new_markdown_cell(part.strip("\n"))
            for suffix, added in new.items():
                added.pop("id", None)
                if "id" in cell:  # ids (nbformat 4.5) stay unique and the same from build to build
                    added["id"] = f"{str(cell['id'])[:48]}-{suffix}{k}"
                cells.append(added)
    out.cells = cells
    return out


def write_all(repo: Path, dest: Path) -> list[Path]:
    """Write every chapter's downloads into ``dest`` and remove any other file there but the source archive;
    return the paths written."""
    import jupytext
    import nbformat

    dest.mkdir(parents=True, exist_ok=True)
    citations = read_citations(repo / "book" / "references.bib")
    written = []
    for source in sorted((repo / "notebooks").glob("*.py")):
        pair = source.with_suffix(".ipynb")
        if not pair.exists():
            continue
        names = download_names(source.stem)
        nb = nbformat.read(pair, as_version=4)
        for form, solutions in (("student", False), ("instructor", True)):
            copy_nb = reader_copy(nb, citations, solutions=solutions)
            nbformat.write(copy_nb, dest / names[f"{form}_ipynb"])
            jupytext.write(copy_nb, dest / names[f"{form}_py"], fmt="py:percent")
            written += [dest / names[f"{form}_ipynb"], dest / names[f"{form}_py"]]
    for stale in dest.iterdir():  # an older build's copies (a source with solutions among them) go
        if stale.is_file() and stale not in written and not stale.name.startswith("affect-book-"):
            stale.unlink()
    return written


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def source_commit(repo: Path) -> str | None:
    """``<12-hex commit>`` of the checkout, ``-dirty`` added when tracked files differ from it; None outside git."""
    try:
        head = _git(repo, "rev-parse", "--short=12", "HEAD")
        dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


def source_archive_name(repo: Path) -> str:
    """``affect-book-<commit>.tar.gz`` (``affect-book-source.tar.gz`` outside a git checkout)."""
    return f"affect-book-{source_commit(repo) or 'source'}.tar.gz"


def source_files(repo: Path) -> list[str]:
    """The tree the book is built from: tracked files and untracked ones that git does not ignore, as they are on
    disk (build products, caches and the virtual environment are ignored, so they are left out)."""
    try:
        listed = _git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    except (OSError, subprocess.CalledProcessError):
        return []
    return sorted({f for f in listed.split("\0") if f and (repo / f).is_file()})


def write_source_archive(repo: Path, dest: Path) -> Path:
    """``dest/affect-book-<commit>.tar.gz``: every file of :func:`source_files` under one folder of the same name.
    Reproducible: sorted, owner 0, times of the commit, so the same tree gives the same bytes."""
    name = source_archive_name(repo)
    folder = name.removesuffix(".tar.gz")
    try:
        when = int(_git(repo, "log", "-1", "--format=%ct"))
    except (OSError, subprocess.CalledProcessError, ValueError):
        when = 0
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in source_files(repo):
            path = repo / rel
            info = tarfile.TarInfo(f"{folder}/{rel}")
            info.size = path.stat().st_size
            info.mtime = when
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / name
    for old in dest.glob("affect-book-*.tar.gz"):  # one archive: the tree of this build
        old.unlink()
    with gzip.GzipFile(out, "wb", mtime=0) as gz:
        gz.write(buffer.getvalue())
    return out
