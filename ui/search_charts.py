"""The Search page's charts: Optuna's usual views (history, slices, intermediate curves) drawn
with Altair from the trials a search has yielded so far.

Colour says the side (a duel's method and its baseline, in two colours of the lab's palette);
a trial's state is its mark's shape (points) or its line's dash (curves), so a pruned trial of
either side still reads as that side's."""

import math

import altair as alt
import pandas as pd

from core.optim.registry import METHODS
from core.search.outcomes import SearchProgress, TrialResult
from ui.charts import EPOCH_AXIS, PALETTE, epoch_x

STATES = ["COMPLETE", "PRUNED", "FAIL", "RUNNING"]
STATE_SHAPES = alt.Scale(domain=STATES, range=["circle", "triangle-up", "cross", "square"])
STATE_DASHES = alt.Scale(domain=STATES, range=[[1, 0], [5, 3], [2, 2], [1, 0]])
# Two columns: in half the page's width a one-line legend of four states ran off the chart.
STATE_LEGEND = alt.Legend(orient="bottom", columns=2)
# Plot heights, and the legend lines below them, for the page's element heights.
HISTORY_HEIGHT, SLICE_HEIGHT, CURVES_HEIGHT = 260, 220, 260
LEGEND_LINES = 2


def side_name(side: str) -> str:
    return METHODS[side].display_name if side in METHODS else side


def trials_frame(trials: list[TrialResult]) -> pd.DataFrame:
    """One row per trial; ``side`` in words (the method's display name)."""
    df = pd.DataFrame([t.row() for t in trials])
    if len(df):
        df["side"] = df["side"].map(side_name)
    return df


def running_rows(items: list, finished: set[tuple[str, int]]) -> list[dict]:
    """Rows for the trials of the batch training now (the latest progress report), in the
    columns of :func:`trials_frame`, leaving out any that already yielded a result."""
    step = next((i for i in reversed(items) if isinstance(i, SearchProgress)), None)
    if step is None:
        return []
    rows = []
    for number, params, epochs, best, state in step.running:
        if (step.side, number) in finished or state != "RUNNING" or epochs >= step.epochs:
            continue
        rows.append({"side": side_name(step.side), "number": number, "state": "RUNNING",
                     "value": best, "epochs": epochs, "duration": None,
                     "reason": "training: best so far",
                     **{f"params_{k}": v for k, v in params}})
    return rows


def side_colors(sides) -> alt.Scale:
    sides = list(dict.fromkeys(sides))
    return alt.Scale(domain=sides, range=[PALETTE[i % len(PALETTE)] for i in range(len(sides))])


def history_chart(df: pd.DataFrame) -> alt.Chart:
    colors = side_colors(df["side"])
    done = df[df["state"] == "COMPLETE"].sort_values("number").copy()
    done["best so far"] = done.groupby("side")["value"].cummin()
    points = alt.Chart(df.assign(shown=df["value"])).mark_point(filled=True, size=60).encode(
        x=alt.X("number:Q", title="trial", axis=alt.Axis(**EPOCH_AXIS)),
        y=alt.Y("shown:Q", title="best val loss", scale=alt.Scale(zero=False)),
        color=alt.Color("side:N", title="method", scale=colors,
                        legend=alt.Legend(orient="bottom")),
        shape=alt.Shape("state:N", scale=STATE_SHAPES, legend=STATE_LEGEND),
        tooltip=["side", "number", "state", "value", "reason"])
    line = alt.Chart(done).mark_line(interpolate="step-after").encode(
        x="number:Q", y="best so far:Q", color=alt.Color("side:N", scale=colors))
    return (points + line).properties(title="Optimization history (line: best so far)",
                                      height=HISTORY_HEIGHT)


def distribution_chart(df: pd.DataFrame) -> alt.Chart:
    colors = side_colors(df["side"])
    done = df[df["state"] == "COMPLETE"]
    box = alt.Chart(done).mark_boxplot(opacity=0.35).encode(
        x=alt.X("side:N", title=None, axis=alt.Axis(labelAngle=0, labelLimit=200)),
        y=alt.Y("value:Q", title="best val loss", scale=alt.Scale(zero=False)),
        color=alt.Color("side:N", scale=colors, legend=None))
    strip = alt.Chart(done).mark_circle(size=50).encode(
        x="side:N", y="value:Q", color=alt.Color("side:N", scale=colors, legend=None),
        tooltip=["side", "number", "value"])
    return (box + strip).properties(title="Trial values per side", height=260)


