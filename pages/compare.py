"""Compare: several methods over several seeds, paired, with mean curves, bands and a table."""

import math

import pandas as pd
import streamlit as st

from core.budget import compare_plan
from core.training.compare import (MAX_SEEDS, PAIRED_ON, comparison_seeds, curve_bands, entry_label,
                          run_comparison, summarize)
from core.config import RunConfig
from core.optim.registry import BASELINE, METHODS
from core.training.train import resolve_device
from ui.charts import ELEMENT_HEIGHT, band_chart, fast_spec
from ui.params import COMPARE_DEFAULTS, CompareSettings, compare_from_params, compare_to_params
from ui.session import dataset, keep_alive, start_job
from ui.share import read_link, write_link
from ui.widgets import (apply_hyperparams_to_widgets, apply_run_settings_to_widgets,
                        device_choices, method_hyperparams, run_settings)
from ui.entry import ensure_entry

PREFIX = "compare"
K_RUN = "compare.run"
K_METHODS, K_SEEDS, K_BAND = "compare.methods", "compare.n_seeds", "compare.band"
K_SETTINGS = "compare.settings"
POLL_S = 0.5
BAND_LABELS = {"minmax": "min-max over seeds", "ci95": "95% interval of the mean"}
SUMMARY_LABELS = {"best_val_loss": "best val loss", "final_val_loss": "final val loss",
                  "best_val_acc": "best val acc", "final_val_acc": "final val acc"}

ensure_entry()
st.title("Compare")
st.markdown("Every method trains on the same seeds; for each seed all methods start from the "
            "same initial weights and see the same batches, so differences are paired.")


def apply_to_widgets(settings: CompareSettings) -> None:
    st.session_state[K_METHODS] = settings.methods
    for entry in settings.entries:
        apply_hyperparams_to_widgets(entry, PREFIX)
    apply_run_settings_to_widgets(settings.entries[0], PREFIX)
    st.session_state[K_SEEDS] = settings.n_seeds
    st.session_state[K_BAND] = settings.band


# -- A shared link: apply the URL once, when it differs from what this page last wrote ---------
link_warnings = read_link(
    PREFIX, lambda url: compare_from_params(url, base=st.session_state.get(K_SETTINGS),
                                            devices=device_choices()),
    apply_to_widgets)
if link_warnings:
    st.warning("Parts of the link were ignored; the rest applies:\n"
               + "\n".join(f"- {w}" for w in link_warnings), icon=":material/link_off:")


def start(entries, seeds, baseline) -> None:
    data = dataset()
    total = len(entries) * len(seeds) * entries[0].epochs
    job = start_job(PREFIX, compare_plan(entries, seeds),
                    lambda: run_comparison(entries, seeds, data),
                    label=f"compare {len(entries)} methods x {len(seeds)} seeds", total=total,
                    meta={"entries": entries, "seeds": seeds, "baseline": baseline})
    if job is not None:
        st.session_state[K_RUN] = {**job.meta, "job": job}


def stop() -> None:
    run = st.session_state.get(K_RUN)
    if run is not None:
        run["job"].stop()


left, right = st.columns([1, 2], gap="large")
with left:
    st.session_state.setdefault(K_METHODS, COMPARE_DEFAULTS.methods)
    chosen = st.multiselect("Methods", list(METHODS), key=K_METHODS,
                            format_func=lambda k: METHODS[k].display_name,
                            persist_state="session")
    knobs = {}
    for key in chosen:
        with st.expander(f"{METHODS[key].display_name} settings"):
            knobs[key] = method_hyperparams(METHODS[key], PREFIX)
    st.session_state.setdefault(K_SEEDS, COMPARE_DEFAULTS.n_seeds)
    n_seeds = st.slider("Seeds", 1, MAX_SEEDS, key=K_SEEDS, persist_state="session",
                        help="Each seed gives every method the same initial weights and batches.")
    entries, seeds, error = [], [], None
    with st.expander("Run settings", expanded=True):
        try:
            settings = run_settings(PREFIX, COMPARE_DEFAULTS.entries[0], seed_label="First seed")
        except ValueError as e:
            error = str(e)
    if not chosen:
        error = "pick at least one method"
    if error is None:
        try:
            first_seed = settings.pop("seed")
            entries = [RunConfig(method=k, lr=knobs[k][0], hparams=knobs[k][1], seed=first_seed,
                                 **settings) for k in chosen]
            seeds = comparison_seeds(first_seed, n_seeds)
        except ValueError as e:
            error, entries = str(e), []
    if error:
        st.error(f"Invalid setting, nothing was changed: {error}")
    baseline_key = BASELINE
    baseline = chosen.index(baseline_key) if baseline_key in chosen else None
    if entries and baseline is None:
        st.caption(f"Add {METHODS[baseline_key].display_name} to get paired differences "
                   "against the baseline.")

    run = st.session_state.get(K_RUN)
    running = run is not None and not run["job"].done()
    b1, b2 = st.columns(2)
    b1.button("Start", type="primary", icon=":material/play_arrow:", key="compare.start",
              disabled=not entries or running, on_click=start, args=(entries, seeds, baseline),
              width="stretch")
    b2.button("Stop", icon=":material/stop:", key="compare.stop", disabled=not running,
              on_click=stop, width="stretch")
    st.session_state.setdefault(K_BAND, COMPARE_DEFAULTS.band)
    band = st.radio("Band", list(BAND_LABELS), format_func=BAND_LABELS.get, key=K_BAND,
                    horizontal=True, persist_state="session")

    if entries:
        # Written only when valid, so the URL always holds a comparison that can run.
        shared = CompareSettings(tuple(entries), n_seeds, band)
        st.session_state[K_SETTINGS] = shared
        write_link(PREFIX, compare_to_params(shared))
        st.caption(f"Runs on **{resolve_device(entries[0].device)}**. The page's URL holds "
                   "these settings: copy it to share the comparison.")


