"""The background runner: buffer, stop, failure, the concurrency cap with its FIFO queue, owners."""

import threading

import pytest

from core.training.runner import Runner

pytestmark = pytest.mark.timeout(60)
WAIT = 20  # generous upper bound for a worker thread to react; never a timing assertion


def gated(n, gate: threading.Event, closed: list | None = None):
    """Yield 0..n-1, waiting for ``gate`` before each item after the first."""
    try:
        for i in range(n):
            if i:
                assert gate.wait(WAIT), "gate never opened"
            yield i
    finally:
        if closed is not None:
            closed.append(True)


def test_items_are_collected_in_order_and_status_finishes():
    runner = Runner(max_concurrent=2)
    job = runner.submit(lambda: iter(range(5)), owner="a", label="five", total=5)
    assert job.wait(WAIT)
    assert job.status == "finished" and job.error is None
    assert job.items() == [0, 1, 2, 3, 4]
    assert job.started_at is not None and job.finished_at >= job.started_at
    snapshot = job.items()
    snapshot.append("mine")
    assert job.items() == [0, 1, 2, 3, 4], "items() must hand out a copy"
    assert runner.jobs() == []


def test_stop_closes_the_generator_and_keeps_what_was_yielded():
    runner = Runner(max_concurrent=1)
    gate, closed = threading.Event(), []
    job = runner.submit(lambda: gated(1000, gate, closed), owner="a", total=1000)
    while job.count() == 0:
        threading.Event().wait(0.01)
    job.stop()
    gate.set()
    assert job.wait(WAIT)
    assert job.status == "stopped"
    assert closed == [True], "the generator's cleanup must run on stop"
    assert 1 <= len(job.items()) <= 2   # the item in flight when stop came may still land


def test_exception_becomes_failed_status_with_message():
    def boom():
        yield 1
        raise RuntimeError("exploded at item 2")

    job = Runner().submit(boom, owner="a")
    assert job.wait(WAIT)
    assert job.status == "failed"
    assert "RuntimeError" in job.error and "exploded at item 2" in job.error
    assert job.items() == [1]


def test_failure_while_building_the_iterator_is_reported_too():
    def make():
        raise ValueError("bad config")

    job = Runner().submit(make, owner="a")
    assert job.wait(WAIT)
    assert job.status == "failed" and "bad config" in job.error


def test_cap_queues_jobs_fifo_and_a_queued_job_can_be_stopped():
    runner = Runner(max_concurrent=1)
    gate = threading.Event()
    first = runner.submit(lambda: gated(2, gate), owner="a", label="first")
    second = runner.submit(lambda: iter([2]), owner="b", label="second")
    third = runner.submit(lambda: iter([3]), owner="c", label="third")
    assert first.queue_position() is None
    assert (second.queue_position(), third.queue_position()) == (1, 2)
    assert (second.status, third.status) == ("queued", "queued")
    assert runner.counts() == (1, 2)

    second.stop()
    assert second.done() and second.status == "stopped" and second.items() == []
    assert third.queue_position() == 1

    gate.set()
    assert first.wait(WAIT) and third.wait(WAIT)
    assert (first.status, third.status) == ("finished", "finished")
    assert third.items() == [3]
    assert third.started_at >= first.finished_at, "the cap allows one job at a time"


def test_worker_sets_its_own_torch_thread_count():
    torch = pytest.importorskip("torch")

    def report():
        yield torch.get_num_threads()

    runner = Runner(max_concurrent=2)
    one = runner.submit(report, owner="a", threads=1)
    two = runner.submit(report, owner="a", threads=2)
    assert one.wait(WAIT) and two.wait(WAIT)
    assert one.items() == [1] and two.items() == [2]


def test_stop_owner_stops_only_that_owners_jobs():
    runner = Runner(max_concurrent=3)
    gate = threading.Event()
    mine = [runner.submit(lambda: gated(100, gate), owner="me") for _ in range(2)]
    theirs = runner.submit(lambda: gated(3, gate), owner="them")
    runner.stop_owner("me")
    gate.set()
    for job in mine + [theirs]:
        assert job.wait(WAIT)
    assert [j.status for j in mine] == ["stopped", "stopped"]
    assert theirs.status == "finished" and theirs.items() == [0, 1, 2]


def test_janitor_reaps_jobs_of_owners_that_went_away():
    runner = Runner(max_concurrent=4, owner_grace_s=5, janitor_interval_s=3600)
    gate = threading.Event()
    alive = {"here": True, "gone": False, "unknown": None}
    runner.set_owner_check(lambda owner: alive[owner])
    here = runner.submit(lambda: gated(3, gate), owner="here")
    gone = runner.submit(lambda: gated(3, gate), owner="gone")
    unknown = runner.submit(lambda: gated(3, gate), owner="unknown")
    t0 = here.submitted_at
    assert runner.reap(now=t0 + 1) == [], "a brief disconnect is within the grace period"
    reaped = runner.reap(now=t0 + 7)
    # "gone" was first seen gone at t0+1; "unknown" falls back to its last poll at t0.
    assert set(reaped) == {gone, unknown}
    runner.touch("here")
    gate.set()
    for job in (here, gone, unknown):
        assert job.wait(WAIT)
    assert (here.status, gone.status, unknown.status) == ("finished", "stopped", "stopped")


def test_touch_keeps_an_owner_without_a_check_alive():
    runner = Runner(max_concurrent=1, owner_grace_s=10, janitor_interval_s=3600)
    gate = threading.Event()
    job = runner.submit(lambda: gated(3, gate), owner="poller")
    runner.touch("poller")
    assert runner.reap(now=job.submitted_at + 5) == []
    assert runner.reap(now=job.submitted_at + 60) == [job]
    gate.set()
    assert job.wait(WAIT) and job.status == "stopped"


def test_eta_extrapolates_from_pace():
    runner = Runner()
    gate = threading.Event()
    job = runner.submit(lambda: gated(4, gate), owner="a", total=4)
    while job.count() == 0:
        threading.Event().wait(0.01)
    eta = job.eta_seconds()
    assert eta is not None and eta >= 0
    gate.set()
    assert job.wait(WAIT) and job.eta_seconds() is None
