"""Chapter execution helpers, and guards on the executed chapters that the book renders."""

import copy
import json
import os
import types
from pathlib import Path

import nbformat
import pytest
from nbval import plugin as nbval_plugin

from affect_lib import chapters, runtime

CHAPTERS = chapters.chapter_names()
ROOT = Path(__file__).resolve().parents[1]


def _cell(source, outputs=(), tags=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in outputs]
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def test_every_chapter_has_a_committed_pair_with_a_parameters_cell():
    assert "00_orientation" in CHAPTERS
    for name in CHAPTERS:
        nb = nbformat.read(chapters.chapter_source(name), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), (
            f"{name}: first code cell is not tagged parameters"
        )
        for param in ("profile", "seed", "device", "data_dir"):
            assert f"{param}:" in code[0].source or f"{param} =" in code[0].source, f"{name} lacks {param}"
        assert any(chapters.CHECK_MARK in c.source for c in code), f"{name} has no nbval-checked cell"
        assert all(c.get("outputs") is not None for c in code)
        assert any(c.outputs for c in code), f"{name}.ipynb was committed without outputs: run make outputs"


# The book's code column is 796 px at 1280 px (about 103 monospace characters): tools/check_html.py fails a page
# whose code overflows it, at the end of CI; this catches the same fault in seconds.
CODE_COLUMN = 100


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_code_and_printed_output_fit_the_book_column(name):
    nb = nbformat.read(chapters.chapter_source(name), as_version=4)
    wide = [
        line
        for cell in nb.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line) > CODE_COLUMN
    ]
    assert not wide, f"{name}: code lines wider than {CODE_COLUMN} characters: {wide}"
    printed = [
        line
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
        for line in out["text"].splitlines()
        if len(line) > CODE_COLUMN
    ]
    assert not printed, f"{name}: printed lines wider than {CODE_COLUMN} characters: {printed}"


def test_unknown_chapter_lists_the_known_ones():
    with pytest.raises(FileNotFoundError, match="00_orientation"):
        chapters.chapter_source("no_such_chapter")


def test_checked_outputs_show_a_markdown_table_not_its_repr():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nMarkdown(table)")
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            {"text/plain": "<IPython.core.display.Markdown object>", "text/markdown": "| a |\n|---|"},
            execution_count=1,
        )
    ]
    nb.cells = [cell]
    assert chapters.checked_outputs(nb) == ["| a |\n|---|"]


def test_checked_outputs_reads_only_marked_cells():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("print(1)", ["1\n"]), _cell("# NBVAL_CHECK_OUTPUT\nprint(2)", ["2\n", "3\n"])]
    assert chapters.checked_outputs(nb) == ["2\n3"]


def test_store_outputs_drops_papermill_traces(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"duration": 1.0}
    params = _cell('profile = "quick"', tags=["parameters"])
    injected = _cell('# Parameters\nprofile = "quick"\n', tags=["injected-parameters"])
    body = _cell("print(1)", ["1\n"])
    body.metadata["papermill"] = {"start_time": "now"}
    body.metadata["execution"] = {"iopub.status.busy": "now"}
    body.metadata["tags"] = []
    nb.cells = [params, injected, body]
    executed, pair = tmp_path / "run.ipynb", tmp_path / "pair.ipynb"
    nbformat.write(nb, executed)
    chapters.store_outputs(executed, pair)
    stored = nbformat.read(pair, as_version=4)
    assert [c.source for c in stored.cells] == ['profile = "quick"', "print(1)"]
    assert "papermill" not in stored.metadata
    assert stored.cells[1].metadata == {}
    assert stored.cells[1].outputs[0]["text"] == "1\n"


def test_store_outputs_refuses_a_paper_run(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell('# Parameters\nprofile = "paper"\n', tags=["injected-parameters"])]
    nbformat.write(nb, tmp_path / "run.ipynb")
    with pytest.raises(ValueError, match="quick"):
        chapters.store_outputs(tmp_path / "run.ipynb", tmp_path / "pair.ipynb")


def _is_kernel_notice(text: str) -> bool:
    """The one line a machine without a C++ compiler prints, once per chapter that uses the fused attention
    (``affect_lib.kernels.library``): the reader must see it; nothing else may reach stderr."""
    return text.startswith("warning: the fused attention kernel is unavailable (") and text.count("\n") <= 1


EXECUTED = [c for c in CHAPTERS if (chapters.EXECUTED_DIR / f"{c}.ipynb").exists()]


