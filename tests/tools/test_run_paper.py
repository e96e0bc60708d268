"""tools/run_paper.py: every chapter on the paper profile, skipping those without their data."""

import os
import runpy
from pathlib import Path

from affect_lib import chapters

TOOL = Path(__file__).resolve().parents[2] / "tools" / "run_paper.py"


class _Tool:
    def __init__(self):
        self.__dict__.update(runpy.run_path(str(TOOL)))


run_paper = _Tool()


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
    results = run_paper.execute_all_paper(data_root=tmp_path, output_dir=tmp_path)
    assert results["fine"].startswith("done")
    assert results["needs_data"] == "skipped: no mosei here"
    assert results["broken"].startswith("failed: ValueError")
    assert seen_env == [str(tmp_path.resolve())] * 3  # the kernels see the data root ...
    assert "AFFECT_DATA_DIR" not in os.environ  # ... and the caller's environment is left as it was
