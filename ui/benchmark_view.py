"""A benchmark drawn: the grid while it fills in, and a record's results (per-workload tables
with intervals and Holm-adjusted verdicts, win/tie/loss counts, the performance profile, the
heatmap by verdict, links that open a cell on Compare or Search, downloads).

Everything judged comes from core.benchmark's ``summarize``; this module only lays it out.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from core.benchmark import BenchmarkRecord, CellDone, CellProgress, summarize, to_markdown
from core.benchmark.config import DEFAULT_MARGINS, cli_args
from core.benchmark.results import PROFILE_MEASURE
from core.models import all_knobs
from core.schedules import DEFAULT as DEFAULT_SCHEDULE
from core.stats import EQUIVALENT, NOT_DETECTED
from core.training.compare_settings import MAX_ENTRIES, CompareSettings
from ui.benchmark_charts import (BASELINE, DONE, RUNNING, WAITING, grid_chart, grid_height,
                                 PROFILE_HEIGHT, legend_lines, profile_chart)
from ui.benchmark_storage import watch_link
from ui.charts import LEGEND_LINE_PX, element_height
from ui.params import compare_to_params

ROW_PX = 35          # a dataframe row in Streamlit's grid
GRID_FRAME_PX = 70   # the grid's axis labels on top and the legend's margin (measured in chromium)
TIE_NOTE = (f"A tie is never a win: **{EQUIVALENT}** means the paired interval lies inside the "
            f"margin; **{NOT_DETECTED}** means the seeds could not tell the two apart, and its "
            "text says the smallest difference they could have detected.")


def command(config) -> str:
    """The CLI line that runs ``config`` (core.benchmark's, plus the schedule's knobs and the
    margins away from their defaults, which its ``cli_args`` leaves out)."""
    extra = [f"--{k.replace('_', '-')} {v:g}" for k, v in config.workloads[0].schedule_params]
    extra += [f"--margin-{m.split('_')[1]} {v:g}" for m, v in config.margins
              if v != DEFAULT_MARGINS.get(m)]
    return "python -m core benchmark " + " ".join(cli_args(config) + extra)


# -- the grid ---------------------------------------------------------------------------------
def _labels(config) -> tuple[dict, dict]:
    return ({m.key: m.label for m in config.methods},
            {w.key: w.label for w in config.workloads})


def _acc_text(row: dict) -> str:
    if row.get("failed"):
        return "diverged"
    mean = row.get("test_acc_mean")
    return "-" if mean is None else f"{mean:.3f}"


def grid_frame(config, items: list, judged: BenchmarkRecord | None) -> pd.DataFrame:
    """One row per cell: waiting, running (its epochs), finished, or (with ``judged``, the
    record of the finished cells) its verdict against the baseline."""
    methods, workloads = _labels(config)
    rows = {}
    for entry, workload in config.cells():
        rows[entry.key, workload.key] = {"state": WAITING, "text": "", "detail": "not started"}
    last = next((i for i in reversed(items) if isinstance(i, CellProgress)), None)
    done = {(i.cell.method, i.cell.workload) for i in items if isinstance(i, CellDone)}
    if last is not None and (last.method, last.workload) not in done:
        rows[last.method, last.workload] = {
            "state": RUNNING, "text": f"{last.epochs_done}/{last.epochs_planned}",
            "detail": f"{last.phase}: epoch {last.epochs_done} of {last.epochs_planned}"}
    summary = summarize(judged) if judged is not None and judged.cells else None
    for r in (summary.table if summary else []):
        heat = next(h for h in summary.heatmap
                    if (h["method"], h["workload"]) == (r["method"], r["workload"]))
        state = ("diverged" if r["failed"] else BASELINE if r["baseline"]
                 else heat["label"] or DONE)
        workload = next(w for w in config.workloads if w.key == r["workload"])
        pair = [config.entry("baseline").key] + ([] if r["baseline"] else [r["method"]])
        rows[r["method"], r["workload"]] = {
            "state": state, "text": _acc_text(r), "href": compare_link(judged, workload, pair),
            "detail": f"test acc {_acc_text(r)}; {heat['verdict'] or 'no baseline yet'}"
                      + (f"; diverged on {r['diverged']} of {r['seeds']} seeds"
                         if r["diverged"] else "")}
    for key in done - {(r["method"], r["workload"]) for r in (summary.table if summary else [])}:
        rows[key] = {"state": DONE, "text": "done", "detail": "finished"}
    return pd.DataFrame([{"method": methods[m], "workload": workloads[w], "href": None, **v}
                         for (m, w), v in rows.items()])


def draw_grid(config, items: list, judged: BenchmarkRecord | None, key: str) -> None:
    methods, workloads = _labels(config)
    df = grid_frame(config, items, judged)
    st.altair_chart(grid_chart(df, list(methods.values()), list(workloads.values())),
                    width="stretch", key=key,
                    height=grid_height(len(methods)) + GRID_FRAME_PX
                    + LEGEND_LINE_PX * legend_lines(df))


# -- links --------------------------------------------------------------------------------------
def _run_config(config, method_key: str, workload, params: dict | None):
    entry = next(m for m in config.methods if m.key == method_key)
    search = config.search_config(entry, workload)
    return search.run_config(params or {}, seed=config.confirm_seeds[0])


def compare_link(record: BenchmarkRecord, workload, methods: list[str]) -> str | None:
    """Compare's URL for these cells' confirmed configurations on the benchmark's fresh seeds,
    the baseline's first (None when a cell has no configuration, or the seeds do not follow
    one another as Compare's do)."""
    config = record.config
    seeds = list(config.confirm_seeds)
    if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        return None
    cells = [record.cell(m, workload.key) for m in methods]
    if any(c is None or c.best_params is None for c in cells):
        return None
    entries = tuple(_run_config(config, c.method, workload, c.best_params) for c in cells)
    try:
        settings = CompareSettings(entries[:MAX_ENTRIES], len(seeds), baseline=0)
    except ValueError:
        return None
    return "compare?" + urlencode(compare_to_params(settings))


