"""Tolerance checks for results that float rounding moves: committed expected values, printed as stable lines.

A trained model's score changes with the CPU's instruction set and thread count, so an nbval-checked cell must not
print it. Instead a chapter prints the numbers in an ordinary cell and passes them to :func:`check`, which compares
each with the value and tolerance committed in ``notebooks/expected/<chapter>.json`` and prints one line per result
that does not depend on the measured value as long as it lies within the tolerance::

    {"values": {"CFN-SR accuracy, mean of 3 seeds": {"value": 0.62, "tol": 0.06,
                 "basis": "max deviation 0.021 over seeds x {native, avx2, baseline} kernels",
                 "constant": 0.167,
                 "kernels": {"native": [0.61, 0.64, 0.6], "avx2": [...], "baseline": [...]}}}}

A result outside its tolerance prints ``✗`` with the measured value, which nbval reports as a changed output.
``constant`` is the score a constant predictor (or chance) gets on the same test items: a band that contains it is
refused when the file is read, so that no check can be passed by a model that learnt nothing. ``kernels`` keeps
the calibration runs' per-seed values under each kernel set the tolerance was measured on.
Setting ``$AFFECT_RECORD_MEASURED`` to a folder also writes the measured values to ``<folder>/<chapter>.json``, so
that the spread over machines and instruction sets can be measured (``tools/expected_spread.py``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from affect_lib.stats import Summary

EXPECTED_DIR = Path(__file__).resolve().parents[1] / "notebooks" / "expected"
RECORD_ENV = "AFFECT_RECORD_MEASURED"


@dataclass(frozen=True)
class Expected:
    """One committed expectation: ``value`` ± ``tol`` (absolute, in the result's units), why that tolerance,
    (optional) the values the calibration runs over seeds gave, which a chapter may print as the seed spread, the
    constant predictor's score that the band must exclude, and the calibration's per-seed values per kernel set."""

    value: float
    tol: float
    basis: str = ""
    seeds: tuple[float, ...] = ()
    constant: float | None = None
    kernels: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def holds(self, measured: float) -> bool:
        return math.isfinite(measured) and abs(measured - self.value) <= self.tol


def expected_file(chapter: str) -> Path:
    """``notebooks/expected/<chapter>.json`` of the book's checkout."""
    return EXPECTED_DIR / f"{chapter}.json"


def load_expected(chapter: str, path: str | os.PathLike[str] | None = None) -> dict[str, Expected]:
    """The committed expectations of ``chapter``; a clear error naming the file and field when malformed."""
    file = Path(path) if path is not None else expected_file(chapter)
    if not file.exists():
        raise FileNotFoundError(f"no expected values for chapter {chapter!r}: {file} does not exist")
    try:
        raw = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not valid JSON: {err}") from err
    values = raw.get("values") if isinstance(raw, dict) else None
    if not isinstance(values, dict):
        raise ValueError(f"{file}: expected an object with a 'values' field")
    out = {}
    for name, entry in values.items():
        if not isinstance(entry, dict) or not {"value", "tol"} <= entry.keys():
            raise ValueError(f"{file}: values[{name!r}] needs 'value' and 'tol'")
        value, tol = entry["value"], entry["tol"]
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in (value, tol)) or tol < 0:
            raise ValueError(f"{file}: values[{name!r}] needs a finite value and a tolerance >= 0")
        seeds = entry.get("seeds", [])
        if not isinstance(seeds, list) or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in seeds
        ):
            raise ValueError(f"{file}: values[{name!r}]['seeds'] must be a list of finite numbers")
        constant = entry.get("constant")
        if constant is not None:
            if not isinstance(constant, int | float) or not math.isfinite(constant):
                raise ValueError(f"{file}: values[{name!r}]['constant'] must be a finite number")
            if abs(value - constant) <= tol:
                raise ValueError(
                    f"{file}: values[{name!r}]: the band {value:.4g} ± {tol:.4g} contains the constant "
                    f"predictor's {constant:.4g}, so the check could not fail on a model that learnt nothing"
                )
        kernels = entry.get("kernels", {})
        if not isinstance(kernels, dict) or not all(
            isinstance(v, list) and all(isinstance(x, int | float) and math.isfinite(x) for x in v)
            for v in kernels.values()
        ):
            raise ValueError(f"{file}: values[{name!r}]['kernels'] must map kernel names to lists of numbers")
        out[name] = Expected(
            float(value),
            float(tol),
            str(entry.get("basis", "")),
            tuple(map(float, seeds)),
            None if constant is None else float(constant),
            {k: tuple(map(float, v)) for k, v in kernels.items()},
        )
    return out


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :func:`check`: one stable line per result, and whether all held."""

    lines: tuple[str, ...]
    ok: bool

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _record(
    chapter: str,
    measured: Mapping[str, float | Summary],
    record_dir: str,
    constants: Mapping[str, float],
) -> None:
    """Append ``{name: {"value", "se", "seeds"}}`` to ``<record_dir>/<chapter>.json`` (``se``: the standard error
    of a seed mean; ``seeds``: the per-seed values)."""
    Path(record_dir).mkdir(parents=True, exist_ok=True)
    out = Path(record_dir) / f"{chapter}.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    for name, v in measured.items():
        if isinstance(v, Summary):
            se = v.std / math.sqrt(v.n) if v.n > 1 else None
            previous[name] = {"value": v.mean, "se": se, "seeds": list(v.values)}
        else:
            previous[name] = {"value": float(v), "se": None, "seeds": []}
        if name in constants:
            previous[name]["constant"] = float(constants[name])
    out.write_text(json.dumps(previous, indent=1, sort_keys=True) + "\n")


def check(
    chapter: str,
    measured: Mapping[str, float | Summary],
    *,
    path: str | os.PathLike[str] | None = None,
    constants: Mapping[str, float] | None = None,
) -> CheckReport:
    """Compare ``measured`` (name → number, or a seed :class:`~affect_lib.stats.Summary` whose mean is compared)
    with the committed expectations of ``chapter``.

    Every measured name must have an expectation, and every expectation a measured value, so that renaming a
    result or dropping it is caught too. The returned report prints one line per name::

        ✓ CFN-SR accuracy, mean of 3 seeds: within 0.62 ± 0.06

    Lines do not contain the measured value unless the check fails (``✗ … measured 0.41``). ``constants`` (name →
    the score of a constant predictor on the same test items, computed by the chapter) must equal the committed
    ``constant`` of each entry to 10⁻⁶; the committed band is known to exclude it (:func:`load_expected`).
    """
    constants = dict(constants or {})
    record_dir = os.environ.get(RECORD_ENV)
    if record_dir:
        _record(chapter, measured, record_dir, constants)
    expected = load_expected(chapter, path)
    measured = {k: v.mean if isinstance(v, Summary) else float(v) for k, v in measured.items()}
    lines, ok = [], True
    for name, value in measured.items():
        exp = expected.get(name)
        if exp is None:
            lines.append(
                f"✗ {name}: no expected value in {expected_file(chapter).name} (measured {_fmt(value)})"
            )
            ok = False
        elif name in constants and (exp.constant is None or abs(constants[name] - exp.constant) > 1e-6):
            lines.append(
                f"✗ {name}: the constant predictor scores {_fmt(constants[name])}, committed "
                f"{exp.constant if exp.constant is None else _fmt(exp.constant)}"
            )
            ok = False
        elif exp.holds(float(value)):
            lines.append(f"✓ {name}: within {_fmt(exp.value)} ± {_fmt(exp.tol)}")
        else:
            lines.append(
                f"✗ {name}: measured {_fmt(float(value))}, outside {_fmt(exp.value)} ± {_fmt(exp.tol)}"
            )
            ok = False
    for name in expected.keys() - measured.keys():
        lines.append(f"✗ {name}: expected but not measured")
        ok = False
    return CheckReport(tuple(lines), ok)
