"""RAVDESS evaluation protocols by name: which actors train, select the epoch and are tested in each fold.

A recipe's ``data.split`` names the protocol and ``data.fold`` the fold (:mod:`affect_lib.recipes`); the actor
rules themselves are :mod:`affect_lib.data.ravdess`'s.

============  =====  ================================================================================
split         folds  fold i
============  =====  ================================================================================
``proper``    1      the fixed split: test actors 5, 10, 16, 19; validation 11, 13, 18, 22; train the rest
``folds3``    3      tests block i, validates on block i + 1, trains on the rest (a stand-in's actors)
``folds6``    6      the same with 6 blocks (24 actors: test 4, validate 4, train 16; every actor tested once)
``released``  5      CFN-SR: tests actors 4i+1..4i+4, trains on all others, **selects on the test fold**
``msaf``      6      MSAF: the same rule with 6 folds (every actor tested once), selects on the test fold
============  =====  ================================================================================

A split without validation actors selects its epoch on the test fold (:func:`selects_on_test`), which is what the
released code does; the reported number is then the best test epoch, not a held-out estimate.

The fold rules count the sorted actors, so a corpus with a missing actor is refused rather than re-split (every
later fold would shift), as ``proper`` refuses a corpus without one of its fixed actors.
"""

from __future__ import annotations

from collections.abc import Iterable

from affect_lib.data.ravdess import (
    N_ACTORS,
    ActorSplit,
    check_no_missing_actors,
    msaf_folds,
    proper_folds,
    proper_split,
    released_folds,
)

N_FOLDS = {"proper": 1, "folds3": 3, "folds6": 6, "released": 5, "msaf": 6}
"""Folds of each named split (independent of the corpus's actors)."""
PROPER_SPLITS = ("proper", "folds3", "folds6")
"""The splits with validation actors (the epoch is selected on them, never on the test fold)."""


def protocol_folds(split: str, actors: Iterable[int], *, real: bool = False) -> list[ActorSplit]:
    """Every fold of the named ``split`` over the corpus's ``actors`` (see the module table).

    ``real``: the corpus is the real RAVDESS, so the released and msaf folds need all its 24 actors (a stand-in's
    actors need only run from 1 without a gap).

    Raises:
        ValueError: an unknown split name, or actors the split cannot use (named by the rule), such as a missing
            actor under a fold rule.
    """
    check_fold(split, 0)
    actors = list(actors)
    if split == "proper":
        return [proper_split(actors)]
    nested = split in PROPER_SPLITS
    check_no_missing_actors(actors, split, N_ACTORS if real and not nested else None)
    if nested:
        return proper_folds(actors, N_FOLDS[split])
    return released_folds(actors) if split == "released" else msaf_folds(actors)


def check_fold(split: str, fold: int) -> None:
    """Refuse an unknown split or a fold index outside its folds, by name (no corpus needed)."""
    if split not in N_FOLDS:
        raise ValueError(f"data.split must be one of {', '.join(N_FOLDS)}, got {split!r}")
    if not (isinstance(fold, int) and 0 <= fold < N_FOLDS[split]):
        raise ValueError(
            f"data.fold must be in 0..{N_FOLDS[split] - 1} for the {split} split "
            f"({N_FOLDS[split]} fold{'s' if N_FOLDS[split] > 1 else ''}), got {fold!r}"
        )


def protocol_fold(split: str, fold: int, actors: Iterable[int], *, real: bool = False) -> ActorSplit:
    """Fold ``fold`` (0-based) of the named ``split`` (:func:`check_fold` first; ``real`` as :func:`protocol_folds`)."""
    check_fold(split, fold)
    return protocol_folds(split, actors, real=real)[fold]


def selects_on_test(split: ActorSplit) -> bool:
    """Whether the fold has no validation actors, so that its epoch is selected on the test actors (released)."""
    return not split.valid
