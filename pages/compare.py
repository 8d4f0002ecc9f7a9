"""Compare: configurations (a method and its knobs) over several seeds, paired, against a
baseline entry: a forest plot of the differences, a compact verdict table, mean curves."""

import dataclasses

import pandas as pd
import streamlit as st

from core.budget import compare_plan
from core.training.compare import MEASURES, MAX_SEEDS, curve_bands, paired_on, summarize
from core.training.compare_settings import (MAX_ENTRIES, MAX_LABEL_CHARS, SUMMARY_LABELS,
                                            CompareSettings, comparison_table, describe,
                                            family_note, fmt_interval, forest_rows,
                                            run_settings_comparison, verdict)
from core.config import RunConfig
from core.optim.registry import METHODS
from core.training.train import resolve_device
from ui.charts import (ELEMENT_HEIGHT, band_chart, fast_spec, forest_chart, forest_height,
                       legend_html)
from ui.params import COMPARE_DEFAULTS, compare_from_params, compare_to_params
from ui.live import LiveRun, StartButton
from ui.session import dataset
from ui.share import read_link, write_link
from ui.widgets import (apply_hyperparams_to_widgets, apply_run_settings_to_widgets,
                        apply_entry_settings_to_widgets, entry_settings,
                        device_choices, hp_key, method_hyperparams, run_settings)
from ui.entry import ensure_entry
from ui.plugin_errors import shows_plugin_errors

PREFIX = "compare"
K_RUN = "compare.run"
K_SLOTS, K_NEXT = "compare.slots", "compare.next_slot"
K_SEEDS, K_BAND, K_BASELINE, K_LOG = ("compare.n_seeds", "compare.band", "compare.baseline",
                                      "compare.log")
K_SETTINGS = "compare.settings"
BAND_LABELS = {"minmax": "min-max over seeds", "ci95": "95% interval of the mean"}

ensure_entry()
st.title("Compare")
live = LiveRun(PREFIX, K_RUN)   # after a reload: the run and its curves
st.markdown("Any configurations (the same method as often as you like) on the same seeds: for "
            "each seed every entry starts from the same initial weights and sees the same "
            "batches, so differences to the baseline entry are paired.")


def slot_prefix(slot: int) -> str:
    return f"{PREFIX}.e{slot}"


def apply_to_widgets(settings: CompareSettings) -> None:
    slots = list(range(len(settings.entries)))
    st.session_state[K_SLOTS] = slots
    st.session_state[K_NEXT] = len(slots)
    for slot, entry, label in zip(slots, settings.entries, settings.labels):
        st.session_state[f"{slot_prefix(slot)}.method"] = entry.method
        st.session_state[f"{slot_prefix(slot)}.label"] = label or ""
        apply_hyperparams_to_widgets(entry, slot_prefix(slot))
        apply_entry_settings_to_widgets(entry, slot_prefix(slot))
    apply_run_settings_to_widgets(settings.entries[0], PREFIX)
    st.session_state[K_SEEDS] = settings.n_seeds
    st.session_state[K_BAND] = settings.band
    st.session_state[K_BASELINE] = settings.baseline


# -- A shared link: apply the URL once, when it differs from what this page last wrote ---------
link_warnings = read_link(
    PREFIX, lambda url: compare_from_params(url, base=st.session_state.get(K_SETTINGS),
                                            devices=device_choices()),
    apply_to_widgets)
if link_warnings:
    st.warning("Parts of the link were ignored; the rest applies:\n"
               + "\n".join(f"- {w}" for w in link_warnings), icon=":material/link_off:")
if K_SLOTS not in st.session_state:
    apply_to_widgets(COMPARE_DEFAULTS)


def add_entry() -> None:
    """A new entry copies the last one (method and knobs): the next question is usually
    "and at another lr?"."""
    slots = st.session_state[K_SLOTS]
    if len(slots) >= MAX_ENTRIES:
        return
    new = st.session_state[K_NEXT]
    st.session_state[K_NEXT] = new + 1
    last = slot_prefix(slots[-1])
    method = st.session_state.get(f"{last}.method", COMPARE_DEFAULTS.methods[0])
    st.session_state[f"{slot_prefix(new)}.method"] = method
    st.session_state[f"{slot_prefix(new)}.label"] = ""
    for hp in METHODS[method].hyperparams:
        value = st.session_state.get(hp_key(last, method, hp.name))
        if value is not None:
            st.session_state[hp_key(slot_prefix(new), method, hp.name)] = value
    for key in [k for k in st.session_state if str(k).startswith(f"{last}.schedule")]:
        st.session_state[f"{slot_prefix(new)}{str(key)[len(last):]}"] = st.session_state[key]
    st.session_state[K_SLOTS] = slots + [new]


