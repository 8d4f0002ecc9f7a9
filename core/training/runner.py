"""Background jobs for the app: training runs in worker threads that outlive a Streamlit rerun.

Streamlit reruns a page script on every interaction, which would kill a training loop running
inside it. A :class:`Job` runs ``make_iterator()`` in a worker thread owned by this module and
collects every item it yields in a thread-safe buffer; the page keeps the job in its session
state and polls :meth:`Job.items`. Nothing here imports streamlit.

The server protects itself:

* at most ``MAX_CONCURRENT_JOBS`` jobs run at once (environment variable, default 2); the rest
  wait in a FIFO queue and report their position;
* each worker sets ``torch.set_num_threads(threads)`` itself, so N jobs use about N*threads cores;
* jobs whose owner (a browser session) went away are stopped by a janitor thread: an owner is
  gone when the liveness check registered with :func:`set_owner_check` says so for longer than
  ``OWNER_GRACE_S``, or, without a check, when it has not called :func:`touch` for that long.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "finished", "stopped", "failed")
_ids = itertools.count(1)


def _env_int(name: str, default: int, low: int = 1) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        log.warning("%s=%r is not a whole number; using %d", name, os.environ.get(name), default)
        return default
    return max(low, value)


class Job:
    """One background computation: a status, a buffer of yielded items and a stop event."""

    def __init__(self, runner: "Runner", make_iterator: Callable[[], Iterator[Any]], *,
                 owner: str, label: str, total: int | None, threads: int):
        self.id = f"job-{next(_ids)}"
        self.label = label
        self.owner = owner
        self.total = total
        self.threads = threads
        self.status = "queued"
        self.error: str | None = None
        self.submitted_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._runner = runner
        self._make_iterator = make_iterator
        self._items: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.label!r}, owner={self.owner!r}, {self.status}, {len(self._items)} items)"

    def items(self) -> list:
        """A snapshot (a new list) of everything yielded so far; safe from any thread."""
        with self._lock:
            return list(self._items)

    def count(self) -> int:
        with self._lock:
            return len(self._items)

    def stop(self) -> None:
        """Ask the job to end: a queued job ends now, a running one after its current item."""
        self._stop.set()
        self._runner._cancel_if_queued(self)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def queue_position(self) -> int | None:
        """1 for the next job to start, None once the job is no longer waiting."""
        return self._runner._position(self)

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (for tests and scripts; pages poll instead)."""
        return self._done.wait(timeout)

    def eta_seconds(self) -> float | None:
        """Remaining time, extrapolated from the pace so far; None until it can be estimated."""
        n = self.count()
        if self.total is None or self.started_at is None or n == 0 or self.done():
            return None
        pace = (time.time() - self.started_at) / n
        return max(0.0, pace * (self.total - n))

    # -- worker side ---------------------------------------------------------------------------
    def _finish(self, status: str, error: str | None = None) -> None:
        """Record the outcome. Waiters are woken by the runner once the job's slot is free, so
        whoever sees ``done()`` also sees the job gone from ``Runner.jobs()``."""
        self.error = error
        self.finished_at = time.time()
        self.status = status

    def _run(self) -> None:
        iterator = None
        if self._stop.is_set():  # stopped between leaving the queue and starting
            self._finish("stopped")
            return
        try:
            try:
                import torch
                torch.set_num_threads(max(1, int(self.threads)))
            except ImportError:  # the runner itself does not need torch
                pass
            iterator = self._make_iterator()
            for item in iterator:
                with self._lock:
                    self._items.append(item)
                if self._stop.is_set():
                    break
        except BaseException as error:  # a failing job must never take the server down
            log.exception("job %s (%s) failed", self.id, self.label)
            self._close(iterator)
            self._finish("failed", f"{type(error).__name__}: {error}")
            return
        # close() runs the generator's cleanup (train() releases its tensors) right away.
        self._close(iterator)
        self._finish("stopped" if self._stop.is_set() else "finished")

    @staticmethod
    def _close(iterator) -> None:
        close = getattr(iterator, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("closing a job's iterator failed")


class Runner:
    """A process-wide pool: a cap on concurrent jobs, a FIFO queue, and the janitor."""

    def __init__(self, max_concurrent: int | None = None, owner_grace_s: float | None = None,
                 janitor_interval_s: float = 2.0):
        self.max_concurrent = (max_concurrent if max_concurrent is not None
                               else _env_int("MAX_CONCURRENT_JOBS", 2))
        self.owner_grace_s = (owner_grace_s if owner_grace_s is not None
                              else float(_env_int("OWNER_GRACE_S", 30, low=0)))
        self.janitor_interval_s = janitor_interval_s
        self._lock = threading.RLock()
        self._queue: deque[Job] = deque()
        self._running: set[Job] = set()
        self._last_seen: dict[str, float] = {}
        self._gone_since: dict[str, float] = {}
        self._owner_check: Callable[[str], bool | None] | None = None
        self._janitor: threading.Thread | None = None

    # -- public API ----------------------------------------------------------------------------
    def submit(self, make_iterator: Callable[[], Iterator[Any]], *, owner: str, label: str = "",
               total: int | None = None, threads: int = 1) -> Job:
        job = Job(self, make_iterator, owner=owner, label=label, total=total, threads=threads)
        with self._lock:
            self._last_seen[owner] = time.time()
            self._queue.append(job)
            self._dispatch()
        self._ensure_janitor()
        return job

    def stop_owner(self, owner: str) -> None:
        """Stop every queued or running job of ``owner`` and forget the owner."""
        for job in self.jobs(owner):
            job.stop()
        with self._lock:
            self._last_seen.pop(owner, None)
            self._gone_since.pop(owner, None)

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

    def counts(self) -> tuple[int, int]:
        """(running, queued) right now."""
        with self._lock:
            return len(self._running), len(self._queue)

    def reap(self, now: float | None = None) -> list[Job]:
        """Stop the jobs of owners gone for longer than the grace period; returns them."""
        now = time.time() if now is None else now
        stopped = []
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
                for job in self.jobs(owner):
                    job.stop()
                    stopped.append(job)
                with self._lock:
                    self._last_seen.pop(owner, None)
                    self._gone_since.pop(owner, None)
        return stopped

    # -- internals -----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        with self._lock:
            while self._queue and len(self._running) < self.max_concurrent:
                job = self._queue.popleft()
                self._running.add(job)
                job._thread = threading.Thread(target=self._work, args=(job,),
                                               name=f"runner-{job.id}", daemon=True)
                job.started_at = time.time()
                job.status = "running"
                job._thread.start()

    def _work(self, job: Job) -> None:
        try:
            job._run()
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
            try:
                return self._queue.index(job) + 1
            except ValueError:
                return None

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


# The process-wide runner the app uses; tests may build their own Runner.
RUNNER = Runner()


def submit(make_iterator: Callable[[], Iterator[Any]], *, owner: str, label: str = "",
           total: int | None = None, threads: int = 1) -> Job:
    """Queue ``make_iterator`` to run in a worker thread; returns its :class:`Job` at once."""
    return RUNNER.submit(make_iterator, owner=owner, label=label, total=total, threads=threads)


def stop_owner(owner: str) -> None:
    """Stop and release every job of a browser session."""
    RUNNER.stop_owner(owner)


def touch(owner: str) -> None:
    RUNNER.touch(owner)


def set_owner_check(check: Callable[[str], bool | None] | None) -> None:
    RUNNER.set_owner_check(check)
