"""Profiles, seeds, devices and data directories: the four parameters every chapter takes; and run folders.

Every notebook's ``parameters`` cell holds ``profile``, ``seed``, ``device`` and ``data_dir``; :func:`setup`
validates them in one call and returns a :class:`RunConfig` that the rest of the chapter reads.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: the privacy chapters do not need it
    import torch

PROFILES = ("quick", "paper")
"""``quick``: the embedded stand-in, minutes on 2 CPU cores. ``paper``: the paper's settings on the real data."""

DATA_DIR_ENV = "AFFECT_DATA_DIR"
CACHE_DIR_ENV = "AFFECT_CACHE_DIR"
THREADS_ENV = "AFFECT_THREADS"


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`, else raise ``ValueError`` naming it."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return profile


def check_seed(seed: Any) -> int:
    """Return ``seed`` as an int in [0, 2**32); reject bools, floats and negatives."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def seed_everything(seed: int, *, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and (if installed) torch; return a fresh NumPy ``Generator`` for this seed.

    With ``deterministic=True`` torch is asked for deterministic kernels (``warn_only``, so an op without one
    still runs) and cuDNN autotuning is switched off, so a seeded run prints the same numbers every time.
    """
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds the legacy global state that third-party code still draws from
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency of the book, not of this function
        return np.random.default_rng(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return np.random.default_rng(seed)


def available_cores() -> int:
    """CPU cores this process may really use: its affinity mask, capped by a cgroup CPU quota (containers, CI).

    ``os.cpu_count()`` counts the machine's cores even when a container grants a fraction of them; sizing thread
    pools by it oversubscribes a loaded or limited machine, and busy-waiting threads then slow everything down.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    for path, parse in (
        ("/sys/fs/cgroup/cpu.max", lambda t: t.split()),  # cgroup v2: "<quota|max> <period>"
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", lambda t: [t.strip(), None]),  # cgroup v1
    ):
        try:
            quota, period = parse(Path(path).read_text())
            if period is None:
                period = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text().strip()
        except (OSError, ValueError):
            continue
        if quota not in ("max", "-1"):
            cores = min(cores, max(1, int(int(quota) // int(period))))
        break
    return max(1, cores)


def configure_threads(threads: int | None = None) -> int:
    """Size torch's intra-op pool to the cores available (or ``threads``, or ``$AFFECT_THREADS``); return it.

    The book's checked numbers do not depend on this count (``make test-isa`` re-checks them with one thread);
    trained results move within their committed tolerances. How idle OpenMP threads wait is read from the
    environment when Python starts (the Makefile's ``RUNENV`` sets a short spin, then sleep; see the
    reproducibility page)."""
    if threads is None:
        env = os.environ.get(THREADS_ENV)
        threads = int(env) if env else available_cores()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    try:
        import torch
    except ImportError:  # pragma: no cover
        return threads
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """Inside the block, torch's intra-op pool runs ``threads`` threads; the previous count is restored after it
    (for small operators that more threads only slow down). The count is the process's: not for use from several
    Python threads at once."""
    import torch

    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` gives CUDA when available, else CPU; any other value is checked and returned as a device."""
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available on this machine")
    return dev


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None,
    *,
    profile: str,
    dataset: str,
    required: Sequence[str] = (),
) -> Path | None:
    """Find a user's real dataset.

    Args:
        data_dir: the chapter's ``data_dir`` parameter; ``None`` falls back to ``$AFFECT_DATA_DIR/<dataset>``.
        profile: ``quick`` never needs real data and returns ``None`` unless a directory was given explicitly.
        dataset: a name used in messages and in the environment-variable fallback.
        required: file or folder names (relative, glob patterns allowed) that must exist inside the directory.

    Raises:
        FileNotFoundError: in the ``paper`` profile, when no directory is given or a required entry is missing;
            the message says what was looked for and where.
    """
    check_profile(profile)
    if data_dir is None and os.environ.get(DATA_DIR_ENV):
        data_dir = Path(os.environ[DATA_DIR_ENV]) / dataset
    if data_dir is None:
        if profile == "paper":
            raise FileNotFoundError(
                f"the 'paper' profile needs the real {dataset} data: pass data_dir=... "
                f"or set ${DATA_DIR_ENV} to a folder that contains {dataset}/"
            )
        return None
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"data_dir for {dataset} does not exist or is not a folder: {path}")
    missing = [name for name in required if not any(path.glob(name))]
    if missing:
        raise FileNotFoundError(f"data_dir {path} for {dataset} lacks {', '.join(missing)}")
    return path


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Inside the block, ``os.environ`` holds ``values`` (child processes started there inherit them); the
    previous values, or their absence, are restored after it."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cache_dir(*parts: str) -> Path:
    """A writable cache folder: ``$AFFECT_CACHE_DIR`` or ``<repo>/.cache`` (``~/.cache/affect_lib`` if installed)."""
    root = os.environ.get(CACHE_DIR_ENV)
    if root:
        base = Path(root)
    else:
        repo = Path(__file__).resolve().parents[1]
        base = (
            repo / ".cache" if (repo / "pyproject.toml").exists() else Path.home() / ".cache" / "affect_lib"
        )
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class RunConfig:
    """The validated parameters of one chapter run."""

    profile: str
    seed: int
    device: torch.device
    data_dir: Path | None

    @property
    def quick(self) -> bool:
        return self.profile == "quick"

    def pick(self, quick: Any, paper: Any) -> Any:
        """Return ``quick`` or ``paper`` according to the profile: ``epochs = cfg.pick(3, 40)``."""
        return quick if self.quick else paper

    def __str__(self) -> str:
        data = self.data_dir if self.data_dir is not None else "embedded stand-in"
        return f"profile={self.profile} seed={self.seed} device={self.device.type} data={data}"


def setup(
    profile: str = "quick",
    seed: int = 0,
    device: str = "auto",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    dataset: str | None = "data",
    required: Sequence[str] = (),
) -> RunConfig:
    """Validate a chapter's parameters, seed everything and return the :class:`RunConfig`.

    ``dataset=None`` declares a chapter that reads no data on either profile: ``data_dir`` must then be ``None``
    (a folder given anyway is refused rather than silently ignored).
    """
    profile = check_profile(profile)
    if dataset is None:
        if data_dir is not None:
            raise ValueError(
                f"this chapter reads no data on any profile; data_dir={str(data_dir)!r} is not used"
            )
        folder = None
    else:
        folder = resolve_data_dir(data_dir, profile=profile, dataset=dataset, required=required)
    configure_threads()
    seed_everything(seed)
    return RunConfig(profile=profile, seed=check_seed(seed), device=resolve_device(device), data_dir=folder)


def source_commit(repo: str | os.PathLike[str] | None = None) -> str | None:
    """The commit of the git checkout ``repo`` (default: the library's), 12 hex digits, ``+dirty`` when tracked
    files differ from it; ``None`` outside a git checkout (an installed library)."""
    folder = str(Path(__file__).resolve().parents[1] if repo is None else repo)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", folder, *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")
