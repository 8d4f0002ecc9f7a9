"""A job's demo controls: a demo pace that makes each epoch last at least so long (waiting on
the stop event, so Stop acts at once), pause / step / resume between items, the pace's seconds
in the wall-time refusal, and neither pauses nor paced waits taught to the server's pace."""

import threading
import time

import pytest

from core import budget
from core.config import RunConfig
from core.server_settings import ServerSettings
from core.training import job as job_module
from core.training.runner import MAX_DEMO_PACE_S, Runner, demo_paced

pytestmark = pytest.mark.timeout(120)


def wait_for(cond, what: str, limit_s: float = 30):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    pytest.fail(f"gave up waiting for {what}")


def test_demo_pace_waits_out_what_is_left_of_each_items_time(monkeypatch):
    """On a fake clock: an item that took 0.3 s of a 1 s pace waits 0.7 s, one that took
    longer than the pace waits nothing, and the clock restarts after each wait."""
    clock = {"t": 100.0}
    waits = []
    monkeypatch.setattr(job_module, "_clock", lambda: clock["t"])

    def wait(seconds):
        waits.append(round(seconds, 9))
        clock["t"] += seconds
    monkeypatch.setattr(job_module, "_wait_unless_stopped", wait)

    def items():   # each item "computes" for its own time before it is yielded
        for cost in (0.3, 1.5, 0.0, 1.0):
            clock["t"] += cost
            yield cost
    assert list(demo_paced(items(), 1.0)) == [0.3, 1.5, 0.0, 1.0]
    assert waits == [0.7, 1.0]
    waits.clear()
    assert list(demo_paced(items(), 0)) == [0.3, 1.5, 0.0, 1.0] and waits == []


@pytest.mark.parametrize("bad", [-0.5, MAX_DEMO_PACE_S + 1, float("nan")])
def test_a_demo_pace_out_of_bounds_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="demo pace"):
        list(demo_paced(iter([1]), bad))


def test_stop_ends_a_demo_pace_wait_at_once():
    runner = Runner(max_concurrent=1)
    job = runner.submit(lambda: demo_paced(iter(range(100)), MAX_DEMO_PACE_S), owner="a")
    wait_for(lambda: job.count() >= 1, "the first item")
    job.stop()
    # Stop acts on the wait's event: well inside one 10 s wait, with the first item kept
    assert job.wait(timeout=MAX_DEMO_PACE_S / 2)
    assert job.status == "stopped" and job.items() == [0]


def test_a_paced_jobs_waits_are_not_taught_to_the_server_pace(monkeypatch):
    taught = []
    from core import pace
    monkeypatch.setattr(pace, "record_finished", lambda est, measured: taught.append(measured))
    job = Runner().submit(lambda: demo_paced(iter(range(3)), 0.2), owner="a", estimated_s=1.0)
    assert job.wait(60) and job.status == "finished"
    assert job.paced_s >= 3 * 0.15   # three waits of about 0.2 s
    wall = job.finished_at - job.started_at
    assert taught == [pytest.approx(wall - job.paced_s, abs=1e-6)] and taught[0] < wall


def gated():
    """A job whose iterator yields 10 items once ``go`` is set (so it can be paused first)."""
    go = threading.Event()

    def make():
        go.wait()
        yield from range(10)
    return go, make


def test_pause_holds_between_items_step_lets_one_through_resume_finishes():
    runner = Runner(max_concurrent=1)
    go, make = gated()
    job = runner.submit(make, owner="a")
    job.pause()
    assert job.paused and not job.holding
    go.set()
    wait_for(lambda: job.holding, "the hold after the first item")
    assert job.count() == 1 and job.status == "running" and not job.done()
    job.step()
    wait_for(lambda: job.holding and job.count() == 2, "one step")
    assert job.paused and job.count() == 2
    job.step()
    wait_for(lambda: job.holding and job.count() == 3, "a second step")
    held = job.paused_s()
    job.resume()
    assert job.wait(60) and job.status == "finished" and job.items() == list(range(10))
    assert not job.holding and job.held_s >= held > 0
    assert job.compute_s() <= job.finished_at - job.started_at - job.held_s + 1e-9


def test_step_on_a_running_job_pauses_it_after_the_next_item():
    runner = Runner(max_concurrent=1)
    go, make = gated()
    job = runner.submit(make, owner="a")
    job.step()
    assert not job.paused   # stepping: one item still to come
    go.set()
    wait_for(lambda: job.holding, "the hold after one item")
    assert job.count() == 1 and job.paused
    job.resume()
    assert job.wait(60) and job.count() == 10


def test_stop_and_the_wall_time_limit_end_a_pause():
    runner = Runner(max_concurrent=2, max_job_s=30)
    go, make = gated()
    stopped = runner.submit(make, owner="a")
    stopped.pause()
    go.set()
    wait_for(lambda: stopped.holding, "the hold")
    stopped.stop()
    assert stopped.wait(30) and stopped.status == "stopped" and stopped.items() == [0]
    # A pause keeps the job's slot, so its wall time keeps counting: the reaper ends it.
    go2, make2 = gated()
    overdue = runner.submit(make2, owner="b")
    overdue.pause()
    go2.set()
    wait_for(lambda: overdue.holding, "the second hold")
    assert overdue in runner.reap(now=overdue.started_at + 31)
    assert overdue.wait(30) and overdue.status == "stopped" and "limit" in overdue.stop_reason


class FixedPace:
    def seconds(self, work):
        return 2.0


def test_a_demo_pace_counts_in_the_wall_time_refusal():
    settings = ServerSettings(max_job_s=60)
    assert budget.train_plan(RunConfig(epochs=50), 0.5).min_s == 25.0
    assert budget.refusal(budget.train_plan(RunConfig(epochs=50), 1.0), settings,
                          FixedPace()) is None   # 50 s of pace, under the 60 s limit
    message = budget.refusal(budget.train_plan(RunConfig(epochs=100), 1.0), settings,
                             FixedPace())
    assert message and "at a demo pace of 1 s per epoch would need about 2 min at that pace" \
        in message
    # The pace alone, with no measured pace at hand, still counts.
    assert budget.refusal(budget.train_plan(RunConfig(epochs=100), 1.0), settings) is not None
    assert budget.refusal(budget.train_plan(RunConfig(epochs=100)), settings, FixedPace()) is None
