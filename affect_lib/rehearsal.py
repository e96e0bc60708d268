"""A dress rehearsal of the paper profile on full-size, format-exact synthetic corpora (``make rehearsal``).

It writes, into a temporary data folder,

- MOSEI-shaped MulT pickles at the real dims (300/74/35) and lengths (aligned 50/50/50, unaligned 50/500/500),
  a few hundred utterances;
- RAVDESS-named clips in the real format (1280 x 720, 30 fps, 3.5 s, H.264 + AAC) for 4 actors and all 8 emotions,

then runs the **paper** recipes through the command line (``python -m affect_lib train``) with a step limit per
epoch: LMR-CBT on the unaligned MOSEI file and MulT on the aligned one, ``evaluate --checkpoint`` on the saved model, LMR-CBT under
``torchrun --nproc-per-node 2`` (gloo) with both ranks' reports compared, a run killed mid-epoch and resumed
(compared with an uninterrupted one), the RAVDESS preprocessing at the paper settings (clips per second), and
CFN-SR on RAVDESS. Every stage's outputs are checked (files, metrics within their ranges) and timed.

``python -m affect_lib rehearse [--workdir DIR] [--keep]`` or ``python tools/rehearsal.py``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

RAVDESS_FORMAT = {"width": 1280, "height": 720, "fps": 30, "duration": 3.5}
MOSEI_SIZES = {"train": 192, "valid": 32, "test": 32}


class RehearsalError(Exception):
    """A stage failed or produced outputs outside their ranges."""


class Rehearsal:
    """The stages' shared state: folders, environment, timings."""

    def __init__(self, work: Path, max_steps: int) -> None:
        self.work, self.max_steps = work, max_steps
        self.data, self.runs, self.logs = work / "data", work / "runs", work / "logs"
        for folder in (self.data, self.runs, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "AFFECT_CACHE_DIR": str(work / "cache"), "AFFECT_PROGRESS": "off"}
        self.env.pop("AFFECT_DATA_DIR", None)
        self.timings: list[tuple[str, float, float, str]] = []

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[dict[str, str]]:
        note: dict[str, str] = {"note": ""}
        print(f"-- {name} ...", flush=True)
        tic, cpu = time.perf_counter(), _cpu_seconds()
        yield note
        seconds, cpu = time.perf_counter() - tic, _cpu_seconds() - cpu
        self.timings.append((name, seconds, cpu, note["note"]))
        print(f"   {seconds:7.1f} s wall, {cpu:7.1f} s CPU  {note['note']}", flush=True)

    def cli(
        self, *args: Any, log: str, env: dict[str, str] | None = None, launcher: Sequence[str] = ()
    ) -> str:
        """Run ``python -m affect_lib ARGS`` (or under ``launcher``); its output goes to ``logs/<log>.log``."""
        command = [*launcher] if launcher else [sys.executable, "-m", "affect_lib"]
        command += [str(a) for a in args]
        path = self.logs / f"{log}.log"
        with path.open("w") as out:
            done = subprocess.run(
                command, env=env or self.env, stdout=out, stderr=subprocess.STDOUT, check=False
            )
        text = path.read_text()
        if done.returncode != 0:
            tail = "\n".join(text.strip().splitlines()[-15:])
            raise RehearsalError(f"`{' '.join(command)}` exited {done.returncode}:\n{tail}")
        return text

    def train(self, *args: Any, out: Path, log: str, **kwargs: Any) -> dict[str, Any]:
        self.cli("train", *args, "--out", out, log=log, **kwargs)
        return check_run(out)


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (a load-independent cost)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def check_run(out: Path) -> dict[str, Any]:
    """A finished run folder: every file present, ``model.pt`` loadable with ``weights_only``, metrics in range."""
    import torch

    missing = [
        n
        for n in ("run.json", "metrics.json", "history.json", "history.csv", "model.pt")
        if not (out / n).exists()
    ]
    if missing:
        raise RehearsalError(f"{out} lacks {missing}")
    leftovers = [p.name for p in out.rglob(".*.tmp")]
    if leftovers:
        raise RehearsalError(f"{out} holds temporary files {leftovers}")
    metrics = json.loads((out / "metrics.json").read_text())
    saved = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    if saved["metrics"]["test"] != metrics["test"] or saved["recipe"]["hash"] != metrics["recipe_hash"]:
        raise RehearsalError(f"{out}/model.pt does not describe the run in metrics.json")
    check_metrics(metrics["test"], where=str(out))
    return metrics


