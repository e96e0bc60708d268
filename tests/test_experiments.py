"""Chapter 40's run function: the constant predictor it is checked against, and its plain-data jobs."""

import pickle
import types

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


def test_control_accuracy_averages_the_named_re_pairings_on_the_kept_clips():
    from affect_lib.experiments import control_accuracy

    controls = {
        "voice swapped 0": (1, 0, 0, 3),
        "voice swapped 1": (1, 1, 2, 0),
        "face swapped 0": (0, 0, 0, 0),
    }
    run = AVRun(0.75, (1, 1, 2, 0), (1, 1, 2, 3), (), (), 1, 10, controls)
    assert control_accuracy(run) == pytest.approx(0.75)
    # voice swapped: order 0 gets clips 0 and 3 right, order 1 clips 0, 1 and 2: mean (2/4 + 3/4) / 2
    assert control_accuracy(run, "voice swapped") == pytest.approx(0.625)
    # on clips 2 and 3 only: order 0 gets clip 3, order 1 clip 2
    assert control_accuracy(run, "voice swapped", keep=[False, False, True, True]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="agreement removed"):
        control_accuracy(run, "agreement removed")


def test_train_av_gives_the_released_variant_its_quirks_as_the_command_line_does(monkeypatch):
    from affect_lib import experiments, recipes
    from affect_lib.runs.data import released_quirks

    seen = []

    class Stop(Exception):
        pass

    def clips(*args, **kwargs):
        seen.append(kwargs)
        if len(seen) == 2:
            raise Stop

    corpus = types.SimpleNamespace(frames=None, mfcc=None, labels=None, actors=np.arange(1, 25))
    monkeypatch.setattr(experiments, "load_corpus", lambda *a: corpus)
    monkeypatch.setattr(experiments, "RavdessClips", clips)
    split = ActorSplit(train=tuple(range(1, 17)), valid=(17, 18, 19, 20), test=(21, 22, 23, 24))
    for variant, on in ((None, False), ("released", True)):
        seen.clear()
        with pytest.raises(Stop):
            experiments.train_av(model="cfn_sr", root="x", split=split, seed=0, variant=variant)
        plain, train = seen
        assert plain == {"bgr_input": on}
        assert {k: train[k] for k in ("per_frame_augmentation", "bgr_input")} == {
            "per_frame_augmentation": on,
            "bgr_input": on,
        }
        assert released_quirks(recipes.get("cfn_sr", "ravdess", variant=variant))["bgr_input"] is on
