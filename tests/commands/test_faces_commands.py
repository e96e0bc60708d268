"""faces edit / faces search through an argparse driver registered as affect_lib/cli.py should register them."""

import argparse
import struct
import zlib

import numpy as np
import pytest
import torch

from affect_lib import commands as main_cli
from affect_lib.commands import faces as cli
from affect_lib.faces import facs


def _run(*argv):
    parser = argparse.ArgumentParser(prog="affect-lib")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def _error(capsys, *argv):
    """Exit status and the last stderr line of ``affect-lib faces ARGV`` (argparse refusals included)."""
    try:
        status = main_cli.main(["faces", *argv])
    except SystemExit as stop:
        status = stop.code
    return status, capsys.readouterr().err.strip().splitlines()[-1]


def test_parse_aus_and_targets():
    aus = cli.parse_aus("AU12=3, au6=2")
    assert aus[facs.AU_CODES.index(12)] == 3 and aus[facs.AU_CODES.index(6)] == 2 and aus.sum() == 5
    np.testing.assert_allclose(cli.parse_target("happy .2 + surprise .8"), [0, 0, 0, 0.2, 0, 0.8, 0])
    np.testing.assert_allclose(cli.parse_target("happily surprised"), [0, 0, 0, 0.5, 0, 0.5, 0])
    with pytest.raises(ValueError, match="AU"):
        cli.parse_aus("AU24=3")
    with pytest.raises(ValueError, match="intensity"):
        cli.parse_aus("AU12=7")
    with pytest.raises(ValueError, match="target"):
        cli.parse_target("happy .2 + ")


def test_edit_and_search_write_their_files_and_never_overwrite(tmp_path):
    out = tmp_path / "smile.png"
    assert (
        _run("faces", "edit", "--image", "astronaut", "--size", "64", "--aus", "AU12=4", "--out", str(out))
        == 0
    )
    assert out.stat().st_size > 0
    with pytest.raises(main_cli.CommandError, match="exists: choose another --out"):
        _run("faces", "edit", "--image", "astronaut", "--size", "64", "--aus", "AU12=4", "--out", str(out))
    folder = tmp_path / "search"
    argv = [
        "faces",
        "search",
        "--image",
        "astronaut",
        "--size",
        "64",
        "--target",
        "happy",
        "--method",
        "random",
    ]
    assert _run(*argv, "--budget", "20", "--pop-size", "10", "--top", "2", "--out", str(folder)) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "best_0.png",
        "best_1.png",
        "fitness.png",
        "result.json",
    ]
    with pytest.raises(main_cli.CommandError, match="no such file"):
        _run(
            "faces",
            "edit",
            "--image",
            str(tmp_path / "none.png"),
            "--aus",
            "AU1=1",
            "--out",
            str(tmp_path / "x.png"),
        )


def test_edit_and_search_on_an_lfw_face(tmp_path):
    from PIL import Image

    for name, aus in (("rest.png", "AU12=0"), ("smile.png", "AU12=5,AU6=3")):
        assert (
            _run(
                "faces",
                "edit",
                "--image",
                "lfw:3",
                "--size",
                "64",
                "--aus",
                aus,
                "--out",
                str(tmp_path / name),
            )
            == 0
        )
    rest, smile = (np.asarray(Image.open(tmp_path / n), dtype=float) / 255 for n in ("rest.png", "smile.png"))
    assert rest.shape == (64, 64, 3)
    change = np.abs(smile - rest).mean(axis=2)
    # a smile moves the mouth corners and cheeks: the lower half of the face changes, the forehead does not
    assert change[36:56].mean() > 0.01 and change[36:56].mean() > 5 * change[:16].mean()
    folder = tmp_path / "search"
    argv = ["faces", "search", "--image", "lfw:3", "--size", "64", "--target", "happy .2 + surprise .8"]
    assert (
        _run(
            *argv, "--method", "cma", "--budget", "20", "--pop-size", "10", "--top", "1", "--out", str(folder)
        )
        == 0
    )
    import json

    result = json.loads((folder / "result.json").read_text())
    assert result["target"] and len(result["best"]) == 1 and (folder / "best_0.png").is_file()


def _png_header(path, side):
    """A PNG that declares ``side`` x ``side`` pixels and holds none: its size is read from the header alone."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def test_bad_input_is_one_error_line_with_status_2_and_writes_nothing(tmp_path, capsys):
    text, junk, big = tmp_path / "notes.png", tmp_path / "junk.pth", _png_header(tmp_path / "big.png", 12000)
    text.write_text("not an image")
    junk.write_bytes(b"\x80\x02junk" * 100)
    malicious = tmp_path / "evil.pth"
    torch.save({"x": argparse.Namespace()}, malicious)  # not plain data: weights_only refuses it
    out = tmp_path / "out.png"
    edit = ["edit", "--aus", "AU12=3", "--size", "64"]
    cases = [
        ([*edit, "--image", str(text), "--out", str(out)], f"--image {text}: not a readable image"),
        ([*edit, "--image", "astronaut", "--out", str(tmp_path / "x.txt")], ".txt is not an image type"),
        (
            [*edit, "--image", str(big), "--out", str(out)],
            "big.png: 12000 x 12000 pixels (144 megapixels); this",
        ),
        (
            [*edit, "--image", "astronaut", "--checkpoint", str(junk), "--out", str(out)],
            f"{junk} was refused",
        ),
        (
            [*edit, "--image", "astronaut", "--checkpoint", str(malicious), "--out", str(out)],
            "nothing in it was",
        ),
        (
            ["edit", "--aus", "AU12=9", "--image", "astronaut", "--out", str(out)],
            "intensity must lie in [0, 5",
        ),
    ]
    search = ["search", "--image", "astronaut", "--target", "happy", "--out", str(tmp_path / "found")]
    cases += [
        ([*search, "--budget", "0"], "--budget: must be a positive integer, got '0'"),
        ([*search, "--top", "0"], "--top: must be a positive integer, got '0'"),
        ([*search[:4], "sad .5 +", *search[5:]], "--target"),
        ([*search[:2], "lfw:x", *search[3:]], "--image lfw:x: want lfw:N"),
    ]
    for argv, words in cases:
        status, line = _error(capsys, *argv)
        assert status == 2 and words in line, (argv, line)
        assert "weights_only=False" not in line and "Traceback" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png", "evil.pth", "junk.pth", "notes.png"]
