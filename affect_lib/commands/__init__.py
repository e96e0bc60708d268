"""The command line of the book and its library: ``affect-lib`` (or ``python -m affect_lib``).

affect-lib train MODEL --dataset NAME [--data-dir PATH] ...   train one recipe (torchrun works unchanged)
affect-lib train ganimation --data-dir PATH [--resume] ...    GANimation on a face folder (its own options)
affect-lib evaluate --checkpoint RUN/model.pt [--split test]   re-score a saved model
affect-lib chapter NAME [--profile paper] [--data-dir PATH]    execute one chapter (papermill)
affect-lib full [--data-root PATH]                             every chapter on the paper profile
affect-lib list                                                list the chapters
affect-lib rehearse                                            full-size dress rehearsal of the paper profile
affect-lib convert-csd --dataset NAME --out DIR [--splits S.json]  SDK .csd files to a MulT pickle
affect-lib faces edit|search ...                               the face rig or a GANimation generator on any face

Argument parsing only: one module per command family (:mod:`~affect_lib.commands.train`,
:mod:`~affect_lib.commands.faces`, :mod:`~affect_lib.commands.book`, :mod:`~affect_lib.commands.data`); the work is
the library's (:mod:`affect_lib.runs` trains every recipe). A user error is one ``error: ...`` line on stderr
with exit status 2 (3 for a diverged run, 130 for an interrupted one).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from affect_lib.commands import book, data, faces, train
from affect_lib.commands.common import CommandError


def build_parser() -> argparse.ArgumentParser:
    """The ``affect-lib`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="affect-lib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for family in (train, book, data, faces):
        family.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``affect-lib`` command; a user error prints one ``error:`` line and returns its status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # GANimation trains two networks with no validation metric: its own options, dispatched before the generic
    # train parser (whose MODEL choices are the recipes' sequence and audio-visual models)
    if argv[:2] == ["train", "ganimation"]:
        args = faces.ganimation_parser().parse_args(argv[2:])
        args.func = faces.train_ganimation_command
    else:
        args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.status
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
