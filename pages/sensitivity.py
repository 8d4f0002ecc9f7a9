"""Sensitivity: a knob (or two) swept on a grid for several methods over seeds."""

import json

import pandas as pd
import streamlit as st

from core.optim.registry import METHODS
from core.budget import sweep_plan
from core.training.compare import MAX_SEEDS
from core.training.compare_settings import describe, short_name
from core.config import RunConfig
from core.schedules import DEFAULT as DEFAULT_SCHEDULE, SCHEDULES
from core.sweep_settings import KnobAxis as Axis, KnobSweepConfig as SweepConfig
from core.sweep_settings import sweep_knob, sweepable
from core.training.sweep import (MAX_POINTS, METRICS, MIN_POINTS, edge_warnings, point_rows,
                                 run_sweep, sweep_points)
from core.training.sweep_confirm import (confirmation_plan, confirmation_rows, confirmations,
                                         minima_tests, run_confirmation)
from core.training.train import resolve_device
from ui.charts import ELEMENT_HEIGHT, heatmap_chart, legend_html, sensitivity_chart
from ui.entry import ensure_entry
from ui.params import config_to_params
from ui.live import POLL_S, LiveRun, StartButton
from ui.session import dataset, start_job
from ui.share import read_link, write_link
from ui.sweep_params import SWEEP_DEFAULTS, sweep_from_params, sweep_to_params
from ui.widgets import (apply_hyperparams_to_widgets, apply_run_settings_to_widgets,
                        apply_entry_settings_to_widgets, entry_settings,
                        device_choices, method_hyperparams, run_settings)
from ui.plugin_errors import shows_plugin_errors

PREFIX = "sens"
PAGE = "sensitivity"   # its url path: the run handle is kept under it
K_RUN, K_SETTINGS = "sens.run", "sens.settings"
K_CONFIRM = "sens.confirm"   # the best points retrained on fresh seeds (its own job)
K_METHODS, K_SEEDS, K_METRIC = "sens.methods", "sens.n_seeds", "sens.metric"
NONE = "(none)"
# A 240 px plot plus title, axis and the colour legend below it (Streamlit's "content" height
# measures layered charts too short and clips them).
HEAT_ELEMENT_HEIGHT = 400

ensure_entry()
st.title("Sensitivity")
live = LiveRun(PAGE, K_RUN)   # after a reload: the run and its curves
st.markdown("How a result depends on a knob: every grid point trains on the same seeds, all of "
            "a method's points and seeds together as one population. A curve shows how wide "
            "the good range is, whether the best value sits at the edge of the grid, and where "
            "a method diverges; it does not show what other knobs, more epochs or another "
            "model would do.")


def axis_keys(k: int) -> dict[str, str]:
    s = "" if k == 0 else "2"
    return {n: f"{PREFIX}.{n}{s}" for n in ("knob", "points", "custom", "low", "high")}


def apply_to_widgets(config: SweepConfig) -> None:
    st.session_state[K_METHODS] = [e.method for e in config.entries]
    for entry in config.entries:
        apply_hyperparams_to_widgets(entry, PREFIX)
    apply_run_settings_to_widgets(config.entries[0], PREFIX)
    apply_entry_settings_to_widgets(config.entries[0], PREFIX)
    for k in (0, 1):
        keys = axis_keys(k)
        axis = config.axes[k] if k < len(config.axes) else None
        st.session_state[keys["knob"]] = axis.knob if axis else NONE
        if axis is not None:
            st.session_state[keys["points"]] = axis.points
            st.session_state[keys["custom"]] = axis.span is not None
            if axis.span is not None:
                st.session_state[keys["low"]], st.session_state[keys["high"]] = axis.span
    st.session_state[K_SEEDS] = config.n_seeds
    st.session_state[K_METRIC] = config.metric


link_warnings = read_link(
    PREFIX, lambda url: sweep_from_params(url, base=st.session_state.get(K_SETTINGS),
                                          devices=device_choices()),
    apply_to_widgets)
if link_warnings:
    st.warning("Parts of the link were ignored; the rest applies:\n"
               + "\n".join(f"- {w}" for w in link_warnings), icon=":material/link_off:")
if K_METHODS not in st.session_state:
    apply_to_widgets(SWEEP_DEFAULTS)


def probes(methods: list[str]) -> list[RunConfig]:
    """Each chosen method at its defaults under the chosen lr schedule: what decides which
    knobs can be swept (the schedule's widget is drawn further down, its value is already in
    the session)."""
    schedule = st.session_state.get(f"{PREFIX}.schedule", DEFAULT_SCHEDULE)
    if schedule not in SCHEDULES:
        schedule = DEFAULT_SCHEDULE
    return [RunConfig(method=m, schedule=schedule) for m in methods]


