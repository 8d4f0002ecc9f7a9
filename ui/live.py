"""A page's live run, the same on every page: its Start and Stop buttons, and its run area (a
hint before the first run, a fragment that redraws the running job's panel, and the whole
page's turn once the job is done, so that downloads and the like follow it).

A page makes one :class:`LiveRun` at its top. The session keeps the page's run as a record
``{**job.meta, "job": job}`` under the run's key; the run handle in the page's URL
(``?run=``, ui.session) brings it back after a reload. Every Start goes through
:meth:`LiveRun.start`, so the newest run is the one the page, its URL and its Stop refer to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from core import budget
from ui import session

POLL_S = 0.5   # live redraws: at most two a second


@dataclass(frozen=True)
class StartButton:
    """One way to start the page's run (Reproduce has two: quick and full)."""
    label: str
    key: str
    on_click: Callable
    args: tuple = ()
    icon: str = ":material/play_arrow:"
    help: str | None = None
    primary: bool = True


class LiveRun:
    """The run of ``page`` (its url path, under which the run handle is kept), kept in the
    session under ``key``. Creating it re-attaches the run of the URL's handle (a reload);
    ``runs_key`` also lists this browser's earlier runs of the page there (Train's overlays).
    ``on_stop(record)`` runs before the job is told to stop (a search sets its own event)."""

    def __init__(self, page: str, key: str, *, runs_key: str | None = None, max_runs: int = 5,
                 on_stop: Callable[[dict], None] | None = None):
        self.page, self.key, self.on_stop = page, key, on_stop
        # False: this browser is watching a run another browser started.
        self.controls = session.restore(page, key, runs_key, max_runs, record=True)
        # Read once per script run: the buttons and the run area must agree. A job that ends
        # between drawing a live Stop and drawing the area is handed to the fragment, whose
        # rerun then redraws the page (Stop included) in its final state.
        self._was_running = self.running()

    @property
    def record(self) -> dict | None:
        return st.session_state.get(self.key)

    @property
    def job(self):
        record = self.record
        return None if record is None else record["job"]

    def running(self) -> bool:
        job = self.job
        return job is not None and not job.done()

    def start(self, plan: budget.Plan, make_iterator, *, label: str, total: int | None,
              meta: dict | None = None) -> dict | None:
        """For a Start button's callback: start the job (ui.session.start_job, which checks the
        budget and limits first) and keep its record as the page's run; returns the record, or
        None when refused (the reason is shown, the previous run stays)."""
        job = session.start_job(self.page, plan, make_iterator, label=label, total=total,
                                meta=meta)
        if job is None:
            return None
        record = {**(meta or {}), "job": job}
        st.session_state[self.key] = record
        return record

    def stop(self) -> None:
        record = self.record
        # A watcher never stops it.
        if record is not None and record["job"].owner == session.session_id():
            if self.on_stop is not None:
                self.on_stop(record)
            record["job"].stop()

    def buttons(self, *starts: StartButton, stop_key: str, ready: bool = True,
                stoppable: bool = True, stop_help: str | None = None,
                widths: list[int] | None = None) -> None:
        """The Start button(s) and Stop. Start needs ``ready`` (valid settings) and no run of
        this session going; Stop needs a running run this session controls (and ``stoppable``:
        Reproduce's tabs share one run, only its own tab stops it)."""
        busy = self._was_running and self.controls
        cols = st.columns(widths or [1] * (len(starts) + 1))
        for col, s in zip(cols, starts):
            col.button(s.label, type="primary" if s.primary else "secondary", icon=s.icon,
                       key=s.key, help=s.help, disabled=not ready or busy, on_click=s.on_click,
                       args=s.args, width="stretch")
        cols[len(starts)].button("Stop", icon=":material/stop:", key=stop_key, help=stop_help,
                                 disabled=not (busy and stoppable), on_click=self.stop,
                                 width="stretch")
        if self.record is not None and not self.controls:
            st.caption(session.WATCHING)

    def area(self, panel: Callable[[dict], None], hint: str | None = None, *,
             key: str | None = None, live: Callable[[], bool] | None = None) -> dict | None:
        """Draw the run (or, with ``key``, the record kept there): the hint before there is one,
        ``panel(record)`` redrawn every POLL_S while ``live()`` (default: its job runs), then
        once by the whole page. Returns the record once it is no longer live."""
        key = key or self.key
        record = st.session_state.get(key)
        if record is None:
            if hint:
                st.info(hint, icon=":material/info:")
            return None
        live = live or (lambda: not st.session_state[key]["job"].done())
        if live() or (self._was_running and record is self.record):
            _live_panel(key, panel, live)
            return None
        panel(record)
        return record


@st.fragment(run_every=POLL_S)
def _live_panel(key: str, panel: Callable[[dict], None], live: Callable[[], bool]) -> None:
    session.keep_alive()
    record = st.session_state.get(key)
    if record is None:
        return
    if not live():
        st.rerun(scope="app")   # the finished run is drawn by the whole page (Start, Stop too)
    panel(record)
