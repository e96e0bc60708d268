"""tools/check_figures.py: a legend over a line, markers, error bars or bars fails; one clear of the data passes."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend

TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_figures.py"
spec = importlib.util.spec_from_file_location("check_figures", TOOL)
check_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_figures)

x = np.linspace(0, 10, 50)


def figure(draw, **legend) -> list[str]:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    draw(ax)
    ax.legend(**legend)
    try:
        return check_figures.legend_overlaps(fig)
    finally:
        plt.close(fig)


PLANTED = {  # a legend placed on the data (the problem named), then the same figure with a free place for it
    "line": (lambda ax: ax.plot(x, x, label="diagonal"), "covers", "'diagonal'"),
    "dashed reference line": (lambda ax: ax.axhline(5, ls="--", label="exact"), "covers", "'exact'"),
    "markers": (lambda ax: ax.scatter(x, 10 - x, label="points"), "covers", "'points'"),
    "error bars": (
        lambda ax: ax.errorbar([5], [5], yerr=[4], fmt="none", label="interval"),
        "covers",
        "",
    ),
    "bars": (lambda ax: ax.bar([4, 5, 6], [9, 9, 9], width=1, label="counts"), "covers a bar", ""),
}


@pytest.mark.parametrize("name", list(PLANTED))
def test_a_legend_over_the_data_fails(name):
    draw, problem, label = PLANTED[name]
    found = figure(draw, loc="center")
    assert any(problem in p and label in p for p in found), found


@pytest.mark.parametrize("name", list(PLANTED))
def test_a_legend_outside_the_axes_passes(name):
    draw = PLANTED[name][0]
    assert figure(draw, loc="upper left", bbox_to_anchor=(1.02, 1)) == []


def test_a_legend_in_an_empty_corner_passes():
    def draw(ax):
        ax.plot(x, 0.2 * x, label="low line")
        ax.fill_between(x, 0, 0.2 * x, alpha=0.3, label="shaded area under it")
        ax.set_ylim(0, 10)

    assert figure(draw, loc="upper left") == []
    assert figure(draw, loc="lower right")  # over the line's end


def test_a_figure_legend_over_an_axes_fails():
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(x, np.full_like(x, 5), label="flat")
    fig.legend(loc="center")
    try:
        assert any("'flat'" in p for p in check_figures.legend_overlaps(fig))
    finally:
        plt.close(fig)


def test_the_quick_chapters_legends_are_clear_of_their_data():
    # runs the chapters that take seconds (their code cells, Agg backend) in a process of their own
    env = {**os.environ, "AFFECT_PROGRESS": "off", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    env.pop("MPLBACKEND", None)
    run = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "4 chapters, 0 legends over data" in run.stdout


def test_an_unknown_chapter_is_refused(capsys):
    assert check_figures.main(["99_missing"]) == 2
    assert "error: no chapter notebooks/99_missing.py" in capsys.readouterr().err
