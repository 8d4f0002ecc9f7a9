"""The server's study storage and sharing rules, read from its configuration (secrets or
environment), never from the browser; and the studies this browser session created."""

from __future__ import annotations

import logging

import streamlit as st

from core.search.access import StudyAccess
from core.search.storage import configured_storage_url

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
    """Studies this browser session created (the only ones it may write to, shared ones aside)."""
    return st.session_state.setdefault(K_OWNED, set())


def storage_failed(context: str) -> str:
    """Log the exception being handled for the operator; the visitor's message names nothing."""
    log.exception("study storage failed while %s", context)
    return GENERIC_STORAGE_ERROR

# The runner logs a failed job's exception whole; visitors of a storage-backed page get this.
JOB_FAILED = ("The search failed. If the study storage is at fault, the server log has the "
              "details; finished trials are kept in the study.")
