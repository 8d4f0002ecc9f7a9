"""A page's run area: a hint before the first run, a fragment that redraws the running job's
panel, and the whole page's turn once the job is done (downloads and the like follow it)."""

from typing import Callable

import streamlit as st

from ui.session import keep_alive

POLL_S = 0.5   # live redraws: at most two a second


def run_area(run_key: str, panel: Callable[[dict], None], hint: str) -> dict | None:
    """Draw the run kept at ``st.session_state[run_key]``; return it once its job is done."""
    run = st.session_state.get(run_key)
    if run is None:
        st.info(hint, icon=":material/info:")
        return None
    if not run["job"].done():
        _live_panel(run_key, panel)
        return None
    panel(run)
    return run


@st.fragment(run_every=POLL_S)
def _live_panel(run_key: str, panel: Callable[[dict], None]) -> None:
    keep_alive()
    run = st.session_state.get(run_key)
    if run is not None and run["job"].done():
        st.rerun(scope="app")   # the finished run is drawn by the whole page
    if run is not None:
        panel(run)
