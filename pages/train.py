"""Train: one method, live. Widgets come from the registry; training runs in core.training.runner."""

import json
import math

import pandas as pd
import streamlit as st

from core.budget import train_plan
from core.config import RunConfig
from core.optim.registry import METHODS
from core.training.job import demo_paced
from core.training.train import resolve_device, train
from ui.charts import (HEIGHT, diagnostic_groups, element_height, fast_spec, line_chart,
                       long_frame)
from ui.outcome import DEFAULTS_NOTE, learned_nothing
from ui.params import config_from_params, config_to_params
from ui import demo_controls as demo
from ui.live import LiveRun, StartButton
from ui.session import dataset
from ui.share import read_link, write_link
from ui.widgets import (apply_config_to_widgets, device_choices, method_hyperparams,
                        method_select, run_settings, entry_settings)
from ui.entry import ensure_entry
from ui.plugin_errors import shows_plugin_errors

PREFIX = "train"
K_JOB, K_RUNS, K_OVERLAY = "train.job", "train.runs", "train.overlay"
K_CONFIG = "train.config"
K_DROPPED = "train.dropped"
MAX_RUNS = 5          # runs kept in the session for overlaying

ensure_entry()
st.title("Train")
# After a reload: the run and this browser's earlier ones (for overlaying).
live = LiveRun(PREFIX, K_JOB, runs_key=K_RUNS, max_runs=MAX_RUNS)

# -- A shared link: apply the URL once, when it differs from what this page last wrote ---------
link_warnings = read_link(
    PREFIX, lambda url: config_from_params(url, base=st.session_state.get(K_CONFIG),
                                           devices=device_choices()),
    lambda loaded: apply_config_to_widgets(loaded, PREFIX))
for warning in link_warnings:
    st.warning(warning, icon=":material/link_off:")


def run_label(record) -> str:
    c = record["config"]
    return f"#{record['n']} {c.spec.display_name}, lr={c.lr:.3g}"


@shows_plugin_errors   # a plug-in raising for these values: an error, no crash
def start(config: RunConfig, pace: float = 0.0) -> None:
    """``pace``: the demo pace, each epoch at least so many seconds (0: off)."""
    data = dataset()
    runs = st.session_state.setdefault(K_RUNS, [])
    n = runs[-1]["n"] + 1 if runs else 1
    record = live.start(train_plan(config, pace),
                        lambda: demo_paced(train(config, data), pace) if pace
                        else train(config, data),
                        label=f"#{n} {config.spec.display_name}", total=config.epochs,
                        meta={"n": n, "config": config, "pace": pace})
    if record is None:
        return
    runs.append(record)
    dropped = runs[:-MAX_RUNS]
    # Said until the next Start, not silently: the overlay list loses a run here.
    st.session_state[K_DROPPED] = (
        f"Only the last {MAX_RUNS} runs are kept for overlaying: "
        f"{', '.join(run_label(r) for r in dropped)} was dropped.") if dropped else None
    del runs[:-MAX_RUNS]


left, right = st.columns([1, 2], gap="large")

# -- Settings --------------------------------------------------------------------------------
with left:
    method = method_select(PREFIX)
    spec = METHODS[method]
    st.caption(f"{spec.description}  \n{DEFAULTS_NOTE}")
    lr, hparams = method_hyperparams(spec, PREFIX)
    config, error = None, None
    with st.expander("Run settings", expanded=True):
        try:
            settings = run_settings(PREFIX)
            settings.update(entry_settings(PREFIX))
        except ValueError as e:
            error = str(e)
    if error is None:
        try:
            config = RunConfig(method=method, lr=lr, hparams=hparams, **settings)
        except ValueError as e:
            error = str(e)
    if error:
        st.error(f"Invalid setting, nothing was changed: {error}")

    if config is not None:
        st.session_state[K_CONFIG] = config
        write_link(PREFIX, config_to_params(config))
        st.caption(f"Runs on **{resolve_device(config.device)}**. The page's URL holds this "
                   "configuration: copy it to share the run.")

    pace = demo.settings(spec, PREFIX)
    restart = (lambda: start(config, pace)) if config is not None else None
    if restart is not None:   # auto-restart: before the buttons, which then show the new run
        demo.auto_restart(live, {"config": config, "pace": pace}, restart)
    live.buttons(StartButton("Start", "train.start", start, (config, pace)),
                 stop_key="train.stop", ready=config is not None)


