"""Every chapter on the ``paper`` profile: ``python tools/run_paper.py [--data-root D] [--output-dir O]``.

``make full`` and ``affect-lib full`` run this file from a checkout. The orchestration of the whole book is
book-building code, so it lives here rather than in the library a reader imports; executing one chapter
(:func:`affect_lib.chapters.execute_chapter`) stays in the library.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from affect_lib import chapters  # noqa: E402
from affect_lib.runtime import DATA_DIR_ENV  # noqa: E402


def execute_all_paper(
    *, data_root: str | os.PathLike[str] | None = None, output_dir: str | os.PathLike[str]
) -> dict[str, str]:
    """Execute every chapter on the ``paper`` profile into ``output_dir``; return a status line per chapter.

    Each chapter finds its dataset in ``$AFFECT_DATA_DIR/<dataset>`` (``data_root`` sets that variable). A chapter
    that stops with ``FileNotFoundError`` (its data is missing) is reported as skipped, with the chapter's message.
    """
    from papermill.exceptions import PapermillExecutionError

    previous = os.environ.get(DATA_DIR_ENV)
    if data_root is not None:  # the kernels inherit the variable; it is restored afterwards
        os.environ[DATA_DIR_ENV] = str(Path(data_root).expanduser().resolve())
    results = {}
    try:
        for name in chapters.chapter_names():
            out = Path(output_dir) / f"{name}.ipynb"
            try:
                record = chapters.execute_chapter(name, profile="paper", output=out)
                results[name] = f"done in {record['seconds']:.0f} s -> {out}"
            except PapermillExecutionError as err:
                if err.ename == "FileNotFoundError":
                    results[name] = f"skipped: {err.evalue}"
                else:
                    results[name] = f"failed: {err.ename}: {err.evalue} (see {out.with_suffix('.tmp.ipynb')})"
    finally:
        if previous is None:
            os.environ.pop(DATA_DIR_ENV, None)
        else:
            os.environ[DATA_DIR_ENV] = previous
    return results


def main(argv: list[str] | None = None) -> int:
    """Print one status line per chapter; exit status 1 when a chapter failed (skipped ones do not count)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None, help="folder with one subfolder per dataset")
    parser.add_argument("--output-dir", default=None, help="where the executed notebooks go")
    args = parser.parse_args(argv)
    output_dir = args.output_dir or str(chapters.REPO / "_build" / "paper")
    results = execute_all_paper(data_root=args.data_root, output_dir=output_dir)
    for name, status in results.items():
        print(f"{name:32s} {status}")
    return 1 if any(s.startswith("failed") for s in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
