"""The Benchmark page's charts: the methods x workloads grid (filling in while a benchmark runs,
coloured by verdict once judged) and the Dolan-More performance profile."""

from __future__ import annotations

import altair as alt
import pandas as pd

from ui.charts import series_colors
from ui.outcome import VERDICT_COLORS

# A cell's state before it is judged, then the verdict labels core.stats gives (primary metric).
WAITING, RUNNING, DONE = "waiting", "running", "finished (not yet judged)"
BASELINE = "baseline"
GRID_STATES = [WAITING, RUNNING, DONE, BASELINE, "better", "equivalent", "not detected",
               "worse", "diverged", "none"]
GRID_COLORS = {WAITING: "#eeeeee", RUNNING: "#ffcc80", DONE: "#90caf9", BASELINE: "#cfd8dc",
               "diverged": "#000000", "none": "#bdbdbd"}
DARK = ["better", "worse", "diverged", "equivalent", "not detected"]   # white text on them
GRID_ROW_PX = 34
WORKLOAD_LABELS_PX = 280   # the column labels share this much: a 400 px page's plot width
PROFILE_HEIGHT = 240


def _color(state: str) -> str:
    return GRID_COLORS.get(state) or VERDICT_COLORS.get(state, "#bdbdbd")


def grid_height(methods: int) -> int:
    """The plot height of a grid of ``methods`` rows."""
    return GRID_ROW_PX * max(1, methods)


def legend_lines(df: pd.DataFrame) -> int:
    """Lines of the grid's legend (two states a line)."""
    return -(-df["state"].nunique() // 2)


def grid_chart(df: pd.DataFrame, methods: list[str], workloads: list[str]) -> alt.LayerChart:
    """``df``: one row per cell with ``method``, ``workload`` (labels), ``state`` (one of
    GRID_STATES), ``text`` (what the cell says: its accuracy, its progress), ``detail`` (its
    tooltip) and ``href`` (where a click opens it, or None)."""
    states = [s for s in GRID_STATES if s in set(df["state"])]
    scale = alt.Scale(domain=states, range=[_color(s) for s in states])
    base = alt.Chart(df).encode(
        x=alt.X("workload:N", sort=workloads, title=None,
                # every column keeps a label, cut short to fit a phone (the tooltip has all)
                axis=alt.Axis(orient="top", labelAngle=0, labelOverlap=False,
                              labelLimit=max(50, WORKLOAD_LABELS_PX // max(1, len(workloads))))),
        y=alt.Y("method:N", sort=methods, title=None, axis=alt.Axis(labelLimit=150)))
    # A judged cell opens its confirmed configurations (and the baseline's) on Compare.
    cells = base.mark_rect(stroke="white", strokeWidth=2, cursor="pointer").encode(
        href=alt.Href("href:N"),
        color=alt.Color("state:N", scale=scale, title=None,
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=200)),
        tooltip=[alt.Tooltip("method:N"), alt.Tooltip("workload:N"),
                 alt.Tooltip("state:N", title="state"), alt.Tooltip("detail:N", title="")])
    # Dark cells (worse, better, diverged) get white text.
    text = base.mark_text(fontSize=12).encode(
        text="text:N",
        color=alt.condition(alt.FieldOneOfPredicate("state", DARK),
                            alt.value("white"), alt.value("black")))
    return (cells + text).properties(height=grid_height(len(methods)))


def profile_chart(df: pd.DataFrame, labels: list[str]) -> alt.Chart:
    """``df``: ``method`` (label), ``tau``, ``fraction`` rows of core.benchmark's profile."""
    return alt.Chart(df).mark_line(point=True, interpolate="step-after").encode(
        x=alt.X("tau:Q", scale=alt.Scale(type="log", domain=[1, float(df["tau"].max())],
                                         nice=False),
                title="tau (error within a factor of the best)"),
        y=alt.Y("fraction:Q", scale=alt.Scale(domain=[0, 1]), title="fraction of workloads"),
        color=alt.Color("method:N", scale=series_colors(labels), title=None,
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=200)),
        # dashes tell apart methods whose profiles coincide (one line would hide the other)
        strokeDash=alt.StrokeDash("method:N", legend=None),
        tooltip=["method", alt.Tooltip("tau:Q", format="g"),
                 alt.Tooltip("fraction:Q", format=".2f")],
    ).properties(height=PROFILE_HEIGHT, title="Performance profile (Dolan-Moré)")
