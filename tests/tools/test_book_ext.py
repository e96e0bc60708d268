"""book/_ext: the student and instructor copies, the citation labels and the re-run box's run time."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

EXT = Path(__file__).resolve().parents[2] / "book" / "_ext"
sys.path.insert(0, str(EXT))
affect_bibstyle = pytest.importorskip("affect_bibstyle")
affect_downloads = pytest.importorskip("affect_downloads")
affect_book = pytest.importorskip("affect_book")

CITATIONS = {"yang2024wdp": "Yang et al. (2024)", "mironov2017rdp": "Mironov (2017)"}
CELL = """The budget {cite}`yang2024wdp,mironov2017rdp` satisfies

$$
W_p = |m_2 - m_1|
$$ (eq-shift)

so by {eq}`eq-shift` and {numref}`fig-x`, see {download}`the source <../../notebooks/x.py>`.

```{admonition} Solution
:class: dropdown
The answer is 42.
```

```{admonition} Re-run this chapter
:class: tip
Run it.
```
"""


def test_student_copy_drops_solutions_and_myst():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(CELL), nbformat.v4.new_code_cell("x = 1")]
    student = affect_downloads.reader_copy(nb, CITATIONS, solutions=False).cells[0].source
    assert "42" not in student and "Solution" not in student
    assert "Yang et al. (2024); Mironov (2017) satisfies" in student
    assert "\\tag{1}$$" in student and "by Eq. (1)" in student and "(eq-shift)" not in student
    assert "`the source`" in student and "{" + "download}" not in student
    assert "**Re-run this chapter**" in student and ":class:" not in student
    assert nb.cells[0].source == CELL  # the original is left alone


def test_instructor_copy_keeps_solutions_as_markdown():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(CELL)]
    instructor = affect_downloads.reader_copy(nb, CITATIONS, solutions=True).cells[0].source
    assert "**Solution**\n\nThe answer is 42." in instructor and "dropdown" not in instructor


def test_write_all_writes_both_forms_for_every_chapter(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    written = affect_downloads.write_all(repo, tmp_path)
    names = {p.name for p in written}
    assert {"00_orientation.py", "00_orientation.student.ipynb", "00_orientation.instructor.py"} <= names
    student = nbformat.read(tmp_path / "00_orientation.student.ipynb", as_version=4)
    text = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    assert "{cite}" not in text and "dropdown" not in text
    assert "Villani (2009)" in text or "Villani (2008)" in text


def test_author_year_labels():
    from pybtex.database import parse_string

    bib = parse_string(
        "@article{a, author={Yang, C. and Qi, J. and Zhou, A.}, year={2024}, title={T}}"
        "@article{b, author={Fu, Z. and others}, year={2021}, title={T}}"
        "@article{c, author={Mironov, Ilya}, year={2017}, title={T}}"
        "@article{d, author={Dwork, C. and Roth, A.}, year={2014}, title={T}}",
        "bibtex",
    )
    labels = [affect_bibstyle.author_year(bib.entries[k]) for k in "abcd"]
    assert labels == ["Yang et al., 2024", "Fu et al., 2021", "Mironov, 2017", "Dwork and Roth, 2014"]


def test_arxiv_note_becomes_a_link():
    from pybtex.database import parse_string

    bib = parse_string("@misc{k, author={Fu, Z.}, year={2021}, title={T}, note={arXiv:2111.02172}}", "bibtex")
    style = affect_bibstyle.AffectStyle()
    entry = next(iter(style.format_entries(bib.entries.values())))
    assert "https://arxiv.org/abs/2111.02172" in entry.text.render_as("html")
    assert entry.label == "Fu, 2021"


@pytest.mark.parametrize("seconds", [3.2, 24.0, 61.0, 99.0, 483.0, 1304.0, 2040.0])
def test_stated_run_time_stays_within_the_check_tolerance(seconds):
    sys.path.insert(0, str(EXT.parents[1] / "tools"))
    import check_html

    text = affect_book.format_seconds(seconds)
    assert text.startswith("about ")
    assert not check_html.runtime_problems(text, "", "c", {"c": seconds})


def test_record_of_the_executed_page_is_preferred(tmp_path):
    quick = {"chapter": "c", "profile": "quick", "seconds": 10, "output": "/x/book/notebooks/c.ipynb"}
    paper = {"chapter": "c", "profile": "paper", "seconds": 900, "output": "/x/_build/paper/c.ipynb"}
    (tmp_path / "c.quick.json").write_text(json.dumps(quick))
    (tmp_path / "c.paper.json").write_text(json.dumps(paper))
    assert affect_book.read_record(tmp_path, "c")["profile"] == "quick"
    assert affect_book.read_record(tmp_path, "missing") is None
    text = affect_book.machine_text(
        {"machine": {"cpu": "Xeon", "cores": 2, "cpu_count": 4, "load": 1.25}, "finished": "2026-12-01T18:00"}
    )
    assert text == "Xeon (2 of 4 cores, load 1.2 at the end), on 2026-12-01"
