"""A plug-in's bug, said in words on the page that met it (a Start callback), not a crash.

The registry tries every plug-in on a tiny model when it loads and leaves out one that raises
there (``core/optim/plugins.py``); a plug-in that raises only for some values raises
``PluginError`` (which names it) when a Start builds its plan. ``@shows_plugin_errors`` on a
page's Start callback shows that message as an error, and nothing is started.
"""

from __future__ import annotations

import functools
import logging

import streamlit as st

from core.optim.plugins import PluginError

log = logging.getLogger("mnist1d_lab.plugins")


def shows_plugin_errors(callback):
    @functools.wraps(callback)
    def guarded(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except PluginError as error:
            log.warning("%s", error)
            st.error(f"{error}. Nothing was started; the server's operator may want to "
                     "update or remove this plug-in.", icon=":material/extension_off:")
    return guarded
