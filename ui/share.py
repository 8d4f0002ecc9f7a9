"""A page's settings in its URL: a shared link is read once, then the page keeps the URL current.

Both sides remember, under ``<prefix>.url``, the parameters the page last read or wrote, so a
rerun never re-applies a link over what the user has changed since, and a link's warnings stay
on screen (under ``<prefix>.url_warnings``) until the user changes a setting.

Every rerun carries the query string the browser holds, and on a busy server that can be one
this session wrote several reruns ago (the browser had not yet applied the later writes when
the user changed the next widget). Such a URL is not a link: applying it would put the older
values back over the user's changes. So the session also remembers the last
:data:`WRITTEN_KEPT` URLs it wrote or applied (under ``<prefix>.url_written``) and never
applies one of them again. A shared link or a reload opens a new session, which has none, and
moving to another page forgets them. For the same reason a page that arrives with a URL another
page of this session wrote reads it as no link (:func:`link_in_url`), and a page of widgets
starts from the values it last had whatever the URL holds, a link then applying over them.

Streamlit empties the query string whenever the visitor moves to another page, so writing
compares with the URL itself too: coming back to a page puts its settings back in the URL.

Two ways to use it:
- a page with its own settings object (Train, Compare) calls :func:`read_link` before drawing its
  widgets and :func:`write_link` with its current settings;
- a page whose settings are plain widgets (Search, Reproduce) calls :func:`keep_widgets_in_url`
  once, before drawing them: it writes the values the widgets hold, restores them when the
  visitor comes back, and app.py writes them once more after the page has run
  (:func:`begin_page`, :func:`end_page`), for a first view whose widgets had no values yet.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import streamlit as st

from ui.params import UrlField, fields_from_params

Settings = TypeVar("Settings")
K_RUN = "_share.this_run"      # what the page now running asked for: (prefix, fields) or None
K_PAGE = "_share.page"         # the prefix of the page that last read its link
K_LEFTOVER = "_share.leftover"  # another page's URL that arrived after the visitor left it
WRITTEN_KEPT = 32              # far more writes than a browser can fall behind by


def read_link(prefix: str, parse: Callable[[dict], tuple[Settings | None, list[str]]],
              apply: Callable[[Settings], None]) -> list[str]:
    """Apply the URL's settings when they differ from what this page last wrote; returns the
    warnings of the link being shown (what it got wrong and was ignored)."""
    k_url, k_warn = f"{prefix}.url", f"{prefix}.url_warnings"
    url = link_in_url(prefix)
    if url and url != st.session_state.get(k_url) and not written_here(prefix, url):
        loaded, warnings = parse(url)
        if loaded is not None:
            apply(loaded)
        st.session_state[k_warn] = warnings
        st.session_state[k_url] = url
        remember_written(f"{prefix}.url_written", url)   # applied once; never again
    return st.session_state.get(k_warn, [])


def link_in_url(prefix: str) -> dict[str, str]:
    """The URL's parameters, or none when they are what another page of this session wrote.

    On a busy server the URL a page wrote can reach the browser after the visitor moved on, and
    the next page's reruns then carry it: that is the other page's state, not a link here."""
    url = st.query_params.to_dict()
    if st.session_state.get(K_PAGE) != prefix:
        # Moved here from another page: the URL a menu entry or a page link brings is the
        # visitor's choice, even one this page held before.
        written = [k for k in st.session_state if str(k).endswith(".url_written")]
        leftover = bool(url) and any(url in st.session_state[k] for k in written
                                     if k != f"{prefix}.url_written")
        st.session_state[K_LEFTOVER] = url if leftover else None
        for key in written:
            del st.session_state[key]
        st.session_state[K_PAGE] = prefix
    return {} if url == st.session_state.get(K_LEFTOVER) else url


def write_link(prefix: str, params: dict[str, str]) -> None:
    """Put the page's current (valid) settings in the URL, when it does not hold them."""
    k_url, k_warn = f"{prefix}.url", f"{prefix}.url_warnings"
    if params != st.session_state.get(k_url):
        if st.session_state.get(k_url) is not None:
            st.session_state[k_warn] = []   # the user moved on from the loaded link
        st.session_state[k_url] = params
    remember_written(f"{prefix}.url_written", params)
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def remember_written(key: str, value) -> None:
    """Add ``value`` to the bounded list, under ``key``, of what this session put in its URL."""
    kept = [v for v in st.session_state.get(key, []) if v != value]
    st.session_state[key] = (kept + [value])[-WRITTEN_KEPT:]


def written_here(prefix: str, url: dict) -> bool:
    return url in st.session_state.get(f"{prefix}.url_written", [])


def keep_widgets_in_url(prefix: str, fields: Sequence[UrlField]) -> list[str]:
    """Before the page draws the widgets named in ``fields``: apply a shared link to them (or,
    when the visitor comes back to the page, the values it last had), and have app.py write
    their values to the URL once they are drawn. Returns the link's warnings, in words."""
    remembered = st.session_state.get(f"{prefix}.url")
    if remembered:
        # Back from another page: widgets without persist_state lost their values. The URL
        # may be empty (a menu entry), a link (applied below, over these) or, on a busy
        # server, the one this page last wrote: in each case the widgets start from there.
        values, _ = fields_from_params(remembered, fields)
        for key, value in values.items():
            st.session_state.setdefault(key, value)
    warnings = read_link(prefix, lambda url: fields_from_params(url, fields),
                         lambda values: st.session_state.update(values))
    st.session_state[K_RUN] = (prefix, tuple(fields))
    if not fields or any(f.key in st.session_state for f in fields):
        # Widget values are known before drawing except on a page's first view; end_page
        # completes that one (and covers a run that app.py wraps).
        _write_widgets(prefix, fields)
    return warnings


def _write_widgets(prefix: str, fields: Sequence[UrlField]) -> None:
    write_link(prefix, {f.name: f.show(st.session_state[f.key]) for f in fields
                        if st.session_state.get(f.key) is not None})


def begin_page() -> None:
    """app.py, before the page runs: nothing is registered yet."""
    st.session_state[K_RUN] = None


def end_page() -> None:
    """app.py, after the page ran: write the registered widgets' values to the URL."""
    registered = st.session_state.get(K_RUN)
    if not registered:
        return
    _write_widgets(*registered)