# -- Results ---------------------------------------------------------------------------------
def status(job, items, record) -> None:
    n, total = len(items), job.total
    last = items[-1] if items else None
    if job.status == "queued":
        st.info(f"Waiting for a free training slot: position {job.queue_position() or 1} in the "
                "queue.", icon=":material/hourglass_top:")
    elif job.status == "running":
        eta = job.eta_seconds()
        paced = f" at a demo pace of {record['pace']:g} s per epoch" if record.get("pace") else ""
        if job.holding:
            text = (f"Paused {run_label(record)} after epoch {n} of {total}: Resume goes on, "
                    "Step trains one more epoch")
        elif job.paused:
            text = f"Pausing {run_label(record)} after epoch {n + 1} of {total}"
        else:
            text = f"Running {run_label(record)}{paced}: epoch {n} of {total}"
        if eta is not None and not job.paused:
            text += f", about {eta:.0f} s left"
        st.progress(min(1.0, n / total) if total else 0.0, text=text)
    elif job.status == "failed":
        st.error(f"The run failed: {job.error}", icon=":material/error:")
    if last is not None and last.diverged:
        st.error(f"Diverged: {last.reason}. The curves show the epochs up to that point.",
                 icon=":material/warning:")
    elif job.status == "stopped":
        why = f" ({job.stop_reason})" if job.stop_reason else ""
        st.info(f"Stopped after {n} of {total} epochs{why}; the curves keep what was trained.",
                icon=":material/stop_circle:")
    elif job.status == "finished":
        problem = learned_nothing(items, record["config"])
        if problem:
            st.warning(f"Finished {n} epochs in {last.elapsed:.1f} s. {problem}",
                       icon=":material/warning:")
        else:
            st.success(f"Finished {n} epochs in {last.elapsed:.1f} s.", icon=":material/check:")


def metrics_row(items) -> None:
    finite = [m for m in items if math.isfinite(m.val_loss)]
    c = st.columns(4)
    c[0].metric("Epoch", f"{items[-1].epoch}" if items else "-")
    c[1].metric("Validation loss", f"{finite[-1].val_loss:.4f}" if finite else "-")
    c[2].metric("Best validation loss", f"{min(m.val_loss for m in finite):.4f}" if finite else "-")
    c[3].metric("Validation accuracy", f"{finite[-1].val_acc:.1%}" if finite else "-")
    test = [m for m in items if m.test_loss is not None]
    if test:
        st.caption(f"Test set, reported once after the last epoch (honest split): loss "
                   f"{test[-1].test_loss:.4f}, accuracy {test[-1].test_acc:.1%}.")


