"""Distributed search: ``python -m core worker`` processes sharing one study in PostgreSQL."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from core.search.study import BASELINE
from core.search.counting import counted, counts
from core.search.storage import open_storage
from tests.pg_support import postgres_server

ROOT = Path(__file__).resolve().parents[1]
HEARTBEAT = ["--heartbeat", "1", "--grace", "3"]


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


def _worker(url, study, trials, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "core", "worker", "--storage", url, "--study", study,
         "--trials", str(trials), "--method", BASELINE, "--device", "cpu", *HEARTBEAT, *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _trials(url, study):
    storage = open_storage(url, heartbeat_interval=1, grace_period=3)
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


def _numbers(stdout: str) -> list[int]:
    return [int(n) for n in re.findall(r"trial\s+(\d+)", stdout)]


@pytest.mark.timeout(240)
def test_two_workers_share_one_study(pg_url):
    workers = [_worker(pg_url, "shared", 4, "--epochs", "1") for _ in range(2)]
    outputs = [w.communicate(timeout=200) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-2000:]
    trials = _trials(pg_url, "shared")
    c = counts(trials)
    assert (c.finished, c.running, c.waiting) == (4, 0, 0)
    done = [_numbers(out) for out, _ in outputs]
    # every counted trial was reported by exactly one worker
    assert sorted(done[0] + done[1]) == [t.number for t in counted(trials)]
    assert not set(done[0]) & set(done[1])
    assert all(t.state == TrialState.COMPLETE for t in counted(trials))


@pytest.mark.timeout(240)
def test_a_killed_workers_trial_is_failed_and_retried(pg_url):
    # The first worker runs trial after trial (a long study), so that the kill lands inside one.
    slow = ["--epochs", "3", "--batch-size", "20"]
    first = _worker(pg_url, "killed", 50, *slow)
    deadline = time.monotonic() + 120
    running = []
    while not running and time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            # A trial that has sampled its params but not reported its first epoch: the kill lands
            # inside its training. (Before sampling, the retry would rightly sample afresh.)
            running = [t for t in _trials(pg_url, "killed") if t.state == TrialState.RUNNING
                       and t.params and not t.intermediate_values]
        except KeyError:   # the study is not created yet
            continue
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert running, "the first worker never started a trial"
    before = _trials(pg_url, "killed")
    stuck = [t for t in before if t.state == TrialState.RUNNING]
    assert len(stuck) == 1 and stuck[0].params, "killed mid-trial, after sampling"
    finished_before = counts(before).finished

    # A new worker asked for one more trial than the study has finished: it has to wait for the
    # grace period, see the killed trial fail, and run its retry.
    # The kill may land anywhere in the trial's first beat; every point of it leaves a trial
    # that is failed (tests/test_search_heartbeat.py takes each point in turn).
    second = _worker(pg_url, "killed", finished_before + 1, *slow)
    try:
        out, err = second.communicate(timeout=200)
    except subprocess.TimeoutExpired:
        second.kill()
        _, err = second.communicate()
        pytest.fail(f"the second worker hung waiting for the killed trial: {err[-2000:]}")
    assert second.returncode == 0, err[-2000:]
    trials = _trials(pg_url, "killed")
    assert not [t for t in trials if t.state == TrialState.RUNNING], "no trial stuck in RUNNING"
    killed = next(t for t in trials if t.number == stuck[0].number)
    assert killed.state == TrialState.FAIL
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert counts(trials).finished == finished_before + 1 and _numbers(out) == [retry.number]