def check_metrics(test: dict[str, float], *, where: str) -> None:
    """Losses finite and >= 0, accuracies and F1 in [0, 1], correlations in [-1, 1] (NaN allowed for a constant
    prediction after a couple of steps)."""
    for key, value in test.items():
        if key == "corr":
            ok = math.isnan(value) or -1 <= value <= 1
        elif key in ("loss", "mae"):
            ok = math.isfinite(value) and value >= 0
        else:
            ok = 0 <= value <= 1
        if not ok:
            raise RehearsalError(f"{where}: test {key} = {value} is outside its range")


def probe_clip(path: Path) -> dict[str, Any]:
    """Width, height, frame rate, duration and codecs of an ``.mp4`` (PyAV)."""
    import av

    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        return {
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "fps": float(video.average_rate),
            "duration": float(container.duration / av.time_base),
            "video": video.codec_context.name,
            "audio": audio.codec_context.name,
        }


def write_corpora(r: Rehearsal, actors: Sequence[int]) -> None:
    from affect_lib.data.mult import load_mult_pickle
    from affect_lib.data.synthetic_mult import write_standin

    n = sum(MOSEI_SIZES.values())
    with r.stage(f"write MOSEI-shaped MulT pickles ({n} utterances, aligned + unaligned)") as note:
        for aligned in (True, False):
            path = write_standin(r.data / "mosei", "mosei", aligned=aligned, seed=0, sizes=MOSEI_SIZES)
            corpus = load_mult_pickle(path)
            want = (50, 50, 50) if aligned else (50, 500, 500)
            if corpus.dims != (300, 74, 35) or corpus.lengths != want:
                raise RehearsalError(f"{path}: dims {corpus.dims}, lengths {corpus.lengths}, want {want}")
        size = sum(p.stat().st_size for p in (r.data / "mosei").glob("*.pkl")) / 2**20
        note["note"] = f"dims 300/74/35, lengths 50/50/50 and 50/500/500, {size:.0f} MiB"
    fmt = RAVDESS_FORMAT
    with r.stage(
        f"write RAVDESS clips ({len(actors)} actors x 8 emotions, {fmt['width']}x{fmt['height']})"
    ) as note:
        # one process per core, each writing its own actors' folders
        jobs = [actors[i::2] for i in range(2) if actors[i::2]]
        with concurrent.futures.ProcessPoolExecutor(
            len(jobs), mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            clips = sorted(
                p for part in pool.map(_write_clips, [r.data / "ravdess"] * len(jobs), jobs) for p in part
            )
        info = probe_clip(clips[0])
        if (info["width"], info["height"], info["video"], info["audio"]) != (
            1280,
            720,
            "h264",
            "aac",
        ) or not (abs(info["fps"] - 30) < 0.5 and abs(info["duration"] - 3.5) < 0.2):
            raise RehearsalError(f"{clips[0]} is not in RAVDESS's format: {info}")
        note["note"] = (
            f"{len(clips)} clips, {info['width']}x{info['height']} {info['fps']:.0f} fps {info['duration']:.2f} s h264+aac"
        )


def _write_clips(root: Path, actors: Sequence[int]) -> list[Path]:
    import torch

    from affect_lib.data.synthetic_ravdess import write_synthetic_ravdess
    from affect_lib.faces.rig import FaceRig

    torch.set_num_threads(1)
    fmt = RAVDESS_FORMAT
    return write_synthetic_ravdess(
        root,
        actors=actors,
        repetitions=(1,),
        statements=(1,),
        intensities=(1,),
        duration=fmt["duration"],
        fps=fmt["fps"],
        height=fmt["height"],
        write_wav=False,
        renderer=FaceRig.default(size=160),
        face_size=256,
        preset="ultrafast",
    )


def sequence_stages(r: Rehearsal) -> None:
    steps = ["--epochs", "1", "--max-steps", r.max_steps]
    mosei = ["--dataset", "mosei", "--profile", "paper", "--data-dir", r.data / "mosei"]
    with r.stage("LMR-CBT paper recipe, MOSEI unaligned (50/500/500)") as note:
        m = r.train("lmr_cbt", *mosei, "--unaligned", *steps, out=r.runs / "lmr_cbt", log="lmr_cbt")
        note["note"] = f"test MAE {m['test']['mae']:.3f}"
    with r.stage("evaluate --checkpoint (re-score LMR-CBT's model.pt)") as note:
        shown = json.loads(
            r.cli(
                "evaluate",
                "--checkpoint",
                r.runs / "lmr_cbt" / "model.pt",
                "--data-dir",
                r.data / "mosei",
                log="eval",
            )
        )
        if not math.isclose(shown["metrics"]["mae"], m["test"]["mae"], rel_tol=1e-5):
            raise RehearsalError(
                f"evaluate gives MAE {shown['metrics']['mae']}, training stored {m['test']['mae']}"
            )
        note["note"] = "same test MAE as stored"
    with r.stage("MulT paper recipe, MOSEI aligned (50/50/50)") as note:
        m = r.train("mult", *mosei, *steps, out=r.runs / "mult", log="mult")
        note["note"] = f"test MAE {m['test']['mae']:.3f}"
    with r.stage("torchrun --nproc-per-node 2 (gloo): LMR-CBT paper, MOSEI aligned, 2 epochs") as note:
        reports = r.work / "ranks"
        env = {**r.env, "AFFECT_RANK_REPORT": str(reports), "OMP_NUM_THREADS": "1"}
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "-m",
            "affect_lib",
        ]
        m = r.train(
            "lmr_cbt", *mosei, "--epochs", "2", "--max-steps", r.max_steps,
            "--device", "cpu", out=r.runs / "ddp", log="ddp", env=env, launcher=launcher,
        )  # fmt: skip
        ranks = [json.loads((reports / f"rank{k}-ddp.json").read_text()) for k in (0, 1)]
        if (
            m["world_size"] != 2
            or ranks[0]["weights"] != ranks[1]["weights"]
            or ranks[0]["history"] != ranks[1]["history"]
        ):
            raise RehearsalError(f"the ranks disagree: {ranks}")
        note["note"] = (
            f"both ranks: same weights, same {len(ranks[0]['history'])}-epoch history, best {ranks[0]['best_epoch']}"
        )
    with r.stage("killed mid-epoch, resumed, compared with an uninterrupted run (LMR-CBT, aligned)") as note:
        note["note"] = kill_and_resume(r, mosei)


