"""Reproduce: each write-up's protocol as written, then over honest seeds, with a verdict.

UI only: the protocols, the run and the verdict live in ``core.experiments``.
"""

import json
import time
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from core.budget import reproduce_plan
from core.cli.reproduce import on_model
from core.experiments import (CONFIRM_SEED, FULL, PROTOCOLS, QUANTITIES, QUICK,
                              planned_events, reproduce)
from core.experiments.verdict import REPRODUCED, REVERSED
from core.models import MODELS
from core.optim.registry import METHODS
from ui.charts import element_height, epoch_x, series_colors
from ui.entry import ensure_entry
from ui.estimate import estimate_s, record_finished, remaining_s, words
from ui.params import UrlField, one_of, whole
from ui.live import LiveRun, StartButton
from ui.session import dataset
from ui.share import keep_widgets_in_url

ensure_entry()

LR_CHART_HEIGHT = 260   # the committed lr-sensitivity plot; its element adds title and legend
K_SEEDS = "repro.seeds"
K_MODEL = "repro.model"      # "" (or absent): each write-up's own model, as written
K_LATEST = "repro.latest"   # the page's run (one at a time), whichever write-up it reproduces
RECORD = Path(__file__).resolve().parent.parent / "results" / "reproduction.json"


@st.cache_data(show_spinner=False)
def committed_record(path: str = str(RECORD), _mtime: float = 0.0) -> dict:
    """The committed full record by write-up key (empty when it is missing or unreadable)."""
    try:
        record = json.loads(Path(path).read_text())
        return {"meta": {k: record.get(k) for k in ("command", "date", "wall_s")},
                "by_key": {e["key"]: e for e in record["experiments"]}}
    except (OSError, ValueError, KeyError, TypeError):
        return {"meta": {}, "by_key": {}}


def committed_panel(key: str) -> None:
    """The verdict of the committed full record, shown next to every live run."""
    mtime = RECORD.stat().st_mtime if RECORD.exists() else 0.0
    record = committed_record(str(RECORD), mtime)
    e = record["by_key"].get(key)
    if e is None:
        st.caption("No committed record for this write-up.")
        return
    meta = record["meta"]
    head = e.get("adjusted_verdict") or e["verdict"]
    family = f"Holm over {e['family']}; " if e.get("family") else ""
    lines = [f"**Committed record: {head}** ({family}unadjusted: {e['verdict']}; "
             f"{len(e['seeds'])} honest seeds, full protocol; {meta.get('date') or 'undated'}, "
             "`results/reproduction.md`)"]
    lines += [f"- {c['text']} (rests on {c.get('measures', c['quantity'])}): "
              f"{c.get('adjusted_verdict') or c.get('verdict') or c['outcome']}"
              + (f" (unadjusted: {c['verdict']})" if c.get("adjusted_verdict") else "")
              for c in e.get("claims", [])]
    lines += [f"- {line}" for line in e.get("robustness", [])]
    st.markdown("\n".join(lines))
    chart = sensitivity_chart(e.get("sensitivity") or {})
    if chart is not None:
        # An explicit element height: measured from its content, Streamlit drew it ~90 px tall.
        st.altair_chart(chart, width="stretch", height=element_height(LR_CHART_HEIGHT, 2))


def sensitivity_chart(curves: dict) -> alt.Chart | None:
    """The committed record's lr-sensitivity curves: both sides, mean and 95% interval."""
    rows = [{"side": METHODS[c["method"]].display_name, "lr": r["lr"], "mean": r["mean"],
             "low": r["low"], "high": r["high"]}
            for c in curves.values() for r in c.get("rows", []) if r.get("mean") is not None]
    if not rows:
        return None
    first = next(iter(curves.values()))
    df = pd.DataFrame(rows)
    sides = list(dict.fromkeys(df["side"]))
    # The lab's palette (Streamlit's default gave both sides near-identical blues) and the
    # legend below the plot, which keeps its width on a phone.
    base = alt.Chart(df).encode(x=alt.X("lr:Q", scale=alt.Scale(type="log"), title="lr"),
                                color=alt.Color("side:N", title=None,
                                                scale=series_colors(sides),
                                                legend=alt.Legend(orient="bottom")))
    # Both layers name the axis the same: else Vega-Lite joins the fields' names ("low, ...").
    y_title = "test loss at the best validation epoch"
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", scale=alt.Scale(zero=False), title=y_title),
        tooltip=["side", alt.Tooltip("lr:Q", format=".3g"), alt.Tooltip("mean:Q", format=".4f"),
                 alt.Tooltip("low:Q", format=".4f", title="95% low"),
                 alt.Tooltip("high:Q", format=".4f", title="95% high")])
    band = base.mark_errorbar().encode(y=alt.Y("low:Q", title=y_title), y2="high:Q")
    return (band + line).properties(
        height=LR_CHART_HEIGHT, title=f"Committed lr sensitivity ({len(first['seeds'])} seeds, "
                                      f"{first['epochs']} epochs)")


