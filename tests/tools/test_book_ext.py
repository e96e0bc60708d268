"""book/_ext: the student and instructor copies, the citation labels and the re-run box's run time."""

import json
import re
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
    cells = affect_downloads.reader_copy(nb, CITATIONS, solutions=False).cells
    student = "\n\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "42" not in student and "Solution" not in student
    assert "Yang et al. (2024); Mironov (2017) satisfies" in student
    assert "\\tag{1}$$" in student and "by Eq. (1)" in student and "(eq-shift)" not in student
    assert "`the source`" in student and "{" + "download}" not in student
    assert "**Re-run this chapter**" in student and ":class:" not in student
    assert nb.cells[0].source == CELL  # the original is left alone


def test_student_copy_has_an_empty_answer_cell_after_each_exercise():
    text = "1. Count.\n\n```{admonition} Solution\n42\n```\n\n2. Again.\n\n:::{admonition} Answer\n43\n:::\n"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text), nbformat.v4.new_code_cell("x = 1")]
    student = affect_downloads.reader_copy(nb, CITATIONS, solutions=False)
    kinds = [(c.cell_type, c.source) for c in student.cells]
    assert kinds == [
        ("markdown", "1. Count."),
        ("code", "# Your answer to exercise 1\n"),
        ("markdown", "2. Again."),
        ("code", "# Your answer to exercise 2\n"),
        ("code", "x = 1"),
    ]
    assert len({c.id for c in student.cells}) == 5  # unique ids, the same at every build
    assert [c.id for c in affect_downloads.reader_copy(nb, CITATIONS, solutions=False).cells] == [
        c.id for c in student.cells
    ]
    nbformat.validate(student)
    instructor = affect_downloads.reader_copy(nb, CITATIONS, solutions=True)
    assert [c.cell_type for c in instructor.cells] == ["markdown", "code"]


def test_instructor_copy_keeps_solutions_as_markdown():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(CELL)]
    instructor = affect_downloads.reader_copy(nb, CITATIONS, solutions=True).cells[0].source
    assert "**Solution**\n\nThe answer is 42." in instructor and "dropdown" not in instructor


def test_write_all_writes_both_forms_for_every_chapter(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "10_wdp_definition.py").write_text("# an older build's copy, solutions included")  # planted
    (tmp_path / "affect-book-0123.tar.gz").write_bytes(b"")
    written = affect_downloads.write_all(repo, tmp_path)
    assert sorted(tmp_path.iterdir()) == sorted([*written, tmp_path / "affect-book-0123.tar.gz"])
    names = {p.name for p in written}
    assert {"00_orientation.student.ipynb", "00_orientation.instructor.py"} <= names
    assert "00_orientation.py" not in names  # the source, solutions included, is in the source archive
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
    for forced, said in (("avx2", "avx2 kernels forced"), ("default", "x86-64 baseline kernels forced")):
        rec = {"machine": {"cpu": "Xeon", "cores": 2, "cpu_count": 2, "kernels": forced}}
        assert affect_book.machine_text(rec) == f"Xeon (2 of 2 cores, {said})"


def _git_repo(root: Path) -> Path:
    import subprocess

    def git(*args):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    root.mkdir()
    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (root / "Makefile").write_text("book:\n")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "x.py").write_text("# %%\n")
    (root / ".gitignore").write_text("_build/\n")
    (root / "_build").mkdir()
    (root / "_build" / "big.bin").write_text("build product")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    return root


def test_source_archive_is_the_tree_under_one_folder_and_reproducible(tmp_path):
    import tarfile

    repo = _git_repo(tmp_path / "repo")
    (repo / "new.md").write_text("untracked but not ignored: part of the tree")
    name = affect_downloads.source_archive_name(repo)
    assert re.fullmatch(r"affect-book-[0-9a-f]{12}\.tar\.gz", name)  # untracked files do not make it dirty
    first = affect_downloads.write_source_archive(repo, tmp_path / "a")
    second = affect_downloads.write_source_archive(repo, tmp_path / "b")
    assert first.name == name and first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        names = set(tar.getnames())
    top = name.removesuffix(".tar.gz")
    assert names == {f"{top}/{f}" for f in (".gitignore", "Makefile", "new.md", "notebooks/x.py")}
    (repo / "Makefile").write_text("changed:\n")
    assert affect_downloads.source_archive_name(repo).endswith("-dirty.tar.gz")
    assert [p.name for p in (tmp_path / "a").glob("*.tar.gz")] == [name]


def test_reader_downloads_are_student_copies_and_the_instructor_link_is_labelled():
    box = affect_book.box_contents("10_x", None)[-1]
    refs = {r["refuri"].split(":", 1)[1]: r["classes"] for r in box.findall(affect_book.nodes.reference)}
    assert set(refs) == {
        "10_x.student.ipynb",
        "10_x.student.py",
        "10_x.instructor.ipynb",
        "10_x.instructor.py",
    }
    assert all(("affect-instructor" in c) == (".instructor." in f) for f, c in refs.items())
    assert "without their solutions" in box.astext() and "with the solutions" in box.astext()


def test_the_themes_download_button_serves_the_student_copy():
    buttons = [
        {
            "type": "group",
            "buttons": [
                {"url": "../../_sources/book/notebooks/10_x.ipynb", "label": "download-source-button"},
                {"url": "https://colab.research.google.com/github/o/r/blob/main/book/notebooks/10_x.ipynb"},
            ],
        }
    ]
    affect_book._retarget(buttons, "/book/notebooks/", "/notebooks/", "10_x.student.ipynb")
    download, launch = buttons[0]["buttons"]
    assert download["url"] == "../../downloads/10_x.student.ipynb" and "students" in download["tooltip"]
    assert launch["url"].endswith("/blob/main/notebooks/10_x.ipynb")


class _Config:
    def __init__(self, url: str):
        self.html_theme_options = {"repository_url": url, "launch_buttons": {}}
        self.myst_substitutions = {}


class _App:
    confdir = str(Path(__file__).resolve().parents[2])


@pytest.mark.parametrize("url", ["", "https://example.org/affect/book"])
def test_repository_url_switches_the_buttons_and_the_clone_line(url):
    config = _Config(url)
    affect_book.repository_buttons(_App(), config)
    opts, subs = config.html_theme_options, config.myst_substitutions
    assert opts["use_repository_button"] is opts["use_issues_button"] is bool(url)
    assert bool(opts["launch_buttons"]["colab_url"]) is bool(url)
    assert ("git clone" in subs["repository_clone"]) is bool(url)
    assert "<repository-url>" not in str(subs)
    assert subs["source_archive"] == subs["source_dir"] + ".tar.gz"
    assert subs["source_archive"].startswith("affect-book-")


def test_stale_sphinx_downloads_are_removed(tmp_path):
    # planted: an older build's copy of a chapter (solutions included) beside this build's one download
    folder = tmp_path / "_downloads"
    (folder / "0123abcd").mkdir(parents=True)
    (folder / "0123abcd" / "10_wdp_definition.ipynb").write_text("{}")
    (folder / "4567ef").mkdir()
    (folder / "4567ef" / "data.csv").write_text("a,b")
    removed = affect_book.remove_stale_downloads(tmp_path, {"4567ef/data.csv"})
    assert removed == [folder / "0123abcd" / "10_wdp_definition.ipynb"]
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        "4567ef",
        "4567ef/data.csv",
    ]
    assert affect_book.remove_stale_downloads(tmp_path / "no-build", set()) == []
