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


def until_stopped(started: threading.Event | None = None):
    """A job that never yields and ends only when its worker's stop_requested() says so, as
    train() does before every batch."""
    from core.training.runner import stop_requested
    if started is not None:
        started.set()
    while not stop_requested():
        threading.Event().wait(0.005)
    return
    yield


def test_stop_requested_reaches_a_job_that_is_inside_an_item():
    from core.training.runner import stop_requested
    runner = Runner(max_concurrent=1)
    started = threading.Event()
    job = runner.submit(lambda: until_stopped(started), owner="a")
    assert started.wait(WAIT)
    assert not stop_requested(), "outside a worker thread nothing is ever stopped"
    job.stop()
    assert job.wait(WAIT) and job.status == "stopped"


def test_one_job_per_session_and_page():
    from core.training.runner import Refused
    runner = Runner(max_concurrent=1, max_queued=10)
    first = runner.submit(until_stopped, owner="a", page="train")
    with pytest.raises(Refused, match="already have a run on this page"):
        runner.submit(until_stopped, owner="a", page="train")
    other_page = runner.submit(until_stopped, owner="a", page="compare")
    other_owner = runner.submit(until_stopped, owner="b", page="train")
    assert runner.counts() == (1, 2)
    first.stop()
    assert first.wait(WAIT)
    again = runner.submit(until_stopped, owner="a", page="train")   # the slot is free again
    for job in (other_page, other_owner, again):
        job.stop()
        assert job.wait(WAIT)


def test_fair_order_puts_owners_without_a_running_job_first():
    runner = Runner(max_concurrent=1, max_queued=10)
    running = runner.submit(until_stopped, owner="a", page="train")
    a_again = runner.submit(until_stopped, owner="a", page="compare")
    b = runner.submit(until_stopped, owner="b", page="train")
    assert (b.queue_position(), a_again.queue_position()) == (1, 2)
    running.stop()
    assert running.wait(WAIT)
    assert b.status == "running" and a_again.status == "queued"
    for job in (a_again, b):
        job.stop()
        assert job.wait(WAIT)


def test_jobs_over_the_wall_time_limit_are_stopped_with_a_reason():
    runner = Runner(max_concurrent=2, max_job_s=60, owner_grace_s=1e6, janitor_interval_s=3600)
    job = runner.submit(until_stopped, owner="a")
    assert runner.reap(now=job.started_at + 30) == []
    assert runner.reap(now=job.started_at + 61) == [job]
    assert job.wait(WAIT) and job.status == "stopped"
    assert "limit of 60 s" in job.stop_reason


def test_handles_find_jobs_and_only_the_starting_browser_adopts_them():
    runner = Runner(max_concurrent=1)
    job = runner.submit(lambda: iter([1]), owner="session-1", browser="browser-A", page="train")
    assert runner.find(job.handle) is job and runner.find("no-such-handle") is None
    assert len(job.handle) >= 16, "unguessable"
    assert not runner.adopt(job, "session-3", "browser-B") and job.owner == "session-1"
    assert not runner.adopt(job, "session-3", None) and job.owner == "session-1"
    assert runner.adopt(job, "session-2", "browser-A") and job.owner == "session-2"
    assert job.wait(WAIT)
    assert runner.find(job.handle) is job, "an ended job can still be re-attached"
    assert runner.browser_jobs("browser-A", "train") == [job]
    assert runner.browser_jobs("browser-B") == [] and runner.browser_jobs(None) == []