def kill_and_resume(r: Rehearsal, mosei: list[Any]) -> str:
    import torch

    args = ["train", "lmr_cbt", *mosei, "--epochs", "3", "--max-steps", str(3 * r.max_steps)]
    straight = r.train(*args[1:], out=r.runs / "straight", log="straight")
    out = r.runs / "killed"
    command = [sys.executable, "-m", "affect_lib", *map(str, args), "--out", str(out)]
    log = (r.logs / "killed.log").open("w")
    proc = subprocess.Popen(command, env=r.env, stdout=log, stderr=subprocess.STDOUT)
    last = out / "checkpoint" / "last.pt"
    deadline = time.monotonic() + 600
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    log.close()
    if (out / "metrics.json").exists() or not last.exists():
        raise RehearsalError("the run was not killed mid-run (it finished, or never wrote a checkpoint)")
    done = len(torch.load(last, map_location="cpu", weights_only=True)["history"])
    resumed = r.train(*args[1:], "--resume", out=out, log="resumed")
    a, b = (json.loads((p / "history.json").read_text()) for p in (r.runs / "straight", out))
    if [x["valid_loss"] for x in a] != [x["valid_loss"] for x in b] or straight["test"] != resumed["test"]:
        raise RehearsalError("the resumed run differs from the uninterrupted one")
    return f"killed after {done} of 3 epochs; resumed run equals the uninterrupted one"


