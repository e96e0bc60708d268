"""The standard metrics of CMU-MOSI/MOSEI sentiment and IEMOCAP emotions, and the matching training losses.

Sentiment (scores in [-3, 3]): MAE, Pearson correlation, Acc-7 and Acc-5 (round the scores clipped to [-3, 3] or
[-2, 2], numpy's round-half-to-even, and compare the classes), and both binary conventions:

- **Non0** Acc-2 / F1: negative (< 0) vs positive (> 0), samples with a zero label excluded. This is what MulT and
  LMR-CBT call "Acc-2" and "F1".
- **Has0** Acc-2 / F1: negative (< 0) vs non-negative (>= 0) over all samples (MMSA's convention).

F1 is scikit-learn's weighted F1 of ``(y_true, y_pred)``. MulT's code passes the arguments swapped, which changes
weighted F1 (it weights by the *predicted* class sizes); ``f1_arg_order="mult"`` reproduces that for comparison.

IEMOCAP: four binary tasks (Neutral, Happy, Sad, Angry); for each, the argmax of its two logits is compared with
the label (accuracy and weighted F1), as in MulT's ``eval_iemocap``, and LMR-CBT's weighted accuracy
(:func:`weighted_accuracy`, the class-balanced accuracy).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score

from affect_lib.data.mult import EMOTIONS, dataset_spec

F1_ARG_ORDERS = ("sklearn", "mult")


def _flat(values: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _weighted_f1(truth: np.ndarray, pred: np.ndarray, f1_arg_order: str) -> float:
    if f1_arg_order not in F1_ARG_ORDERS:
        raise ValueError(f"f1_arg_order must be one of {F1_ARG_ORDERS}, got {f1_arg_order!r}")
    args = (truth, pred) if f1_arg_order == "sklearn" else (pred, truth)
    return float(f1_score(*args, average="weighted", zero_division=0))


def multiclass_acc(preds: np.ndarray, truths: np.ndarray, bound: float) -> float:
    """Acc-(2*bound+1): ``round(clip(p, -bound, bound)) == round(clip(t, -bound, bound))`` (half to even)."""
    return float(np.mean(np.round(np.clip(preds, -bound, bound)) == np.round(np.clip(truths, -bound, bound))))


def pearson(preds: np.ndarray, truths: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (e.g. a model that predicts one value)."""
    if np.std(preds) == 0 or np.std(truths) == 0:
        return float("nan")
    return float(np.corrcoef(preds, truths)[0, 1])


def sentiment_metrics(
    preds: torch.Tensor | np.ndarray, truths: torch.Tensor | np.ndarray, *, f1_arg_order: str = "sklearn"
) -> dict[str, float]:
    """MOSI/MOSEI metrics of predicted vs true scores (any shapes with N elements).

    Returns:
        ``mae``, ``corr``, ``acc7``, ``acc5``, ``non0_acc2``, ``non0_f1`` (zeros excluded), ``has0_acc2``,
        ``has0_f1`` (negative vs non-negative); accuracies and F1 as fractions in [0, 1].
    """
    p, t = _flat(preds), _flat(truths)
    if p.shape != t.shape or p.size == 0:
        raise ValueError(
            f"preds and truths need the same, non-zero number of values, got {p.size} and {t.size}"
        )
    nonzero = t != 0
    has0_t, has0_p = t >= 0, p >= 0
    non0_t, non0_p = t[nonzero] > 0, p[nonzero] > 0
    return {
        "mae": float(np.mean(np.abs(p - t))),
        "corr": pearson(p, t),
        "acc7": multiclass_acc(p, t, 3),
        "acc5": multiclass_acc(p, t, 2),
        "non0_acc2": float(accuracy_score(non0_t, non0_p)) if nonzero.any() else float("nan"),
        "non0_f1": _weighted_f1(non0_t, non0_p, f1_arg_order) if nonzero.any() else float("nan"),
        "has0_acc2": float(accuracy_score(has0_t, has0_p)),
        "has0_f1": _weighted_f1(has0_t, has0_p, f1_arg_order),
    }


def eval_mosei_senti(
    results: torch.Tensor | np.ndarray,
    truths: torch.Tensor | np.ndarray,
    exclude_zero: bool = True,
    *,
    f1_arg_order: str = "sklearn",
) -> dict[str, float]:
    """The values that MulT's / LMR-CBT's ``eval_mosei_senti`` prints, for comparison with their logs.

    ``acc`` and ``f1`` are the binary ``t > 0`` vs ``p > 0`` scores over samples with a non-zero label (all samples
    when ``exclude_zero=False``); ``mult_a2`` is LMR-CBT's addition (classes after clipping to [0, 1]).
    ``f1_arg_order="mult"`` reproduces MulT's swapped F1 arguments; LMR-CBT uses the scikit-learn order.
    """
    p, t = _flat(results), _flat(truths)
    shared = sentiment_metrics(p, t)
    keep = (t != 0) | (not exclude_zero)
    binary_t, binary_p = t[keep] > 0, p[keep] > 0
    return {
        "mae": shared["mae"],
        "corr": shared["corr"],
        "mult_acc_7": shared["acc7"],
        "mult_acc_5": shared["acc5"],
        "mult_a2": float(np.mean(np.round(np.clip(p, 0, 1)) == np.round(np.clip(t, 0, 1)))),
        "f1": _weighted_f1(binary_t, binary_p, f1_arg_order),
        "acc": float(accuracy_score(binary_t, binary_p)),
    }


