"""The book's commands: ``chapter`` (execute one chapter), ``full`` (every chapter on the paper profile),
``list`` and ``rehearse`` (the paper profile's dress rehearsal)."""

from __future__ import annotations

import argparse
from pathlib import Path

from affect_lib.commands.common import CommandError, non_negative_int


def chapter_command(args: argparse.Namespace) -> int:
    """``affect-lib chapter NAME``: execute one chapter through papermill (``--store``: refresh its pair)."""
    from affect_lib import chapters

    if args.data_dir is not None and not Path(args.data_dir).expanduser().is_dir():
        raise CommandError(f"--data-dir {args.data_dir} does not exist or is not a folder (nothing was run)")
    try:
        chapters.execute_chapter(
            args.name, profile=args.profile, data_dir=args.data_dir, seed=args.seed, output=args.output
        )
    except (FileNotFoundError, ValueError) as err:
        raise CommandError(str(err).strip().splitlines()[0]) from None
    if args.store:
        out = args.output or chapters.EXECUTED_DIR / f"{args.name}.ipynb"
        chapters.store_outputs(out, chapters.chapter_source(args.name))
    return 0


def full_command(args: argparse.Namespace) -> int:
    """``affect-lib full``: every chapter on the paper profile; one status line each, exit 1 if one failed."""
    from affect_lib import chapters

    output_dir = args.output_dir or str(chapters.REPO / "_build" / "paper")
    results = chapters.execute_all_paper(data_root=args.data_root, output_dir=output_dir)
    for name, status in results.items():
        print(f"{name:32s} {status}")
    return 1 if any(s.startswith("failed") for s in results.values()) else 0


def list_command(args: argparse.Namespace) -> int:
    """``affect-lib list``: the chapters' names."""
    from affect_lib import chapters

    print("\n".join(chapters.chapter_names()))
    return 0


def rehearse_command(args: argparse.Namespace) -> int:
    """``affect-lib rehearse``: :func:`affect_lib.rehearsal.main` with the remaining arguments."""
    from affect_lib.rehearsal import main as rehearse

    return rehearse(args.rehearsal_args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``chapter``, ``full``, ``list`` and ``rehearse`` to the main parser's subcommands."""
    c = sub.add_parser("chapter", help="execute one chapter through papermill")
    c.add_argument("name", help="chapter name, e.g. 00_orientation")
    c.add_argument("--profile", default="quick", choices=("quick", "paper"))
    c.add_argument("--data-dir", default=None, help="folder with the real dataset (paper profile)")
    c.add_argument("--seed", type=non_negative_int, default=None)
    c.add_argument("--output", default=None, help="executed notebook (default: book/notebooks/NAME.ipynb)")
    c.add_argument("--store", action="store_true", help="also refresh the committed outputs of the pair")
    c.set_defaults(func=chapter_command)

    f = sub.add_parser("full", help="every chapter on the paper profile; chapters without data are skipped")
    f.add_argument("--data-root", default=None, help="folder holding one sub-folder per dataset")
    f.add_argument("--output-dir", default=None, help="default: _build/paper")
    f.set_defaults(func=full_command)

    sub.add_parser("list", help="list the chapters").set_defaults(func=list_command)
    r = sub.add_parser("rehearse", help="full-size dress rehearsal of the paper profile")
    r.add_argument("rehearsal_args", nargs=argparse.REMAINDER, help="options of the rehearsal (--help)")
    r.set_defaults(func=rehearse_command)