def search_link(config, method_key: str, workload) -> str:
    """Search's URL that sets up this cell's search: its method, budget, tuning seed, sampler,
    workload and lr schedule (the honest split, as every benchmark). An entry's fixed knobs
    are not in it: the Search page searches every knob of its method."""
    entry = next(m for m in config.methods if m.key == method_key)
    search = config.search_config(entry, workload)
    params = {"method": entry.method, "trials": str(config.trials),
              "epochs": str(workload.epochs), "seed": str(config.seed),
              "sampler": config.sampler, "split": search.split,
              "parallel": str(min(config.parallel, 32)), "model": workload.model}
    params.update({k: all_knobs()[k].to_text(v) for k, v in workload.shape})
    if search.schedule != DEFAULT_SCHEDULE:
        params["schedule"] = search.schedule
    params.update({k: repr(v) for k, v in search.schedule_params})
    return "search?" + urlencode(params)


# -- the results ----------------------------------------------------------------------------------
def _ci(row: dict, metric: str, digits: int = 4) -> str:
    mean, low, high = (row[f"{metric}_{k}"] for k in ("mean", "low", "high"))
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" if low is None else \
        f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def workload_table(record: BenchmarkRecord, summary, workload, stored: bool = False
                   ) -> pd.DataFrame:
    """``stored``: the cells are studies in the server's storage (Search watches them)."""
    base = record.config.entry("baseline").key
    rows = []
    for r in (r for r in summary.table if r["workload"] == workload.key):
        name = r["method_label"] + (" (baseline)" if r["baseline"] else "")
        if r["diverged"]:
            name += f" ⚠ diverged on {r['diverged']} of {r['seeds']} seeds"
        pair = [base] if r["baseline"] else [base, r["method"]]
        ttt = r["epochs_to_target"]
        rows.append({
            "rank": r["rank"], "method": name,
            "test acc [95%]": _ci(r, "test_acc"),
            "vs baseline (acc)": "baseline" if r["baseline"] else (r["test_acc_verdict"] or "-"),
            "test loss [95%]": _ci(r, "test_loss"),
            "vs baseline (loss)": "baseline" if r["baseline"] else (r["test_loss_verdict"]
                                                                    or "-"),
            "epochs to target": ("-" if ttt is None else f"{ttt:g}")
            + f" ({r['reached_target']}/{r['seeds']})",
            "wall s": round(r["wall_s"], 1), "grads/step": r["grads_per_step"],
            "HVPs/step": r["hvps_per_step"],
            "best config": ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in (r["best_params"] or {}).items())
            or "none completed",
            "Compare": compare_link(record, workload, pair),
            "Search": watch_link(cell.study) if stored and (cell := record.cell(
                r["method"], workload.key)) is not None and cell.study
            else search_link(record.config, r["method"], workload)})
    return pd.DataFrame(rows)


def verdict_lines(summary, workload) -> list[str]:
    """Each method's verdicts in full words (the table's cells may be cut short)."""
    lines = []
    for r in (r for r in summary.table if r["workload"] == workload.key and not r["baseline"]):
        acc, loss = r["test_acc_verdict"] or "-", r["test_loss_verdict"] or "-"
        lines.append(f"- **{r['method_label']}**: test accuracy {acc}; test loss {loss}")
    return lines


