"""The server's study storage and sharing rules, read from its configuration (secrets or
environment), never from the browser; and the studies this browser created.

A visitor's studies are theirs across reloads, as run handles are: a study a visitor creates is
marked with an owner key derived from the browser's key (``ui.session.browser_key``, stable
across reloads and tabs, unknown to other browsers), and a later session of the same browser may
write to it and lists it among its own. A visitor's default study names carry a tag of that key,
so the first visitor to use the default settings no longer owns the name everyone else gets.
"""

from __future__ import annotations

import hashlib
import logging

import streamlit as st

from core.search.access import OWNER_ATTR, StudyAccess
from core.search.storage import configured_storage_url, open_storage
from ui.session import browser_key, session_id

K_OWNED = "search.owned_studies"
GENERIC_STORAGE_ERROR = ("The study storage is not available right now; the server log has the "
                         "details. Try again later, or run the search from the CLI.")
log = logging.getLogger("mnist1d_lab.search")


def server_secrets() -> dict:
    try:
        return dict(st.secrets)
    except FileNotFoundError:   # no secrets file: the environment decides
        return {}


def storage_url() -> str | None:
    return configured_storage_url(server_secrets())


def study_access() -> StudyAccess:
    return StudyAccess.configured(server_secrets())


def owned_studies() -> set[str]:
    """Studies this browser created (the only ones it may write to, shared ones aside): this
    session's, and, looked up once per session, those an earlier session of this browser
    created (their owner mark)."""
    owned = st.session_state.get(K_OWNED)
    if owned is None:
        owned = st.session_state[K_OWNED] = set(_marked_studies())
    return owned


def owner_key() -> str | None:
    """This browser's mark on the studies it creates (a hash of its browser key, never the key);
    None without one (AppTest, XSRF protection off): ownership then lasts a session."""
    key = browser_key()
    return hashlib.sha256(f"mnist1d-lab study owner {key}".encode()).hexdigest()[:32] \
        if key else None


def visitor_study_name(default: str) -> str:
    """``default`` with this visitor's tag: the same after a reload of this browser (so a rerun
    resumes their own study), different in every other browser (so nobody squats a default)."""
    source = owner_key() or hashlib.sha256(f"session {session_id()}".encode()).hexdigest()
    return f"{default}-{source[:8]}"


def stored_owner(storage, name: str) -> str | None:
    """The owner mark of an existing study (None: unmarked, an operator's or an older one)."""
    attrs = storage.get_study_user_attrs(storage.get_study_id_from_name(name))
    return attrs.get(OWNER_ATTR)


def mark_owner(study) -> None:
    """Mark a study this browser just created as its own."""
    owner = owner_key()
    if owner is not None:
        study.set_user_attr(OWNER_ATTR, owner)


def _marked_studies() -> list[str]:
    owner, url = owner_key(), storage_url()
    if owner is None or url is None:
        return []
    try:
        return [s.study_name for s in open_storage(url).get_all_studies()
                if s.user_attrs.get(OWNER_ATTR) == owner]
    except Exception:   # the visitor loses nothing but the list; the operator is told
        storage_failed("listing this browser's studies")
        return []


def storage_failed(context: str) -> str:
    """Log the exception being handled for the operator; the visitor's message names nothing."""
    log.exception("study storage failed while %s", context)
    return GENERIC_STORAGE_ERROR

# The runner logs a failed job's exception whole; visitors of a storage-backed page get this.
JOB_FAILED = ("The search failed. If the study storage is at fault, the server log has the "
              "details; finished trials are kept in the study.")