def test_load_100_scripted_sessions_cannot_queue_a_visitor_beyond_the_cap():
    """Issue 13: 100 scripted sessions pressing Start (then retrying whenever refused) must not
    put a real visitor at position 99. With M slots and a queue of Q, the visitor is either told
    at once that the server is busy, or queued at position <= Q; jobs are then ended by the
    wall-time limit, so the visitor starts after at most ceil(Q / M) + 1 limits."""
    from core.training.runner import Refused
    M, Q = 2, 4
    runner = Runner(max_concurrent=M, max_queued=Q, max_job_s=100, owner_grace_s=1e6,
                    janitor_interval_s=3600)
    accepted, refused = [], 0
    for i in range(100):
        try:
            accepted.append(runner.submit(until_stopped, owner=f"bot-{i}", page="train"))
        except Refused as error:
            assert "server is busy" in str(error)
            refused += 1
    assert (len(accepted), refused) == (M + Q, 100 - M - Q)
    with pytest.raises(Refused, match="busy"):
        runner.submit(until_stopped, owner="visitor", page="train")

    # Time passes in wall-time limits (reap takes the clock). After the first limit the
    # visitor presses Start and gets a free place; from then on every bot that lost its slot
    # retries at once, each round, filling the queue again.
    import time
    clock, stamped = time.time(), set()

    def next_limit():
        nonlocal clock
        for job in runner.jobs():   # jobs that started since the last limit start "now"
            if job.status == "running" and job not in stamped:
                job.started_at = clock
                stamped.add(job)
        clock += runner.max_job_s + 1
        for job in runner.reap(now=clock):
            assert job.wait(WAIT)

    next_limit()
    visitor = runner.submit(until_stopped, owner="visitor", page="train")
    assert visitor.queue_position() <= Q
    rounds = 0
    while visitor.status != "running":
        for i in range(100):
            try:
                runner.submit(until_stopped, owner=f"bot-{i}", page="train")
            except Refused:
                pass
        assert visitor.queue_position() <= Q
        next_limit()
        rounds += 1
        assert rounds <= -(-Q // M), f"visitor still waiting after {rounds} wall-time limits"
    for job in runner.jobs():
        job.stop()
        assert job.wait(WAIT)


def test_worker_threads_run_at_a_lower_priority_than_the_server():
    import os
    from core.training.runner import WORKER_NICE
    if not hasattr(os, "getpriority"):
        pytest.skip("no per-thread priorities on this platform")
    seen = []

    def niceness():
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        yield seen[-1]

    job = Runner().submit(niceness, owner="a")
    assert job.wait(WAIT) and job.status == "finished"
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [min(19, mine + WORKER_NICE)]


def test_one_visitor_holds_at_most_max_per_visitor_jobs_across_sessions():
    """Issue 20: each tab is a session, so one person with a few tabs filled every slot. Jobs
    count against each key of their visitor (a browser, an address), whatever the session."""
    from core.training.runner import Refused
    runner = Runner(max_concurrent=2, max_queued=10, max_per_visitor=1)
    tab1 = runner.submit(until_stopped, owner="tab-1", page="train", visitor=("browser:A",))
    with pytest.raises(Refused, match="in this or other tabs"):
        runner.submit(until_stopped, owner="tab-2", page="train", visitor=("browser:A",))
    with pytest.raises(Refused, match="allows one visitor"):   # another page, same person
        runner.submit(until_stopped, owner="tab-2", page="compare", visitor=("browser:A",))
    # another browser at the same trusted address is the same person; another is not
    at_home = runner.submit(until_stopped, owner="tab-3", visitor=("browser:B", "address:1.2.3.4"))
    with pytest.raises(Refused):
        runner.submit(until_stopped, owner="tab-4", visitor=("browser:C", "address:1.2.3.4"))
    other = runner.submit(until_stopped, owner="tab-5", visitor=("browser:D",))
    anonymous = [runner.submit(until_stopped, owner=f"anon-{i}") for i in range(2)]
    assert runner.visitor_count("browser:A") == 1 and runner.visitor_count("address:1.2.3.4") == 1
    tab1.stop()
    assert tab1.wait(WAIT)
    again = runner.submit(until_stopped, owner="tab-2", page="train", visitor=("browser:A",))
    for job in (at_home, other, again, *anonymous):
        job.stop()
        assert job.wait(WAIT)


def test_fair_order_serves_visitors_not_tabs():
    runner = Runner(max_concurrent=1, max_queued=10, max_per_visitor=5)
    running = runner.submit(until_stopped, owner="tab-1", visitor=("browser:A",))
    a_tab2 = runner.submit(until_stopped, owner="tab-2", visitor=("browser:A",))
    b = runner.submit(until_stopped, owner="tab-3", visitor=("browser:B",))
    assert (b.queue_position(), a_tab2.queue_position()) == (1, 2), \
        "A's second tab is not a new visitor"
    for job in (running, a_tab2, b):
        job.stop()
        assert job.wait(WAIT)


def test_a_finished_job_reports_its_time_against_its_estimate(monkeypatch):
    from core import pace
    reports = []
    monkeypatch.setattr(pace, "record_finished", lambda est, measured: reports.append((est, measured)))
    runner = Runner(max_concurrent=1)
    done = runner.submit(lambda: iter([1, 2]), owner="a", estimated_s=12.5)
    assert done.wait(WAIT) and done.estimated_s == 12.5
    stopped = runner.submit(until_stopped, owner="a", estimated_s=99.0)
    stopped.stop()
    assert stopped.wait(WAIT)
    assert [est for est, _ in reports] == [12.5], "a stopped job says nothing of the pace"
    assert reports[0][1] == pytest.approx(done.finished_at - done.started_at)


def test_before_its_first_item_a_jobs_eta_is_what_is_left_of_its_estimate():
    runner = Runner(max_concurrent=1)
    started = threading.Event()
    job = runner.submit(lambda: until_stopped(started), owner="a", estimated_s=1e6)
    assert started.wait(WAIT)
    assert 1e6 - 3600 < job.eta_seconds() <= 1e6
    unknown = runner.submit(lambda: iter([]), owner="b")
    assert unknown.eta_seconds() is None, "queued, and no estimate"
    job.stop()
    assert job.wait(WAIT) and unknown.wait(WAIT) and job.eta_seconds() is None
