"""Part III benchmark: one LMR-CBT training step (batch 16, MOSEI dims) against the released code's pattern.

Three forms of the same model, the same weights and inputs, timed in turn in one process:

- **released pattern** (:func:`affect_lib.models.released_pattern.released_attention_pattern`): the released
  fairseq-derived attention (time-major, full T x T scores, ``F.dropout`` on the weights, every query);
- **book** (the library's default): :mod:`affect_lib.models.fused_attention`, one C pass per query row, the
  dropout decisions hashed from a seed and regenerated in the backward pass, no T x T tensor; the last query only
  in each last layer; the text LSTM on one thread (as in the next form);
- **book, fused off** (``AFFECT_FUSED_ATTENTION=0``): causal query blocks with dropout masks drawn from torch's
  generator, the last query only in each last layer.

All three compute the same function with the same dropout semantics; the tests check the fused form against the
released pattern given the same draws. Also: a torch.profiler breakdown of the unaligned step, and how step
time and peak memory grow with the audio/vision length (50 to 1,000 steps). Times are measured in this process,
forms alternating; peak memory in a fresh process per form and size (:func:`measure.step_peak_memory`).
``AFFECT_BENCH_SMOKE=1`` shrinks every size, for a smoke test of the script (write it elsewhere with
``AFFECT_BENCH_RESULTS``).
"""

from __future__ import annotations

import json
import os
import sys

import matplotlib
import torch
from measure import (
    GROWTH_INTERVAL_NOTE,
    MEMORY_NOTE,
    child_json,
    growth_curves,
    growth_exponent,
    growth_fit,
    interleaved,
    load,
    operator_profile,
    operator_table,
    peak_gb,
    ratio,
    save_growth_figure,
    wait_setting,
    without_wait_variables,
)

from affect_lib.models import fused_attention
from affect_lib.models.lmr_cbt import lmr_cbt
from affect_lib.models.mult import mult
from affect_lib.models.released_pattern import released_attention_pattern

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SMOKE = os.environ.get("AFFECT_BENCH_SMOKE") == "1"
"""Smoke test of the script: batch 2, short sequences (the numbers mean nothing)."""
BATCH = 2 if SMOKE else 16
SHAPES = (
    {"aligned 20/20/20": ((20, 20, 20), 5), "unaligned 20/100/100": ((20, 100, 100), 5)}
    if SMOKE
    else {"aligned 50/50/50": ((50, 50, 50), 10), "unaligned 50/500/500": ((50, 500, 500), 5)}
)
DIMS = (300, 74, 35)
GROWTH_BATCH, GROWTH_REPEATS = 2, 5
GROWTH_LENGTHS = (50, 100, 200) if SMOKE else (50, 100, 200, 500, 1000)
GROWTH_FIT = [n for n in GROWTH_LENGTHS if n >= 200] if not SMOKE else list(GROWTH_LENGTHS)
"""The lengths the exponents are fitted over (where the attention dominates the fixed cost)."""
MULT_REPEATS = 5
FIGURE = "multimodal_growth.png"
RATIOS: dict[str, float] = {}
"""Speed-ups measured by :func:`main` (read by ``run.py`` for the summary chart)."""


