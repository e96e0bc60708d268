"""Command line: ``python -m affect_lib chapter NAME [--profile paper --data-dir PATH]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from affect_lib import chapters

    parser = argparse.ArgumentParser(prog="python -m affect_lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("chapter", help="execute one chapter through papermill")
    p.add_argument("name", help="chapter name, e.g. 00_orientation")
    p.add_argument("--profile", default="quick", choices=("quick", "paper"))
    p.add_argument("--data-dir", default=None, help="folder with the real dataset (paper profile)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--output", default=None, help="executed notebook (default: book/notebooks/NAME.ipynb)")
    p.add_argument("--store", action="store_true", help="also refresh the committed outputs of the pair")

    sub.add_parser("list", help="list the chapters")
    sub.add_parser("record", help="write the reproducibility record and results-at-a-glance pages")

    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(chapters.chapter_names()))
        return 0
    if args.command == "record":
        for page in chapters.write_generated_pages():
            print(f"wrote {page.relative_to(chapters.REPO)}")
        return 0
    try:
        chapters.execute_chapter(
            args.name, profile=args.profile, data_dir=args.data_dir, seed=args.seed, output=args.output
        )
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.store:
        out = args.output or chapters.EXECUTED_DIR / f"{args.name}.ipynb"
        chapters.store_outputs(out, chapters.chapter_source(args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
