"""One background job: its worker-thread side (status, buffer, stop, priority) and the stop
signal training polls. The pool that queues and starts jobs is :mod:`core.training.runner`."""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import threading
import time
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

_ids = itertools.count(1)
_current = threading.local()   # the Job a worker thread is running
WORKER_NICE = 10               # added to a worker thread's niceness (Linux: per thread)


class JobStopped(BaseException):
    """Raised out of training inside a job asked to stop (see :func:`raise_if_stopped`). A
    BaseException, like GeneratorExit, so that no caller's ``except Exception`` takes it for a
    failed trial and carries on; the runner records the job as stopped."""


def stop_requested() -> bool:
    """True in a worker thread whose job was asked to stop (Stop, tab gone, wall-time limit);
    False anywhere else. Cheap enough to poll before every batch."""
    job = getattr(_current, "job", None)
    return job is not None and job._stop.is_set()


def raise_if_stopped() -> bool:
    """``train()``'s default ``should_stop``: inside a job asked to stop, raise
    :class:`JobStopped` instead of ending the generator quietly, so that a caller (a search, a
    reproduction) can never record the cut-short run as a finished one; False otherwise."""
    if stop_requested():
        raise JobStopped()
    return False


class Job:
    """One background computation: a status, a buffer of yielded items and a stop event."""

    def __init__(self, runner, make_iterator: Callable[[], Iterator[Any]], *,
                 owner: str, label: str, total: int | None, threads: int,
                 page: str | None = None, browser: str | None = None, meta: Any = None,
                 visitor: tuple[str, ...] = (), estimated_s: float | None = None):
        self.id = f"job-{next(_ids)}"
        self.handle = secrets.token_urlsafe(12)
        self.label = label
        self.owner = owner
        self.page = page
        self.browser = browser
        self.meta = meta          # what the page needs to redraw the job after a reload
        self.visitor = tuple(visitor)   # who started it, across tabs (see Runner.submit)
        self.estimated_s = estimated_s  # its wall time as estimated before it started
        self.stop_reason: str | None = None
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

    def stop(self, reason: str | None = None) -> None:
        """Ask the job to end: a queued job ends now, a running one at its next poll of
        :func:`stop_requested` (a batch, in training) or after its current item."""
        if reason and not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()
        self._runner._cancel_if_queued(self)

    def queue_position(self) -> int | None:
        """1 for the next job to start, None once the job is no longer waiting."""
        return self._runner._position(self)

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (for tests and scripts; pages poll instead)."""
        return self._done.wait(timeout)

    def eta_seconds(self) -> float | None:
        """Remaining time, extrapolated from the pace so far; before the first item, what is
        left of the estimate made at submit (``estimated_s``); None when neither is known."""
        n = self.count()
        if self.started_at is None or self.done():
            return None
        if n == 0 and self.estimated_s is not None:
            return max(0.0, self.estimated_s - (time.time() - self.started_at))
        if self.total is None or n == 0:
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
        _current.job = self
        try:
            self._run_iterator()
        finally:
            _current.job = None

    def _run_iterator(self) -> None:
        iterator = None
        if self._stop.is_set():  # stopped between leaving the queue and starting
            self._finish("stopped")
            return
        _lower_priority()
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
        except JobStopped:
            self._close(iterator)
            self._finish("stopped")
            return
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


def _lower_priority() -> None:
    """Lower the calling thread's CPU priority (on Linux a thread is its own task for the
    scheduler, so this leaves the server's other threads alone); a no-op where unsupported."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICE)
    except (AttributeError, OSError):
        pass
