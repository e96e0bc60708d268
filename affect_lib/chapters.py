"""Chapters: execute a notebook with papermill, keep a run record, and refresh the committed outputs.

The text form ``notebooks/<name>.py`` is the source; ``notebooks/<name>.ipynb`` is its jupytext pair, committed
with the outputs of the default (quick) run so that nbval can check re-execution against them. Papermill never
writes onto the pair: it writes to ``book/notebooks/<name>.ipynb``, which the book renders.

This is the book's build machinery, not part of the library a reader imports: it needs the ``book`` extra
(``pip install 'affect_lib[book]'``: papermill, nbformat, jupytext). The generated appendix pages are written by
``tools/book_pages.py`` from the run records kept here.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import nbformat
except ImportError as err:  # pragma: no cover - the book extra is part of the pinned environment
    raise ImportError(
        "executing chapters needs the book extra: pip install 'affect_lib[book]' (papermill, nbformat)"
    ) from err

from affect_lib.runtime import (
    DATA_DIR_ENV,
    available_cores,
    check_profile,
    environment,
    source_commit,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
EXECUTED_DIR = REPO / "book" / "notebooks"
RECORD_DIR = REPO / "_build" / "records"
CHECK_MARK = "NBVAL_CHECK_OUTPUT"
KERNEL_ARGS = ["--InlineBackend.figure_formats=retina"]
"""Kernel options of an executed chapter: figures as 2x PNGs (the page shows them at their design size)."""
KERNEL_ENV = {"AFFECT_PROGRESS": "off"}
"""Kernel environment of an executed chapter: no progress bars on the published page."""


def chapter_names() -> list[str]:
    """Names of the book's chapters: the stems of ``notebooks/*.py``, in order."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("*.py"))


def chapter_source(name: str) -> Path:
    """The paired ``.ipynb`` of chapter ``name``; a clear error if the chapter does not exist."""
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    if not path.exists():
        known = ", ".join(chapter_names()) or "none (is this a checkout of the book?)"
        raise FileNotFoundError(f"no chapter {name!r} at {path}; chapters: {known}")
    return path


