"""The Search page's charts: Optuna's usual views (history, slices, intermediate curves) drawn
with Altair from the trials a search has yielded so far.

Colour says the side (a duel's method and its baseline, in two colours of the lab's palette);
a trial's state is its mark's shape (points) or its line's dash (curves), so a pruned trial of
either side still reads as that side's."""

import itertools
import math

import altair as alt
import numpy as np
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


# -- a finished search's knobs against its value: Optuna's parallel-coordinate and contour
# views, drawn with Altair from the completed trials and the study's own distributions, as
# every other chart here (optuna.visualization's versions need plotly, not installed).
VIEW_HEIGHT = 260
MAX_CONTOUR_KNOBS = 3        # the pairs of the first three knobs: three contours at most
CONTOUR_CELLS = 24           # per axis; the grid is interpolated, never trained


def numeric_knobs(space) -> dict:
    """The searched knobs with a numeric range (Float and Int distributions), in the space's
    order; a categorical knob has no axis position to draw."""
    from optuna.distributions import FloatDistribution, IntDistribution
    return {k: d for k, d in space.distributions.items()
            if isinstance(d, (FloatDistribution, IntDistribution))}


def axis_position(dist, values) -> np.ndarray:
    """0..1 along the knob's search range, on a log scale where the knob is searched on one."""
    f = np.log10 if dist.log else (lambda v: np.asarray(v, dtype=float))
    lo, hi = f(dist.low), f(dist.high)
    return (f(np.asarray(values, dtype=float)) - lo) / (hi - lo) if hi > lo \
        else np.full(np.shape(values), 0.5)


def knob_values(trials: list[TrialResult], side: str, space) -> pd.DataFrame:
    """One row per completed trial of ``side``: number, value and its searched numeric knobs
    (a trial missing one, as a resumed study's older trial may, is left out)."""
    knobs = list(numeric_knobs(space))
    rows = [{"number": t.number, "value": float(t.value),
             **{k: float(t.params[k]) for k in knobs}}
            for t in trials if t.side == side and t.state == "COMPLETE" and t.value is not None
            and math.isfinite(t.value) and all(k in t.params for k in knobs)]
    return pd.DataFrame(rows, columns=["number", "value", *knobs])


VALUE_AXIS = "best val loss"


def parallel_frame(wide: pd.DataFrame, dists: dict) -> pd.DataFrame:
    """Long rows (number, value, axis, order, position, shown) for a parallel-coordinate plot:
    the value's axis first (as Optuna draws it) spans the trials' values; each knob's axis
    spans its search range. ``shown`` is the axis's value in words, for the tooltip."""
    values = wide["value"].to_numpy(dtype=float)
    span = values.max() - values.min() if len(values) else 0.0
    axes = [(VALUE_AXIS, wide["value"], (values - values.min()) / span if span > 0
             else np.full(len(values), 0.5))]
    axes += [(k, wide[k], axis_position(d, wide[k])) for k, d in dists.items()]
    rows = [{"number": int(n), "value": float(v), "axis": name, "order": i,
             "position": float(p), "shown": f"{raw:.4g}"}
            for i, (name, raw_values, positions) in enumerate(axes)
            for n, v, raw, p in zip(wide["number"], wide["value"], raw_values, positions)]
    return pd.DataFrame(rows, columns=["number", "value", "axis", "order", "position", "shown"])


def axis_ends(wide: pd.DataFrame, dists: dict) -> pd.DataFrame:
    """Each axis's labels at its bottom (0) and top (1): the knob's search range, the value's
    lowest and highest trial."""
    ends = [(VALUE_AXIS, wide["value"].min(), wide["value"].max())]
    ends += [(k, d.low, d.high) for k, d in dists.items()]
    return pd.DataFrame([{"axis": name, "position": p, "label": f"{v:.3g}"}
                         for name, lo, hi in ends for p, v in ((0.0, lo), (1.0, hi))])


def value_color(title: str = VALUE_AXIS) -> alt.Color:
    # viridis with dark for a low loss, as the Sensitivity heatmap draws it
    # a gradient no longer than a third of the page's plot, so its end label is not cut off
    return alt.Color("value:Q", title=title, scale=alt.Scale(scheme="viridis"),
                     legend=alt.Legend(orient="bottom", gradientLength=140))


