"""``affect-lib convert-csd``: CMU-MultimodalSDK ``.csd`` files to a MulT pickle (no SDK needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from affect_lib.commands.common import CommandError, positive_int


def convert_csd_command(args: argparse.Namespace) -> int:
    """``affect-lib convert-csd``: see :func:`affect_lib.data.csd.csd_to_mult`."""
    from affect_lib.data.csd import SOURCES, csd_to_mult

    files = {k: getattr(args, k) for k in SOURCES}
    if not ((args.csd_dir and not any(files.values())) or (args.csd_dir is None and all(files.values()))):
        raise CommandError(
            "give --csd-dir FOLDER (the SDK's file names) or all of --text --audio --vision --labels"
        )
    splits = None  # the SDK's standard folds (MOSI, MOSEI)
    if args.splits is None and args.dataset == "iemocap":
        raise CommandError(
            "convert-csd --dataset iemocap needs --splits FILE: the SDK has no standard IEMOCAP folds"
        )
    if args.splits is not None:
        try:
            splits = json.loads(Path(args.splits).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CommandError(f"--splits {args.splits}: not a readable JSON file ({err})") from None
        if not isinstance(splits, dict) or sorted(splits) != ["test", "train", "valid"]:
            found = sorted(splits) if isinstance(splits, dict) else type(splits).__name__
            raise CommandError(
                f"--splits {args.splits}: expected an object with the keys train, valid, test; got {found}"
            )
        for key, ids in splits.items():
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise CommandError(
                    f"--splits {args.splits}: '{key}' must be a list of video or video[i] id strings"
                )
    try:
        report = csd_to_mult(
            args.csd_dir or files,
            args.dataset,
            not args.unaligned,
            splits,
            args.out,
            lengths=tuple(args.lengths) if args.lengths else None,
            overwrite=args.overwrite,
        )
    except (OSError, ValueError) as err:  # FileNotFoundError, FileExistsError or bad input
        raise CommandError(str(err)) from None
    sizes = " / ".join(f"{k} {n:,}" for k, n in report.sizes.items())
    print(
        f"wrote {report.path}: {sizes}; words without frames zero-filled {report.zero_filled_words}, "
        f"{report.empty_segments} segments with an empty modality left out, {len(report.missing_videos)} fold videos "
        f"absent from the files skipped; non-finite values {report.nonfinite}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``convert-csd`` to the main parser's subcommands."""
    v = sub.add_parser("convert-csd", help="CMU-MultimodalSDK .csd files to a MulT pickle (no SDK needed)")
    v.add_argument("--dataset", required=True, choices=("mosi", "mosei", "iemocap"))
    v.add_argument("--unaligned", action="store_true", help="raw frame sequences (*_data_noalign.pkl)")
    v.add_argument(
        "--splits",
        default=None,
        help='JSON {"train": [video or video[i] ids], "valid": ..., "test": ...}; default (MOSI, MOSEI): the SDK\'s '
        "standard folds (affect_lib/data/std_folds.json), skipping fold videos absent from the files",
    )
    v.add_argument("--out", required=True, help="output folder (MulT file name) or .pkl path")
    v.add_argument("--csd-dir", default=None, help="folder with the SDK's standard .csd files (MOSI, MOSEI)")
    for key in ("text", "audio", "vision", "labels"):
        v.add_argument(f"--{key}", default=None, help=f"the {key} .csd file (instead of --csd-dir)")
    v.add_argument("--lengths", type=positive_int, nargs=3, default=None, metavar=("T_L", "T_A", "T_V"))
    v.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    v.set_defaults(func=convert_csd_command)
