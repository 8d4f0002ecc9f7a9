"""Stop acts within a batch: train() and train_population() poll should_stop before each one,
and a runner job's Stop reaches them without the page passing anything."""

import threading

import pytest

from core.config import RunConfig
from core.training.population import train_population
from core.training.runner import Runner
from core.training.train import train

pytestmark = pytest.mark.timeout(120)
BATCHES = 4000 // 500


class StopAfter:
    """True from the ``n``-th call on; counts every call."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


def config(**kw):
    return RunConfig(hidden=(8,), batch_size=500, epochs=5, **kw)


def test_train_polls_before_every_batch_and_drops_the_partial_epoch(mnist1d):
    never = StopAfter(10**9)
    assert len(list(train(config(), mnist1d, should_stop=never))) == 5
    assert never.calls == 5 * BATCHES
    stop = StopAfter(BATCHES + 3)          # in the middle of the second epoch
    epochs = list(train(config(), mnist1d, should_stop=stop))
    assert [m.epoch for m in epochs] == [1] and stop.calls == BATCHES + 3


def test_population_polls_before_every_batch_and_drops_the_partial_epoch(mnist1d):
    stop = StopAfter(2 * BATCHES + 1)      # the first batch of the third epoch
    epochs = list(train_population([config(seed=0), config(seed=1)], mnist1d, should_stop=stop))
    assert len(epochs) == 2 and stop.calls == 2 * BATCHES + 1


def test_a_runner_stop_ends_training_inside_an_epoch(mnist1d):
    """The job's epoch is made long (one sample a batch); Stop must end it before the epoch
    ends, which only a per-batch check can do."""
    runner = Runner(max_concurrent=1)
    batches = []
    polled = threading.Event()

    def watched():
        from core.training.runner import stop_requested
        batches.append(1)
        polled.set()
        return stop_requested()

    slow = RunConfig(hidden=(8,), batch_size=1, epochs=1)
    job = runner.submit(lambda: train(slow, mnist1d, should_stop=watched), owner="a")
    assert polled.wait(60)
    job.stop()
    assert job.wait(60) and job.status == "stopped" and job.items() == []
    assert len(batches) < 4000, "stopped within the epoch"



def test_a_stopped_job_never_hands_a_cut_short_run_to_its_caller(mnist1d):
    """Without should_stop, training inside a job raises JobStopped on Stop (Stop, a closed tab,
    the time limit) rather than ending quietly: a caller such as a search, which would record
    whatever curve it got as a finished trial, never sees the partial one, and a caller's
    ``except Exception`` does not swallow it."""
    runner = Runner(max_concurrent=1)
    recorded, started = [], threading.Event()

    def search_like():
        for seed in range(3):
            try:
                started.set()
                curve = list(train(RunConfig(hidden=(8,), batch_size=1, epochs=2, seed=seed),
                                   mnist1d))
            except Exception:          # a failed trial: note it and go on
                recorded.append("failed")
                continue
            recorded.append(len(curve))
            yield curve

    job = runner.submit(search_like, owner="a")
    assert started.wait(60)
    job.stop()
    assert job.wait(60) and job.status == "stopped", job.error
    assert recorded == [] and job.items() == []
