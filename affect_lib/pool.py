"""Independent runs side by side: one single-threaded worker process per core, results in job order.

The chapters' quick models are small, so per-operation overhead dominates a training step and a second thread
inside one run mostly adds synchronisation; two runs on two cores do twice the work. Each job seeds itself, so its
result does not depend on which worker ran it or in what order: :func:`run_jobs` with ``workers=1`` (in this
process) and with ``workers=2`` return identical results. Workers start with ``spawn`` (no inherited OpenMP or
autograd state) and run with one intra-op thread, the same as the in-process path. Settings a worker reads from
its environment at import follow this process's: modules register them with :func:`before_spawn`.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import torch

from affect_lib.progress import progress
from affect_lib.runtime import available_cores, environment, intra_op_threads

T = TypeVar("T")
_HOOKS: list[Callable[[], Mapping[str, str]]] = []


def before_spawn(hook: Callable[[], Mapping[str, str]]) -> Callable[[], Mapping[str, str]]:
    """Register ``hook`` (a decorator): :func:`run_jobs` calls it here before starting workers, and the workers
    start with the environment variables it returns."""
    _HOOKS.append(hook)
    return hook


def _init_worker() -> None:
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)


def run_jobs(
    fn: Callable[..., T],
    jobs: Sequence[dict[str, Any]],
    *,
    workers: int | None = None,
    desc: str = "runs",
) -> list[T]:
    """``[fn(**job) for job in jobs]``, spread over ``workers`` processes (default: one per available core).

    Args:
        fn: a module-level function (workers import it by name), deterministic given its arguments.
        jobs: keyword arguments, one dict per run (picklable).
        workers: processes; 1 runs every job here, with one intra-op thread, as the workers do.
        desc: the progress bar's label.
    """
    workers = min(len(jobs), workers or available_cores())
    if workers <= 1:
        with intra_op_threads(1):
            return [fn(**job) for job in progress(jobs, desc=desc)]
    context = multiprocessing.get_context("spawn")
    variables = {name: value for hook in _HOOKS for name, value in hook().items()}
    with (
        environment(variables),
        futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool,
    ):
        pending = {pool.submit(fn, **job): k for k, job in enumerate(jobs)}
        out: list[Any] = [None] * len(jobs)
        for done in progress(futures.as_completed(pending), total=len(jobs), desc=desc):
            out[pending[done]] = done.result()
    return out
