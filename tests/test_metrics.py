"""Sentiment and emotion metrics against scikit-learn and a plain re-implementation of MulT's evaluation."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from affect_lib.metrics import (
    emotion_loss,
    emotion_metrics,
    eval_mosei_senti,
    sentiment_metrics,
    task_loss,
    task_metrics,
    weighted_accuracy,
)


def reference_eval_mosei_senti(results, truths, exclude_zero=True, swap_f1=False):
    """MulT's eval_mosei_senti, written out from its description with loops and numpy only."""
    p, t = np.asarray(results, float).ravel(), np.asarray(truths, float).ravel()
    idx = [i for i, e in enumerate(t) if e != 0 or not exclude_zero]
    bt, bp = t[idx] > 0, p[idx] > 0
    f1 = f1_score(bp, bt, average="weighted") if swap_f1 else f1_score(bt, bp, average="weighted")

    def acc(lo, hi):
        return np.sum(np.round(np.clip(p, lo, hi)) == np.round(np.clip(t, lo, hi))) / len(t)

    return {
        "mae": np.mean(np.abs(p - t)),
        "corr": np.corrcoef(p, t)[0][1],
        "mult_acc_7": acc(-3, 3),
        "mult_acc_5": acc(-2, 2),
        "mult_a2": acc(0, 1),
        "f1": f1,
        "acc": accuracy_score(bt, bp),
    }


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    truths = np.round(rng.uniform(-3, 3, 400) * 3) / 3
    truths[:40] = 0.0
    preds = truths + rng.normal(0, 1.2, 400) + 0.3
    return preds.astype(np.float32).reshape(-1, 1), truths.astype(np.float32).reshape(-1, 1, 1)


@pytest.mark.parametrize("exclude_zero", [True, False])
@pytest.mark.parametrize("order", ["sklearn", "mult"])
def test_eval_mosei_senti_matches_reference(scores, exclude_zero, order):
    preds, truths = scores
    ours = eval_mosei_senti(torch.from_numpy(preds), truths, exclude_zero, f1_arg_order=order)
    ref = reference_eval_mosei_senti(preds, truths, exclude_zero, swap_f1=order == "mult")
    assert ours.keys() == ref.keys()
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-6), key


def test_swapped_f1_arguments_differ_and_sklearn_order_is_default(scores):
    preds, truths = scores
    preds = preds + 1.0  # a biased model: weighted F1 then depends clearly on which side gives the weights
    t, p = truths.ravel(), preds.ravel()
    nz = t != 0
    ours = sentiment_metrics(preds, truths)
    assert ours["non0_f1"] == pytest.approx(f1_score(t[nz] > 0, p[nz] > 0, average="weighted"))
    swapped = sentiment_metrics(preds, truths, f1_arg_order="mult")["non0_f1"]
    assert swapped == pytest.approx(f1_score(p[nz] > 0, t[nz] > 0, average="weighted"))
    assert abs(swapped - ours["non0_f1"]) > 1e-3  # weighted F1 is not symmetric: the bug changes numbers
    with pytest.raises(ValueError, match="f1_arg_order"):
        sentiment_metrics(preds, truths, f1_arg_order="swapped")


def test_has0_and_non0_conventions(scores):
    preds, truths = scores
    t, p = truths.ravel(), preds.ravel()
    m = sentiment_metrics(preds, truths)
    nz = t != 0
    assert m["non0_acc2"] == pytest.approx(np.mean((t[nz] > 0) == (p[nz] > 0)))
    assert m["has0_acc2"] == pytest.approx(np.mean((t >= 0) == (p >= 0)))
    assert m["has0_f1"] == pytest.approx(f1_score(t >= 0, p >= 0, average="weighted"))
    assert m["has0_acc2"] != m["non0_acc2"]
    assert m["mae"] == pytest.approx(np.abs(p - t).mean())
    assert m["corr"] == pytest.approx(np.corrcoef(p, t)[0, 1], abs=1e-6)


def test_acc7_rounds_half_to_even_and_clips():
    truths = np.array([0.0, 2.0, 2.0, 3.0, -3.0, 1.0])
    preds = np.array(
        [0.5, 2.5, 1.5, 9.0, -4.0, 0.5]
    )  # 0.5->0, 2.5->2, 1.5->2, clip 9->3, clip -4->-3, 0.5->0
    m = sentiment_metrics(preds, truths)
    assert m["acc7"] == pytest.approx(5 / 6)
    assert m["acc5"] == pytest.approx(5 / 6)  # with +-2 clipping, 3 and 9 both become 2


def test_constant_predictions_give_nan_correlation():
    assert np.isnan(sentiment_metrics(np.zeros(10), np.linspace(-1, 1, 10))["corr"])
    with pytest.raises(ValueError, match="same"):
        sentiment_metrics(np.zeros(3), np.zeros(4))