LINKS = {"Compare": st.column_config.LinkColumn(
             "Compare", display_text="compare", help="The confirmed configuration (and the "
             "baseline's) on the benchmark's fresh seeds, on the Compare page"),
         "Search": st.column_config.LinkColumn(
             "Search", display_text="search", help="This cell's study on the Search page (with "
             "the server's storage), else its search set up there: the same budget, tuning "
             "seed and sampler")}


def counts_table(summary) -> pd.DataFrame:
    return pd.DataFrame([{"method": r["method_label"], "wins": r["wins"], "ties": r["ties"],
                          EQUIVALENT: r["equivalent"], NOT_DETECTED: r["not_detected"],
                          "losses": r["losses"],
                          "workloads": r["workloads"]} for r in summary.counts])


def draw_results(record: BenchmarkRecord, key: str, stored: bool = False) -> None:
    """The whole record: grid by verdict, tables, counts, profile, downloads."""
    config = record.config
    summary = summarize(record)
    methods, workloads = _labels(config)
    base_label = methods[config.entry("baseline").key]
    st.markdown(f"**Heatmap: each method against {base_label}** on test accuracy (the cell "
                "shows the mean test accuracy over the fresh seeds; click a cell to open it, with the "
                "baseline, on Compare)")
    draw_grid(config, [], record, f"{key}.heatmap")
    p = record.protocol()
    st.caption(f"{config.trials} trials per cell ({p['sampler']}, tuning seed {config.seed}), "
               f"then the best configuration retrained on {config.seeds} fresh seeds "
               f"{', '.join(map(str, p['seeds']))}, paired across methods; split "
               f"{p['split']}. Verdicts: paired test at alpha {p['alpha']} with margins "
               f"test acc ±{config.margin('test_acc'):g}, test loss "
               f"±{config.margin('test_loss'):g}, Holm across all {summary.family} tests. "
               + TIE_NOTE)
    for workload in config.workloads:
        target = summary.targets.get(workload.key)
        st.markdown(f"##### {workload.label}: {workload.epochs} epochs, batch "
                    f"{workload.batch_size}, schedule {workload.schedule}")
        table = workload_table(record, summary, workload, stored)
        # every method in view without scrolling the table (a row is 35 px, the header too)
        st.dataframe(table, hide_index=True, column_config=LINKS,
                     height=ROW_PX * (len(table) + 1) + 3, key=f"{key}.table.{workload.key}")
        with st.expander("Every verdict in words"):
            st.markdown("\n".join(verdict_lines(summary, workload)))
        st.caption("Target validation accuracy "
                   + ("-" if target is None else f"{target:.4f}")
                   + f" (from {methods[config.entry('reference').key]}); epochs to target: "
                     "median over the seeds (seeds that reached it).")
    st.markdown(f"**Across workloads, against {base_label}** (test accuracy; ties are "
                f"{EQUIVALENT} or {NOT_DETECTED}, never wins)")
    counts = counts_table(summary)   # every method in view, as the tables above
    st.dataframe(counts, hide_index=True, height=ROW_PX * (len(counts) + 1) + 3,
                 key=f"{key}.counts")
    profile = pd.DataFrame(summary.profile)
    if len(profile):
        profile["method"] = profile["method"].map(methods)
        st.altair_chart(profile_chart(profile, list(methods.values())), width="stretch",
                        key=f"{key}.profile",
                        height=element_height(PROFILE_HEIGHT, math.ceil(len(methods) / 2)))
    st.caption(f"The fraction of workloads on which a method's {PROFILE_MEASURE} is within a "
               "factor tau of the best method's; a cell whose every seed diverged never is.")
    d1, d2, d3 = st.columns(3)
    table = pd.DataFrame(summary.table)
    if "best_params" in table:
        table["best_params"] = table["best_params"].map(lambda d: "" if d is None else str(d))
    d1.download_button("Table (CSV)", table.to_csv(index=False), file_name=f"{record.name}.csv",
                       mime="text/csv", icon=":material/download:", key=f"{key}.csv")
    d2.download_button("Record (JSON)", record.to_json(), file_name=f"{record.name}.json",
                       mime="application/json", icon=":material/download:", key=f"{key}.json")
    d3.download_button("Record (markdown)", to_markdown(record), file_name=f"{record.name}.md",
                       mime="text/markdown", icon=":material/download:", key=f"{key}.md")