def remove_entry(slot: int) -> None:
    slots = [s for s in st.session_state[K_SLOTS] if s != slot]
    if slots:
        position = st.session_state[K_SLOTS].index(slot)
        st.session_state[K_SLOTS] = slots
        baseline = st.session_state.get(K_BASELINE) or 0
        st.session_state[K_BASELINE] = max(0, baseline - (position < baseline)) \
            if position != baseline else None


@shows_plugin_errors   # a plug-in raising for these values: an error, no crash
def start(settings: CompareSettings) -> None:
    data = dataset()
    total = len(settings.entries) * settings.n_seeds * settings.entries[0].epochs
    live.start(compare_plan(settings.entries, settings.seeds),
               lambda: run_settings_comparison(settings, data),
               label=f"compare {len(settings.entries)} entries x {settings.n_seeds} seeds",
               total=total, meta={"settings": settings})


def entry_widgets(position: int, slot: int, removable: bool) -> tuple[RunConfig | None, str]:
    """One entry's method, label and knobs; returns (config at default run fields, label)."""
    prefix = slot_prefix(slot)
    with st.container(border=True):
        # The method gets the row's whole width (beside a label box, names were cut to
        # "GNW-Ac"); the optional label sits with the knobs, Remove beside them.
        method = st.selectbox(f"Entry {position + 1}", list(METHODS), key=f"{prefix}.method",
                              format_func=lambda k: METHODS[k].display_name,
                              persist_state="session")
        c1, c3 = st.columns([6, 1], vertical_alignment="top")
        c3.button("", icon=":material/close:", key=f"{prefix}.remove", on_click=remove_entry,
                  args=(slot,), disabled=not removable, help="Remove this entry")
        with c1.expander("Label and knobs"):
            label = st.text_input("Short label", key=f"{prefix}.label",
                                  max_chars=MAX_LABEL_CHARS, placeholder="optional",
                                  persist_state="session")
            lr, knobs = method_hyperparams(METHODS[method], prefix)
            schedule = entry_settings(prefix)   # per entry: Adam constant vs Adam cosine
    return RunConfig(method=method, lr=lr, hparams=knobs), label, schedule


ENTRIES_SHOWN = 4          # more entries scroll inside their own box, so Start stays near
ENTRY_HEIGHT_PX = 140      # one collapsed entry, border and gap included


def entry_list(slots: list[int]) -> list[tuple[RunConfig | None, str, dict]]:
    """All entries; past :data:`ENTRIES_SHOWN` in a box that scrolls, so 8 entries do not push
    the run settings and Start a screen down."""
    box = (st.container(height=ENTRIES_SHOWN * ENTRY_HEIGHT_PX, border=False)
           if len(slots) > ENTRIES_SHOWN else st.container())
    with box:
        return [entry_widgets(i, slot, len(slots) > 1) for i, slot in enumerate(slots)]


def keep_start_in_view() -> None:
    """The row holding Start sticks to the bottom of the window while the settings above it
    scroll, so it is reachable at once however many entries there are. The sticky box is the
    row's wrapper (a sticky box moves only inside its parent: the row's own block is as tall
    as the row)."""
    dark = getattr(getattr(st.context, "theme", None), "type", None) == "dark"
    st.html(f"""<style>
    [data-testid="stLayoutWrapper"]:has(> [data-testid="stHorizontalBlock"]
        > [data-testid="stColumn"] > [data-testid="stVerticalBlock"] > .st-key-compare-start) {{
        position: sticky; bottom: 0; z-index: 5; padding: 0.5rem 0;
        background: {'#0e1117' if dark else '#ffffff'};
    }}</style>""")