def curves(items, record) -> None:
    rows = [m.flat() for m in items]
    # Legends name the curve first and the run by its number (a long method name would push
    # "train"/"validation" out of the legend); the caption says which run each number is.
    label = f"#{record['n']} "
    loss = long_frame(rows, {"train_loss": "train loss", "val_loss": "validation loss"},
                      series_prefix=label)
    acc = long_frame(rows, {"val_acc": "validation accuracy"}, series_prefix=label)
    overlays, shown_runs = [], [record]
    for other in st.session_state.get(K_RUNS, []):
        if other["job"] is record["job"] or other["n"] not in st.session_state.get(K_OVERLAY, []):
            continue
        shown_runs.append(other)
        other_rows = [m.flat() for m in other["job"].items()]
        prefix = f"#{other['n']} "
        loss = pd.concat([loss, long_frame(other_rows, {"val_loss": "validation loss"},
                                           series_prefix=prefix)])
        acc = pd.concat([acc, long_frame(other_rows, {"val_acc": "validation accuracy"},
                                         series_prefix=prefix)])
        overlays.append(prefix)
    dashed = [s for s in set(loss["series"]) | set(acc["series"])
              if any(s.startswith(p) for p in overlays)]
    if shown_runs:
        st.caption(" · ".join(f"**#{r['n']}** {r['config'].spec.display_name}, "
                              f"lr={r['config'].lr:.3g}" for r in shown_runs)
                   + (" (dashed: overlaid runs)" if overlays else ""))
    c1, c2 = st.columns(2)
    dashed = sorted(dashed)
    # The current run's series first: they keep their colours whatever is overlaid. The
    # element grows with the legend (one line per series), so the plot keeps its height.
    for col, frame, title, y_title, key in ((c1, loss, "Loss", "cross-entropy", "loss"),
                                           (c2, acc, "Validation accuracy", "accuracy", "acc")):
        order = sorted(set(frame["series"]), key=lambda s: (s in dashed, s))
        col.vega_lite_chart(fast_spec(line_chart, frame, title=title, y_title=y_title,
                                      dashed=dashed, points=len(rows) < 60, order=order),
                            key=f"train.chart.{key}",
                            height=element_height(HEIGHT, len(order)))
    groups = diagnostic_groups(items[-1].diagnostics) if items else {}
    if groups:
        st.markdown("**What the optimizer is doing**")
        cols = st.columns(min(2, len(groups)))
        for i, (name, columns) in enumerate(groups.items()):
            frame = long_frame(rows, {c: c.split("/", 1)[-1] for c in columns})
            # The legend below the plot, a line per series: on the right it took most of a
            # half-width column and left the plot ~100 px.
            cols[i % len(cols)].vega_lite_chart(
                fast_spec(line_chart, frame, title=name.replace("_", " "), y_title=name,
                          height=200, points=len(rows) < 60, legend="bottom",
                          order=sorted(set(frame["series"]))),
                key=f"train.chart.diag.{name}",
                height=element_height(200, len(columns)))


def panel(record) -> None:
    job = record["job"]
    items = job.items()
    status(job, items, record)
    metrics_row(items)
    curves(items, record)


with right:
    if live.record is not None:   # above the run they act on, where they have the room
        demo.run_buttons(live, restart)
    job = live.job
    runs = st.session_state.get(K_RUNS, [])
    if st.session_state.get(K_DROPPED):
        st.info(st.session_state[K_DROPPED], icon=":material/delete_sweep:")
    if len(runs) > 1:
        choices = [r["n"] for r in runs if r["job"] is not job]
        st.session_state[K_OVERLAY] = [n for n in st.session_state.get(K_OVERLAY, [])
                                       if n in choices]
        labels = {r["n"]: run_label(r) for r in runs}
        st.multiselect("Overlay earlier runs (dashed)", choices, key=K_OVERLAY,
                       format_func=labels.get)
    record = live.area(panel, "Pick a method, set its knobs and press **Start**. Curves "
                              "stream in as each epoch ends; **Stop** keeps what was trained.")
    if record is not None:
        items = job.items()
        if items:
            name = f"mnist1d_run{record['n']}_{record['config'].method}"
            d1, d2 = st.columns(2)
            d1.download_button("Metrics (CSV)", pd.DataFrame([m.flat() for m in items])
                               .to_csv(index=False), file_name=f"{name}.csv", mime="text/csv",
                               icon=":material/download:", key="train.dl.csv")
            d2.download_button("Config (JSON)", json.dumps(record["config"].to_dict(), indent=2),
                               file_name=f"{name}.json", mime="application/json",
                               icon=":material/download:", key="train.dl.json")