def axis_widgets(k: int, methods: list[str], exclude: str | None) -> Axis | None:
    keys = axis_keys(k)
    entries = probes(methods)
    options = [n for n in sweepable(entries) if n != exclude]
    if k == 1:
        options = [NONE] + options
    if st.session_state.get(keys["knob"]) not in options:
        st.session_state[keys["knob"]] = options[0]
    knob = st.selectbox("Knob to sweep" if k == 0 else "Second knob (a heatmap)", options,
                        key=keys["knob"], persist_state="session",
                        help="A knob every chosen method has, or one of the lr schedule's "
                             "(chosen under Run settings): its warm-up epochs, a cosine's "
                             "floor, a step decay's interval and factor.")
    if knob == NONE:
        return None
    hp = sweep_knob(entries[0], knob) if entries else None
    st.session_state.setdefault(keys["points"], 8 if k == 0 else 5)
    points = st.slider("Grid points", MIN_POINTS, MAX_POINTS, key=keys["points"],
                       persist_state="session")
    custom = st.toggle("Own range (default: each method's search range)", key=keys["custom"],
                       persist_state="session")
    span = None
    if custom and hp is not None:
        default = hp.search or (hp.low, hp.high)
        st.session_state.setdefault(keys["low"], float(default[0]))
        st.session_state.setdefault(keys["high"], float(default[1]))
        c1, c2 = st.columns(2)
        fmt = "%.3e" if hp.log else "%g"
        low = c1.number_input("from", float(hp.low), float(hp.high), key=keys["low"],
                              format=fmt, persist_state="session")
        high = c2.number_input("to", float(hp.low), float(hp.high), key=keys["high"],
                               format=fmt, persist_state="session")
        span = (float(low), float(high))
    return Axis(knob, int(points), span)


@shows_plugin_errors   # a plug-in raising for these values: an error, no crash
def start(config: SweepConfig) -> None:
    data = dataset()
    live.start(sweep_plan(config), lambda: run_sweep(config, data),
               label=f"sweep {config.n_runs} runs", total=config.total_epochs,
               meta={"config": config})


left, right = st.columns([1, 2], gap="large")
with left:
    methods = st.multiselect("Methods", list(METHODS), key=K_METHODS,
                             format_func=lambda k: METHODS[k].display_name,
                             persist_state="session", max_selections=8)
    fixed = {}
    for key in methods:
        with st.expander(f"{METHODS[key].display_name}: fixed knobs"):
            fixed[key] = method_hyperparams(METHODS[key], PREFIX)
            st.caption("The swept knob's value here is not used.")
    error, config = None, None
    try:
        axis = axis_widgets(0, methods, None)
        axis2 = axis_widgets(1, methods, axis.knob)
    except (KeyError, ValueError) as e:
        error, axis, axis2 = str(e), None, None
    st.session_state.setdefault(K_SEEDS, SWEEP_DEFAULTS.n_seeds)
    n_seeds = st.slider("Seeds", 1, MAX_SEEDS, key=K_SEEDS, persist_state="session")
    with st.expander("Run settings", expanded=False):
        try:
            shared = run_settings(PREFIX, SWEEP_DEFAULTS.entries[0], seed_label="First seed")
            shared.update(entry_settings(PREFIX))   # every entry's lr schedule
            st.caption("A swept schedule knob takes the grid's values; its value here is "
                       "not used.")
        except ValueError as e:
            error = error or str(e)
            shared = None
    honest = shared is not None and shared["split"] == "honest"
    metric_options = [m for m in METRICS if honest or m != "test_loss_at_best_val"]
    if st.session_state.get(K_METRIC) not in metric_options:
        st.session_state[K_METRIC] = metric_options[0]
    metric = st.selectbox("Metric", metric_options, key=K_METRIC, persist_state="session",
                          format_func=lambda m: METRICS[m][0],
                          help="What each run contributes. The test loss at the best "
                               "validation epoch needs the honest split.")
    if not methods:
        error = error or "pick at least one method"
    if error is None:
        try:
            entries = tuple(RunConfig(method=m, lr=fixed[m][0], hparams=fixed[m][1], **shared)
                            for m in methods)
            config = SweepConfig(entries, axis, axis2, int(n_seeds), metric)
        except ValueError as e:
            error = str(e)
    if error:
        st.error(f"Invalid setting, nothing was changed: {error}")
    else:
        st.caption(f"{config.n_runs} runs of {config.entries[0].epochs} epochs, trained as "
                   f"{len(config.entries)} population(s).")
    live.buttons(StartButton("Start", "sens.start", start, (config,)), stop_key="sens.stop",
                 ready=config is not None)
    if config is not None:
        st.session_state[K_SETTINGS] = config
        write_link(PREFIX, sweep_to_params(config))
        st.caption(f"Runs on **{resolve_device(config.entries[0].device)}**. The page's URL "
                   "holds this sweep: copy it to share it.")


