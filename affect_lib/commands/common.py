"""What every command shares: the one-line user error, the interrupted-run line and the argument types.

A command turns what the library raises for bad input (``ValueError``, ``FileNotFoundError``,
``FileExistsError``, ``PermissionError``) into :class:`CommandError` with :func:`user_errors`;
:func:`affect_lib.commands.main` prints it as one ``error: ...`` line and exits with its status (2; 3 for a
diverged run; 130 for an interrupted one).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class CommandError(Exception):
    """A user error: printed as one ``error: ...`` line, exit status 2 (3 for a diverged run)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's errors about bad input into :class:`CommandError` (its message, status 2)."""
    try:
        yield
    except (FileNotFoundError, FileExistsError, PermissionError, ValueError) as err:
        raise CommandError(str(err)) from None


def interrupted(checkpoint: Path, *, started: bool) -> CommandError:
    """The one line of a training run stopped by SIGINT (Ctrl-C), exit status 130: where its last complete epoch
    is (``checkpoint``) and how to continue (``started``: the run folder holds the run's ``run.json``)."""
    if checkpoint.exists():
        where = (
            f"{checkpoint} holds the last complete epoch; the same command with --resume continues the run"
        )
    elif started:
        where = "no epoch had completed; the same command with --resume starts the run again"
    else:
        where = "nothing was written"
    return CommandError(f"interrupted: {where}", status=130)


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``, else a one-line error naming the value."""
    words = "a positive integer" if low == 1 else "a non-negative integer"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}")
        return value

    return parse


positive_int, non_negative_int = _int_at_least(1), _int_at_least(0)


def positive_float(text: str) -> float:
    """An argparse type: a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def setting(text: str) -> tuple[str, Any]:
    """An argparse type: ``SECTION.FIELD=VALUE`` (the value read as JSON when it parses, else as text)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be SECTION.FIELD=VALUE (e.g. train.epochs=3), got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, tuple(value) if isinstance(value, list) else value


def add_settings_argument(p: argparse.ArgumentParser, example: str) -> None:
    """``--set KEY=VALUE`` (repeatable): recipe overrides."""
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=setting,
        default=[],
        metavar="KEY=VALUE",
        help=f"override a recipe field, e.g. {example}",
    )
