"""The library's C kernels, shipped as PyTorch operators (``torch.ops.affect``) and built on first use.

``affect_lib/csrc/operators.cpp`` registers them with ``TORCH_LIBRARY``: the fused causal attention
(``attention_forward``, ``attention_backward``) and the hashed dropout (``hash_dropout``) of
:mod:`affect_lib.models.fused_attention` (``causal_attention.c``), and the pair distances of the Wasserstein
accountant's DP-SGD steps (``pair_distances``, :func:`affect_lib.privacy.analysis.wdp.all_pair_distances`;
``pair_distances.c``). Autograd and fake tensors are registered here with ``torch.library``.

:func:`library` builds them with ``torch.utils.cpp_extension`` (``$CXX`` or ``c++``, and ninja; about 10 s of CPU
once, ``-O2``, no ``-march``; with GCC on x86-64 Linux the pair distances' inner sums are also compiled for AVX2 and
AVX-512 and chosen at load time, the same operations on wider registers) into the book's cache folder under a key of
the CPU, the compiler, torch, the sources and the flags (:func:`cache_key`), with OpenMP so that they run on
PyTorch's own thread pool, else (a compiler without OpenMP) on threads of their own. Where they cannot be built or
loaded (no compiler, no ninja, a compile error, a bad library file) every caller has a reference path: the
attention's says so once on stderr, in one line with the reason; the pair distances' computes the same bits and
needs no word. The worker processes of :func:`affect_lib.pool.run_jobs` inherit the verdict
(:data:`UNAVAILABLE_ENV`) and stay quiet.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

CSRC = Path(__file__).resolve().parent / "csrc"
SOURCES = (CSRC / "operators.cpp", CSRC / "causal_attention.c", CSRC / "pair_distances.c")
"""The operators' C++ binding (built) and the C kernels it includes."""
CFLAGS = ("-O2", "-ffp-contract=off", "-fno-fast-math")
"""Added to ``cpp_extension``'s own: x86-64 baseline code (no ``-march``; ``pair_distances.c`` adds AVX2 and
AVX-512 clones of its inner sums, chosen at load time), no FMA contraction, so that every machine computes the
same bits."""
THREADS = (("-fopenmp",), ("-pthread",))
"""How the work is spread over threads, tried in this order: PyTorch's own OpenMP thread pool
(``at::parallel_for``), else, with a compiler without OpenMP, threads started per call (slower for small
tensors) or one thread. Each head or pair is computed by one thread either way, so the numbers are the same.
A build that failed leaves ``error.log`` in its cache folder and is not tried again under the same key (delete
the folder to retry, e.g. after installing OpenMP); the last form is always tried."""
UNAVAILABLE_ENV = "AFFECT_KERNELS_UNAVAILABLE"
"""Set (to the reason) by a process that found the kernels unavailable, so that its worker processes, which
inherit the environment, use the reference paths without saying so again."""

_lock = threading.Lock()
_loaded: list[Any | None] = []
_said: list[bool] = []
_reason: list[str] = []
_flags: list[tuple[str, ...]] = []


class Unavailable(RuntimeError):
    """Why the kernels cannot be built or loaded here (one line)."""


def library(say: bool = True) -> Any | None:
    """The operators (``torch.ops.affect``), built on the first call, or None where they cannot be built or
    loaded. ``say``: the caller's reference path differs in float rounding, so the first such caller says why
    on stderr, and only then do worker processes inherit the verdict (:data:`UNAVAILABLE_ENV`) and stay quiet;
    callers whose reference computes the same bits pass False."""
    with _lock:
        if not _loaded and os.environ.get(UNAVAILABLE_ENV):
            _loaded.append(None)  # a parent process found it so and said why
            _said.append(True)
        if not _loaded:
            _reason.clear()
            try:
                _loaded.append(_load())
            except Unavailable as err:
                _loaded.append(None)
                _reason.append(str(err))
        if _loaded[0] is None and say and not _said:
            _said.append(True)
            os.environ[UNAVAILABLE_ENV] = _reason[0] if _reason else "unavailable"
            print(
                f"warning: the fused attention kernel is unavailable ({os.environ[UNAVAILABLE_ENV]}); using "
                "the PyTorch reference path (same results up to float rounding)",
                file=sys.stderr,
                flush=True,
            )
        return _loaded[0]


def build_flags() -> tuple[str, ...] | None:
    """The thread flags of the build in use (an entry of :data:`THREADS`), or None where there is none."""
    return _flags[0] if library(say=False) is not None and _flags else None


def available() -> bool:
    """Whether the operators can be used here (it builds them if needed)."""
    return library() is not None