def labels_of(config: SweepConfig) -> list[str]:
    return [f"{i + 1}. {short_name(e)}" for i, e in enumerate(config.entries)]


def curve_frame(config: SweepConfig, points) -> pd.DataFrame:
    labels = labels_of(config)
    rows = []
    for p in points:
        ci = p.stats
        rows.append({"x": p.point[0], "series": labels[p.entry],
                     "mean": ci.mean if ci else None,
                     "low": ci.low if ci and ci.n > 1 else (ci.mean if ci else None),
                     "high": ci.high if ci and ci.n > 1 else (ci.mean if ci else None),
                     "seeds": p.n_runs, "diverged": p.n_diverged, "best": p.best,
                     "config": describe(config.entries[p.entry])})
    df = pd.DataFrame(rows, columns=["x", "series", "mean", "low", "high", "seeds", "diverged",
                                     "best", "config"])
    top = df["high"].max() if df["high"].notna().any() else 0.0
    top = min(top, metric_bounds(config.metric)[1] or top)   # the crosses stay on the axis
    df["y_marker"] = df["mean"].fillna(top)
    return df


def metric_bounds(metric: str) -> tuple[float, float | None]:
    """Where the metric can lie: every lower-is-better metric is a cross-entropy (>= 0), every
    other an accuracy (in [0, 1]). The chart clips its 95% bands there."""
    return (0.0, None) if METRICS[metric][1] else (0.0, 1.0)


def heat_frame(config: SweepConfig, points, entry: int) -> pd.DataFrame:
    rows = []
    for p in points:
        if p.entry != entry:
            continue
        mark = "best" if p.best else ("diverged" if p.n_diverged else "")
        rows.append({"x": f"{p.point[0]:.3g}", "y": f"{p.point[1]:.3g}",
                     "mean": p.stats.mean if p.stats else None, "seeds": p.n_runs,
                     "diverged": p.n_diverged, "mark": mark})
    return pd.DataFrame(rows, columns=["x", "y", "mean", "seeds", "diverged", "mark"])


def panel(run) -> None:
    config: SweepConfig = run["config"]
    job = run["job"]
    events = job.items()
    runs = [r for e in events for r in e.finished]
    if job.status == "queued":
        st.info(f"Waiting for a free training slot: position {job.queue_position() or 1}.",
                icon=":material/hourglass_top:")
    elif job.status == "running":
        eta = job.eta_seconds()
        st.progress(min(1.0, len(events) / job.total),
                    text=f"{len(runs)} of {config.n_runs} runs ended"
                    + (f", about {eta:.0f} s left" if eta is not None else ""))
    elif job.status == "failed":
        st.error(f"The sweep failed: {job.error}", icon=":material/error:")
    elif job.status == "stopped":
        st.info(f"Stopped: {len(runs)} of {config.n_runs} runs ended; only they are drawn.",
                icon=":material/stop_circle:")
    else:
        st.success(f"Finished: {config.n_runs} runs.", icon=":material/check:")
    diverged = sum(r.diverged for r in runs)
    if diverged:
        st.warning(f"{diverged} run(s) diverged: crosses mark their points; each counts at the "
                   "worst value of the sweep (a diverged seed is a failure, it ranks last), and "
                   "a point with a diverged seed is never called the best.",
                   icon=":material/warning:")
    points = sweep_points(config, runs)
    for w in edge_warnings(config, points):
        st.warning(w, icon=":material/open_in_full:")
    label, lower = METRICS[config.metric]
    axis = config.axis
    if config.axis2 is None:
        labels = labels_of(config)
        st.markdown(legend_html(labels, [describe(e) for e in config.entries]),
                    unsafe_allow_html=True)
        hp = sweep_knob(config.entries[0], axis.knob)
        st.caption("Mean over seeds with its 95% interval; ring: each method's best point; "
                   "cross: a seed diverged.")
        st.altair_chart(sensitivity_chart(curve_frame(config, points), knob=axis.knob,
                                          y_title=label, labels=labels, log_x=hp.log,
                                          bounds=metric_bounds(config.metric)),
                        width="stretch", height=ELEMENT_HEIGHT, key="sens.chart")
    else:
        cols = st.columns(min(2, len(config.entries)))
        for i, entry in enumerate(config.entries):
            cols[i % len(cols)].altair_chart(
                heatmap_chart(heat_frame(config, points, i), knob=axis.knob,
                              knob2=config.axis2.knob, title=labels_of(config)[i],
                              value_title=label, lower_is_better=lower),
                width="stretch", height=HEAT_ELEMENT_HEIGHT, key=f"sens.heat.{i}")
    if not points:
        return
    rows = point_rows(config, points)
    best = [p for p in points if p.best]
    if best and job.done():
        confirmation_section(config, points)
        st.markdown("**Open a best point on Train** (optimistic until confirmed on fresh "
                    "seeds)")
        cols = st.columns(min(4, len(best)))
        for k, p in enumerate(best):
            point_config = config.point_config(p.entry, p.point)
            knobs = ", ".join(f"{a.knob}={v:.3g}" for a, v in zip(config.axes, p.point))
            cols[k % len(cols)].page_link("pages/train.py",
                                          label=f"{labels_of(config)[p.entry]} {knobs}",
                                          icon=":material/open_in_new:",
                                          query_params=config_to_params(point_config))
    with st.expander("Table"):
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="sens.table")
    if job.done():
        d1, d2 = st.columns(2)
        d1.download_button("Points (CSV)", pd.DataFrame(rows).to_csv(index=False),
                           file_name="mnist1d_sweep.csv", mime="text/csv",
                           icon=":material/download:", key="sens.dl.csv")
        d2.download_button("Sweep (JSON)",
                           json.dumps({"config": config.to_dict(), "points": rows,
                                       "warnings": edge_warnings(config, points),
                                       "runs": [r.to_dict() for r in runs]}, indent=1),
                           file_name="mnist1d_sweep.json", mime="application/json",
                           icon=":material/download:", key="sens.dl.json")