def test_emotion_metrics_match_sklearn_per_emotion():
    rng = np.random.default_rng(1)
    labels = np.zeros((300, 4), dtype=np.int64)
    labels[np.arange(300), rng.integers(0, 4, 300)] = 1
    logits = rng.normal(size=(300, 8)) + 1.5 * np.eye(2)[labels].reshape(300, 8)
    m = emotion_metrics(torch.from_numpy(logits), torch.from_numpy(labels))
    pred = logits.reshape(300, 4, 2).argmax(-1)
    for e, name in enumerate(["neutral", "happy", "sad", "angry"]):
        assert m[f"{name}_acc"] == pytest.approx(accuracy_score(labels[:, e], pred[:, e]))
        assert m[f"{name}_f1"] == pytest.approx(f1_score(labels[:, e], pred[:, e], average="weighted"))
    assert m["mean_acc"] == pytest.approx(
        np.mean([m[f"{n}_acc"] for n in ["neutral", "happy", "sad", "angry"]])
    )
    one_hot = np.eye(2)[labels]
    assert emotion_metrics(logits.reshape(300, 4, 2), one_hot) == m
    with pytest.raises(ValueError, match="logits"):
        emotion_metrics(np.zeros((5, 6)), labels[:5])


def test_weighted_accuracy_by_hand_and_against_sklearn():
    # confusion table of one emotion: P = 4 present (TP 3, FN 1), N = 16 absent (TN 12, FP 4)
    truth = np.array([1] * 4 + [0] * 16)
    pred = np.array([1, 1, 1, 0] + [0] * 12 + [1] * 4)
    # (TP * N / P + TN) / (2N) = (3 * 16 / 4 + 12) / 32 = 0.75, i.e. (3/4 + 12/16) / 2; plain accuracy 15/20
    assert weighted_accuracy(truth, pred) == pytest.approx(0.75)
    assert accuracy_score(truth, pred) == pytest.approx(0.75)
    pred[:2] = 0  # TP 1: (1 * 4 + 12) / 32 = 0.5 while plain accuracy is 13/20 = 0.65
    assert weighted_accuracy(truth, pred) == pytest.approx(0.5)
    assert weighted_accuracy(truth, np.zeros(20)) == pytest.approx(0.5)  # "always absent": 80% accurate, 0.5
    assert np.isnan(weighted_accuracy(np.zeros(5), np.zeros(5)))  # one class only: undefined
    rng = np.random.default_rng(3)
    for _ in range(5):
        t, p = rng.random(200) < 0.2, rng.random(200) < 0.3
        assert weighted_accuracy(t, p) == pytest.approx(balanced_accuracy_score(t, p))


def test_emotion_metrics_report_the_weighted_accuracy_per_emotion():
    rng = np.random.default_rng(2)
    labels = (rng.random((300, 4)) < [0.2, 0.15, 0.1, 0.1]).astype(np.int64)
    logits = rng.normal(size=(300, 8)) + 1.2 * np.eye(2)[labels].reshape(300, 8)
    m = emotion_metrics(logits, labels)
    pred = logits.reshape(300, 4, 2).argmax(-1)
    for e, name in enumerate(["neutral", "happy", "sad", "angry"]):
        assert m[f"{name}_wacc"] == pytest.approx(balanced_accuracy_score(labels[:, e], pred[:, e]))
        assert m[f"{name}_wacc"] != pytest.approx(m[f"{name}_acc"])  # skewed labels: they differ
    names = ["neutral", "happy", "sad", "angry"]
    assert m["mean_wacc"] == pytest.approx(np.mean([m[f"{n}_wacc"] for n in names]))


def test_task_losses():
    logits = torch.randn(6, 8)
    labels = torch.randint(0, 2, (6, 4))
    manual = np.mean(
        [
            torch.nn.functional.cross_entropy(logits[i, 2 * e : 2 * e + 2][None], labels[i, e][None]).item()
            for i in range(6)
            for e in range(4)
        ]
    )
    assert emotion_loss(logits, labels).item() == pytest.approx(manual, rel=1e-5)
    assert task_loss("iemocap") is emotion_loss
    preds, truths = torch.randn(5, 1), torch.randn(5, 1)
    assert task_loss("mosi")(preds, truths).item() == pytest.approx((preds - truths).abs().mean().item())
    assert task_metrics("mosei") is sentiment_metrics
    with pytest.raises(ValueError, match="dataset"):
        task_loss("ravdess")


def test_constant_predictor_metrics_match_a_hand_count():
    from affect_lib.metrics import constant_predictor_metrics

    train = np.array([[-1.0], [0.5], [2.0], [1.0], [0.2]])  # median 0.5: predicts "positive" everywhere
    test = np.array([[1.0], [-2.0], [0.0], [3.0], [0.4]])
    got = constant_predictor_metrics("mosei", train, test)
    assert got["non0_acc2"] == pytest.approx(3 / 4)  # non-zero labels: 3 positive of 4
    assert got["mae"] == pytest.approx(np.mean([0.5, 2.5, 0.5, 2.5, 0.1]))
    labels = np.zeros((4, 4), dtype=int)
    labels[0, 1] = labels[1, 2] = 1  # every emotion is mostly absent
    emo = constant_predictor_metrics("iemocap", labels, labels)
    assert emo["mean_acc"] == pytest.approx(np.mean([1.0, 0.75, 0.75, 1.0]))