def weighted_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    """LMR-CBT's IEMOCAP "weighted accuracy" of one binary task: ``(TP * N / P + TN) / (2 N)``.

    P and N count the present (label > 0) and absent labels, TP and TN the correct predictions among them; the
    value equals ``(TP / P + TN / N) / 2``, the mean of the two classes' recalls (class-balanced accuracy, the
    emotion literature's usual "weighted accuracy"). It is ``weighted_accuracy`` in the released
    ``src/eval_metrics.py`` of skeletonNN/LMR-CBT, which ``eval_iemocap`` returns per emotion beside weighted F1
    and accuracy (MulT's file defines it but never calls it).

    Args:
        truth, pred: (N,) 0/1 labels and predictions of one emotion.

    Returns:
        A fraction in [0, 1]; NaN when the labels hold only one class (the release divides by zero there).
    """
    t, p = np.asarray(truth) > 0, np.asarray(pred) > 0
    positives, negatives = int(t.sum()), int((~t).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    tp, tn = int((t & p).sum()), int((~t & ~p).sum())
    return (tp * negatives / positives + tn) / (2 * negatives)


def emotion_metrics(
    logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, *, f1_arg_order: str = "sklearn"
) -> dict[str, float]:
    """IEMOCAP metrics: per emotion ``<emotion>_acc``, ``<emotion>_f1`` (weighted) and ``<emotion>_wacc``
    (:func:`weighted_accuracy`), and their means ``mean_acc``, ``mean_f1``, ``mean_wacc``.

    Args:
        logits: (N, 8) or (N, 4, 2): two logits (absent, present) per emotion in :data:`EMOTIONS` order.
        labels: (N, 4) presence (0/1), or the pickles' one-hot (N, 4, 2).
    """
    logits = np.asarray(logits.detach().cpu() if isinstance(logits, torch.Tensor) else logits)
    labels = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
    k = len(EMOTIONS)
    if logits.size % (2 * k) or logits.shape[0] * 2 * k != logits.size:
        raise ValueError(f"logits must have shape (N, 8) or (N, 4, 2), got {logits.shape}")
    pred = logits.reshape(-1, k, 2).argmax(-1)
    truth = labels.argmax(-1) if labels.ndim == 3 else labels
    if truth.shape != pred.shape:
        raise ValueError(f"labels must have shape (N, 4) or (N, 4, 2) matching logits, got {labels.shape}")
    out: dict[str, float] = {}
    for e, name in enumerate(EMOTIONS):
        out[f"{name}_acc"] = float(accuracy_score(truth[:, e], pred[:, e]))
        out[f"{name}_f1"] = _weighted_f1(truth[:, e], pred[:, e], f1_arg_order)
        out[f"{name}_wacc"] = weighted_accuracy(truth[:, e], pred[:, e])
    for metric in ("acc", "f1", "wacc"):
        out[f"mean_{metric}"] = float(np.mean([out[f"{n}_{metric}"] for n in EMOTIONS]))
    return out


def classification_metrics(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """``{"accuracy": ...}`` of logits ``outputs`` (N, C) against class indices ``targets`` (N,)."""
    return {"accuracy": float((outputs.argmax(1) == targets).float().mean())}


def emotion_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the four binary emotion tasks: logits (N, 8) viewed as (4N, 2), labels (N, 4)."""
    return torch.nn.functional.cross_entropy(logits.reshape(-1, 2), labels.reshape(-1))


def sentiment_loss(preds: torch.Tensor, truths: torch.Tensor) -> torch.Tensor:
    """L1 loss on the sentiment scores, as in the papers."""
    return torch.nn.functional.l1_loss(preds.reshape(truths.shape), truths)


def task_loss(dataset: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss of ``dataset``: L1 for MOSI/MOSEI, 4 x binary cross-entropy for IEMOCAP."""
    return sentiment_loss if dataset_spec(dataset).task == "sentiment" else emotion_loss


def task_metrics(dataset: str) -> Callable[[torch.Tensor, torch.Tensor], dict[str, float]]:
    """The metrics of ``dataset`` as a trainer ``metrics_fn(outputs, targets)``."""
    return sentiment_metrics if dataset_spec(dataset).task == "sentiment" else emotion_metrics


def constant_predictor_metrics(
    dataset: str, train_labels: torch.Tensor | np.ndarray, test_labels: torch.Tensor | np.ndarray
) -> dict[str, float]:
    """The test metrics of a model that learnt nothing: one constant output fitted on the training labels.

    Sentiment: the training labels' median (the constant that minimises the L1 loss the models train on), so
    Acc-2 is the majority sign's share. Emotions: each emotion's majority answer in training ("absent"). A
    trained result's tolerance band must exclude these (:mod:`affect_lib.expected`).

    Args:
        dataset: ``mosi``, ``mosei`` or ``iemocap``.
        train_labels, test_labels: the splits' labels, (N, 1) scores or (N, 4) presence (or the one-hot (N, 4, 2)).
    """
    train = np.asarray(train_labels, dtype=float)
    test = np.asarray(test_labels)
    if dataset_spec(dataset).task == "sentiment":
        constant = np.full((len(test), 1), float(np.median(train)))
        return sentiment_metrics(constant, test.reshape(len(test), 1))
    presence = train[..., 1] if train.ndim == 3 else train
    majority = (presence.mean(0) > 0.5).astype(float)  # (4,)
    logits = np.stack([1 - majority, majority], axis=-1)  # (4, 2): the majority answer's logit is 1
    return emotion_metrics(np.broadcast_to(logits, (len(test), *logits.shape)).copy(), test)
