"""The rehearsal's output checks fail on planted faults (the rehearsal itself runs in `make rehearsal`)."""

import json
import math

import pytest

from affect_lib import rehearsal


@pytest.mark.parametrize(
    ("test", "words"),
    [
        ({"loss": math.nan}, "test loss"),
        ({"mae": -0.1}, "test mae"),
        ({"accuracy": 1.5}, "test accuracy"),
        ({"corr": 1.2}, "test corr"),
    ],
)
def test_metrics_outside_their_ranges_fail(test, words):
    with pytest.raises(rehearsal.RehearsalError, match=words):
        rehearsal.check_metrics(test, where="run")


def test_sound_metrics_pass():
    rehearsal.check_metrics({"loss": 0.3, "mae": 0.3, "corr": math.nan, "accuracy": 0.5}, where="run")


def test_incomplete_run_folder_fails(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"test": {}}))
    with pytest.raises(rehearsal.RehearsalError, match="lacks"):
        rehearsal.check_run(tmp_path)
