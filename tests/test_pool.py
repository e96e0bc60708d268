"""Runs side by side: the same results from one process and from two workers."""

import torch

from affect_lib.data.synthetic_mult import write_standin
from affect_lib.models import fused_attention as fa
from affect_lib.mult_runs import train_mult_run
from affect_lib.pool import run_jobs


def test_two_workers_give_what_one_process_gives(tmp_path):
    path = write_standin(
        tmp_path, "mosei", aligned=False, sizes={"train": 48, "valid": 16, "test": 16}, lengths=(6, 12, 12)
    )
    jobs = [
        dict(
            model=m,
            dataset="mosei",
            path=str(path),
            aligned=False,
            seed=s,
            overrides={"train.epochs": 1},
            other_tests={"again": str(path)},
        )
        for m in ("late_fusion", "lmr_cbt")
        for s in (0, 1)
    ]
    threads = torch.get_num_threads()
    here = run_jobs(train_mult_run, jobs, workers=1)
    assert torch.get_num_threads() == threads  # the in-process path restores the caller's thread count
    apart = run_jobs(train_mult_run, jobs, workers=2)
    assert [r.test for r in here] == [r.test for r in apart]
    assert here[0].test != here[1].test  # the seeds differ, so a job that ignored its arguments would fail
    assert [len(r.history) for r in apart] == [1] * 4
    assert all(r.other_tests["again"] == r.test for r in apart)  # the same file scores the same


def test_workers_follow_this_process_fast_path_switch(tmp_path):
    path = write_standin(
        tmp_path, "mosei", aligned=False, sizes={"train": 32, "valid": 8, "test": 8}, lengths=(5, 9, 9)
    )
    jobs = [
        dict(
            model="lmr_cbt",
            dataset="mosei",
            path=str(path),
            aligned=False,
            seed=s,
            overrides={"train.epochs": 1},
        )
        for s in (0, 1)
    ]
    tests = {}
    for on, kernel in ((True, True), (False, False), (True, False)):  # the last: hashed draws, own attention
        with fa.enable(on, kernel=kernel):
            here, apart = (run_jobs(train_mult_run, jobs, workers=w) for w in (1, 2))
        assert [r.test for r in here] == [r.test for r in apart], (on, kernel)
        tests[on, kernel] = [r.test for r in here]
    assert tests[True, True] != tests[False, False]  # other dropout draws: the workers did switch
    assert fa.ENV not in __import__("os").environ or fa.enabled()  # the environment is restored
