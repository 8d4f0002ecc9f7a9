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


MAX_DEMO_PACE_S = 10.0   # a demo pace slower than this per item is refused
_clock = time.monotonic  # demo_paced's clock (a test's fake)


def demo_paced(items: Iterator[Any], min_item_s: float) -> Iterator[Any]:
    """``items``, each taking at least ``min_item_s`` seconds from the one before (the first
    from the start): the wait after a fast epoch lets a short run visibly stream. In a job the
    wait is on its stop event, so a Stop (or the wall-time limit) ends it at once, and its
    seconds are counted apart from training's (:attr:`Job.paced_s`). 0 is no pace."""
    min_item_s = float(min_item_s)
    if not 0.0 <= min_item_s <= MAX_DEMO_PACE_S:
        raise ValueError(f"demo pace must be between 0 and {MAX_DEMO_PACE_S:g} s per epoch, "
                         f"got {min_item_s!r}")
    last = _clock()
    for item in items:
        yield item
        left = min_item_s - (_clock() - last)
        if left > 0:
            _wait_unless_stopped(left)
        if stop_requested():   # the wait ended early: no next item to start
            return
        last = _clock()


def _wait_unless_stopped(seconds: float) -> None:
    job = getattr(_current, "job", None)
    if job is None:   # outside a job (a script, a test): a plain wait
        threading.Event().wait(seconds)
        return
    start = time.monotonic()
    job._stop.wait(seconds)
    job.paced_s += time.monotonic() - start


class Job:
    """One background computation: a status, a buffer of yielded items and a stop event.

    A running job can be paused between items (epochs, for a training run): :meth:`pause`
    holds the worker after the item it is computing, :meth:`resume` lets it go on and
    :meth:`step` lets it compute one more item, then holds it again. A paused job keeps its
    slot and its wall-time limit keeps counting (a pause cannot hold a slot for ever); Stop
    ends a pause at once."""

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
        # pausing: the worker waits on _gate after an item while _paused (see _hold)
        self._gate = threading.Condition()
        self._paused = False
        self._step_to: int | None = None    # hold again once this many items are in
        self._held_since: float | None = None
        self.held_s = 0.0                   # seconds held paused, the current hold excluded
        self.paced_s = 0.0                  # seconds waited by demo_paced

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
        with self._gate:   # a paused worker wakes to end
            self._gate.notify_all()
        self._runner._cancel_if_queued(self)

    def pause(self) -> None:
        """Hold the worker after the item it is computing, until :meth:`resume` or
        :meth:`step` (or a stop)."""
        with self._gate:
            self._paused, self._step_to = True, None

    def resume(self) -> None:
        with self._gate:
            self._paused, self._step_to = False, None
            self._gate.notify_all()

    def step(self) -> None:
        """One more item, then hold again (paused or not)."""
        with self._gate:
            self._paused, self._step_to = False, self.count() + 1
            self._gate.notify_all()

    @property
    def paused(self) -> bool:
        """Asked to hold (and not stepping); :attr:`holding` says whether it already is."""
        with self._gate:
            return self._paused or self._step_to is not None and self.count() >= self._step_to

    @property
    def holding(self) -> bool:
        """The worker is waiting, paused, between two items."""
        with self._gate:
            return self._held_since is not None

    def paused_s(self) -> float:
        """Seconds held paused so far, the current hold included."""
        with self._gate:
            now = time.monotonic()
            return self.held_s + (now - self._held_since if self._held_since else 0.0)

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
        pace = (time.time() - self.started_at - self.paused_s()) / n   # a pause is no pace
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
                self._hold()
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

    def _hold(self) -> None:
        """Between two items: wait while paused, until resumed, stepped or stopped."""
        with self._gate:
            if self._step_to is not None and self.count() >= self._step_to:
                self._paused, self._step_to = True, None
            if not self._paused:
                return
            self._held_since = time.monotonic()
            while self._paused and not self._stop.is_set():
                self._gate.wait()
            self.held_s += time.monotonic() - self._held_since
            self._held_since = None

    def compute_s(self) -> float:
        """Wall time spent computing: the job's time less its pauses and demo-pace waits (what
        the server's pace learns from, :func:`core.pace.record_finished`)."""
        end = self.finished_at or time.time()
        return max(0.0, end - (self.started_at or end) - self.paused_s() - self.paced_s)

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
