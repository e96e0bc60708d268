"""Student and instructor copies of each chapter, as ``.ipynb`` (with the committed outputs) and ``.py``.

Jupyter does not know MyST, so in both copies directives become plain Markdown, ``{cite}`key``` becomes
"Author (year)", ``{eq}`label``` becomes "Eq. (n)" with ``\\tag{n}`` on the equation, and other roles keep their
text. The student copy drops every solution (an admonition titled "Solution..." or "Answer..."); the instructor
copy shows the solutions as plain Markdown. ``write_all`` is called by the book build (``affect_book``).
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
OPTION = re.compile(r"^\s*:[\w-]+:.*$")
SOLUTION = re.compile(r"^(solutions?|answers?)\b", re.IGNORECASE)
ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<text>[^`]*)`")
EQ_LABEL = re.compile(r"\$\$[ \t]*\((?P<label>[\w.:-]+)\)")
TARGET = re.compile(r"^\s*\([\w.:-]+\)=\s*$", re.MULTILINE)


def download_names(chapter: str) -> dict[str, str]:
    """File names (in the book's ``downloads/`` folder) of one chapter's downloads."""
    return {
        "source": f"{chapter}.py",
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
            if solutions:
                out += [f"**{arg}**", "", *inner]
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
    out = copy.deepcopy(nb)
    equations = equation_numbers(nb)
    for cell in out.cells:
        if cell.cell_type == "markdown":
            cell.source = convert_markdown(cell.source, citations, equations, solutions)
    return out


def write_all(repo: Path, dest: Path) -> list[Path]:
    """Write every chapter's downloads into ``dest``; return the paths written."""
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
        shutil.copyfile(source, dest / names["source"])
        written.append(dest / names["source"])
        for form, solutions in (("student", False), ("instructor", True)):
            copy_nb = reader_copy(nb, citations, solutions=solutions)
            nbformat.write(copy_nb, dest / names[f"{form}_ipynb"])
            jupytext.write(copy_nb, dest / names[f"{form}_py"], fmt="py:percent")
            written += [dest / names[f"{form}_ipynb"], dest / names[f"{form}_py"]]
    return written