def execute_chapter(
    name: str,
    *,
    profile: str = "quick",
    data_dir: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    output: str | os.PathLike[str] | None = None,
    timeout: int = 1800,
) -> dict[str, Any]:
    """Execute chapter ``name`` with papermill and return its run record.

    Only parameters that differ from the notebook's defaults are injected, except ``profile``, which is always
    injected so that every executed page states which profile produced its numbers.
    The kernel gets :data:`KERNEL_ARGS` and :data:`KERNEL_ENV`; papermill's injected-parameters cell is tagged
    ``remove-cell`` (the re-run box states the profile). The record (runtime in seconds, the machine, the commit,
    the text of every nbval-checked output) is written to ``_build/records/<name>.<profile>.json``.

    Raises:
        ValueError: a cell stopped on bad input (a ``FileNotFoundError`` or ``ValueError``, such as a data folder
            without the chapter's files), in one line naming the chapter, the error and the executed notebook
            that holds its traceback; other errors propagate as papermill's.
    """
    import papermill

    check_profile(profile)
    source = chapter_source(name)
    out = Path(output) if output is not None else EXECUTED_DIR / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    parameters: dict[str, Any] = {"profile": profile}
    if data_dir is not None:
        parameters["data_dir"] = str(Path(data_dir).expanduser().resolve())
    if seed is not None:
        parameters["seed"] = seed
    tmp = out.with_suffix(".tmp.ipynb")
    start = time.perf_counter()
    try:
        with environment(KERNEL_ENV):  # the kernel inherits it; the caller's environment is restored after
            papermill.execute_notebook(
                str(source),
                str(tmp),
                parameters=parameters,
                kernel_name="python3",
                cwd=str(NOTEBOOK_DIR),
                progress_bar=False,
                execution_timeout=timeout,
                extra_arguments=KERNEL_ARGS,
            )
    except papermill.PapermillExecutionError as err:
        if err.ename not in ("FileNotFoundError", "ValueError"):
            raise
        reason = (err.evalue.strip().splitlines() or [""])[0]
        raise ValueError(
            f"chapter {name} ({profile}) stopped in cell {err.exec_count}: {err.ename}: {reason} "
            f"(the executed notebook with the traceback: {tmp})"
        ) from None
    seconds = time.perf_counter() - start
    nb = nbformat.read(tmp, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, tmp)
    tmp.replace(out)
    record = {
        "chapter": name,
        "profile": profile,
        "parameters": parameters,
        "seconds": round(seconds, 1),
        "output": str(out.resolve()),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": source_commit(REPO),
        "machine": run_machine(),
        "checked_outputs": checked_outputs(nb),
        "python": platform.python_version(),
    }
    RECORD_DIR.mkdir(parents=True, exist_ok=True)
    (RECORD_DIR / f"{name}.{profile}.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"executed {name} ({profile}) in {seconds:.1f} s", flush=True)
    return record


def checked_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """The text shown by every code cell marked ``# NBVAL_CHECK_OUTPUT``, in order: printed text, and a displayed
    or returned object as Markdown where it has it (a table), else as plain text (never its ``repr``
    placeholder such as ``<IPython.core.display.Markdown object>``)."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or CHECK_MARK not in cell.source:
            continue
        parts = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "text/markdown" in data:
                parts.append(data["text/markdown"].rstrip() + "\n")
            elif "text/plain" in data and out.get("output_type") == "execute_result":
                parts.append(data["text/plain"])
        texts.append("".join(parts).rstrip())
    return texts


def store_outputs(executed: str | os.PathLike[str], pair: str | os.PathLike[str]) -> None:
    """Copy the outputs of an executed default run into the committed jupytext pair.

    Drops papermill's injected-parameters cell and its metadata and the execution timestamps, so that the
    pair changes only where the chapter's outputs changed. Refuses a run that was not on the quick profile.
    """
    nb = nbformat.read(executed, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    if any('profile = "quick"' not in c.source and "profile = 'quick'" not in c.source for c in injected):
        raise ValueError(
            f"{executed} was not executed on the quick profile; its outputs are not the defaults"
        )
    nb.cells = [c for c in nb.cells if c not in injected]
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
    nbformat.write(nb, pair)


def _first_field(path: Path, key: str) -> str | None:
    """The value of the first ``key: value`` line of a /proc-style text file, else None."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(key)), None)


def run_machine() -> dict[str, Any]:
    """What a run time and its last digits depend on, without importing torch: CPU model, cores usable and
    present, load, GPU, and the CPU kernel set when one is forced (``$ATEN_CPU_CAPABILITY``: ``avx2``, or
    ``default`` for the x86-64 baseline)."""
    gpus = sorted(Path("/proc/driver/nvidia/gpus").glob("*/information"))
    return {
        "cpu": _first_field(Path("/proc/cpuinfo"), "model name") or platform.machine(),
        "cores": available_cores(),
        "cpu_count": os.cpu_count(),
        "load": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "gpu": _first_field(gpus[0], "Model") if gpus else None,
        "kernels": os.environ.get("ATEN_CPU_CAPABILITY") or None,
    }


def execute_all_paper(
    *, data_root: str | os.PathLike[str] | None = None, output_dir: str | os.PathLike[str]
) -> dict[str, str]:
    """Execute every chapter on the ``paper`` profile into ``output_dir`` (``affect-lib full``, ``make full``); return
    a status line per chapter.

    Each chapter finds its dataset in ``$AFFECT_DATA_DIR/<dataset>`` (``data_root`` sets that variable). A chapter
    that stops with ``FileNotFoundError`` (its data is missing) is reported as skipped, with the chapter's message.
    """
    from papermill.exceptions import PapermillExecutionError

    variables = {} if data_root is None else {DATA_DIR_ENV: str(Path(data_root).expanduser().resolve())}
    results = {}
    with environment(variables):  # the kernels inherit the variable; it is restored afterwards
        for name in chapter_names():
            out = Path(output_dir) / f"{name}.ipynb"
            try:
                record = execute_chapter(name, profile="paper", output=out)
                results[name] = f"done in {record['seconds']:.0f} s -> {out}"
            except PapermillExecutionError as err:
                if err.ename == "FileNotFoundError":
                    results[name] = f"skipped: {err.evalue}"
                else:
                    results[name] = f"failed: {err.ename}: {err.evalue} (see {out.with_suffix('.tmp.ipynb')})"
    return results
