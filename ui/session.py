"""Session glue: who the browser session is, the cached dataset, and the runner's owner check."""

from __future__ import annotations

import os

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.training import runner
from core.data import load_mnist1d


def session_id() -> str:
    """The browser session's id: it owns the session's jobs in the runner."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def _owner_alive(owner: str) -> bool | None:
    # Called from the runner's janitor thread; Runtime.is_active_session is thread-safe.
    # None (cannot tell) in AppTest, where no Runtime exists: the runner then uses poll times.
    if not Runtime.exists():
        return None
    return Runtime.instance().is_active_session(owner)


@st.cache_resource
def install_owner_check() -> bool:
    """Once per server process: let the runner ask Streamlit which sessions are still here."""
    runner.set_owner_check(_owner_alive)
    return True


@st.cache_resource(show_spinner="Building the MNIST-1D dataset (first use only, a few seconds)...")
def dataset():
    return load_mnist1d()


def threads_per_job() -> int:
    """Split the cores among the concurrent jobs so that they do not oversubscribe the CPU."""
    if os.environ.get("JOB_THREADS"):
        return max(1, int(os.environ["JOB_THREADS"]))
    return max(1, (os.cpu_count() or 1) // max(1, runner.RUNNER.max_concurrent))


def keep_alive() -> None:
    """A page that polls its jobs says so; only used when Streamlit cannot tell (AppTest)."""
    runner.touch(session_id())


def _build_an_optimizer() -> None:
    import torch
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


@st.cache_resource
def warm_up() -> bool:
    """Once per server process, in the background: the first torch optimizer built in a process
    imports torch._dynamo (about 3 s here); paying that at start keeps the first Start instant."""
    import threading
    threading.Thread(target=_build_an_optimizer, name="warm-up", daemon=True).start()
    return True
