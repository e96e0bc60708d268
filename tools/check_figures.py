"""Figures whose legend covers their data: ``python tools/check_figures.py [CHAPTER ...]``.

Runs each chapter's code cells (``notebooks/NAME.py``, its default parameters, in ``notebooks/``, as ``make chapter``
does) with matplotlib's Agg backend, then after every cell checks each open figure: a legend must not cover a
plotted point, that is a point of a line (sampled every ``STEP_PX`` along it), a marker, an error bar or a bar.
Shaded areas (``fill_between``) and images may lie under a legend. Nothing is stored. Without chapters it checks
the chapters that run in seconds (``QUICK_CHAPTERS``); exit status 1 when a legend covers data.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
QUICK_CHAPTERS = ("00_orientation", "10_wdp_definition", "11_wdp_properties", "20_faces_classifier_and_rig")
STEP_PX = 2.0  # display px between the points sampled along a line
EDGE_PX = 1.0  # a point this close inside the legend's edge is not counted as covered


def _along(xy: np.ndarray) -> np.ndarray:
    """Display points ``(n, 2)`` along the polyline ``xy`` (px), at most ``STEP_PX`` apart; NaN breaks it."""
    pieces = [xy[np.isfinite(xy).all(axis=1)]]
    for a, b in zip(xy[:-1], xy[1:], strict=True):
        if np.isfinite(a).all() and np.isfinite(b).all():
            t = np.linspace(0.0, 1.0, int(np.hypot(*(b - a)) // STEP_PX) + 2)[:, None]
            pieces.append(a + t * (b - a))
    return np.concatenate(pieces)


def _within(points: np.ndarray, box: Any, margin: float) -> np.ndarray:
    """The display points ``(n, 2)`` strictly inside ``box`` by more than ``margin`` px."""
    x, y = points[:, 0], points[:, 1]
    keep = (x > box.x0 + margin) & (x < box.x1 - margin) & (y > box.y0 + margin) & (y < box.y1 - margin)
    return points[keep]


def _plotted(ax: Any) -> list[tuple[str, np.ndarray | Any]]:
    """(label, display points ``(n, 2)`` or a bar's display box) of everything plotted in ``ax``."""
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.patches import Rectangle

    found: list[tuple[str, np.ndarray | Any]] = []
    for line in ax.get_lines():
        if line.get_visible():
            xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
            found.append((line.get_label(), xy if line.get_linestyle() in ("None", "", " ") else _along(xy)))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):  # scatter markers
            found.append((coll.get_label(), coll.get_offset_transform().transform(coll.get_offsets())))
        elif isinstance(coll, LineCollection):  # error bars, vlines, hlines
            segments = [_along(coll.get_transform().transform(s)) for s in coll.get_segments() if len(s)]
            if segments:
                found.append((coll.get_label(), np.concatenate(segments)))
    for patch in ax.patches:  # bars and histograms
        if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_height() and patch.get_width():
            found.append((patch.get_label(), patch.get_window_extent()))
    return found


def legend_overlaps(fig: Any) -> list[str]:
    """One line per legend of ``fig`` (an axes' or the figure's own) that covers data plotted in an axes."""
    from matplotlib.transforms import Bbox

    fig.canvas.draw()  # lays the legends out ("best" places them only when drawn)
    renderer = fig.canvas.get_renderer()
    problems = []
    legends = [(ax.get_legend(), [ax]) for ax in fig.axes] + [(lg, fig.axes) for lg in fig.legends]
    for legend, axes in legends:
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        for ax in axes:
            where = f"{ax.get_title() or 'axes ' + str(fig.axes.index(ax) + 1)!r}"
            for label, data in _plotted(ax):
                name = "" if label.startswith("_") else f" of {label!r}"
                if isinstance(data, Bbox):
                    shown_bar = Bbox.intersection(data, ax.bbox)
                    if shown_bar is not None and Bbox.intersection(box, shown_bar) is not None:
                        problems.append(f"{where}: the legend covers a bar{name}")
                    continue
                drawn = _within(data, ax.bbox, 0.0)  # clipped to the axes
                inside = _within(drawn, box, EDGE_PX)
                if len(inside):
                    problems.append(f"{where}: the legend covers {len(inside)} plotted points{name}")
    return problems


def chapter_problems(name: str, save: Path | None = None) -> list[str]:
    """Run chapter ``name``'s code cells with the Agg backend; legend problems of every figure, cell by cell.
    Each figure with a problem is saved into ``save`` (when given) as ``NAME.cellN.figM.png``."""
    import jupytext
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    warnings.filterwarnings("ignore", message=".*non-interactive.*")  # plt.show() under Agg
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    problems = []
    here = Path.cwd()
    os.chdir(NOTEBOOKS)
    try:
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            with contextlib.redirect_stdout(io.StringIO()):  # its printed results are checked elsewhere
                exec(compile(cell.source, f"{name}, code cell {i + 1}", "exec"), namespace)  # noqa: S102
            for number in plt.get_fignums():
                found = legend_overlaps(plt.figure(number))
                problems += [f"{name}, code cell {i + 1}: {p}" for p in found]
                if found and save is not None:
                    save.mkdir(parents=True, exist_ok=True)
                    plt.figure(number).savefig(save / f"{name}.cell{i + 1}.fig{number}.png")
            plt.close("all")
    finally:
        os.chdir(here)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("chapters", nargs="*", help=f"chapter names (default: {' '.join(QUICK_CHAPTERS)})")
    parser.add_argument("--save", type=Path, default=None, help="folder for the figures with a problem (PNG)")
    args = parser.parse_args(argv)
    missing = [c for c in args.chapters if not (NOTEBOOKS / f"{c}.py").exists()]
    if missing:
        print(f"error: no chapter notebooks/{missing[0]}.py", file=sys.stderr)
        return 2
    chapters = args.chapters or QUICK_CHAPTERS
    problems = [p for name in chapters for p in chapter_problems(name, args.save)]
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"check-figures: {len(chapters)} chapters, {len(problems)} legends over data")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