def start_confirmation(plan) -> None:
    from core.budget import Plan, estimate
    data = dataset()
    configs = [c for e in range(len(plan.points)) for c in plan.member_configs(e)]
    cli = sweep_plan(plan.config).cli + " --confirm"
    work = Plan(estimate(configs, together=len(plan.seeds)),
                f"the best points on {len(plan.seeds)} fresh seeds ({plan.n_runs} runs)", cli)
    job = start_job(f"{PAGE}.confirm", work, lambda: run_confirmation(plan, data),
                    label=f"confirm {plan.n_runs} runs", total=plan.total_epochs,
                    meta={"plan": plan})
    if job is not None:
        st.session_state[K_CONFIRM] = {"plan": plan, "job": job}


def confirmation_section(config: SweepConfig, points) -> None:
    """The best points were picked on the seeds the curve shows: optimistic. A button retrains
    them on fresh seeds; both numbers are then shown, and the minima tested, paired."""
    st.markdown("**Best points on fresh seeds**")
    try:
        plan = confirmation_plan(config, points)
    except ValueError as e:
        st.caption(f"No confirmation possible: {e}")
        return
    conf = st.session_state.get(K_CONFIRM)
    if conf is None or conf["plan"] != plan:
        st.caption(f"Each ring marks a point picked on the same seeds the curve shows, so its "
                   f"number is optimistic (the winner's luck is measured again). Confirming "
                   f"retrains each best point on fresh seeds {plan.seeds[0]}-{plan.seeds[-1]} "
                   f"({plan.n_runs} runs). A difference between two methods' minima is not "
                   "tested until then.")
        st.button("Confirm on fresh seeds", icon=":material/verified:", key="sens.confirm.start",
                  on_click=start_confirmation, args=(plan,))
        return
    if conf["job"].done():
        confirmation_table(conf)
    else:
        _confirmation_live()


@st.fragment(run_every=POLL_S)
def _confirmation_live() -> None:
    conf = st.session_state.get(K_CONFIRM)
    if conf is None:
        return
    if conf["job"].done():
        st.rerun(scope="app")
    confirmation_table(conf)


def confirmation_table(conf) -> None:
    plan, job = conf["plan"], conf["job"]
    runs = [r for e in job.items() for r in e.finished]
    if not job.done():
        st.progress(min(1.0, len(runs) / max(plan.n_runs, 1)),
                    text=f"{len(runs)} of {plan.n_runs} fresh runs ended")
    elif job.status == "failed":
        st.error(f"The confirmation failed: {job.error}", icon=":material/error:")
    found = confirmations(plan, runs)
    tests = minima_tests(plan, found) if len(plan.points) > 1 else None
    # A plain table, not a grid: it never scrolls sideways, so the test column stays in view.
    st.table(pd.DataFrame(confirmation_rows(plan, found, tests)).set_index("entry"))
    st.caption(f"The sweep's number is on its own seeds {plan.config.seeds[0]}-"
               f"{plan.config.seeds[-1]} (optimistic); the fresh one on seeds {plan.seeds[0]}-"
               f"{plan.seeds[-1]}, which picked nothing. "
               + ("Minima against entry 1: paired on the fresh seeds, Holm-adjusted across the "
                  "entries. " if tests is not None else "")
               + "A diverged seed counts at the worst value of the confirmation.")


with right:
    live.area(panel, "Pick methods, the knob and its grid, then press **Start**.")