def parallel_chart(long: pd.DataFrame, ends: pd.DataFrame, title: str) -> alt.LayerChart:
    order = list(dict.fromkeys(long.sort_values("order")["axis"]))
    x = alt.X("axis:N", sort=order, title=None,
              axis=alt.Axis(orient="top", labelAngle=0, labelLimit=200, domain=False, ticks=False))
    y = alt.Y("position:Q", axis=None, scale=alt.Scale(domain=[0, 1]))
    lines = alt.Chart(long).mark_line(opacity=0.8, strokeWidth=2).encode(
        x=x, y=y, color=value_color(), detail="number:N", order="order:Q",
        tooltip=[alt.Tooltip("number:Q", title="trial"), "axis:N",
                 alt.Tooltip("shown:N", title="axis value"),
                 alt.Tooltip("value:Q", title=VALUE_AXIS, format=".4g")])
    rules = alt.Chart(ends).mark_rule(color="#888").encode(x=x)
    labels = alt.Chart(ends).mark_text(dx=4, align="left", fontSize=11, color="#888").encode(
        x=x, y=y, text="label:N")
    return (rules + lines + labels).properties(title=title, height=VIEW_HEIGHT)


def contour_frame(wide: pd.DataFrame, kx: str, ky: str, dists: dict,
                  cells: int = CONTOUR_CELLS) -> pd.DataFrame:
    """A ``cells`` x ``cells`` grid over two knobs' search ranges (log where searched on
    one) with the value interpolated linearly between the completed trials (scipy's
    griddata over the axes' 0..1 positions). Cells outside the trials' convex hull are left
    out, never extrapolated; fewer than three trials not on a line give no grid.
    Rows: x_lo, x_hi, y_lo, y_hi (knob values), value."""
    from scipy.interpolate import griddata
    columns = ["x_lo", "x_hi", "y_lo", "y_hi", "value"]
    points = np.column_stack([axis_position(dists[kx], wide[kx]),
                              axis_position(dists[ky], wide[ky])])
    if len(points) < 3 or np.linalg.matrix_rank(points[1:] - points[0]) < 2:
        return pd.DataFrame(columns=columns)
    edges = np.linspace(0.0, 1.0, cells + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    gx, gy = np.meshgrid(mid, mid)
    grid = griddata(points, wide["value"].to_numpy(dtype=float), (gx, gy), method="linear")

    def knob_at(dist, p):   # inverse of axis_position
        lo, hi = (np.log10(dist.low), np.log10(dist.high)) if dist.log else (dist.low, dist.high)
        v = lo + np.asarray(p) * (hi - lo)
        return 10 ** v if dist.log else v

    rows = [{"x_lo": knob_at(dists[kx], edges[i]), "x_hi": knob_at(dists[kx], edges[i + 1]),
             "y_lo": knob_at(dists[ky], edges[j]), "y_hi": knob_at(dists[ky], edges[j + 1]),
             "value": float(grid[j, i])}
            for j in range(cells) for i in range(cells) if np.isfinite(grid[j, i])]
    return pd.DataFrame(rows, columns=columns)


def contour_chart(wide: pd.DataFrame, grid: pd.DataFrame, kx: str, ky: str, dists: dict,
                  title: str) -> alt.LayerChart:
    """The interpolated grid under the trials themselves (ringed), one colour scale."""
    def scale(d):
        return alt.Scale(type="log" if d.log else "linear", domain=[d.low, d.high], nice=False)
    x, y = dists[kx], dists[ky]
    no_grid = alt.Axis(grid=False)   # grid lines through the cells read as contour lines
    cells = alt.Chart(grid).mark_rect().encode(
        x=alt.X("x_lo:Q", title=kx, scale=scale(x), axis=no_grid), x2="x_hi:Q",
        y=alt.Y("y_lo:Q", title=ky, scale=scale(y), axis=no_grid), y2="y_hi:Q",
        color=value_color(), tooltip=[alt.Tooltip("value:Q", title="interpolated",
                                                  format=".4g")])
    # black rings: a trial on a cell of its own colour still shows
    trials = alt.Chart(wide).mark_point(filled=True, size=70, stroke="black", strokeWidth=1.2,
                                        opacity=1).encode(
        x=alt.X(f"{kx}:Q", scale=scale(x)), y=alt.Y(f"{ky}:Q", scale=scale(y)),
        color=value_color(),
        tooltip=[alt.Tooltip("number:Q", title="trial"), alt.Tooltip(f"{kx}:Q", format=".4g"),
                 alt.Tooltip(f"{ky}:Q", format=".4g"),
                 alt.Tooltip("value:Q", title=VALUE_AXIS, format=".4g")])
    return (cells + trials).properties(title=title, height=VIEW_HEIGHT)


def contour_pairs(knobs: list[str], importance: list[str] = ()) -> list[tuple[str, str]]:
    """The pairs of the first :data:`MAX_CONTOUR_KNOBS` knobs, most important first."""
    ranked = [k for k in importance if k in knobs] + [k for k in knobs if k not in importance]
    return list(itertools.combinations(ranked[:MAX_CONTOUR_KNOBS], 2))