# The settings take 2/5 of the width (not 1/3): method names such as "HessianLRAdaptation
# (Adam)" then fit their select at 1280 px with the sidebar open.
left, right = st.columns([2, 3], gap="large")
with left:
    slots = list(st.session_state[K_SLOTS])
    keep_start_in_view()
    drawn_with_schedules = entry_list(slots)
    drawn = [(c, label) for c, label, _ in drawn_with_schedules]
    st.button("Add entry", icon=":material/add:", key="compare.add", on_click=add_entry,
              disabled=len(slots) >= MAX_ENTRIES,
              help=f"Up to {MAX_ENTRIES} entries; a new one copies the last.")
    st.session_state.setdefault(K_SEEDS, COMPARE_DEFAULTS.n_seeds)
    n_seeds = st.slider("Seeds", 1, MAX_SEEDS, key=K_SEEDS, persist_state="session",
                        help="Each seed gives every entry the same initial weights and batches.")
    settings, error = None, None
    with st.expander("Run settings", expanded=True):
        try:
            shared = run_settings(PREFIX, COMPARE_DEFAULTS.entries[0], seed_label="First seed")
        except ValueError as e:
            error = str(e)
    st.session_state.setdefault(K_BAND, COMPARE_DEFAULTS.band)
    band = st.radio("Band", list(BAND_LABELS), format_func=BAND_LABELS.get, key=K_BAND,
                    horizontal=True, persist_state="session")
    if st.session_state.get(K_BASELINE) is None or st.session_state[K_BASELINE] >= len(slots):
        st.session_state[K_BASELINE] = CompareSettings(tuple(c for c, _ in drawn)).baseline
    if error is None:
        try:
            entries = tuple(c.replace(**shared).replace(**schedule)
                            for c, _, schedule in drawn_with_schedules)
            settings = CompareSettings(entries, n_seeds, band, tuple(l for _, l in drawn),
                                       st.session_state[K_BASELINE])
        except ValueError as e:
            error = str(e)
    labels = [settings.label(i) if settings else f"{i + 1}." for i in range(len(slots))]
    st.selectbox("Baseline", list(range(len(slots))), key=K_BASELINE,
                 format_func=lambda i: labels[i],
                 help="Every other entry is compared with this one, seed by seed.")
    if error:
        st.error(f"Invalid setting, nothing was changed: {error}")

    live.buttons(StartButton("Start", "compare.start", start, (settings,)),
                 stop_key="compare.stop", ready=settings is not None)
    if settings is not None:
        # Written only when valid, so the URL always holds a comparison that can run.
        st.session_state[K_SETTINGS] = settings
        write_link(PREFIX, compare_to_params(settings))
        st.caption(f"Runs on **{resolve_device(settings.entries[0].device)}**. The page's URL "
                   "holds these settings: copy it to share the comparison.")


def compact_table(settings: CompareSettings, summaries) -> pd.DataFrame:
    """Narrow enough for the verdicts to sit next to each entry's name at 1280 px: loss and
    accuracy, each with its own (Holm-adjusted) verdict."""
    loss, acc = paired_on(settings.entries[0].split)
    rows = []
    for s in summaries:
        is_base = s.entry == settings.baseline
        row = {"entry": settings.label(s.entry)}
        for name, short in ((loss, "loss"), (acc, "accuracy")):
            cmp = s.versus.get(name)
            row[f"{short} verdict"] = "baseline" if is_base else verdict(cmp)
            row[f"Δ {short}"] = "" if is_base else \
                fmt_interval(None if cmp is None else cmp.difference, "+")
        row["seeds"] = f"{len(s.seeds)}" + (f" ({len(s.diverged)} diverged)"
                                             if s.diverged else "")
        rows.append(row)
    return pd.DataFrame(rows)


def curves(settings: CompareSettings, items, metric: str, band: str) -> pd.DataFrame:
    labels = {i: settings.label(i) for i in range(len(settings.entries))}
    configs = {i: describe(e) for i, e in enumerate(settings.entries)}
    kinds = ({"val_loss": "validation", "train_loss": "train"} if metric == "loss"
             else {"val_acc": "validation"})
    frames = []
    for name, kind in kinds.items():
        frame = pd.DataFrame(curve_bands(items, name, band),
                             columns=["entry", "epoch", "mean", "low", "high", "n"])
        frame["kind"] = kind
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    frame["series"] = frame["entry"].map(labels)
    frame["config"] = frame["entry"].map(configs)
    return frame[["epoch", "series", "kind", "mean", "low", "high", "n", "config"]]


def against_baseline(run) -> CompareSettings:
    """The run's settings with the baseline now chosen: its runs are re-read against it (the
    choice is an entry's number; the run's own entries and labels stay)."""
    settings: CompareSettings = run["settings"]
    chosen = st.session_state.get(K_BASELINE)
    if isinstance(chosen, int) and 0 <= chosen < len(settings.entries):
        return dataclasses.replace(settings, baseline=chosen)
    return settings