def slice_chart(df: pd.DataFrame, name: str, log: bool) -> alt.Chart:
    col = f"params_{name}"
    return alt.Chart(df[df[col].notna()]).mark_point(filled=True, size=60).encode(
        x=alt.X(f"{col}:Q", title=name, scale=alt.Scale(type="log" if log else "linear")),
        y=alt.Y("value:Q", title="best val loss", scale=alt.Scale(zero=False)),
        color=alt.Color("side:N", title="method", scale=side_colors(df["side"]),
                        legend=alt.Legend(orient="bottom")),
        shape=alt.Shape("state:N", scale=STATE_SHAPES, legend=STATE_LEGEND),
        tooltip=["side", "number", "state", col, "value", "reason"],
    ).properties(title=f"Slice: {name}", height=SLICE_HEIGHT)


def curves_chart(trials: list[TrialResult]) -> alt.Chart:
    rows = [{"trial": f"{side_name(t.side)} #{t.number}", "side": side_name(t.side),
             "state": t.state, "epoch": m.epoch, "val_loss": m.val_loss}
            for t in trials for m in t.curve if math.isfinite(m.val_loss)]
    df = pd.DataFrame(rows, columns=["trial", "side", "state", "epoch", "val_loss"])
    return alt.Chart(df).mark_line(point=True).encode(
        x=epoch_x(), y=alt.Y("val_loss:Q", title="val loss", scale=alt.Scale(zero=False)),
        color=alt.Color("side:N", title="method", scale=side_colors(df["side"]),
                        legend=alt.Legend(orient="bottom")),
        strokeDash=alt.StrokeDash("state:N", scale=STATE_DASHES,
                                  legend=alt.Legend(orient="bottom", columns=2,
                                                    symbolType="stroke")),
        detail="trial:N",
        tooltip=["trial", "state", "epoch", "val_loss"],
    ).properties(title="Intermediate curves (dashed: pruned, dotted: failed or diverged)",
                 height=CURVES_HEIGHT)


MIN_IMPORTANCE_TRIALS = 4   # fANOVA's forest has nothing to split on with fewer


def importance_frame(trials: list[TrialResult], spaces: dict) -> pd.DataFrame:
    """Optuna's fANOVA parameter importances per side (``spaces``: side -> its SearchSpace),
    computed on an in-memory copy of the side's completed trials; a side with fewer than
    :data:`MIN_IMPORTANCE_TRIALS` of them, or fewer than two searched knobs, is left out.
    Rows: side (display name), knob, importance (the side's importances sum to 1)."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    rows = []
    for side, space in spaces.items():
        done = [t for t in trials if t.side == side and t.state == "COMPLETE"
                and t.value is not None]
        searched = dict(space.distributions)
        if len(done) < MIN_IMPORTANCE_TRIALS or len(searched) < 2:
            continue
        study = optuna.create_study(direction="minimize")
        for t in done:
            study.add_trial(optuna.trial.create_trial(
                params={k: v for k, v in t.params.items() if k in searched},
                distributions={k: d for k, d in searched.items() if k in t.params},
                value=t.value))
        importances = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
        rows += [{"side": side_name(side), "knob": knob, "importance": float(value)}
                 for knob, value in importances.items()]
    return pd.DataFrame(rows, columns=["side", "knob", "importance"])


def importance_chart(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("importance:Q", title="share of the value's variance (fANOVA)",
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("knob:N", title=None, sort="-x"),
        yOffset="side:N",
        color=alt.Color("side:N", title="method", scale=side_colors(df["side"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["side", "knob", alt.Tooltip("importance:Q", format=".2f")],
    ).properties(title="Parameter importance", height=IMPORTANCE_ROW_PX * max(1, len(df)))


IMPORTANCE_ROW_PX = 28
