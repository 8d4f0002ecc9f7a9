"""Session glue: who the browser session is (and the visitor behind it, across tabs), the cached
dataset, this server's pace, the runner's owner check, the one way a page starts a job
(:func:`start_job`), and run handles that survive a reload.

Run handles: a page that starts a job keeps the job's handle (an unguessable token) in its URL
as ``?run=...``. After a reload (a new browser session) :func:`attach` finds the job again; the
browser that started it gets it back with its controls, identified by :func:`browser_key` (a
hash of the XSRF cookie Streamlit sets once per browser, which a copied link does not carry).
Anyone else with the link may only watch. app.py takes ``run`` out of the URL before a page
reads its settings from it, and puts it back after the page wrote them
(:func:`take_handle_from_url`, :func:`put_handle_in_url`), so the settings code never sees it.
"""

from __future__ import annotations

import hashlib
import logging

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import budget, pace
from core.data import load_mnist1d
from core.server_settings import read_settings, visitor_address
from core.server_settings import threads_per_job as _threads_for
from core.training import runner
from ui.share import remember_written

log = logging.getLogger(__name__)
RUN_PARAM = "run"
# Pages whose URL carries their run handle and which call restore(); another page joins by
# adding its url path here and calling restore() at its top (its Stop must also honour the
# ``controls`` restore() returns). Other pages' jobs are never handed to a new session.
ATTACHABLE_PAGES = frozenset({"train", "compare", "sensitivity", "search", "reproduce",
                              "benchmark"})
WATCHING = ("You are watching a run started in another browser: you can follow it, "
            "not stop or change it.")
XSRF_COOKIE = "_streamlit_xsrf"


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


@st.cache_resource
def server_settings():
    """Read once per server process; problems are logged to the console once, and shown to
    visitors by app.py instead of any page."""
    settings, problems = read_settings()
    for problem in problems:
        log.error("server setting: %s", problem)
    return settings, problems


def threads_per_job() -> int:
    """JOB_THREADS, else the CPUs this process may use, split among the concurrent jobs."""
    return _threads_for(server_settings()[0])


def browser_key() -> str | None:
    """A key of this browser, stable across reloads and tabs, unknown to other browsers: a hash
    of the token in Streamlit's XSRF cookie (never the cookie itself). None without one
    (AppTest, XSRF protection off)."""
    try:
        cookie = st.context.cookies.get(XSRF_COOKIE)
    except Exception:   # no request context (AppTest)
        return None
    token = xsrf_token(cookie) if isinstance(cookie, str) else None
    return hashlib.sha256(token).hexdigest()[:32] if token else None


def xsrf_token(cookie: str) -> bytes | None:
    """The token of a ``2|mask|masked-token|timestamp`` cookie. The server re-masks the cookie
    on some responses (a new mask, the same token), so only the unmasked token is stable."""
    parts = cookie.strip("\"'").split("|")
    try:
        if len(parts) == 4 and parts[0] == "2":
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            return bytes(b ^ mask[i % 4] for i, b in enumerate(masked)) if mask else None
        return cookie.encode() or None   # a version-1 cookie is the token itself
    except ValueError:
        return None


# -- who a visitor is across tabs, and how fast this server trains ---------------------------
def visitor_keys() -> tuple[str, ...]:
    """The keys of the person behind this session, for MAX_JOBS_PER_VISITOR: their browser
    (:func:`browser_key`: every tab of one browser shares it) and, where TRUSTED_PROXIES says
    the address can be trusted, their address. A session with neither (XSRF protection off, a
    client that drops cookies) is limited only by the per-page rule and the queue."""
    keys = []
    browser = browser_key()
    if browser:
        keys.append(f"browser:{browser}")
    address = _client_address(server_settings()[0].trusted_proxies)
    if address:
        keys.append(f"address:{address}")
    return tuple(keys)


def _client_address(trusted_proxies: int) -> str | None:
    if trusted_proxies < 0:
        return None
    try:
        peer = st.context.ip_address
        forwarded = st.context.headers.get_all("X-Forwarded-For")
    except Exception:   # no request context (AppTest)
        return None
    return visitor_address(trusted_proxies, peer, forwarded)


def pace_here() -> pace.ServerPace | None:
    """This server's measured pace at a job's thread count (measured on the first Start, a
    fraction of a second); None, and no wall-time check, if measuring it failed."""
    try:
        return pace.server_pace(threads_per_job())
    except Exception:
        log.exception("measuring this server's pace failed; jobs are not checked for wall time")
        return None


