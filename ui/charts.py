"""Altair chart builders. Each redraw re-sends the chart, so the data drawn stays small."""

from __future__ import annotations

import copy
import json
import math
from functools import lru_cache
from typing import Callable, Iterable, Mapping, Sequence

import altair as alt
import pandas as pd

from core.config import is_finite_number
from ui.outcome import VERDICT_COLORS  # the verdict colours live with the verdicts

MAX_POINTS = 300   # per series; a 10 000-epoch run is thinned to this many points
HEIGHT = 240
# Streamlit element heights that leave room for the title and the legend around a HEIGHT-tall
# plot: with its default ("content") Streamlit measured these charts too short and clipped them.
ELEMENT_HEIGHT = 330
LEGEND_LINE_PX = 30          # per legend line below a plot (measured in chromium)


def element_height(plot_height: int, legend_lines: int) -> int:
    """The Streamlit element height that leaves a ``plot_height`` plot its full height with
    its title, x axis and a legend of ``legend_lines`` lines below it (150 px measured)."""
    return plot_height + 150 + LEGEND_LINE_PX * legend_lines


def downsample(df: pd.DataFrame, x: str = "epoch", max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Keep at most ``max_points`` distinct x values, evenly spaced, always with the last one."""
    xs = sorted(df[x].unique()) if len(df) else []
    if len(xs) <= max_points:
        return df
    step = math.ceil(len(xs) / max_points)
    keep = set(xs[::step]) | {xs[-1]}
    return df[df[x].isin(keep)]


def long_frame(rows: Iterable[Mapping], columns: Mapping[str, str], x: str = "epoch",
               series_prefix: str = "") -> pd.DataFrame:
    """Rows of metrics -> long format (x, series, value); non-finite values are dropped, so a
    diverged epoch ends the curve instead of breaking the chart's scale. Long runs are thinned
    to ``MAX_POINTS`` rows first (evenly, keeping the last), so a redraw costs the same at
    epoch 20 and at epoch 10 000."""
    rows = list(rows)
    if len(rows) > MAX_POINTS:
        step = math.ceil(len(rows) / MAX_POINTS)
        rows = rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
    records = []
    for row in rows:
        for column, label in columns.items():
            value = row.get(column)
            if is_finite_number(value):
                records.append({x: row[x], "series": series_prefix + label, "value": float(value)})
    return pd.DataFrame.from_records(records, columns=[x, "series", "value"])


def line_chart(df: pd.DataFrame, *, title: str, y_title: str, x: str = "epoch",
               log_y: bool = False, height: int = HEIGHT,
               dashed: Sequence[str] = (), points: bool | None = None,
               legend: str = "bottom", order: Sequence[str] = ()) -> alt.Chart:
    """Lines per ``series`` with tooltips; series listed in ``dashed`` are drawn dashed and
    without point markers (markers would hide the dashes). ``order`` fixes the colour of each
    series (the first colours go to the first names), so adding series recolours none."""
    df = downsample(df, x)
    points = len(df) < 60 if points is None else points
    scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    colors = series_colors(order) if order else alt.Undefined
    enc = dict(
        x=epoch_x(x, x.replace("_", " ")) if x == "epoch" else alt.X(f"{x}:Q",
                                                                    title=x.replace("_", " ")),
        y=alt.Y("value:Q", title=y_title, scale=scale),
        color=alt.Color("series:N", title=None, scale=colors,
                        legend=alt.Legend(orient=legend, columns=1, labelLimit=0)),
        tooltip=[alt.Tooltip(f"{x}:Q"), alt.Tooltip("series:N"),
                 alt.Tooltip("value:Q", format=".4g")],
    )
    if dashed:
        enc["strokeDash"] = alt.condition(alt.FieldOneOfPredicate("series", list(dashed)),
                                          alt.value([5, 3]), alt.value([1, 0]))
    lines = alt.Chart(df, title=title, height=height).mark_line().encode(**enc)
    if not points:
        return lines
    solid = alt.Chart(df).mark_point(filled=True, size=30).encode(
        x=enc["x"], y=enc["y"], color=enc["color"], tooltip=enc["tooltip"])
    if dashed:
        solid = solid.transform_filter(~alt.FieldOneOfPredicate("series", list(dashed)))
    return lines + solid


# Eight categorical colours, one per Compare or Sweep entry (the same entry the same colour in
# every chart of a page): Category10 without its grey and cyan. Tableau 10 put blue beside
# teal and red beside pink, and its red and green merged for deuteranopes;
# tests/test_browser_layout.py checks the distances in CIELAB, also under simulated
# colour-vision deficiencies. All sit at lightness 42-74, readable on white and on dark.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#bcbd22")
EPOCH_AXIS = dict(format="d", tickMinStep=1)   # whole epochs only, never 1.2, 1.4, ...


def epoch_x(field: str = "epoch", title: str = "epoch") -> alt.X:
    """An x axis of whole epochs (for every chart that plots against epochs)."""
    return alt.X(f"{field}:Q", title=title, axis=alt.Axis(**EPOCH_AXIS))


def zoom_x() -> alt.Parameter:
    """Drag to pan, scroll to zoom the x axis, double-click to reset. A fixed name keeps the
    spec the same from one build to the next (``fast_spec`` caches it)."""
    return alt.selection_interval(bind="scales", encodings=["x"], name="zoom")


def series_colors(labels: Sequence[str]) -> alt.Scale:
    """A fixed label -> colour mapping, so a label keeps its colour in every chart."""
    labels = list(labels)
    return alt.Scale(domain=labels, range=[PALETTE[i % len(PALETTE)] for i in range(len(labels))])


def legend_html(labels: Sequence[str], titles: Sequence[str] = ()) -> str:
    """One legend for all the charts of a page, outside them: a chart's plot area then keeps
    its height however many entries there are. ``titles`` (the full configurations) become
    hover texts."""
    import html
    chips = []
    for i, label in enumerate(labels):
        title = html.escape(titles[i] if i < len(titles) else label, quote=True)
        chips.append(f'<span title="{title}" style="white-space:nowrap;margin-right:1em">'
                     f'<span style="display:inline-block;width:0.9em;height:0.9em;'
                     f'background:{PALETTE[i % len(PALETTE)]};margin-right:0.3em;'
                     f'vertical-align:-0.1em"></span>{html.escape(label)}</span>')
    return '<div style="line-height:1.8">' + " ".join(chips) + "</div>"


def clip_bands(chart: alt.Chart, bounds: tuple[float | None, float | None],
               fields: Sequence[str] = ("low", "high")) -> alt.Chart:
    """``chart`` with its interval ends cut to the metric's range (a loss is >= 0, an accuracy
    in [0, 1]): a t interval over 2 seeds is wide, and past the range it only stretches the
    axis. Done in the spec, so it applies to the data :func:`fast_spec` swaps in."""
    low, high = bounds
    if low is None and high is None:
        return chart
    exprs = {}
    for name in fields:
        expr = f"datum.{name}"
        if low is not None:
            expr = f"max({expr}, {float(low)!r})"
        if high is not None:
            expr = f"min({expr}, {float(high)!r})"
        exprs[name] = f"isValid(datum.{name}) ? {expr} : datum.{name}"
    return chart.transform_calculate(**exprs)


def band_chart(df: pd.DataFrame, *, title: str, y_title: str, labels: Sequence[str] = (),
               log_y: bool = False, height: int = HEIGHT,
               bounds: tuple[float | None, float | None] = (None, None)) -> alt.Chart:
    """Mean line with a shaded band per ``series``; ``df`` has epoch, series, kind, mean, low,
    high, n and config (the full configuration, for the tooltip).

    Colours come from ``labels`` (see :func:`series_colors`); ``kind`` "train" is drawn dashed
    without a band, "validation" solid with its band. No legend: the page draws one
    (:func:`legend_html`), so 8 entries cost the plot no height. Drag to pan, scroll to zoom.
    ``bounds``: the metric's range, which the bands are clipped to (:func:`clip_bands`)."""
    df = downsample(df, "epoch")
    scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    color = alt.Color("series:N", legend=None, scale=series_colors(labels)) if labels else \
        alt.Color("series:N", legend=None, scale=alt.Scale(range=list(PALETTE)))
    base = alt.Chart(df, title=title, height=height).encode(x=epoch_x(), color=color)
    band = (clip_bands(base.transform_filter(alt.datum.kind == "validation"), bounds)
            .mark_area(opacity=0.15)
            .encode(y=alt.Y("low:Q", title=y_title, scale=scale), y2="high:Q"))
    line = base.mark_line().encode(
        y=alt.Y("mean:Q", title=y_title, scale=scale),
        strokeDash=alt.StrokeDash("kind:N", legend=None,
                                  scale=alt.Scale(domain=["validation", "train"],
                                                  range=[[1, 0], [5, 3]])),
        detail="kind:N",
        tooltip=[alt.Tooltip("series:N", title="entry"), alt.Tooltip("config:N"),
                 alt.Tooltip("kind:N"), alt.Tooltip("epoch:Q"),
                 alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("low:Q", format=".4g"),
                 alt.Tooltip("high:Q", format=".4g"), alt.Tooltip("n:Q", title="seeds")])
    return band + line.properties(name="curves").add_params(zoom_x())