def fmt_interval(ci, sign: str = "") -> str:
    if ci is None:
        return "-"
    if not math.isfinite(ci.half_width):
        return f"{ci.mean:{sign}.4f} (n={ci.n}, no interval)"
    return f"{ci.mean:{sign}.4f} ± {ci.half_width:.4f}"


def results_table(run, items) -> pd.DataFrame:
    summaries = summarize(items, run["entries"], run["baseline"])
    base_label = (entry_label(run["baseline"], run["entries"][run["baseline"]])
                  if run["baseline"] is not None else None)
    rows = []
    for s in summaries:
        row = {"method": entry_label(s.entry, run["entries"][s.entry]),
               "seeds done": len(s.seeds), "diverged": len(s.diverged)}
        row.update({label: fmt_interval(s.stats[name]) for name, label in SUMMARY_LABELS.items()})
        for name in PAIRED_ON:
            cmp = s.versus.get(name)
            label = SUMMARY_LABELS[name]
            row[f"Δ {label} vs baseline"] = ("baseline" if s.entry == run["baseline"] else
                                             "-" if cmp is None else fmt_interval(cmp.difference, "+"))
            row[f"verdict ({label})"] = ("" if cmp is None else cmp.verdict)
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["baseline"] = base_label
    return table


def panel(run) -> None:
    job = run["job"]
    items = job.items()
    n, total = len(items), job.total
    if job.status == "queued":
        st.info(f"Waiting for a free training slot: position {job.queue_position() or 1}.",
                icon=":material/hourglass_top:")
    elif job.status == "running":
        eta = job.eta_seconds()
        st.progress(min(1.0, n / total), text=f"{n} of {total} epochs"
                    + (f", about {eta:.0f} s left" if eta is not None else ""))
    elif job.status == "failed":
        st.error(f"The comparison failed: {job.error}", icon=":material/error:")
    elif job.status == "stopped":
        st.info(f"Stopped after {n} of {total} epochs; the table uses the runs that ended.",
                icon=":material/stop_circle:")
    else:
        st.success(f"Finished: {len(run['entries'])} methods x {len(run['seeds'])} seeds.",
                   icon=":material/check:")
    diverged = {(i.entry, i.seed) for i in items if i.metrics.diverged}
    if diverged:
        st.warning(f"{len(diverged)} run(s) diverged; their curves stop where the loss became "
                   "non-finite and they have no final values.", icon=":material/warning:")
    band = st.session_state.get(K_BAND, COMPARE_DEFAULTS.band)
    labels = {i: entry_label(i, c) for i, c in enumerate(run["entries"])}
    st.caption(f"Lines: mean over seeds; bands: {BAND_LABELS[band]}.")
    c1, c2 = st.columns(2)
    for col, metric, title in ((c1, "val_loss", "Validation loss"),
                               (c2, "val_acc", "Validation accuracy")):
        frame = pd.DataFrame(curve_bands(items, metric, band),
                             columns=["entry", "epoch", "mean", "low", "high", "n"])
        frame["series"] = frame["entry"].map(labels)
        col.vega_lite_chart(fast_spec(band_chart, frame[["epoch", "series", "mean", "low",
                                                          "high", "n"]],
                                      title=title,
                                      y_title=metric.replace("_", " ")),
                            key=f"compare.chart.{metric}", height=ELEMENT_HEIGHT)
    table = results_table(run, items)
    st.markdown("**Results over seeds** (mean ± 95% interval half-width; Δ is the paired "
                "difference to the baseline, negative loss or positive accuracy favours the "
                "method)")
    st.dataframe(table, hide_index=True, key="compare.table")


@st.fragment(run_every=POLL_S)
def live_panel() -> None:
    keep_alive()
    run = st.session_state.get(K_RUN)
    if run is not None and run["job"].done():
        st.rerun(scope="app")
    if run is not None:
        panel(run)


with right:
    run = st.session_state.get(K_RUN)
    if run is None:
        st.info("Pick methods and a number of seeds, then press **Start**.",
                icon=":material/info:")
    elif not run["job"].done():
        live_panel()
    else:
        panel(run)
        items = run["job"].items()
        if items:
            labels = {i: entry_label(i, c) for i, c in enumerate(run["entries"])}
            rows = [{"method": labels[i.entry], "seed": i.seed, **i.metrics.flat()}
                    for i in items]
            st.download_button("All runs (CSV)", pd.DataFrame(rows).to_csv(index=False),
                               file_name="mnist1d_compare.csv", mime="text/csv",
                               icon=":material/download:", key="compare.dl.csv")