def ravdess_stages(r: Rehearsal) -> dict[str, float]:
    """Preprocessing (2 processes, timed: clips/s and the projection to RAVDESS's 1,440 clips), then CFN-SR."""
    from affect_lib import recipes
    from affect_lib.data.av_preprocess import preprocess_corpus
    from affect_lib.data.ravdess import list_clips

    clips = list_clips(r.data / "ravdess")
    config = recipes.get("cfn_sr", "ravdess", "paper").data.preprocess_config()
    os.environ["AFFECT_CACHE_DIR"] = r.env["AFFECT_CACHE_DIR"]
    with r.stage(
        f"preprocess {len(clips)} RAVDESS clips at the paper settings (30 x 224², MFCC 13 x 212)"
    ) as note:
        tic = time.perf_counter()
        corpus = preprocess_corpus(clips, config, workers=2)
        rate = len(clips) / (time.perf_counter() - tic)
        if corpus.frames.shape[1:] != (30, 224, 224, 3) or corpus.mfcc.shape[1:] != (13, 212):
            raise RehearsalError(f"preprocessed shapes {corpus.frames.shape}, {corpus.mfcc.shape}")
        note["note"] = (
            f"{rate:.2f} clips/s; 1,440 clips: {1440 / rate / 60:.1f} min; {corpus.fallbacks} fallbacks"
        )
    with r.stage("CFN-SR paper recipe on RAVDESS (batch 2, 1 step, 3-fold actor split)") as note:
        m = r.train(
            "cfn_sr", "--dataset", "ravdess", "--profile", "paper", "--data-dir", r.data / "ravdess",
            "--set", "data.split=folds3", "--epochs", "1", "--max-steps", "1", "--batch-size", "2",
            out=r.runs / "cfn_sr", log="cfn_sr",
        )  # fmt: skip
        note["note"] = f"test accuracy {m['test']['accuracy']:.3f} on actors {m['split']['test']}"
    return {"clips_per_second": rate}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rehearsal; print the stage timings; 0 when every check passed."""
    parser = argparse.ArgumentParser(prog="affect-lib rehearse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=None, help="folder for data and runs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--max-steps", type=int, default=2, help="training steps per epoch")
    parser.add_argument("--actors", type=int, default=4, help="RAVDESS actors (>= 3)")
    parser.add_argument("--skip-ravdess", action="store_true", help="only the MulT-format stages")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="affect-rehearsal-"))
    r = Rehearsal(work, args.max_steps)
    total = time.perf_counter()
    status, extra = 0, {}
    try:
        write_corpora(r, tuple(range(1, args.actors + 1)))
        sequence_stages(r)
        if not args.skip_ravdess:
            extra = ravdess_stages(r)
    except RehearsalError as err:
        print(f"REHEARSAL FAILED: {err}", file=sys.stderr)
        status = 1
    seconds = time.perf_counter() - total
    print(f"\n{'stage':90s} {'wall s':>7s} {'CPU s':>7s}")
    for name, t, cpu, note in r.timings:
        print(f"{name:90s} {t:7.1f} {cpu:7.1f}  {note}")
    status_text = "all checks passed" if status == 0 else "FAILED"
    print(f"{'total':90s} {seconds:7.1f} {sum(t[2] for t in r.timings):7.1f}  {status_text}")
    summary = {
        "timings": [{"stage": n, "seconds": t, "cpu_seconds": c, "note": x} for n, t, c, x in r.timings],
        "total": seconds,
        **extra,
    }
    (work / "rehearsal.json").write_text(json.dumps(summary, indent=1))
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work folder: {work}")
    return status


if __name__ == "__main__":
    sys.exit(main())