def forest_height(rows: int) -> int:
    """The forest plot's plot area: 36 px a row, at least 200 px like every other plot."""
    return max(200, 36 * rows)


def forest_chart(df: pd.DataFrame, *, title: str, x_title: str,
                 order: Sequence[str] | None = None) -> alt.Chart:
    """Paired differences to the baseline: per entry its mean and 95% interval, a zero line,
    coloured by verdict. ``df`` has entry, index, mean, low, high, verdict, class, config.
    ``order`` (the entries top to bottom; default: by index) sets the rows and the height,
    so that a :func:`fast_spec` template, built without the rows, has them."""
    if order is None:
        order = list(df.sort_values("index")["entry"]) if len(df) else []
    order = list(order)
    n = max(1, len(order))
    y = alt.Y("entry:N", title=None, sort=order, axis=alt.Axis(labelLimit=220))
    color = alt.Color("class:N", title="verdict",
                      scale=alt.Scale(domain=list(VERDICT_COLORS),
                                      range=list(VERDICT_COLORS.values())),
                      legend=alt.Legend(orient="top"))
    base = alt.Chart(df, title=title, height=forest_height(n)).encode(y=y)
    tooltip = [alt.Tooltip("entry:N"), alt.Tooltip("config:N"), alt.Tooltip("verdict:N"),
               alt.Tooltip("mean:Q", format="+.4f", title="difference"),
               alt.Tooltip("low:Q", format="+.4f"), alt.Tooltip("high:Q", format="+.4f"),
               alt.Tooltip("n:Q", title="paired seeds")]
    bars = base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title=x_title), x2="high:Q",
                                                color=color)
    points = base.mark_point(filled=True, size=70).encode(x="mean:Q", color=color,
                                                          tooltip=tooltip)
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(strokeDash=[4, 3],
                                                              color="#444").encode(x="zero:Q")
    return alt.layer(zero, bars, points)