def job_key(key: str) -> str:
    return f"repro.job.{key}"


def side_name(p, side: str) -> str:
    return p.side(side).spec.display_name


def run_protocol(key: str, model: str | None):
    """Write-up ``key``'s protocol, on ``model`` when that is another model than its own."""
    written = PROTOCOLS[key]
    return on_model(written, model if model and model != written.model else None)


def start(key: str, quick: bool, seeds: int, model: str | None = None) -> None:
    dataset()   # built (with a spinner) here, not inside the worker
    scale = QUICK if quick else FULL
    p = run_protocol(key, model)
    other = p.model if p.model != PROTOCOLS[key].model else None
    record = live.start(reproduce_plan(key, seeds, quick, other),
                        lambda: reproduce(p, seeds=seeds, scale=scale),
                        label=f"reproduce {p.writeup} ({scale.name}"
                              + (f", {p.model}" if other else "") + ")",
                        total=planned_events(p, seeds, scale),
                        meta={"key": key, "scale": scale.name, "seeds": seeds,
                              "model": other or "",
                              "estimate_s": estimate_s(p, seeds, scale)})
    if record is not None:
        st.session_state[job_key(key)] = record   # its tab shows it, also after the next run


# -- the write-up's own figure, from the events so far ----------------------------------------

def figure(p, events, stage: int) -> alt.Chart | None:
    mine = [e for e in events if e.stage == stage]
    if p.figure == "trial_box":
        rows = [{"side": side_name(p, e.side), "trial": e.trial.number, "value": e.trial.value}
                for e in mine if e.kind == "trial" and e.trial.value is not None]
        if not rows:
            return None
        df = pd.DataFrame(rows)
        base = alt.Chart(df).encode(x=alt.X("side:N", title=None),
                                    color=alt.Color("side:N", legend=None))
        box = base.mark_boxplot(extent="min-max", opacity=0.5).encode(
            y=alt.Y("value:Q", title="best validation loss of the trial",
                    scale=alt.Scale(zero=False)))
        dots = base.mark_circle(size=40).encode(
            y="value:Q", tooltip=["side", "trial", alt.Tooltip("value:Q", format=".4f")])
        return (box + dots).properties(height=320, title="Trial values per side")
    rows = []
    for e in mine:
        if e.kind != "epoch":
            continue
        m = e.epoch
        who = side_name(p, e.side)
        if p.figure == "train_test":
            val = "test" if stage == 0 else "validation"
            rows += [{"epoch": m.epoch, "loss": m.train_loss, "curve": f"{who}, train"},
                     {"epoch": m.epoch, "loss": m.val_loss, "curve": f"{who}, {val}"}]
        else:
            rows.append({"epoch": m.epoch, "loss": m.val_loss, "curve": who})
    if not rows:
        return None
    df = pd.DataFrame(rows)
    title = "Train and test loss" if p.figure == "train_test" else "Validation loss"
    return alt.Chart(df).mark_line(point=len(df) < 120).encode(
        x=epoch_x(), y=alt.Y("loss:Q", scale=alt.Scale(zero=False)),
        color=alt.Color("curve:N", title=None),
        tooltip=["curve", "epoch", alt.Tooltip("loss:Q", format=".4f")],
    ).properties(height=320, title=title)


