"""A page's settings in its URL: a shared link is read once, then the page keeps the URL current.

Both sides remember, under ``<prefix>.url``, the parameters the page last read or wrote, so a
rerun never re-applies a link over what the user has changed since, and a link's warnings stay
on screen (under ``<prefix>.url_warnings``) until the user changes a setting.
"""

from typing import Callable, TypeVar

import streamlit as st

Settings = TypeVar("Settings")


def read_link(prefix: str, parse: Callable[[dict], tuple[Settings | None, list[str]]],
              apply: Callable[[Settings], None]) -> list[str]:
    """Apply the URL's settings when they differ from what this page last wrote; returns the
    warnings of the link being shown (what it got wrong and was ignored)."""
    k_url, k_warn = f"{prefix}.url", f"{prefix}.url_warnings"
    url = st.query_params.to_dict()
    if url and url != st.session_state.get(k_url):
        loaded, warnings = parse(url)
        if loaded is not None:
            apply(loaded)
        st.session_state[k_warn] = warnings
        st.session_state[k_url] = url
    return st.session_state.get(k_warn, [])


def write_link(prefix: str, params: dict[str, str]) -> None:
    """Put the page's current (valid) settings in the URL, when they changed."""
    k_url, k_warn = f"{prefix}.url", f"{prefix}.url_warnings"
    if params != st.session_state.get(k_url):
        if st.session_state.get(k_url) is not None:
            st.session_state[k_warn] = []   # the user moved on from the loaded link
        st.query_params.from_dict(params)
        st.session_state[k_url] = params