def diagnostic_groups(columns: Iterable[str]) -> dict[str, list[str]]:
    """``trajectory_factor/layer1.weight`` and ``.../layer2.weight`` share one chart; a plain
    name such as ``hessian_trace`` gets its own."""
    groups: dict[str, list[str]] = {}
    for column in columns:
        groups.setdefault(column.split("/", 1)[0], []).append(column)
    return groups


def signals_chart(t, xs, labels, *, row_height: int = 34) -> alt.Chart:
    """A few MNIST-1D signals, one row per class (a ridgeline): a single chart that takes the
    page's width, so it fits a phone as well as a wide screen (a faceted grid of fixed-width
    panels does not). All signals share one vertical scale, so amplitudes compare."""
    peak = max((abs(float(v)) for x in xs for v in x), default=1.0) or 1.0
    scale = 0.48 / peak   # half a row up or down at the largest value
    records = [{"t": float(tt), "value": float(v), "y": -int(label) + scale * float(v),
                "class": str(int(label)), "example": i}
               for i, (x, label) in enumerate(zip(xs, labels)) for tt, v in zip(t, x)]
    df = pd.DataFrame.from_records(records)
    classes = sorted({int(c) for c in labels})
    return (alt.Chart(df, height=row_height * max(1, len(classes)))
            .mark_line(strokeWidth=1.2)
            .encode(x=alt.X("t:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
                    y=alt.Y("y:Q", title="digit class",
                            scale=alt.Scale(domain=[-max(classes) - 0.6, -min(classes) + 0.6],
                                            nice=False),
                            axis=alt.Axis(values=[-c for c in classes], grid=False,
                                          labelExpr="-datum.value")),
                    detail="example:N",
                    color=alt.Color("class:N", legend=None, scale=alt.Scale(scheme="category10")),
                    tooltip=["class:N", alt.Tooltip("t:Q", format=".2f"),
                             alt.Tooltip("value:Q", format=".3f")]))


FRAME = "points"   # the dataset name fast_spec gives the frame it is called with


@lru_cache(maxsize=256)
def _template(builder: Callable, frozen: str, columns: tuple[str, ...]) -> dict:
    kwargs = json.loads(frozen)
    spec = builder(pd.DataFrame(columns=list(columns)), **kwargs).to_dict()
    datasets = spec.pop("datasets", {})
    # The (empty) frame's rows are swapped in on each draw: every reference to it, at the top
    # or in a layer, becomes FRAME. Data a builder made itself (a forest plot's zero line) is
    # kept: a layer with its own data ignores the top level's, so dropping it drew nothing.
    frame = {name for name, rows in datasets.items() if not rows}
    spec = _rename_data(spec, frame)
    spec["data"] = {"name": FRAME}
    spec["datasets"] = {name: rows for name, rows in datasets.items() if name not in frame}
    return spec


def _rename_data(node, names: set[str]):
    if isinstance(node, list):
        return [_rename_data(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    if node.keys() == {"name"} and node["name"] in names:
        return {"name": FRAME}
    return {key: _rename_data(value, names) for key, value in node.items()}


def fast_spec(builder: Callable[..., alt.Chart], df: pd.DataFrame, x: str = "epoch",
              **kwargs) -> dict:
    """The Vega-Lite dict of ``builder(df, **kwargs)``, built from a cached template.

    Building an altair chart costs 15-25 ms, most of it in altair itself; a live page redraws
    every half second, so the chart is built once per shape (the keyword arguments) and each
    redraw only swaps in the data: about 1 ms. Draw it with ``st.vega_lite_chart``.
    """
    df = downsample(df, x) if x in df.columns else df
    frozen = json.dumps(kwargs, sort_keys=True, default=list)
    spec = copy.copy(_template(builder, frozen, tuple(df.columns)))
    spec["datasets"] = {**spec["datasets"], FRAME: df.to_dict("records")}
    return spec


def sensitivity_chart(df: pd.DataFrame, *, knob: str, y_title: str, labels: Sequence[str],
                      log_x: bool, height: int = HEIGHT,
                      bounds: tuple[float | None, float | None] = (None, None)) -> alt.Chart:
    """The metric against a knob: per entry (``series``) the mean over seeds with its 95%
    band, a ring on each entry's best point and a cross on every point where a seed diverged.
    ``df`` has x, series, mean, low, high, seeds, diverged, best, y_marker (where the cross
    goes: the mean, or the top of the chart when no seed gave a number) and config.
    ``bounds``: the metric's range; bands are clipped to it (:func:`clip_bands`).

    The best points are drawn last, on top of every line, as a ring with a light halo, so a
    ring stays visible where another entry's line crosses it."""
    x = alt.X("x:Q", title=knob, scale=alt.Scale(type="log") if log_x else alt.Scale(zero=False))
    color = alt.Color("series:N", legend=None, scale=series_colors(labels))
    base = alt.Chart(df, height=height).encode(x=x, color=color)
    tooltip = [alt.Tooltip("series:N", title="entry"), alt.Tooltip("config:N"),
               alt.Tooltip("x:Q", title=knob, format=".4g"),
               alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("low:Q", format=".4g"),
               alt.Tooltip("high:Q", format=".4g"), alt.Tooltip("seeds:Q"),
               alt.Tooltip("diverged:Q", title="seeds diverged")]
    band = clip_bands(base, bounds).mark_area(opacity=0.15).encode(y=alt.Y("low:Q", title=y_title,
                                                       scale=alt.Scale(zero=False)),
                                               y2="high:Q")
    line = base.mark_line(point=True).encode(y="mean:Q", tooltip=tooltip)
    halo = (alt.Chart(df).encode(x=x).transform_filter(alt.datum.best)
            .mark_point(size=300, strokeWidth=6, filled=False, color="white", opacity=0.9)
            .encode(y="mean:Q"))
    best = base.transform_filter(alt.datum.best).mark_point(size=300, strokeWidth=2.5, filled=False).encode(
        y="mean:Q", tooltip=tooltip)
    crosses = (base.transform_filter(alt.datum.diverged > 0)
               .mark_point(shape="cross", size=160, filled=True, opacity=0.9)
               .encode(y="y_marker:Q", tooltip=tooltip))
    return band + line + crosses + halo + best


def heatmap_chart(df: pd.DataFrame, *, knob: str, knob2: str, title: str, value_title: str,
                  lower_is_better: bool, height: int = HEIGHT) -> alt.Chart:
    """Two knobs: the metric's mean over seeds per cell; "best" on the best cell, "diverged"
    on every cell where a seed diverged. ``df`` has x, y (formatted grid values), mean,
    seeds, diverged, mark (text drawn in the cell) and config."""
    order_x = list(dict.fromkeys(df["x"])) if len(df) else []
    order_y = list(dict.fromkeys(df["y"]))[::-1] if len(df) else []
    enc = dict(x=alt.X("x:O", title=knob, sort=order_x, axis=alt.Axis(labelAngle=0)),
               y=alt.Y("y:O", title=knob2, sort=order_y))
    tooltip = [alt.Tooltip("x:O", title=knob), alt.Tooltip("y:O", title=knob2),
               alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("seeds:Q"),
               alt.Tooltip("diverged:Q", title="seeds diverged")]
    # viridis: dark is good whichever way the metric points; cells without a number stay grey
    cells = alt.Chart(df, title=title, height=height).mark_rect(color="#bbb").encode(
        **enc, color=alt.Color("mean:Q", title=value_title,
                               scale=alt.Scale(scheme="viridis", reverse=not lower_is_better),
                               legend=alt.Legend(orient="bottom")),
        tooltip=tooltip)
    # magenta reads on viridis' dark purple and its yellow alike
    marks = alt.Chart(df).mark_text(fontWeight="bold", fontSize=13, color="#ff2d95").encode(
        **enc, text="mark:N", tooltip=tooltip)
    return cells + marks