def progress(p, record, events) -> None:
    job = record["job"]
    # What runs now: the stage, or the seeds of one side trained together (their epoch events
    # say so in their label).
    running = [e for e in events if e.kind in ("stage", "trial", "epoch")]
    label = running[-1].label if running else "waiting to start"
    position = job.queue_position()
    if position is not None:
        st.info(f"Queued: position {position}. The server runs a few jobs at a time.")
        return
    scale = QUICK if record["scale"] == QUICK.name else FULL
    elapsed = time.time() - (job.started_at or time.time())
    eta = remaining_s(events, p, record["seeds"], scale, elapsed)
    eta_text = f", about {words(eta)} left" if eta is not None else ""
    fraction = min(1.0, len(events) / job.total) if job.total else 0.0
    st.progress(fraction, text=f"{label}{eta_text}")


def result_panel(p, record, result) -> None:
    if result.is_quick:
        # A smoke test: grey, and never in the colours of a verdict.
        st.markdown(f":gray-background[SMOKE TEST: not evidence] :gray[Shrunk trials and "
                    f"epochs; this run checks the pipeline. It ended with "
                    f"\"{result.verdict}\"; the committed record above is the evidence.]")
        st.caption(result.reason)
    else:
        # The headline is the adjusted verdict; only a strong one is drawn in a strong colour
        # (a negligible difference is a warning, like "not detected").
        head = result.headline_verdict
        show = {REPRODUCED: st.success, REVERSED: st.error}.get(head, st.warning)
        family = f" (Holm over {result.family}; unadjusted: {result.verdict})" \
            if result.family else ""
        show(f"**{head.capitalize()}**{family}. {result.reason}")
    st.caption(result.as_written_note)
    st.table(shown_table(result.rows()))   # a plain table wraps: never clipped
    name = f"reproduction_{p.writeup}_{p.key}_{result.scale}"
    a, b = st.columns(2)
    a.download_button("Table (CSV)", result.csv(), file_name=f"{name}.csv", mime="text/csv",
                      icon=":material/download:", key=f"repro.csv.{p.key}")
    b.download_button("Result (JSON)", json.dumps(result.to_dict(), indent=1),
                      file_name=f"{name}.json", mime="application/json",
                      icon=":material/download:", key=f"repro.json.{p.key}")


def shown_table(rows: list[dict]) -> pd.DataFrame:
    """The result rows as text: numbers to 6 significant digits (a reported 1.0846 stays
    1.0846), "-" where there is none."""
    def text(v):
        if v is None or (isinstance(v, float) and v != v):
            return "-"
        return f"{v:.6g}" if isinstance(v, float) else str(v)
    return pd.DataFrame([{k: text(v) for k, v in row.items()} for row in rows])


def panel(p, record) -> None:
    job = record["job"]
    events = job.items()
    result = events[-1].result if events and events[-1].kind == "result" else None
    if not job.done():
        progress(p, record, events)
    elif job.status == "finished" and not record.get("timed") and job.started_at and job.finished_at:
        record["timed"] = True    # this server's pace for the next estimates
        record_finished(record["estimate_s"], job.finished_at - job.started_at)
    # While running, draw the latest stage reached; at the end, the write-up's own protocol.
    # The latest, not the last event's: seeds trained together interleave their stages' epochs,
    # and the figure should not flick between seeds from one poll to the next.
    stages = [e.stage for e in events if e.kind in ("trial", "epoch")]
    stage = 0 if (result is not None or not stages) else max(stages)
    chart = figure(p, events, stage)
    if chart is not None:
        label = "as written" if stage == 0 else f"honest seed {stage - 1}"
        st.caption(f"Figure: {label}")
        st.altair_chart(chart, width="stretch")
    if job.status == "failed":
        st.error(f"The reproduction failed: {job.error}")
    elif job.status == "stopped":
        st.info("Stopped. Nothing is judged from a partial run.")
    elif result is not None:
        result_panel(p, record, result)


