"""Make sure every page runs through app.py, even on a fresh server's first request.

Streamlit still emulates the old ``pages/`` directory mode until some script has called
``st.navigation``: if a fresh server's first request is a deep link such as ``/train``, the page
file runs on its own, without app.py (its navigation, sidebar and page config), and the flag
that selects that mode never flips. Each page calls :func:`ensure_entry` first; it turns the
emulation off and reruns once, so the rerun goes through app.py.
"""

import streamlit as st

ENTRY_KEY = "_lab_entered_via_app"


def mark_entry() -> None:
    """Called by app.py on every run."""
    st.session_state[ENTRY_KEY] = True


def ensure_entry() -> None:
    if st.session_state.get(ENTRY_KEY):
        return
    st.session_state[ENTRY_KEY] = True   # at most one extra rerun, whatever happens
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:      # a Streamlit without it has no emulation to turn off
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
