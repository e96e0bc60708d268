"""Progress bars for long loops, in terminals, live notebooks and executed (published) notebooks.

In a terminal and in a live Jupyter front end this is ``tqdm.auto``. In a notebook executed headless by papermill or
nbval (``AFFECT_PROGRESS=text``, which the Makefile sets) a widget would be lost and stderr would fail the book
build, so the bar is written as plain text to stdout and refreshed rarely: the published page shows the final bar.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm as _plain_tqdm
from tqdm.auto import tqdm as _auto_tqdm

T = TypeVar("T")
MODE_ENV = "AFFECT_PROGRESS"


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> _plain_tqdm:
    """A tqdm bar; ``kwargs`` go to tqdm (``desc``, ``total``, ``leave``, ``disable``, ...).

    ``$AFFECT_PROGRESS``: ``auto`` (default) uses ``tqdm.auto``; ``text`` writes a plain bar to stdout;
    ``off`` disables it.
    """
    mode = os.environ.get(MODE_ENV, "auto")
    if mode not in ("auto", "text", "off"):
        raise ValueError(f"${MODE_ENV} must be 'auto', 'text' or 'off', got {mode!r}")
    if mode == "off":
        kwargs.setdefault("disable", True)
    if mode == "text":
        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("mininterval", 30.0)
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("ncols", 80)
        return _plain_tqdm(iterable, **kwargs)
    return _auto_tqdm(iterable, **kwargs)
