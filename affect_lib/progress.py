"""Progress bars for long loops: on in terminals and live notebooks, off on the published pages.

In a terminal and in a live Jupyter front end this is ``tqdm.auto``. A chapter executed for the book
(:func:`affect_lib.chapters.execute_chapter`, and the Makefile's runs) gets ``AFFECT_PROGRESS=off``: a bar
there would only leave residue on the page (and stderr fails the book build). ``AFFECT_PROGRESS=text`` writes a
plain, rarely refreshed bar to stdout, for logs of long headless runs.
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
