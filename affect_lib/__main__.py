"""Command line of the book and its library.

python -m affect_lib chapter NAME [--profile paper] [--data-dir PATH]   execute one chapter (papermill)
python -m affect_lib full [--data-root PATH]                            every chapter on the paper profile
python -m affect_lib train MODEL --dataset NAME --data-dir PATH ...     train without notebooks (torchrun ok)
python -m affect_lib list | record
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # the trainer owns its own options
        from affect_lib.train import main as train_main

        return train_main(argv[1:])

    from affect_lib import chapters

    parser = argparse.ArgumentParser(
        prog="python -m affect_lib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("chapter", help="execute one chapter through papermill")
    p.add_argument("name", help="chapter name, e.g. 00_orientation")
    p.add_argument("--profile", default="quick", choices=("quick", "paper"))
    p.add_argument("--data-dir", default=None, help="folder with the real dataset (paper profile)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--output", default=None, help="executed notebook (default: book/notebooks/NAME.ipynb)")
    p.add_argument("--store", action="store_true", help="also refresh the committed outputs of the pair")

    f = sub.add_parser("full", help="every chapter on the paper profile; chapters without data are skipped")
    f.add_argument("--data-root", default=None, help="folder holding one sub-folder per dataset")
    f.add_argument("--output-dir", default=str(chapters.REPO / "_build" / "paper"))

    sub.add_parser("train", help="train a model without notebooks: python -m affect_lib train --help")
    sub.add_parser("list", help="list the chapters")
    sub.add_parser("record", help="write the generated appendix pages from this build's run records")

    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(chapters.chapter_names()))
        return 0
    if args.command == "record":
        for page in chapters.write_generated_pages():
            print(f"wrote {page.relative_to(chapters.REPO)}")
        return 0
    if args.command == "full":
        results = chapters.execute_all_paper(data_root=args.data_root, output_dir=args.output_dir)
        for name, status in results.items():
            print(f"{name:32s} {status}")
        return 1 if any(s.startswith("failed") for s in results.values()) else 0
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