def cpu_identity() -> str:
    """The CPU as the compiled code sees it: architecture, model name and feature flags (Linux's /proc/cpuinfo)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "flags", "Features", "CPU implementer", "CPU part"):
                fields.setdefault(key, value.strip())
    except OSError:
        pass
    return " | ".join([platform.machine(), platform.processor(), *fields.values()])


def compiler_identity() -> tuple[str, str]:
    """(path, identity) of the C++ compiler that builds the kernel: ``$CXX`` or ``c++`` (what
    ``torch.utils.cpp_extension`` uses), identity = its path and the first line of ``--version``.

    Raises:
        Unavailable: no such compiler, or it does not run.
    """
    name = os.environ.get("CXX") or "c++"
    path = shutil.which(name)
    if path is None:
        raise Unavailable(f"no C++ compiler: {name!r} not found; set CXX to one")
    try:
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        raise Unavailable(f"the C++ compiler {path} does not run: {err}") from None
    if result.returncode != 0:
        raise Unavailable(f"the C++ compiler {path} does not run ('--version' exits {result.returncode})")
    return path, f"{path} {(result.stdout.strip().splitlines() or [''])[0]}"


def cache_key(cpu: str, compiler: str, flags: tuple[str, ...] = CFLAGS + THREADS[0]) -> str:
    """16 hex digits naming a build: the CPU and compiler identities, torch's and Python's versions, the sources
    and the flags, so that a cache folder shared between machines never loads another machine's build."""
    digest = hashlib.sha256()
    for part in (cpu, compiler, torch.__version__, platform.python_version(), " ".join(flags)):
        digest.update(part.encode() + b"\0")
    for source in SOURCES:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _load() -> Any:
    """Build (once per cache key, under a file lock) and load the operators; registers their autograd and fake
    implementations."""
    compiler, identity = compiler_identity()
    with warnings.catch_warnings(), _quiet("torch.utils.cpp_extension"):
        warnings.simplefilter("ignore")
        from torch.utils import cpp_extension

        if not cpp_extension.is_ninja_available():
            raise Unavailable(
                "ninja, which torch.utils.cpp_extension builds with, is not installed: pip install ninja"
            )
        from affect_lib.runtime import cache_dir

        for threads in THREADS:
            tag = cache_key(cpu_identity(), identity, CFLAGS + threads)
            try:
                folder = cache_dir("kernels", f"operators_{tag}")
            except OSError as err:
                raise Unavailable(
                    f"no writable cache folder for its build ({err}); set AFFECT_CACHE_DIR"
                ) from None
            log = folder / "error.log"
            if log.is_file() and threads != THREADS[-1]:  # failed before under this key: not tried again
                failure = f"{compiler} could not build or load it: {_first_error(log.read_text())}; see {log}"
                continue
            try:
                built = _build(cpp_extension, tag, folder, threads)
                log.unlink(missing_ok=True)  # a failure before, e.g. a compiler since repaired
                _flags.append(threads)
                break
            except Unavailable as err:
                failure = f"{compiler} could not build or load it: {err}"
        else:
            raise Unavailable(failure)
    if not hasattr(torch.ops.affect, "attention_forward"):  # loaded, yet registered nothing
        raise Unavailable(f"{built} holds no affect:: operators")
    _register()
    return torch.ops.affect


def _build(cpp_extension: Any, tag: str, folder: Path, threads: tuple[str, ...]) -> str:
    """Build in ``folder`` (or find there) and load the operators with the ``threads`` flags; returns the
    library's path. Raises :class:`Unavailable` with the compiler's first error and where its output is."""
    try:
        return cpp_extension.load(
            f"affect_operators_{tag}",
            [str(SOURCES[0])],
            extra_cflags=[*CFLAGS, *threads],
            extra_ldflags=list(threads),
            build_directory=str(folder),
            is_python_module=False,
        )
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        log = folder / "error.log"
        try:
            log.write_text(str(err))
            where = f"full output in {log}"
        except OSError:
            where = f"{log} not writable"
        raise Unavailable(f"{_first_error(str(err))}; {where}") from None


@contextmanager
def _quiet(logger: str):
    """Silence ``logger`` below errors inside the block (cpp_extension's notes about CUDA and ABI checks)."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _first_error(output: str) -> str:
    """The compiler's first error line in a build's output (else its last line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [
        line
        for line in lines
        if re.search(r"\berror\b", line, re.IGNORECASE) and "Error building" not in line
    ]
    return (errors or lines or ["no output"])[0 if errors else -1]


def _register() -> None:
    """Autograd (the backward recomputes the scores and regenerates the dropout decisions) and fake tensors."""
    torch.library.register_fake("affect::attention_forward")(
        lambda q, k, v, *scalars: (torch.empty_like(q), q.new_empty(q.shape[:2]))
    )
    torch.library.register_fake("affect::attention_backward")(
        lambda q, k, v, *rest: (torch.empty_like(q), torch.empty_like(k), torch.empty_like(v))
    )
    torch.library.register_fake("affect::hash_dropout")(lambda x, *scalars: torch.empty_like(x))
    torch.library.register_fake("affect::pair_distances")(
        lambda g: g.new_empty(g.shape[0] * (g.shape[0] - 1) // 2, dtype=torch.float64)
    )

    def attention_setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:3], *output)
        ctx.scalars = inputs[3:]

    def attention_backward(ctx, dout, _dlse):
        q, k, v, out, lse = ctx.saved_tensors
        grads = torch.ops.affect.attention_backward(q, k, v, out, lse, dout.contiguous(), *ctx.scalars)
        return (*grads, *[None] * len(ctx.scalars))

    def dropout_setup(ctx, inputs, output):
        ctx.scalars = inputs[1:]

    def dropout_backward(ctx, grad):
        return torch.ops.affect.hash_dropout(grad.contiguous(), *ctx.scalars), *[None] * len(ctx.scalars)

    torch.library.register_autograd(
        "affect::attention_forward", attention_backward, setup_context=attention_setup
    )
    torch.library.register_autograd("affect::hash_dropout", dropout_backward, setup_context=dropout_setup)