def _trainer(model: torch.nn.Module, lengths: tuple[int, int, int], batch: int):
    """A closure running one forward + L1 loss + backward + clip + Adam step on fixed random inputs."""
    torch.manual_seed(1)
    x = [torch.randn(batch, t, d) for t, d in zip(lengths, DIMS, strict=True)]
    y = torch.randn(batch, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(model(*x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def memory_step(form: str, lengths: list[int], batch: int):
    """The training step of one form (``released``, ``unfused`` or ``book``) of the paper's LMR-CBT at the given
    (text, audio, vision) lengths: built in the fresh process of :func:`measure.peak_gb`."""
    torch.manual_seed(0)
    return _forms(_trainer(lmr_cbt().train(), tuple(lengths), batch))[form]


def _forms(step):
    """The three forms of one step: released pattern, book with the fused path off, book (fused, the default)."""

    def released():
        with released_attention_pattern():
            step()

    def unfused():
        with fused_attention.enable(False):
            step()

    def book():
        with fused_attention.enable(True):
            step()

    return {"released": released, "unfused": unfused, "book": book}


def _policy_ratios(repeats: int) -> dict[str, dict[str, list[float]]]:
    """The aligned released / book and released / fused-off speed-ups (median, low, high) measured as in the
    table, each in a fresh process, under three OpenMP wait settings: this process's own (the table's; ``make
    bench`` and the chapters: ``$(RUNENV)`` in the Makefile), idle threads sleeping at once
    (``OMP_WAIT_POLICY=PASSIVE`` alone) and libgomp's default (they spin for 300,000 rounds first, as in a
    reader's ``affect-lib train``)."""
    base = without_wait_variables(dict(os.environ))
    settings = {
        "this": dict(os.environ),
        "PASSIVE": base | {"OMP_WAIT_POLICY": "PASSIVE"},
        "default": base,
    }
    return {
        name: child_json(__file__, ["--aligned-ratios", str(repeats)], f"aligned ratios ({name})", env)
        for name, env in settings.items()
    }


def _ratio_text(ratios: dict[str, list[float]]) -> str:
    book, unfused = ratios["book"], ratios["unfused"]
    return (
        f"**{book[0]:.2f}x** ({book[1]:.2f}-{book[2]:.2f}) for the book and {unfused[0]:.2f}x "
        f"({unfused[1]:.2f}-{unfused[2]:.2f}) with the fused path off"
    )


def _aligned_ratios(repeats: int) -> dict[str, list[float]]:
    """The child of :func:`_policy_ratios`."""
    torch.manual_seed(0)
    lengths, _ = next(iter(SHAPES.values()))
    runs = interleaved(_forms(_trainer(lmr_cbt().train(), lengths, BATCH)), repeats)
    return {k: list(ratio(runs["released"], runs[k])) for k in ("book", "unfused")}


def _max_output_difference(lengths: tuple[int, int, int]) -> float:
    """max |released - fused| of the evaluation-mode outputs (no dropout) on random inputs."""
    torch.manual_seed(0)
    model = lmr_cbt().eval()
    x = [torch.randn(2, t, d) for t, d in zip(lengths, DIMS, strict=True)]
    with torch.no_grad():
        with released_attention_pattern():
            a = model(*x)
        with fused_attention.enable(True):
            b = model(*x)
    return float((a - b).abs().max())


def _growth() -> tuple[list[str], float]:
    """Step time and peak memory against the audio/vision length, released pattern vs fused; writes the
    figure. Returns the table rows and the widest spread of a timed point."""
    torch.manual_seed(0)
    model = lmr_cbt().train()

    def forms(t: int) -> dict:
        both = _forms(_trainer(model, (50, t, t), GROWTH_BATCH))
        return {k: both[k] for k in ("released", "book")}

    def peak(form: str, t: int) -> float:
        return peak_gb(__file__, form, lengths=[50, t, t], batch=GROWTH_BATCH)

    curves, widest = growth_curves(GROWTH_LENGTHS, forms, peak, GROWTH_REPEATS)
    fit = GROWTH_FIT
    exps = {
        k: (growth_fit(fit, c.rounds[-len(fit) :]), growth_exponent(fit, c.peaks[-len(fit) :]))
        for k, c in curves.items()
    }
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for k, c in curves.items():
        label = {"released": "released pattern", "book": "book (fused)"}[k]
        axes[0].loglog(GROWTH_LENGTHS, c.seconds, "o-", label=f"{label}, slope {exps[k][0][0]:.2f}")
        axes[1].loglog(GROWTH_LENGTHS, c.peaks, "o-", label=f"{label}, slope {exps[k][1]:.2f}")
    axes[0].set(xlabel="audio / vision steps", ylabel="s per training step", title="LMR-CBT step time")
    axes[1].set(xlabel="audio / vision steps", ylabel="peak step memory (GB)", title="LMR-CBT peak memory")
    save_growth_figure(fig, axes, FIGURE, fontsize=8)
    rows = [
        "| audio/vision steps | "
        + " | ".join(str(t) for t in GROWTH_LENGTHS)
        + f" | growth exponent ({fit[0]}-{fit[-1]}) |",
        "|---|" + "---:|" * (len(GROWTH_LENGTHS) + 1),
    ]
    for k, c in curves.items():
        (e, lo, hi), e_m = exps[k]
        secs, peaks = " | ".join(f"{s:.3g}" for s in c.seconds), " | ".join(f"{p:.3g}" for p in c.peaks)
        rows.append(f"| {k}: s/step | {secs} | {e:.2f} [{lo:.2f}, {hi:.2f}] |")
        rows.append(f"| {k}: peak GB | {peaks} | {e_m:.2f} |")
    return rows, widest


def main() -> str:
    before = load()
    rows = [
        "| setting | released pattern s/step (range) | book, fused off s/step | book s/step (range) | "
        "book vs released | fused off vs released | peak step GB released / fused off / book |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    profiles = {}
    torch.manual_seed(0)
    model = lmr_cbt().train()
    (_, (_, aligned_repeats)), (unaligned, (unaligned_lengths, unaligned_repeats)) = SHAPES.items()
    for label, (lengths, repeats) in SHAPES.items():
        forms = _forms(_trainer(model, lengths, BATCH))
        runs = interleaved(forms, repeats)
        rel, unfused, book = runs["released"], runs["unfused"], runs["book"]
        r_book, lo, hi = ratio(rel, book)
        r_unfused = ratio(rel, unfused)[0]
        RATIOS[f"LMR-CBT {label.split()[0]}"] = r_book
        peaks = " / ".join(f"{peak_gb(__file__, k, lengths=list(lengths), batch=BATCH):.3f}" for k in forms)
        rows.append(
            f"| {label} | {rel.median:.3f} ({rel.spread()}) | {unfused.median:.3f} ({unfused.spread()}) | "
            f"{book.median:.3f} ({book.spread()}) | **{r_book:.2f}x** ({lo:.2f}-{hi:.2f}) | {r_unfused:.2f}x | "
            f"{peaks} |"
        )
        if label == unaligned:
            profiles = {k: operator_table(operator_profile(forms[k])) for k in ("released", "book")}
    torch.manual_seed(0)
    mult_forms = _forms(_trainer(mult().train(), unaligned_lengths, BATCH))
    mult_runs = interleaved({k: mult_forms[k] for k in ("unfused", "book")}, MULT_REPEATS)
    diff = {label: _max_output_difference(lengths) for label, (lengths, _) in SHAPES.items()}
    growth_rows, growth_spread = _growth()
    policies = _policy_ratios(aligned_repeats)
    policy = wait_setting(dict(os.environ))
    rows += [
        "",
        f"Batch {BATCH}, MOSEI dims, the paper's LMR-CBT (d 40, 8 heads, 5 layers), training mode with every "
        f"dropout, {torch.get_num_threads()} torch threads. Times: medians over {aligned_repeats} (aligned) "
        f"and {unaligned_repeats} (unaligned) rounds after a warm-up round, the three forms in turn in each round "
        "(range of the rounds in brackets); a speed-up is the median of the per-round ratios (their range in "
        "brackets). "
        + MEMORY_NOTE
        + " Evaluation-mode outputs, released pattern vs fused: max difference "
        + ", ".join(f"{v:.1e} ({k.split()[0]})" for k, v in diff.items())
        + f". MulT (the paper's comparison, d 30, 5 heads, 1.07M parameters), unaligned, median of {MULT_REPEATS}"
        f": book, fused off {mult_runs['unfused'].median:.2f} s ({mult_runs['unfused'].spread()}), book "
        f"{mult_runs['book'].median:.2f} s/step ({mult_runs['book'].spread()}).",
        "",
        f"The table was measured with {policy}. The aligned step's speed-up measured again, each in a fresh "
        f"process: under the same setting, {_ratio_text(policies['this'])}; with idle OpenMP threads sleeping at "
        "once (`OMP_WAIT_POLICY=PASSIVE` alone: fair to a loaded machine, but every parallel operator then first "
        f"wakes the sleeping threads), {_ratio_text(policies['PASSIVE'])}; with libgomp's default (threads spin "
        f"300,000 rounds before they sleep, as in a reader's `affect-lib train`), {_ratio_text(policies['default'])}.",
        "",
        "Where the unaligned step's time goes (torch.profiler, one step; self CPU time per operator):",
        "",
    ]
    for k, title in (("released", "released pattern"), ("book", "book (fused)")):
        rows += [f"| {title}: operator | calls | self s | share |", "|---|---:|---:|---:|", *profiles[k], ""]
    rows += [
        "In the released pattern the T x T matrices dominate: the batched matmuls over them, softmax and its "
        "backward, the dropout masks (``bernoulli_``) and the multiplications by them. The fused kernel "
        "(the ``affect::attention_forward`` / ``attention_backward`` operators) replaces all of them; what remains is "
        "the small (N T, 40) linear algebra, LayerNorm, the optimizer and the text LSTM. The book runs that LSTM "
        "(20 units a direction), forward and backward, on one thread (``lmr_cbt.one_thread_rnn``: the bits of a "
        "one-thread call): oneDNN's LSTM opens a parallel region at every time step, and at this size each costs "
        "more than its work; the released pattern, as the released code, runs it on every thread.",
        "",
        f"How cost grows with the audio/vision length (text 50 steps, batch {GROWTH_BATCH}; times are medians "
        f"of {GROWTH_REPEATS} rounds after a warm-up, the two forms in turn, the widest range of a point "
        f"{100 * growth_spread:.0f}% of its median; peak step memory as above, one fresh process per point): the "
        "released pattern's attention stores T x T tensors, quadratic in time and memory; the fused form stores "
        "none, so its memory should grow linearly. " + GROWTH_INTERVAL_NOTE,
        "",
        *growth_rows,
        "",
        f"![LMR-CBT step time and peak memory against sequence length](../../benchmarks/results/{FIGURE})",
        "",
        f"Host load: before, {before}; after, {load()}.",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--aligned-ratios"]:
        print(json.dumps(_aligned_ratios(int(sys.argv[2]))))
    else:
        print(main())
