"""Background jobs for the app: training runs in worker threads that outlive a Streamlit rerun.

Streamlit reruns a page script on every interaction, which would kill a training loop running
inside it. A :class:`~core.training.job.Job` runs ``make_iterator()`` in a worker thread owned
by this module and collects every item it yields in a thread-safe buffer; the page keeps the job
in its session state and polls ``Job.items``. This module is the pool; the job's own side (and
the stop signal training polls) is :mod:`core.training.job`. Nothing here imports streamlit.

The server protects itself:

* at most ``MAX_CONCURRENT_JOBS`` jobs run at once; the rest wait in a queue of at most
  ``MAX_QUEUED_JOBS`` and report their position; a submit beyond it raises :class:`Refused`
  ("server busy") at once rather than queueing a visitor behind a hundred others;
* one browser session holds at most one queued-or-running job per page, and one visitor (all
  their tabs: each key of a job's ``visitor``, a browser or a client address, see
  ``ui.session.visitor_keys``) at most ``MAX_JOBS_PER_VISITOR`` (:class:`Refused`);
* the queue is fair: the next job is the oldest of a visitor with the fewest running jobs, then
  of the visitor served longest ago;
* a job running longer than ``MAX_JOB_SECONDS`` is stopped (its results so far kept); a job
  that finishes reports its measured time against its estimate to :mod:`core.pace`;
* each worker sets ``torch.set_num_threads(threads)`` itself, so N jobs use about N*threads cores;
* each worker thread runs at a lower CPU priority (nice ``WORKER_NICE``): on a container with
  one CPU the jobs then yield it to the thread that serves every visitor's page (bench/RESULTS.md
  "Capacity");
* a job can be paused between items and stepped one item at a time (:meth:`Job.pause`); a
  paused job keeps its slot and its wall-time limit keeps counting;
* a stop acts within a batch: ``train()`` and ``train_population()`` given no ``should_stop``
  poll ``raise_if_stopped`` before every batch, which raises ``JobStopped`` out of whatever
  loop runs them;
* jobs whose owner (a browser session) went away are stopped by a janitor thread: an owner is
  gone when the liveness check registered with :func:`set_owner_check` says so for longer than
  ``OWNER_GRACE_S``, or, without a check, when it has not called :func:`touch` for that long.

Each job has a ``handle``, an unguessable token a page can put in its URL: after a reload the
page finds the job again (:meth:`Runner.find`), and the browser that started it (``browser``, a
key only that browser presents) takes it back (:meth:`Runner.adopt`); anyone else may watch.
The settings come from :mod:`core.server_settings`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Callable, Iterator

from .. import pace
from ..server_settings import jobs_per_visitor, read_settings
from .job import (MAX_DEMO_PACE_S, WORKER_NICE, Job, JobStopped, demo_paced,  # noqa: F401
                  raise_if_stopped, stop_requested)

log = logging.getLogger(__name__)

KEEP_HANDLES = 200             # finished jobs a page can still re-attach to (newest kept)


class Refused(RuntimeError):
    """A submit the runner will not queue; the message is meant for the visitor."""


class Runner:
    """A process-wide pool: a cap on concurrent jobs, a bounded fair queue, and the janitor."""

    def __init__(self, max_concurrent: int | None = None, owner_grace_s: float | None = None,
                 janitor_interval_s: float = 2.0, *, max_queued: int | None = None,
                 max_job_s: float | None = None, max_per_visitor: int | None = None):
        settings, _ = read_settings()   # the app refuses to start jobs while any is invalid
        pick = lambda given, default: default if given is None else given  # noqa: E731
        self.max_concurrent = int(pick(max_concurrent, settings.max_concurrent_jobs))
        self.owner_grace_s = float(pick(owner_grace_s, settings.owner_grace_s))
        self.max_queued = int(pick(max_queued, settings.max_queued_jobs))
        self.max_job_s = float(pick(max_job_s, settings.max_job_s))
        self.max_per_visitor = int(pick(max_per_visitor, jobs_per_visitor(settings)))
        self.janitor_interval_s = janitor_interval_s
        self._lock = threading.RLock()
        self._queue: deque[Job] = deque()
        self._running: set[Job] = set()
        self._handles: OrderedDict[str, Job] = OrderedDict()
        self._served: dict[str, float] = {}   # visitor -> when a job of theirs last started
        self._last_seen: dict[str, float] = {}
        self._gone_since: dict[str, float] = {}
        self._owner_check: Callable[[str], bool | None] | None = None
        self._janitor: threading.Thread | None = None

    # -- public API ----------------------------------------------------------------------------
    def submit(self, make_iterator: Callable[[], Iterator[Any]], *, owner: str, label: str = "",
               total: int | None = None, threads: int = 1, page: str | None = None,
               browser: str | None = None, meta: Any = None, visitor: tuple[str, ...] = (),
               estimated_s: float | None = None) -> Job:
        """Queue a job, or raise :class:`Refused` (nothing queued) when ``owner`` already has a
        queued or running job on ``page``, when a key of ``visitor`` (the keys that identify
        the person across sessions: their browser, their address) already holds
        ``max_per_visitor`` queued or running jobs, or when no slot is free and the queue is
        full. ``estimated_s``, the job's estimated wall time, is checked against the
        measurement when it finishes (:func:`core.pace.record_finished`)."""
        job = Job(self, make_iterator, owner=owner, label=label, total=total, threads=threads,
                  page=page, browser=browser, meta=meta, visitor=visitor,
                  estimated_s=estimated_s)
        with self._lock:
            if page is not None and any(j.page == page for j in self.jobs(owner)):
                raise Refused("You already have a run on this page. Stop it, or wait until it "
                              "ends, before starting another.")
            held = max((self.visitor_count(key) for key in job.visitor), default=0)
            if held >= self.max_per_visitor:
                runs = "a run" if held == 1 else f"{held} runs"
                raise Refused(f"You already have {runs} queued or running (in this or other "
                              "tabs), as many as this server allows one visitor. Stop one, or "
                              "wait until one ends, before starting another.")
            if len(self._running) >= self.max_concurrent and len(self._queue) >= self.max_queued:
                raise Refused(f"The server is busy: {len(self._running)} runs are running and "
                              f"{len(self._queue)} are waiting, as many as it takes. Please try "
                              "again in a few minutes.")
            self._last_seen[owner] = time.time()
            self._queue.append(job)
            self._handles[job.handle] = job
            while len(self._handles) > KEEP_HANDLES:
                self._handles.popitem(last=False)
            self._dispatch()
        self._ensure_janitor()
        return job

    def find(self, handle: str) -> Job | None:
        """The job with this handle (running or recently ended), or None (unknown, expired, or
        from before a server restart)."""
        with self._lock:
            return self._handles.get(handle) if isinstance(handle, str) else None

    def adopt(self, job: Job, owner: str, browser: str | None) -> bool:
        """Hand ``job`` to a new session of the browser that started it (after a reload);
        True at once for the session that owns it; False, and nothing changes, for any other
        browser."""
        if job.owner == owner:
            return True
        if browser is None or job.browser != browser:
            return False
        with self._lock:
            if job.owner != owner:
                self._last_seen[owner] = time.time()
                job.owner = owner
        return True

    def browser_jobs(self, browser: str | None, page: str | None = None) -> list[Job]:
        """Jobs this browser started (oldest first), ended ones included while kept."""
        if browser is None:
            return []
        with self._lock:
            return [j for j in self._handles.values()
                    if j.browser == browser and (page is None or j.page == page)]

    def stop_owner(self, owner: str) -> None:
        """Stop every queued or running job of ``owner`` and forget the owner."""
        jobs = self.jobs(owner)
        for job in jobs:
            job.stop()
        self._forget(owner, jobs)

    def touch(self, owner: str) -> None:
        """The owner is alive (a page polled); used when no owner check is registered."""
        with self._lock:
            self._last_seen[owner] = time.time()
            self._gone_since.pop(owner, None)

    def set_owner_check(self, check: Callable[[str], bool | None] | None) -> None:
        """``check(owner)`` -> True alive, False gone, None unknown (fall back to touch times)."""
        self._owner_check = check

    def jobs(self, owner: str | None = None) -> list[Job]:
        """Queued and running jobs, oldest first (all owners when ``owner`` is None)."""
        with self._lock:
            active = list(self._queue) + sorted(self._running, key=lambda j: j.submitted_at)
        return [j for j in active if owner is None or j.owner == owner]

    def visitor_count(self, key: str) -> int:
        """Queued and running jobs that carry visitor key ``key``."""
        return sum(key in j.visitor for j in self.jobs())

    def counts(self) -> tuple[int, int]:
        """(running, queued) right now."""
        with self._lock:
            return len(self._running), len(self._queue)

    def reap(self, now: float | None = None) -> list[Job]:
        """Stop the jobs over the wall-time limit, and those of owners gone for longer than the
        grace period; returns them."""
        now = time.time() if now is None else now
        stopped = []
        with self._lock:
            overdue = [j for j in self._running
                       if j.started_at is not None and now - j.started_at > self.max_job_s]
        for job in overdue:
            job.stop(f"stopped at the server's limit of {self.max_job_s:.0f} s per job")
            stopped.append(job)
        for owner in {j.owner for j in self.jobs()}:
            alive = None
            if self._owner_check is not None:
                try:
                    alive = self._owner_check(owner)
                except Exception:
                    log.exception("owner check failed for %s", owner)
            with self._lock:
                if alive is None:  # no check, or it cannot tell: judge by the last poll
                    gone_for = now - self._last_seen.get(owner, now)
                elif alive:
                    self._gone_since.pop(owner, None)
                    continue
                else:
                    gone_for = now - self._gone_since.setdefault(owner, now)
            if gone_for >= self.owner_grace_s:
                log.info("stopping the jobs of %s, gone for %.0f s", owner, gone_for)
                jobs = self.jobs(owner)
                for job in jobs:
                    job.stop()
                    stopped.append(job)
                self._forget(owner, jobs)
        return stopped

    def _forget(self, owner: str, jobs: list[Job]) -> None:
        with self._lock:
            self._last_seen.pop(owner, None)
            self._gone_since.pop(owner, None)
            for job in jobs:
                self._served.pop(_who(job), None)

    # -- internals -----------------------------------------------------------------------------
    def _fair_order(self) -> list[Job]:
        """The queue in the order it will start: visitors with fewer running jobs first, then
        the visitor served longest ago (never served first), then oldest first, so that one
        visitor's several pages and tabs do not hold everyone else back."""
        busy: dict[str, int] = {}
        for j in self._running:
            busy[_who(j)] = busy.get(_who(j), 0) + 1
        order = {id(j): i for i, j in enumerate(self._queue)}
        return sorted(self._queue, key=lambda j: (busy.get(_who(j), 0),
                                                  self._served.get(_who(j), 0.0), order[id(j)]))

    def _dispatch(self) -> None:
        with self._lock:
            while self._queue and len(self._running) < self.max_concurrent:
                job = self._fair_order()[0]
                self._queue.remove(job)
                self._running.add(job)
                job._thread = threading.Thread(target=self._work, args=(job,),
                                               name=f"runner-{job.id}", daemon=True)
                job.started_at = time.time()
                self._served[_who(job)] = job.started_at
                job.status = "running"
                job._thread.start()

    def _work(self, job: Job) -> None:
        try:
            job._run()
            if job.status == "finished":
                # pauses and a demo pace's waits are no measure of this server's speed
                pace.record_finished(job.estimated_s, job.compute_s())
        finally:
            with self._lock:
                self._running.discard(job)
                self._dispatch()
            job._done.set()

    def _cancel_if_queued(self, job: Job) -> None:
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                job._finish("stopped")
                job._done.set()

    def _position(self, job: Job) -> int | None:
        with self._lock:
            if job not in self._queue:
                return None
            return self._fair_order().index(job) + 1

    def _ensure_janitor(self) -> None:
        with self._lock:
            if self._janitor is not None and self._janitor.is_alive():
                return
            self._janitor = threading.Thread(target=self._janitor_loop, name="runner-janitor",
                                             daemon=True)
            self._janitor.start()

    def _janitor_loop(self) -> None:
        while True:
            time.sleep(self.janitor_interval_s)
            try:
                self.reap()
            except Exception:
                log.exception("runner janitor failed")
            if not self.jobs():
                with self._lock:
                    if not self._queue and not self._running:
                        self._janitor = None
                        return


def _who(job: Job) -> str:
    """The key the fair queue serves by: the job's visitor, else its session."""
    return job.visitor[0] if job.visitor else job.owner


# The process-wide runner the app uses; tests may build their own Runner.
RUNNER = Runner()


def submit(make_iterator: Callable[[], Iterator[Any]], *, owner: str, label: str = "",
           total: int | None = None, threads: int = 1, **kwargs) -> Job:
    """Queue ``make_iterator`` to run in a worker thread; returns its :class:`Job` at once, or
    raises :class:`Refused` (see :meth:`Runner.submit`)."""
    return RUNNER.submit(make_iterator, owner=owner, label=label, total=total, threads=threads,
                         **kwargs)


def stop_owner(owner: str) -> None:
    """Stop and release every job of a browser session."""
    RUNNER.stop_owner(owner)


def touch(owner: str) -> None:
    RUNNER.touch(owner)


def set_owner_check(check: Callable[[str], bool | None] | None) -> None:
    RUNNER.set_owner_check(check)