@pytest.mark.skipif(not EXECUTED, reason="no executed chapters: run `make run` (make test does it first)")
@pytest.mark.parametrize("name", EXECUTED)
def test_executed_chapter_is_clean_and_has_its_figures(name):
    nb = nbformat.read(chapters.EXECUTED_DIR / f"{name}.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "executed without papermill's injected profile"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not [t for t in stderr if not _is_kernel_notice(t)], "stderr fails the book"
    if any("plt." in c.source for c in nb.cells if c.cell_type == "code"):
        assert any("image/png" in o.get("data", {}) for o in outputs), (
            "figures missing: is MPLBACKEND=Agg set?"
        )


class _Compare:
    """nbval's own output comparison (``IPyNbCell.compare_outputs``: its skipped keys, the book's
    ``nbval_sanitize.cfg``, stream coalescing), run on a cell executed by ``make`` instead of one that nbval
    executes itself."""

    compare_outputs = nbval_plugin.IPyNbCell.compare_outputs
    sanitize = nbval_plugin.IPyNbCell.sanitize
    format_output_compare = nbval_plugin.IPyNbCell.format_output_compare
    colors = nbval_plugin.nocolors
    config = None

    def __init__(self, patterns: dict[str, str]) -> None:
        skip = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count")
        skip += (
            "application/vnd.jupyter.widget-view+json",
            "image/png",
            "image/jpeg",
        )  # nbval's, without nbdime
        self.parent = types.SimpleNamespace(skip_compare=skip, sanitize_patterns=patterns)
        self.ihook = types.SimpleNamespace(pytest_assertrepr_compare=lambda **_: [])
        self.comparison_traceback: list[str] = []

    def differs(self, executed: list, committed: list) -> str:
        """'' when nbval would pass ``executed`` against ``committed``, else its report."""
        coalesce = nbval_plugin.coalesce_streams
        ok = self.compare_outputs(coalesce(copy.deepcopy(executed)), coalesce(copy.deepcopy(committed)))
        return "" if ok else "\n".join(self.comparison_traceback)


def checked_differences(executed: nbformat.NotebookNode, committed: nbformat.NotebookNode) -> list[str]:
    """Every ``# NBVAL_CHECK_OUTPUT`` cell of ``committed`` whose outputs nbval (``--nbval-lax``, the book's
    sanitising) would find different in ``executed``, the same chapter run by papermill; a code cell whose
    source differs means ``executed`` is stale."""
    patterns = dict(nbval_plugin.get_sanitize_patterns((ROOT / "nbval_sanitize.cfg").read_text()))
    run = [
        c
        for c in executed.cells
        if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
    ]
    ref = [c for c in committed.cells if c.cell_type == "code"]
    if [c.source for c in run] != [c.source for c in ref]:
        return ["the executed copy is not of this source: run `make run`"]
    out = []
    for i, (new, old) in enumerate(zip(run, ref, strict=True)):
        if old.execution_count is None and old.outputs:  # nbval refuses such a reference cell
            out.append(f"code cell {i}: unrun reference cell has outputs")
        if dict(nbval_plugin.find_comment_markers(old.source)).get("check") and old.execution_count:
            report = _Compare(patterns).differs(new.outputs, old.outputs)
            if report:
                out.append(f"code cell {i}: {report}")
    return out


@pytest.mark.skipif(not EXECUTED, reason="no executed chapters: run `make run` (make test does it first)")
@pytest.mark.parametrize("name", EXECUTED)
def test_executed_chapter_reproduces_its_committed_checked_outputs(name):
    """What ``pytest --nbval-lax`` checks, on ``make``'s execution of the chapter (``make test`` executes the
    stale ones first) rather than a second one: the book's numbers are the ones checked."""
    executed = nbformat.read(chapters.EXECUTED_DIR / f"{name}.ipynb", as_version=4)
    committed = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    differences = checked_differences(executed, committed)
    assert not differences, "\n\n".join(differences)


def test_checked_differences_catch_a_changed_number_and_a_stale_copy_and_sanitise_like_nbval():
    def nb(*cells):
        book = nbformat.v4.new_notebook()
        book.cells = list(cells)
        for c in book.cells:
            c.execution_count = 1
        return book

    committed = nb(
        _cell("# NBVAL_CHECK_OUTPUT\nprint(x)", ["x = 0.123\n", "took 3.2 s\n"]), _cell("y", ["7\n"])
    )
    same = nb(
        _cell("p = 1", tags=["injected-parameters"]),
        _cell(
            "# NBVAL_CHECK_OUTPUT\nprint(x)", ["x = 0.123\ntook 9 s\n"]
        ),  # streams coalesce; seconds sanitise
        _cell("y", ["8\n"]),  # not checked
    )
    assert checked_differences(same, committed) == []
    changed = nb(_cell("# NBVAL_CHECK_OUTPUT\nprint(x)", ["x = 0.124\ntook 3.2 s\n"]), _cell("y", ["7\n"]))
    (report,) = checked_differences(changed, committed)
    assert "code cell 0" in report and "0.123" in report and "0.124" in report
    stale = nb(_cell("# NBVAL_CHECK_OUTPUT\nprint(z)", ["x = 0.123\n"]), _cell("y", ["7\n"]))
    assert checked_differences(stale, committed) == [
        "the executed copy is not of this source: run `make run`"
    ]
    missing = nb(_cell("# NBVAL_CHECK_OUTPUT\nprint(x)"), _cell("y", ["7\n"]))
    assert checked_differences(missing, committed)
    unrun = copy.deepcopy(committed)
    unrun.cells[1].execution_count = None  # outputs without a count: nbval's "unrun reference cell"
    assert checked_differences(same, unrun) == ["code cell 1: unrun reference cell has outputs"]


def test_source_commit_names_head_and_a_dirty_tree(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True
        )

    assert runtime.source_commit(tmp_path) is None  # not a checkout
    git("init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("commit", "-q", "-m", "one")
    head = (tmp_path / ".git" / "refs" / "heads" / "main").read_text().strip()  # read without git
    (tmp_path / "untracked.txt").write_text("x")
    assert runtime.source_commit(tmp_path) == head[:12]  # untracked files do not make it dirty
    (tmp_path / "a.txt").write_text("2")
    assert runtime.source_commit(tmp_path) == head[:12] + "+dirty"


def test_executed_page_has_no_progress_bars_hides_the_injected_cell_and_records_the_machine(
    tmp_path, monkeypatch
):
    import papermill

    seen = {}

    def fake_execute(source, out, *, parameters, extra_arguments, **kwargs):
        seen["progress"] = os.environ.get("AFFECT_PROGRESS")
        seen["args"] = extra_arguments
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            _cell('# Parameters\nprofile = "quick"\n', tags=["injected-parameters"]),
            _cell("print(1)"),
        ]
        nbformat.write(nb, out)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(chapters, "RECORD_DIR", tmp_path / "records")
    monkeypatch.setenv("AFFECT_PROGRESS", "text")
    record = chapters.execute_chapter("00_orientation", output=tmp_path / "out.ipynb")
    assert seen == {"progress": "off", "args": ["--InlineBackend.figure_formats=retina"]}
    assert os.environ["AFFECT_PROGRESS"] == "text"  # restored for the caller
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert "remove-cell" in executed.cells[0].metadata["tags"]
    assert record["machine"]["cores"] >= 1 and record["finished"] and record["output"].endswith("out.ipynb")
    saved = json.loads((tmp_path / "records" / "00_orientation.quick.json").read_text())
    assert saved["machine"] == record["machine"]


def test_a_chapter_stopped_by_bad_input_is_one_line(tmp_path, monkeypatch, capsys):
    import papermill

    from affect_lib import commands

    def stops(source, out, **kwargs):
        nbformat.write(nbformat.v4.new_notebook(), out)
        raise papermill.PapermillExecutionError(
            3, 3, "cfg = affect_lib.setup(...)", ename, f"data_dir {tmp_path} for RAVDESS lacks Actor_*\n", []
        )

    monkeypatch.setattr(papermill, "execute_notebook", stops)
    monkeypatch.setattr(chapters, "RECORD_DIR", tmp_path / "records")
    argv = ["chapter", "40_audiovisual_cfn_sr", "--profile", "paper", "--data-dir", str(tmp_path)]
    ename = (
        "FileNotFoundError"  # an empty data folder: one line naming the chapter, the error and the traceback
    )
    assert commands.main([*argv, "--output", str(tmp_path / "out.ipynb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"error: chapter 40_audiovisual_cfn_sr (paper) stopped in cell 3: FileNotFoundError: data_dir {tmp_path} "
        "for RAVDESS lacks Actor_* (the executed notebook with the traceback: "
    )
    assert not (tmp_path / "out.ipynb").exists() and not (tmp_path / "records").exists()
    ename = "RuntimeError"  # a fault of the chapter itself keeps papermill's traceback
    with pytest.raises(papermill.PapermillExecutionError):
        commands.main([*argv, "--output", str(tmp_path / "out.ipynb")])


def test_full_run_skips_chapters_without_data(tmp_path, monkeypatch):
    from papermill.exceptions import PapermillExecutionError

    seen_env = []

    def fake_execute(name, *, profile, output):
        assert profile == "paper"
        seen_env.append(os.environ.get("AFFECT_DATA_DIR"))
        if name == "needs_data":
            raise PapermillExecutionError(3, 1, "cfg = setup()", "FileNotFoundError", "no mosei here", [])
        if name == "broken":
            raise PapermillExecutionError(3, 1, "x()", "ValueError", "bad", [])
        return {"seconds": 1.0}

    monkeypatch.setattr(chapters, "chapter_names", lambda: ["fine", "needs_data", "broken"])
    monkeypatch.setattr(chapters, "execute_chapter", fake_execute)
    monkeypatch.delenv("AFFECT_DATA_DIR", raising=False)
    results = chapters.execute_all_paper(data_root=tmp_path, output_dir=tmp_path)
    assert results["fine"].startswith("done")
    assert results["needs_data"] == "skipped: no mosei here"
    assert results["broken"].startswith("failed: ValueError")
    assert seen_env == [str(tmp_path.resolve())] * 3  # the kernels see the data root ...
    assert "AFFECT_DATA_DIR" not in os.environ  # ... and the caller's environment is left as it was
