"""The book's generated appendix pages: ``python tools/book_pages.py`` (``make book`` runs it).

Writes ``book/generated/reproducibility.md`` (commit, build date, environment, the run record of every executed
chapter), ``at_a_glance.md`` (every chapter's claims table) and ``performance.md`` (the committed benchmark
tables) from ``_build/records``, ``_build/claims`` and ``benchmarks/results``. Book-building code: it lives here,
not in the library a reader imports (``make book`` runs this file).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat

from affect_lib.chapters import EXECUTED_DIR, RECORD_DIR, chapter_names, run_machine
from affect_lib.claims import CLAIMS_DIR, DISPLAY
from affect_lib.expected import load_expected
from affect_lib.runtime import available_cores, source_commit

REPO = Path(__file__).resolve().parents[1]
GENERATED_DIR = REPO / "book" / "generated"
PARTS = {
    "0": "Getting started",
    "1": "Part I: Wasserstein differential privacy",
    "2": "Part II: Faces, FACS and EvoGAN",
    "3": "Part III: Multimodal sequences (LMR-CBT)",
    "4": "Part IV: Audio-visual emotion (CFN-SR)",
}


def _title(executed: Path) -> str:
    """The first heading of an executed chapter, else its name."""
    if executed.exists():
        for cell in nbformat.read(executed, as_version=4).cells:
            if cell.cell_type == "markdown" and cell.source.startswith("# "):
                return cell.source.splitlines()[0][2:].strip()
    return executed.stem


def machine_summary() -> dict[str, str]:
    """CPU model, cores, torch threads and GPU of this machine, as strings."""
    import torch

    return {
        "CPU": run_machine()["cpu"],
        "cores": f"{available_cores()} available of {os.cpu_count()}",
        "torch threads": str(torch.get_num_threads()),
        "GPU": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def _run_context(rec: dict[str, Any]) -> str:
    """`` on <CPU> (2 of 2 cores, load 1.3), commit abc, 2026-12-01T18:00:00+00:00`` from a run record."""
    m = rec.get("machine") or {}
    parts = [f"on {m['cpu']} ({m['cores']} of {m['cpu_count']} cores, load {m['load']})"] if m else []
    parts += [f"commit `{rec['commit']}`"] if rec.get("commit") else []
    parts += [rec["finished"]] if rec.get("finished") else []
    return " " + ", ".join(parts) if parts else ""


def write_generated_pages() -> list[Path]:
    """Write the reproducibility record, results-at-a-glance and performance pages; return their paths."""
    GENERATED_DIR.mkdir(parents=True, exist_ok=True)
    pages = {
        "reproducibility.md": _record_lines(),
        "at_a_glance.md": _glance_lines(),
        "performance.md": _performance_lines(),
    }
    for name, lines in pages.items():
        (GENERATED_DIR / name).write_text("\n".join(lines) + "\n")
    return [GENERATED_DIR / name for name in pages]


def _record_lines() -> list[str]:
    """The reproducibility record: commit, build date, environment and every chapter's run record."""
    lock = REPO / "requirements.lock"
    lock_hash = hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else "(no requirements.lock)"
    lines = [
        "# Reproducibility record",
        "",
        "This page is generated at every build by `tools/book_pages.py` (`make book` runs it) from the run records",
        "that `make book` leaves in `_build/records/`. Diff it against the one from your own build: the checked",
        "numbers must agree exactly on the same machine type; runtimes will differ.",
        "",
        "## Environment",
        "",
        "| item | value |",
        "|---|---|",
        f"| commit | `{source_commit(REPO) or 'not a git checkout'}` |",
        "| source | {source-archive}`name`: the exact tree this book was built from |",
        f"| built | {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} |",
        f"| `requirements.lock` SHA-256 | `{lock_hash}` |",
        *(f"| {k} | {v} |" for k, v in machine_summary().items()),
        "",
        "## Chapters",
        "",
    ]
    records = sorted(RECORD_DIR.glob("*.json")) if RECORD_DIR.exists() else []
    if not records:
        lines.append("No chapter has been executed in this build yet.")
    total = 0.0
    for path in records:
        rec = json.loads(path.read_text())
        total += rec["seconds"]
        lines += [
            f"### {rec['chapter']} ({rec['profile']} profile)",
            "",
            f"Runtime {rec['seconds']:.1f} s{_run_context(rec)}. "
            f"Checked outputs ({len(rec['checked_outputs'])} cells):",
            "",
            *checked_lines("\n".join(rec["checked_outputs"]) or "(none)"),
        ]
    if records:
        lines.insert(
            lines.index("## Chapters") + 2, f"Total runtime of the executed chapters: {total:.0f} s.\n"
        )
    lines += _band_lines()
    lines += [
        "## Downloads",
        "",
        "Each chapter for students, with the committed outputs and the exercises but without their solutions",
        "(`.ipynb`, and `.py` in jupytext percent format); the instructors' copies, with the solutions, are in each",
        "chapter's re-run box. Every chapter's source is in the source archive, {source-archive}`name`.",
        "",
        "| chapter | notebook | text |",
        "|---|---|---|",
        *(
            f"| {name} | {{book-download}}`.ipynb <{name}.student.ipynb>` "
            f"| {{book-download}}`.py <{name}.student.py>` |"
            for name in chapter_names()
        ),
        "",
    ]
    return lines


MATH = re.compile(r"\$[^$\s][^$]*\$")  # inline TeX, as MyST renders it
VERDICTS = re.compile(r"^verdicts of \S+ \(.*\):$")  # the header affect_lib.claims.verdicts prints
VERDICT_ROW = re.compile(rf"^ *(?P<verdict>{'|'.join(map(re.escape, DISPLAY))})  (?P<claim>\S.*)$")
WRAPPED = re.compile(r"^ {14}\S")  # a verdict's claim wrapped onto the next line


