"""The chapters speak to readers: the current result, without project history (tools/check_html.py checks the
built pages the same way; this catches it in the sources in seconds)."""

import ast
import importlib.util
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from affect_lib import chapters

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_html", REPO / "tools" / "check_html.py")
check_html = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_html)

CHAPTERS = chapters.chapter_names()


def _source(name: str):
    return jupytext.read(REPO / "notebooks" / f"{name}.py")


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_has_no_project_history(name):
    text = "\n".join(cell.source for cell in _source(name).cells)
    assert check_html.history_problems(text) == [], f"{name}: move the history to book/changelog.md"


def test_the_changelog_is_in_the_book_and_names_no_issue():
    text = (REPO / "book" / "changelog.md").read_text()
    assert "book/changelog" in (REPO / "_toc.yml").read_text()
    assert check_html.history_problems(text, chapter=False) == []


# Cells that assemble Markdown tables or their rows are plumbing: the reader needs the table, not the string
# building (the claims tables are hidden the same way). A shown cell may compute and plot; it may not build a
# Markdown table, call claims_table, or put LaTeX strings into a table's rows (``verdict["P1"] = (r"$W_\mu$", ...)``).
HIDDEN = {"hide-input", "remove-input", "remove-cell"}
LATEX = re.compile(r"\$[^$]*\\[A-Za-z]+")


def plumbing(source: str) -> list[str]:
    """Why a code cell is table plumbing, or [] when it is not."""
    found = [s for s in ("Markdown(", "|---", "claims_table(") if s in source]
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: nothing to learn from the AST
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Subscript) for t in node.targets):
            strings = [
                n.value
                for n in ast.walk(node.value)
                if isinstance(n, ast.Constant) and isinstance(n.value, str) and LATEX.search(n.value)
            ]
            if strings:
                found.append(f"LaTeX table row {strings[0][:40]!r}")
    return found


def test_plumbing_is_recognised():
    assert plumbing('display(Markdown("| a |\\n|---|"))')
    assert plumbing('verdict["P1"] = (r"symmetry: $W_\\mu(P, Q)$", ok)')
    assert plumbing('claims_table("10", profile, rows)')
    assert not plumbing('ax.set_xlabel(r"$\\mu$")\nlabels = {r"Gaussian, $\\sigma$ = 1": 1.0}')
    assert not plumbing("x = np.arange(3)\nprint(x)")


@pytest.mark.parametrize("name", CHAPTERS)
def test_table_plumbing_is_hidden(name):
    shown = [
        (i, why)
        for i, cell in enumerate(_source(name).cells)
        if cell.cell_type == "code" and not HIDDEN & set(cell.metadata.get("tags", []))
        for why in [plumbing(cell.source)]
        if why
    ]
    assert not shown, f"{name}: tag these cells hide-input (split the computation off first): {shown}"


EXP = re.compile(r"^-?\d(?:\.\d+)?e[+-]\d+$")
PLAIN = re.compile(r"^-?[\d,]+(?:\.\d+)?$")
ROW = re.compile(r"<tr>(.*?)</tr>", re.DOTALL)
CELL = re.compile(r"<td>(.*?)</td>", re.DOTALL)


def mixed_columns(html: str) -> list[list[str]]:
    """Columns of the HTML tables in ``html`` that write numbers both as ``1.9e+04`` and as ``843.4``."""
    mixed = []
    for table in re.findall(r"<table.*?</table>", html, re.DOTALL):
        rows = [[c.strip() for c in CELL.findall(r)] for r in ROW.findall(table)]
        for column in zip(*[r for r in rows if r], strict=False):
            if any(EXP.match(v) for v in column) and any(PLAIN.match(v) for v in column):
                mixed.append(list(column))
    return mixed


def test_mixed_columns_are_recognised():
    table = "<table><tr><td>385.4</td></tr><tr><td>1.9e+04</td></tr><tr><td>1.401e+04</td></tr></table>"
    assert mixed_columns(table) == [["385.4", "1.9e+04", "1.401e+04"]]
    assert mixed_columns(table.replace("385.4", "3.854e+02")) == []


@pytest.mark.parametrize("name", CHAPTERS)
def test_table_columns_write_numbers_one_way(name):
    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    html = "".join(
        str(out.get("data", {}).get("text/html", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert mixed_columns(html) == [], f"{name}: format the column with affect_lib.claims.significant"


# Every exercise states a rough time and difficulty right after its number: "1. *(10 min, easy)* ...".
ESTIMATE = re.compile(r"^\d+\. \*\(\d+(?:–\d+)? min(?: [^,)]*)?, (?:easy|medium|hard)\)\* ")


def exercises(source: str) -> list[str]:
    """The numbered items of a chapter's Exercises section, outside its solution admonitions."""
    items, section, fence = [], False, None
    for line in source.split("\n"):
        if line.startswith("## "):
            section = line.strip() == "## Exercises"
        opening = re.match(r"^(`{3,}|:{3,})\{", line)
        if fence is None and opening:
            fence = opening[1]
        elif fence is not None and line.strip() == fence:
            fence = None
        elif section and fence is None and re.match(r"^\d+\. ", line):
            items.append(line)
    return items


def test_exercises_are_recognised():
    text = "## Exercises\n\n1. *(5 min, easy)* Do it.\n\n```{admonition} Solution\n1. not an exercise\n```\n2. Again."
    assert exercises(text) == ["1. *(5 min, easy)* Do it.", "2. Again."]
    assert [bool(ESTIMATE.match(x)) for x in exercises(text)] == [True, False]


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_exercise_has_a_time_and_difficulty(name):
    source = "\n".join(c.source for c in _source(name).cells if c.cell_type == "markdown")
    items = exercises(source)
    assert items, f"{name}: no exercises"
    missing = [x[:60] for x in items if not ESTIMATE.match(x)]
    assert not missing, f'{name}: start each exercise with "*(N min, easy|medium|hard)*": {missing}'


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_re_run_box_says_its_command_once(name):
    """The book's generated re-run box states the `make chapter` command; the chapter's own notes, which the box
    takes in, must not say it again."""
    source = "\n".join(c.source for c in _source(name).cells if c.cell_type == "markdown")
    assert "executes this chapter alone" not in source, name