def panel(run) -> None:
    settings = against_baseline(run)
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
        st.success(f"Finished: {len(settings.entries)} entries x {settings.n_seeds} seeds.",
                   icon=":material/check:")
    diverged = {(i.entry, i.seed) for i in items if i.metrics.diverged}
    if diverged:
        st.warning(f"{len(diverged)} run(s) diverged; their curves stop where the loss became "
                   "non-finite and they have no final values.", icon=":material/warning:")
    summaries = summarize(items, settings.entries, settings.baseline)
    labels = [settings.label(i) for i in range(len(settings.entries))]
    loss_name = paired_on(settings.entries[0].split)[0]
    st.markdown(f"**Against the baseline, {labels[settings.baseline]}** (paired difference in "
                f"{MEASURES[loss_name]}, 95% interval; left of zero favours the entry)")
    forest = pd.DataFrame(forest_rows(settings, summaries),
                          columns=["entry", "index", "mean", "low", "high", "n", "verdict",
                                   "class", "config"])
    # A plain table, not a grid: it never scrolls sideways, so each verdict stays in view.
    st.table(compact_table(settings, summaries).set_index("entry"))
    if any(x.versus for x in summaries):
        st.caption(family_note(summaries, settings.entries[0].split))
    if settings.entries[0].split != "honest":
        st.warning("The write-up split validates on the test set: these verdicts rest on the "
                   "minimum over epochs of the test loss, an optimistic number. Choose the "
                   "honest split under Run settings.", icon=":material/visibility:")
    if len(forest):
        st.vega_lite_chart(fast_spec(forest_chart, forest, x="mean", title="",
                                     x_title=f"Δ {SUMMARY_LABELS[loss_name]} vs baseline",
                                     order=list(forest.sort_values("index")["entry"])),
                           key="compare.chart.forest",
                           height=forest_height(len(forest)) + 165)
    else:
        st.caption("The forest plot appears when entries and the baseline have ended runs on "
                   "the same seeds.")
    band = st.session_state.get(K_BAND, COMPARE_DEFAULTS.band)
    st.markdown(legend_html(labels, [describe(e) for e in settings.entries]),
                unsafe_allow_html=True)
    log_y = st.toggle("Log-scale loss", key=K_LOG)
    st.caption(f"Lines: mean over seeds (validation solid, train dashed); bands: "
               f"{BAND_LABELS[band]}. Drag to pan, scroll to zoom, double-click to reset.")
    # One chart per row: side by side, each would be ~250 px wide at 1280 px.
    st.vega_lite_chart(fast_spec(band_chart, curves(settings, items, "loss", band), title="Loss",
                                 y_title="cross-entropy", labels=labels, log_y=log_y,
                                 # a log axis cannot reach 0: its bands stop at 1e-4
                                 bounds=(1e-4 if log_y else 0.0, None)),
                       key="compare.chart.val_loss", height=ELEMENT_HEIGHT)
    st.vega_lite_chart(fast_spec(band_chart, curves(settings, items, "acc", band),
                                 title="Validation accuracy", y_title="accuracy", labels=labels,
                                 bounds=(0.0, 1.0)),
                       key="compare.chart.val_acc", height=ELEMENT_HEIGHT)
    with st.expander("Full table"):
        st.markdown("Mean ± 95% interval half-width over seeds; Δ is the paired difference to "
                    "the baseline (negative loss or positive accuracy favours the entry).")
        st.dataframe(pd.DataFrame(comparison_table(settings, items, summaries)),
                     hide_index=True, key="compare.full_table")


with right:
    run = live.area(panel, "Set up the entries and a number of seeds, then press **Start**.")
    items = run["job"].items() if run is not None else []
    if items:
        settings_run = against_baseline(run)
        rows = [{"entry": settings_run.label(i.entry), "seed": i.seed, **i.metrics.flat()}
                for i in items]
        d1, d2 = st.columns(2)
        d1.download_button("All runs (CSV)", pd.DataFrame(rows).to_csv(index=False),
                           file_name="mnist1d_compare.csv", mime="text/csv",
                           icon=":material/download:", key="compare.dl.csv")
        d2.download_button("Table (CSV)",
                           pd.DataFrame(comparison_table(settings_run, items))
                           .to_csv(index=False),
                           file_name="mnist1d_compare_table.csv", mime="text/csv",
                           icon=":material/download:", key="compare.dl.table")
