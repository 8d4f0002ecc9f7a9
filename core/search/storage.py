"""Where studies live: in memory (default), SQLite, an Optuna journal file, or PostgreSQL.

The storage URL comes from server-side configuration only (``$MNIST1D_LAB_STORAGE`` or the app's
``st.secrets``), never from a browser field: a URL names a database the server can write to.

A study's *count* is the number of trials that finished and stand for a configuration:
COMPLETE and PRUNED trials, and FAIL trials other than those Optuna's heartbeat retried (their
retry stands for them) or that this module voided (a trial stopped by the user, or one a worker
started after the study was already full).
"""

import os
import time
import warnings
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

STORAGE_ENV = "MNIST1D_LAB_STORAGE"
# A worker proves it is alive this often; a RUNNING trial silent for GRACE seconds is failed and
# retried. Long enough that a slow epoch on a busy machine is not mistaken for a dead worker.
HEARTBEAT_INTERVAL = 10
GRACE_PERIOD = 60
MAX_RETRY = 2
VOID_ATTR = "void"          # user attr: why this trial does not count
REASON_ATTR = "reason"      # user attr: why a trial was pruned or failed


def configured_storage_url() -> str | None:
    """The server's storage URL, from the environment; None means in-memory."""
    return os.environ.get(STORAGE_ENV) or None


def _retry_callback():
    # Optuna 4.9 renamed RetryFailedTrialCallback; accept both so optuna>=4.0 works.
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    if cls is not None:
        return {"heartbeat_stale_trial_callback": cls(max_retry=MAX_RETRY)}
    return {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=MAX_RETRY)}


def open_storage(url: str | None, heartbeat_interval: int = HEARTBEAT_INTERVAL,
                 grace_period: int = GRACE_PERIOD):
    """An Optuna storage for ``url``; None gives a fresh in-memory storage.

    ``sqlite:///file.db``, ``postgresql://user@host/db`` (any SQLAlchemy URL) give an RDBStorage
    with Optuna's heartbeat, so a killed process's trial is failed and retried;
    ``journal:///path/to/file.log`` gives a JournalStorage on that file (several processes on one
    machine; it has no heartbeat).
    """
    if url is None or url == "":
        return optuna.storages.InMemoryStorage()
    if not isinstance(url, str):
        raise ValueError(f"storage must be a URL string, got {url!r}")
    if url.startswith("journal://"):
        path = url[len("journal://"):]
        if not path:
            raise ValueError("journal storage needs a file: journal:///path/to/study.log")
        from optuna.storages.journal import JournalFileBackend
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if "://" not in url and not url.startswith("sqlite:"):
        raise ValueError(f"unsupported storage {url!r}: use sqlite:///FILE, journal:///FILE or "
                         "postgresql://USER@HOST/DB")
    url = _postgres_driver(url)
    if heartbeat_interval < 1 or grace_period <= heartbeat_interval:
        raise ValueError("heartbeat interval must be >= 1 s and the grace period longer than it")
    import sqlalchemy.exc
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                    engine_kwargs=None if url.startswith("sqlite") else {"pool_pre_ping": True},
                    **_retry_callback())
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Workers started together on an empty database race to create Optuna's tables;
            # the loser's CREATE fails. By the next attempt the tables exist.
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))


def _postgres_driver(url: str) -> str:
    """SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3; the requirements ship psycopg2, so
    name it when psycopg 3 is absent (an explicit ``postgresql+driver://`` is left alone)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            import importlib.util
            if importlib.util.find_spec("psycopg") is None \
                    and importlib.util.find_spec("psycopg2") is not None:
                return "postgresql+psycopg2://" + url[len(scheme):]
            return "postgresql://" + url[len(scheme):]
    return url


def has_heartbeat(storage) -> bool:
    get = getattr(storage, "get_heartbeat_interval", None)
    return get is not None and get() is not None


def fail_stale(study: optuna.Study) -> None:
    """Fail (and, through the storage's callback, retry) trials whose worker stopped beating."""
    if has_heartbeat(study._storage):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of trials that a heartbeat retry replaced."""
    return {n for t in trials for n in t.system_attrs.get("retry_history", ())}


@dataclass(frozen=True)
class Counts:
    finished: int      # counted: COMPLETE, PRUNED, FAIL not retried and not void
    running: int
    waiting: int       # queued retries
    void: int


def counts(trials: list[FrozenTrial]) -> Counts:
    retried = retried_numbers(trials)
    finished = running = waiting = void = 0
    for t in trials:
        if t.user_attrs.get(VOID_ATTR):
            void += 1
        elif t.state == TrialState.RUNNING:
            running += 1
        elif t.state == TrialState.WAITING:
            waiting += 1
        elif t.state == TrialState.FAIL and t.number in retried:
            continue
        elif t.state.is_finished():
            finished += 1
    return Counts(finished, running, waiting, void)


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The finished trials that count, in number order."""
    retried = retried_numbers(trials)
    return sorted((t for t in trials if t.state.is_finished() and not t.user_attrs.get(VOID_ATTR)
                   and not (t.state == TrialState.FAIL and t.number in retried)),
                  key=lambda t: t.number)