def checked_lines(text: str) -> list[str]:
    """A chapter's checked outputs as the record shows them: printed text verbatim in code blocks; a Markdown
    table, a line with inline TeX (``$...$``) and the verdicts (``affect_lib.claims.verdicts``, as a table) rendered,
    so no reader meets raw TeX."""
    out: list[str] = []
    plain: list[str] = []

    def flush() -> None:
        if any(ln.strip() for ln in plain):
            out.extend(["```text", *plain, "```", ""])
        plain.clear()

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if VERDICTS.match(line):
            rows: list[list[str]] = []
            i += 1
            while i < len(lines) and (VERDICT_ROW.match(lines[i]) or rows and WRAPPED.match(lines[i])):
                if m := VERDICT_ROW.match(lines[i]):
                    rows.append([m["verdict"], m["claim"]])
                else:
                    rows[-1][1] += " " + lines[i].strip()
                i += 1
            flush()
            table = ("| " + v + " | " + c.replace("|", "\\|") + " |" for v, c in rows)
            out += [line, "", "| verdict | claim |", "|---|---|", *table, ""]
            continue
        if line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            flush()
            while i < len(lines) and lines[i].startswith("|"):
                out.append(lines[i])
                i += 1
            out.append("")
            continue
        if MATH.search(line):
            flush()
            out += [line.strip(), ""]
        else:
            plain.append(line)
        i += 1
    flush()
    return out


def _band_lines() -> list[str]:
    """Every banded (trained or searched) number the chapters check, with its band, basis and constant predictor,
    from ``notebooks/expected/*.json``; the rest of each chapter's checked outputs are exact."""
    lines = [
        "## Numbers checked within a band",
        "",
        "Every other checked output above is compared exactly; so are the claims tables' verdicts.",
        "",
    ]
    for name in chapter_names():
        try:
            entries = load_expected(name)
        except FileNotFoundError:
            continue
        lines += [
            f"### {name.replace('_', ' ')}",
            "",
            "| result | band | constant predictor | kernel sets | basis |",
            "|---|---|---|---|---|",
            *(
                f"| {key} | {e.value:.4g} ± {e.tol:.2g} "
                f"| {'' if e.constant is None else f'{e.constant:.4g}'} "
                f"| {', '.join(e.kernels) or 'n/a'} | {e.basis} |"
                for key, e in entries.items()
            ),
            "",
        ]
    return lines


def _glance_lines() -> list[str]:
    """Every chapter's claims table (``_build/claims``), grouped by part."""
    glance = [
        "# Results at a glance",
        "",
        "For each paper, its headline claims beside what this book measured. Every row is copied from the closing",
        "table of the chapter it links to, written when that chapter last executed in this build; the profile",
        "column says what produced the number. *quick* numbers come from embedded stand-ins (real data shipped in",
        "wheels, or synthetic corpora in the real on-disk formats), never from the papers' datasets.",
        "",
    ]
    claims = sorted(CLAIMS_DIR.glob("*.json")) if CLAIMS_DIR.exists() else []
    current_part = None
    for path in claims:
        data = json.loads(path.read_text())
        part = PARTS.get(data["chapter"][:1], "Other")
        if part != current_part:
            glance += [f"## {part}", ""]
            current_part = part
        title = _title(EXECUTED_DIR / f"{data['chapter']}.ipynb")
        glance += [
            f"**{title}** ({{doc}}`chapter </book/notebooks/{data['chapter']}>`, {data['profile']} profile)",
            "",
            f"| claim | paper | this book | {data.get('column', 'agrees?')} |",
            "|---|---|---|---|",
            *(
                f"| {r['claim']} | {r['paper']} | {r['measured']} | {DISPLAY[r['verdict']]} |"
                for r in data["rows"]
            ),
            "",
            *([data["rule"], ""] if data.get("rule") else []),
        ]
    if not claims:
        glance.append("No chapter has recorded its claims in this build yet.")
    return glance


ACRONYMS = {"gpu": "GPU", "cpu": "CPU", "cuda": "CUDA", "ot": "OT", "cfn": "CFN", "sr": "SR", "dp": "DP",
            "rdp": "RDP", "ddp": "DDP", "mult": "MulT", "au": "AU", "aus": "AUs"}  # fmt: skip


def heading(stem: str) -> str:
    """``gpu_paper_profile`` -> ``GPU paper profile``: a sentence-case heading that keeps acronyms upper case."""
    words = [ACRONYMS.get(w.lower(), w.lower()) for w in stem.split("_") if w]
    if words and words[0].islower():
        words[0] = words[0].capitalize()
    return " ".join(words)


def _performance_lines() -> list[str]:
    """The committed benchmark tables (``benchmarks/results``), the speed-ups at a glance first."""
    perf = [
        "# Performance",
        "",
        "These tables come from `make bench`, which times the book's code against a peer *in the same process*",
        "(the same machine, threads and load) and reports ratios. Each table names the machine it was measured on.",
        "They are committed in `benchmarks/results/` and are not re-measured by `make book`.",
        "",
    ]
    results = sorted(
        (REPO / "benchmarks" / "results").glob("*.md"), key=lambda p: (p.stem != "speedups", p.stem)
    )
    for path in results:
        perf += [f"## {heading(path.stem)}", "", path.read_text().strip(), ""]
    if not results:
        perf.append("No benchmark has been run yet: `make bench`.")
    return perf


def main(argv: list[str] | None = None) -> int:
    """Write the generated pages and name them; no options."""
    if argv:
        print(f"usage: {Path(__file__).name} (no options), got {' '.join(argv)}", file=sys.stderr)
        return 2
    for page in write_generated_pages():
        print(f"wrote {page.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
