"""Chapter 40's run function: the constant predictor it is checked against, and its plain-data jobs."""

import pickle

import numpy as np
import pytest

from affect_lib.data.ravdess import ActorSplit
from affect_lib.experiments import AVRun, av_recipe, constant_accuracy, majority_baseline


def test_constant_accuracy_is_the_majority_training_label_on_the_test_labels():
    assert constant_accuracy([1, 1, 2], [1, 2, 2, 2]) == pytest.approx(0.25)
    assert constant_accuracy([3, 2], [2, 3]) == pytest.approx(0.5)  # a tie takes the smaller label


def test_majority_baseline_averages_over_the_splits():
    labels = np.array([0, 1, 1, 0, 0, 1])
    actors = np.array([1, 1, 2, 2, 3, 3])
    splits = [ActorSplit((1,), (2,), (3,)), ActorSplit((3,), (1,), (2,))]
    # split 1: train labels (0, 1) -> 0, test (0, 1) -> 0.5; split 2: train (0, 1) -> 0, test (1, 0) -> 0.5
    assert majority_baseline(labels, actors, splits) == pytest.approx(0.5)


def test_jobs_and_results_are_plain_data():
    split = ActorSplit((1, 2), (3,), (4,))
    assert pickle.loads(pickle.dumps(split)) == split
    run = AVRun(0.5, (1, 2), (1, 3), (0.4,), (), 1, 10)
    assert pickle.loads(pickle.dumps(run)) == run
    assert av_recipe("av_concat", {"train.epochs": 2}).train.epochs == 2
