"""The Search page's charts: Optuna's usual views (history, slices, intermediate curves) drawn
with Altair from the trials a search has yielded so far."""

import math

import altair as alt
import pandas as pd

from core.search.outcomes import TrialResult
from ui.charts import EPOCH_AXIS, epoch_x

STATE_COLORS = alt.Scale(domain=["COMPLETE", "PRUNED", "FAIL", "RUNNING"],
                         range=["#1f77b4", "#ff7f0e", "#d62728", "#7f7f7f"])


def trials_frame(trials: list[TrialResult]) -> pd.DataFrame:
    return pd.DataFrame([t.row() for t in trials])


def history_chart(df: pd.DataFrame) -> alt.Chart:
    done = df[df["state"] == "COMPLETE"].sort_values("number").copy()
    done["best so far"] = done.groupby("side")["value"].cummin()
    points = alt.Chart(df.assign(shown=df["value"])).mark_point(filled=True).encode(
        x=alt.X("number:Q", title="trial", axis=alt.Axis(**EPOCH_AXIS)),
        y=alt.Y("shown:Q", title="best val loss"),
        color=alt.Color("side:N"), shape=alt.Shape("state:N"),
        tooltip=["side", "number", "state", "value", "reason"])
    line = alt.Chart(done).mark_line(interpolate="step-after").encode(
        x="number:Q", y="best so far:Q", color="side:N")
    return (points + line).properties(title="Optimization history (line: best so far)",
                                      height=260)


def distribution_chart(df: pd.DataFrame) -> alt.Chart:
    done = df[df["state"] == "COMPLETE"]
    box = alt.Chart(done).mark_boxplot(opacity=0.4).encode(
        x=alt.X("side:N", title=None), y=alt.Y("value:Q", title="best val loss",
                                               scale=alt.Scale(zero=False)))
    strip = alt.Chart(done).mark_circle(size=50).encode(
        x="side:N", y="value:Q", color="side:N", tooltip=["number", "value"])
    return (box + strip).properties(title="Trial values per side", height=260)


def slice_chart(df: pd.DataFrame, name: str, log: bool) -> alt.Chart:
    col = f"params_{name}"
    return alt.Chart(df[df[col].notna()]).mark_point(filled=True).encode(
        x=alt.X(f"{col}:Q", title=name, scale=alt.Scale(type="log" if log else "linear")),
        y=alt.Y("value:Q", title="best val loss", scale=alt.Scale(zero=False)),
        color=alt.Color("state:N", scale=STATE_COLORS), shape="side:N",
        tooltip=["side", "number", "state", col, "value", "reason"],
    ).properties(title=f"Slice: {name}", height=220)


def curves_chart(trials: list[TrialResult]) -> alt.Chart:
    rows = [{"trial": f"{t.side} #{t.number}", "state": t.state, "epoch": m.epoch,
             "val_loss": m.val_loss} for t in trials for m in t.curve
            if math.isfinite(m.val_loss)]
    return alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=epoch_x(), y=alt.Y("val_loss:Q", title="val loss", scale=alt.Scale(zero=False)),
        color=alt.Color("state:N", scale=STATE_COLORS), detail="trial:N",
        tooltip=["trial", "state", "epoch", "val_loss"],
    ).properties(title="Intermediate curves (orange: pruned or diverged)", height=260)