def start_job(page: str, plan: budget.Plan, make_iterator, *, label: str, total: int | None,
              meta=None) -> runner.Job | None:
    """Every Start goes through here, before anything is built: the server's settings, the
    job's budget and wall time, then the runner's own limits (one job per session and page,
    jobs per visitor, the queue cap).
    On refusal the reason is shown and None returned; nothing has started."""
    settings, problems = server_settings()
    if problems:
        st.error("This server is misconfigured, so it starts no runs; its operator has been "
                 "told on the console.", icon=":material/error:")
        return None
    job_pace = pace_here()
    refusal = budget.refusal(plan, settings, job_pace)
    if refusal:
        st.error(refusal, icon=":material/block:")
        return None
    try:
        job = runner.submit(make_iterator, owner=session_id(), label=label, total=total,
                            threads=threads_per_job(), page=page, browser=browser_key(),
                            meta=meta, visitor=visitor_keys(),
                            estimated_s=job_pace.seconds(plan.work) if job_pace else None)
    except runner.Refused as error:
        st.error(str(error), icon=":material/hourglass_disabled:")
        return None
    if page in ATTACHABLE_PAGES:
        st.session_state[_handle_key(page)] = job.handle
    return job


def _handle_key(page: str) -> str:
    return f"_run_handle.{page}"


LOST_NOTICE = ("The run this link points to is no longer on the server: the server has "
               "restarted since, or the run ended long ago. Its curves are lost; press Start "
               "to run it again.")


def take_handle_from_url(page: str) -> None:
    """app.py, before the sidebar and the page: move ``?run=`` into the session and re-attach
    at once, so that the sidebar's counts are right on the first draw after a reload.

    The URL's handle is taken only when this session never put it there: the browser sends its
    URL back with every rerun, so after a Start (whose callback stored the new job's handle) the
    URL still names the previous run until :func:`put_handle_in_url` rewrites it, and on a busy
    server a rerun can carry a URL several writes old. Taking it then would put an old run back
    on the page. A shared link or a reload opens a new session, which has shown no handle."""
    if page not in ATTACHABLE_PAGES or RUN_PARAM not in st.query_params:
        return
    handle = st.query_params[RUN_PARAM]
    del st.query_params[RUN_PARAM]
    if handle in st.session_state.get(_shown_key(page), []):
        return
    st.session_state[_handle_key(page)] = handle
    if attach(page)[0] is None:
        st.session_state[f"_run_lost.{page}"] = True


def put_handle_in_url(page: str) -> None:
    """app.py, after the page ran: the page's run handle back in its URL, if it has one."""
    handle = st.session_state.get(_handle_key(page))
    if handle:
        remember_written(_shown_key(page), handle)
        if st.query_params.get(RUN_PARAM) != handle:
            st.query_params[RUN_PARAM] = handle


def _shown_key(page: str) -> str:
    return f"_run_handle_in_url.{page}"


def attach(page: str) -> tuple[runner.Job | None, bool]:
    """The job of this page's run handle and whether this session controls it: True when this
    browser started it (it is then handed to this session: Stop works, the janitor sees the tab
    alive); a watcher gets False. A handle the server no longer knows (it restarted, or the run
    expired) is dropped."""
    handle = st.session_state.get(_handle_key(page))
    job = runner.RUNNER.find(handle) if handle else None
    if job is None or job.page != page:
        st.session_state.pop(_handle_key(page), None)
        return None, False
    return job, runner.RUNNER.adopt(job, session_id(), browser_key())


def restore(page: str, job_key: str, runs_key: str | None = None, max_runs: int = 5,
            record: bool = False) -> bool:
    """A page's one call to survive a reload: put the job of its run handle under ``job_key``
    (the job itself, or ``{**job.meta, "job": job}`` with ``record``), list this browser's
    earlier runs of the page under ``runs_key`` (as such records) when the session has none,
    and say so when the server lost the run. Returns whether this session may stop or change
    the job (False: watching another browser's run)."""
    if st.session_state.pop(f"_run_lost.{page}", False):
        st.warning(LOST_NOTICE, icon=":material/cloud_off:")
    job, controls = attach(page)
    if runs_key is not None and runs_key not in st.session_state:
        st.session_state[runs_key] = [{**j.meta, "job": j} for j in my_jobs(page)][-max_runs:]
    current = st.session_state.get(job_key)
    if job is not None and (current["job"] if record and current else current) is not job:
        st.session_state[job_key] = {**job.meta, "job": job} if record else job
    return controls or job is None


def my_jobs(page: str) -> list[runner.Job]:
    """This browser's jobs of ``page`` the server still keeps (also those of its earlier
    sessions, before a reload), oldest first."""
    return runner.RUNNER.browser_jobs(browser_key(), page)


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
