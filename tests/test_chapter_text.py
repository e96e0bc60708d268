"""The chapters speak to readers: the current result, without project history (tools/check_html.py checks the
built pages the same way; this catches it in the sources in seconds)."""

import importlib.util
from pathlib import Path

import jupytext
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
