"""A finished search's knobs against its value, on the Search page: Optuna's fANOVA parameter
importance, then per side its parallel coordinates and the contours of its knobs' pairs."""

import pandas as pd
import streamlit as st

from core.search.outcomes import TrialResult
from core.search.study import SearchConfig
from ui.charts import element_height
from ui.search_charts import (IMPORTANCE_ROW_PX, MIN_IMPORTANCE_TRIALS, VIEW_HEIGHT, axis_ends,
                              contour_chart, contour_frame, contour_pairs, importance_chart,
                              importance_frame, knob_values, numeric_knobs, parallel_chart,
                              parallel_frame, side_name)


def knob_panels(trials: list[TrialResult], cfg: SearchConfig) -> None:
    """A finished search's knobs against its value: importance, then per side the parallel
    coordinates and contours of its searched knobs (knobs ranked by importance)."""
    sides = dict.fromkeys(t.side for t in trials)
    spaces = {s: (cfg if s == cfg.method else cfg.for_method(s)).space() for s in sides}
    importance = importance_panel(trials, spaces)
    for side, space in spaces.items():
        knob_views(trials, side, space,
                   list(importance[importance["side"] == side_name(side)]["knob"]))


def knob_views(trials: list[TrialResult], side: str, space, ranked: list[str]) -> None:
    dists = numeric_knobs(space)
    wide = knob_values(trials, side, space)
    if len(dists) < 2 or len(wide) < 2:
        return
    name = side_name(side)
    st.altair_chart(parallel_chart(parallel_frame(wide, dists), axis_ends(wide, dists),
                                   f"Parallel coordinates: {name}"),
                    width="stretch", height=element_height(VIEW_HEIGHT, 1))
    pairs = contour_pairs(list(dists), ranked)
    cols = st.columns(len(pairs))
    for col, (kx, ky) in zip(cols, pairs):
        col.altair_chart(contour_chart(wide, contour_frame(wide, kx, ky, dists), kx, ky, dists,
                                       f"Contour: {kx} and {ky}"),
                         width="stretch", height=element_height(VIEW_HEIGHT, 1))
    st.caption(f"{name}'s {len(wide)} completed trials. Parallel coordinates: one line per "
               "trial, through its value and each knob's place in its search range (ends "
               "labelled). Contours: the value interpolated linearly between the trials (the "
               "ringed points); blank outside them, where nothing was trained.")


def importance_panel(trials: list[TrialResult], spaces: dict) -> pd.DataFrame:
    """Which knobs the value depended on: Optuna's fANOVA importances per side (returned)."""
    df = importance_frame(trials, spaces)
    if not len(df):
        if any(len(sp.distributions) >= 2 for sp in spaces.values()):
            st.caption(f"Parameter importance needs {MIN_IMPORTANCE_TRIALS} completed trials "
                       "per side.")
        return df
    st.altair_chart(importance_chart(df), width="stretch",
                    height=element_height(IMPORTANCE_ROW_PX * len(df), 1))
    st.caption("Optuna's fANOVA importance (`optuna.importance`, seeded): the share of the "
               "variance of the trials' values each knob explains, fitted on this search's "
               "completed trials. With a few trials it is a rough guide; the slices above show "
               "the trials themselves.")
    return df
