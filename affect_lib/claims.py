"""The closing claims table of a chapter: the paper's claim, what the paper reports, what this run measured, and a
verdict (``yes`` / ``no`` / ``inconclusive`` / ``n/a``) decided by a rule printed with the table.

Rows are also written to ``_build/claims/<chapter>.json`` for the book's "results at a glance" page.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

from affect_lib.stats import VERDICTS

CLAIMS_DIR = Path(__file__).resolve().parents[1] / "_build" / "claims"
DISPLAY = {"yes": "✓ yes", "no": "✗ **no**", "inconclusive": "? inconclusive", "n/a": "n/a"}
"""How each verdict is shown in a table."""

_FROM_BOOL = {True: "yes", False: "no", None: "n/a"}
_SHOWN: dict[str, list[tuple[str, str]]] = {}
"""The (claim, verdict) rows of the last table each chapter showed in this process (for :func:`verdicts`)."""
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures as a table cell shows it: ``1.4 × 10⁴``, not ``1.4e+04``.

    The same rounding as the ``g`` format (``156.9``, ``0.0123`` unchanged); the power of ten in Unicode
    superscripts (``10⁻¹⁵`` for a mantissa of 1) and ``∞`` for infinity.
    """
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    text = f"{value:.{digits}g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = "10" + str(int(exponent)).translate(_SUPERSCRIPT)
    return power if mantissa == "1" else f"{mantissa} × {power}"


def significant(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant figures for a table column that reads the same way in every row:
    trailing zeros kept (``19,000`` beside ``14,010``, ``26.70`` beside ``19.28``), thousands separated, never an
    ``e+04``; below 10⁻⁴ and from 10¹⁵ as :func:`number` writes it."""
    if not math.isfinite(value):
        return number(value, digits)
    if value == 0:
        return f"{0:.{digits - 1}f}"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -4 or magnitude >= 15:
        return number(value, digits)
    decimals = digits - 1 - magnitude
    rounded = round(value, decimals)
    if rounded and math.floor(math.log10(abs(rounded))) > magnitude:  # 9999.6 -> 10,000: one decimal fewer
        decimals -= 1
    return f"{rounded:,.{max(decimals, 0)}f}"


def normalise_verdict(value: Any) -> str:
    """A verdict string from ``"yes"``/``"no"``/``"inconclusive"``/``"n/a"`` or ``True``/``False``/``None``."""
    if isinstance(value, bool) or value is None:
        return _FROM_BOOL[value]
    if value in VERDICTS:
        return value
    raise ValueError(f"a verdict is one of {VERDICTS} (or True/False/None), got {value!r}")


def claims_table(
    chapter: str,
    profile: str,
    rows: list[tuple[str, str, str, Any]],
    *,
    rule: str | None = None,
    column: str = "agrees?",
) -> Any:
    """Show a chapter's closing table and save it for the book's "results at a glance" page.

    Args:
        chapter: the chapter's name, e.g. ``"10_wdp_definition"``.
        profile: the profile that produced the measured values (shown in the header).
        rows: ``(claim, what the paper reports, what this run measured, verdict)``; the verdict is ``"yes"``,
            ``"no"``, ``"inconclusive"``, ``"n/a"`` (not comparable, e.g. a synthetic stand-in), or a bool/None.
        rule: the rule that decided the verdicts, printed under the table (e.g. :data:`affect_lib.stats.VERDICT_RULE`).
        column: the verdict column's header.

    Returns:
        An ``IPython.display.Markdown`` table.
    """
    from IPython.display import Markdown

    if not rows:
        raise ValueError("claims_table needs at least one row")
    clean = []
    for row in rows:
        if len(row) != 4 or not all(isinstance(v, str) for v in row[:3]):
            raise ValueError(f"each row is (claim: str, paper: str, measured: str, verdict), got {row!r}")
        clean.append((*row[:3], normalise_verdict(row[3])))
    lines = [
        f"| claim | paper | this book ({profile} profile) | {column} |",
        "|---|---|---|---|",
        *(f"| {c} | {p} | {m} | {DISPLAY[v]} |" for c, p, m, v in clean),
    ]
    if rule:
        lines += ["", rule]
    CLAIMS_DIR.mkdir(parents=True, exist_ok=True)
    data = {
        "chapter": chapter,
        "profile": profile,
        "column": column,
        "rule": rule,
        "rows": [{"claim": c, "paper": p, "measured": m, "verdict": v} for c, p, m, v in clean],
    }
    (CLAIMS_DIR / f"{chapter}.json").write_text(json.dumps(data, indent=1) + "\n")
    _SHOWN[chapter] = [(c, v) for c, _, _, v in clean]
    return Markdown("\n".join(lines))


def verdicts(chapter: str, width: int = 96) -> str:
    """The verdicts of the claims table ``chapter`` showed last, one claim a line, without the measured values.

    A chapter prints this in a cell that nbval checks exactly, so a verdict that moves (on another CPU's kernels,
    or after a change) fails the test even where every number stays inside its tolerance. Lines are wrapped to
    ``width`` characters.
    """
    if chapter not in _SHOWN:
        raise ValueError(f"no claims table of chapter {chapter!r} was shown in this process")
    out = [f"verdicts of {chapter} (compared exactly on every CPU):"]
    for claim, verdict in _SHOWN[chapter]:
        out += textwrap.wrap(
            f"{verdict:>12s}  {claim}", width, subsequent_indent=" " * 14, break_on_hyphens=False
        )
    return "\n".join(out)