def section(key: str, seeds: int, model: str | None = None) -> None:
    p = run_protocol(key, model)
    spec = METHODS[p.method.method]
    st.subheader(f"{p.writeup}: {p.title}")
    st.markdown(f"**Hypothesis.** {p.hypothesis}")
    st.latex(spec.formula)
    st.markdown(f"**The write-up concludes.** {p.conclusion}")
    # Full width and as plain tables, which wrap their text: side by side in grids, the
    # values were clipped or off-screen at 1280 px and scrolled sideways on a phone.
    st.markdown("**Protocol**")
    st.table(pd.DataFrame(p.table()).set_index("what"))
    st.markdown("**Reported**")
    if p.reported:
        st.table(pd.DataFrame([{"side": side_name(p, r.side),
                                "quantity": QUANTITIES[r.quantity][0], "value": r.value}
                               for r in p.reported]).set_index("side"))
    else:
        st.caption("No numbers; only the claim: " + "; ".join(c.text for c in p.claims))
    record = st.session_state.get(job_key(key))
    # One run at a time on this page: while it runs, no tab starts another; its own tab stops it.
    live.buttons(
        StartButton(f"Run quick (~{words(estimate_s(p, seeds, QUICK))})", f"repro.quick.{key}",
                    start, (key, True, seeds, model), icon=":material/bolt:", primary=False,
                    help="Shrinks trials and epochs: checks the pipeline, not evidence."),
        StartButton(f"Run full (~{words(estimate_s(p, seeds, FULL))})", f"repro.full.{key}",
                    start, (key, False, seeds, model), primary=False,
                    help="The protocol as written, then over the honest seeds."),
        stop_key=f"repro.stop.{key}", stoppable=live.record is not None and live.record is record)
    committed_panel(key)
    if record is None:
        return
    kind = "SMOKE TEST (quick)" if record["scale"] != FULL.name else "FULL run"
    ran = run_protocol(key, record.get("model"))    # the run's own model, whatever is chosen now
    on = f" on {MODELS[ran.model].display_name}" if record.get("model") else ""
    st.caption(f"Live: {kind}{on}, {record['seeds']} honest seed(s): searched on seeds "
               f"0-{record['seeds'] - 1}, measured on fresh seeds {CONFIRM_SEED}-"
               f"{CONFIRM_SEED + record['seeds'] - 1}")
    live.area(lambda r: panel(ran, r), key=job_key(key))


st.title("Reproduce the write-ups")
# One run handle per page: a reload re-attaches the latest run, shown in its write-up's tab.
live = LiveRun("reproduce", K_LATEST)
if live.record is not None:
    st.session_state[job_key(live.record["key"])] = live.record
st.markdown(
    "Each write-up is run **as written** (seed 0, its own split, where the validation set is the "
    "test set), then repeated over **honest seeds**: tuning and early stopping see only a "
    "validation set carved from the training data, and losses are read on the untouched test "
    "set; each seed's chosen values are trained on a fresh seed the search never saw. Each "
    "claim is judged by the paired difference *method - Adam* over the seeds, against the "
    "metric's margin m (one seed-to-seed SD of Adam, set on calibration seeds): **reproduced** "
    "/ **reversed** (significant and reaching outside +-m), **significant but within +-m: "
    "negligible**, **equivalent within +-m** or **not detected (could detect >= X, a point "
    "estimate from n seeds)**. A diverged seed ranks last. The headline is Holm-adjusted over "
    "the write-up's own claims (the committed record: over all the record's claims), the "
    "unadjusted verdict beside it. Quick runs are smoke tests, not evidence; the committed "
    "record (full protocol, with the claims re-run under the settings the write-ups left open) "
    "is shown with every write-up.")
WRITTEN = ""    # the model choice that keeps each write-up's own model
for warning in keep_widgets_in_url("repro", [UrlField("seeds", K_SEEDS, whole(1, 10)),
                                             UrlField("model", K_MODEL,
                                                      one_of([WRITTEN, *MODELS]))]):
    st.warning(warning, icon=":material/link_off:")
left, right = st.columns(2)
seeds = left.number_input("Honest seeds", min_value=1, max_value=10, value=5, step=1,
                          key=K_SEEDS,
                          help="Seeds 0..K-1 on the honest split; 2 or more to judge anything.")
st.session_state.setdefault(K_MODEL, WRITTEN)
model = right.selectbox(
    "Model", [WRITTEN, *MODELS], key=K_MODEL,
    format_func=lambda k: MODELS[k].display_name if k else "As written (each write-up's MLP)",
    help="Run the protocols on another model of the lab's registry, at its default shape "
         "(`python -m core reproduce NAME --model KEY`). The margins were set on the write-ups' "
         "model, so there no claim can read as equivalent; the committed record's cross-model "
         "variants are runs of this kind, at a reduced scale.")
tabs = st.tabs([f"{p.writeup} {METHODS[p.method.method].display_name}"
                for p in PROTOCOLS.values()])
for tab, key in zip(tabs, PROTOCOLS):
    with tab:
        section(key, int(seeds), model or None)
