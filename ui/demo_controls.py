"""Train's demo controls, as TensorFlow Playground has them: a log-scale lr slider, an
auto-restart mode (a changed setting stops the running run and starts a new one with it), a
demo pace (each epoch lasts at least so long, so a 1-second run visibly streams), and pause,
step and reset of the running run. The pace and the pause live in the job
(:func:`core.training.job.demo_paced`, :meth:`core.training.job.Job.pause`); this module only
draws them and calls the page's own Start."""

from __future__ import annotations

import math
from typing import Callable

import streamlit as st

from core.optim.registry import MethodSpec
from core.training.job import MAX_DEMO_PACE_S
from ui import session
from ui.widgets import hp_key

K_PACE, K_AUTO, K_LR = "train.demo.pace", "train.demo.auto", "train.demo.lr"
LR_MANTISSAS = (1, 2, 3, 5)   # per decade: every registry default lr is on the grid
RESTART_WAIT_S = 10.0         # a stop acts within a batch; this only bounds a stuck one


def log_grid(low: float, high: float) -> list[float]:
    """The values m x 10^k (m in :data:`LR_MANTISSAS`) within [low, high], ascending, written
    exactly (0.003, not 0.0030000000000000005)."""
    if not 0 < low <= high:
        raise ValueError(f"a log grid needs 0 < low <= high, got {low!r}, {high!r}")
    grid = [float(f"{m}e{k}") for k in range(math.floor(math.log10(low)),
                                               math.ceil(math.log10(high)) + 1)
            for m in LR_MANTISSAS]
    return [v for v in grid if low <= v <= high]


def lr_grid(hp) -> list[float]:
    """The slider's steps for a learning-rate knob: its log grid, plus its default where the
    default is no 1-2-3-5 step (Schedule-Free AdamW's 2.5e-3), so the slider can show it."""
    return sorted({*log_grid(hp.low, hp.high), float(hp.default)})


def nearest(grid: list[float], value) -> float:
    """The grid value nearest ``value`` on the log scale (the lowest for a value that is not a
    positive number, as a box left empty or negative may hold)."""
    try:
        target = math.log10(float(value))
    except (TypeError, ValueError):
        return grid[0]
    return min(grid, key=lambda v: abs(math.log10(v) - target))


def lr_slider(spec: MethodSpec, prefix: str) -> None:
    """A slider over log-spaced learning rates, tied to the lr box the page drew (moving it
    sets the box; typing in the box moves it to the nearest step)."""
    hp = spec.hyperparam("lr")
    box = hp_key(prefix, spec.key, "lr")
    grid = lr_grid(hp)
    st.session_state[K_LR] = nearest(grid, st.session_state.get(box, hp.default))
    st.select_slider("Learning rate (log scale)", grid, key=K_LR,
                     format_func=lambda v: f"{v:g}", on_change=_slider_to_box, args=(box,),
                     help=f"{LR_MANTISSAS} x 10^k from {hp.low:g} to {hp.high:g}; the lr box "
                          "above takes any value.")


def _slider_to_box(box: str) -> None:
    st.session_state[box] = float(st.session_state[K_LR])


def settings(spec: MethodSpec, prefix: str) -> float:
    """The demo expander: the lr slider, auto-restart and the pace; returns the pace (s)."""
    with st.expander("Demo controls", icon=":material/slideshow:"):
        lr_slider(spec, prefix)
        st.toggle("Auto-restart on a change", key=K_AUTO,
                  help="While a run is going, changing the lr (or any setting) stops it and "
                       "starts a new run with the new value.")
        return float(st.slider(
            "Demo pace: at least this many seconds per epoch (0: off)", 0.0, MAX_DEMO_PACE_S,
            0.0, 0.25, key=K_PACE,
            help="Slows a fast run so that its curves visibly stream. The waits count in the "
                 "run's wall-time limit; Stop still acts at once."))


def restart(live, start: Callable[[], None]) -> None:
    """Stop this session's running run, wait until it has ended (the page allows one run at
    a time), then ``start()`` a new one."""
    job = live.job
    if job is not None and not job.done() and job.owner == session.session_id():
        live.stop()
        job.wait(RESTART_WAIT_S)
    start()


def auto_restart(live, wanted: dict, start: Callable[[], None]) -> bool:
    """With auto-restart on, a running run (this session's) whose record differs from
    ``wanted`` in any of its keys (its config, its pace) is restarted; True when it was."""
    if not st.session_state.get(K_AUTO) or not (live.running() and live.controls):
        return False
    record = live.record
    if all(record.get(k) == v for k, v in wanted.items()):
        return False
    restart(live, start)
    return True


def run_buttons(live, start: Callable[[], None] | None) -> None:
    """Pause (Resume while paused), Step and Reset of the running run, for the session that
    controls it; Reset needs ``start`` (None while the settings are invalid)."""
    active = live.running() and live.controls
    job = live.job
    paused = active and job.paused
    c1, c2, c3, _ = st.columns([1, 1, 1, 1.5])
    c1.button("Resume" if paused else "Pause",
              icon=":material/play_circle:" if paused else ":material/pause:",
              key="train.pause", disabled=not active, on_click=_pause_or_resume, args=(job,),
              width="stretch", help="Holds the run between two epochs; it keeps its slot and "
                                    "its wall-time limit keeps counting.")
    c2.button("Step", icon=":material/skip_next:", key="train.step", disabled=not active,
              on_click=_step, args=(job,), width="stretch", help="One more epoch, then pause.")
    c3.button("Reset", icon=":material/restart_alt:", key="train.reset",
              disabled=not active or start is None,
              on_click=restart, args=(live, start), width="stretch",
              help="Stop and start over at epoch 0 with the settings shown.")


def _owned(job) -> bool:
    return job is not None and not job.done() and job.owner == session.session_id()


def _pause_or_resume(job) -> None:
    if _owned(job):
        job.resume() if job.paused else job.pause()


def _step(job) -> None:
    if _owned(job):
        job.step()
