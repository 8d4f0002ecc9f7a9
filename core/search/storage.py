"""Where studies live: in memory (default), SQLite, an Optuna journal file, or PostgreSQL.

The storage URL comes from server-side configuration only (``$MNIST1D_LAB_STORAGE`` or the app's
``st.secrets``) or a CLI flag, never from a browser field: a URL names a database the server can
write to. The forms are the ones Optuna's own tools accept, so ``optuna-dashboard URL`` opens
what the lab wrote:

- ``sqlite:///file.db``, ``postgresql://user@host/db`` (any installed SQLAlchemy dialect);
- a bare file path: an Optuna journal file (or SQLite, if the file already is one), as
  ``optuna-dashboard PATH`` reads it; ``journal:///path`` is the same journal file.

Every storage has a heartbeat, so that a killed process's RUNNING trial is failed after
``GRACE_PERIOD`` seconds and retried with the same parameters (Optuna's
``RetryHeartbeatStaleTrialCallback``). RDBStorage has Optuna's own; Optuna 5.0's JournalStorage
has none, so :class:`HeartbeatJournalStorage` adds one through trial system attrs.

Whatever moment a runner dies at, one rule fails its trial (:func:`fail_stale`): a trial that
beat goes stale under the storage's heartbeat, and a trial without the lab's beat mark
(:func:`mark_beating`, always written after the storage's first beat) under the lab's
never-beat rule. A runner waiting for other runners' trials also fails, itself, a trial whose
beat it has watched stand still for longer than the grace period (:class:`BeatWatch`), so no
wait is unbounded even where the timestamps lie (clocks of different machines). A runner beats
for its own trial while it trains through :class:`Heartbeat` (Optuna beats only inside
``optimize()``).
"""

import logging
import os
import threading
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages._heartbeat import BaseHeartbeat   # no public name in Optuna 5.0
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

STORAGE_ENV = "MNIST1D_LAB_STORAGE"
# A worker proves it is alive this often; a RUNNING trial silent for GRACE seconds is failed and
# retried. Long enough that a slow epoch on a busy machine is not mistaken for a dead worker.
HEARTBEAT_INTERVAL = 10
GRACE_PERIOD = 60
MAX_RETRY = 2
UNBEATEN_GRACE = 60            # seconds before a trial that never beat is failed (see fail_stale)
BEAT_ATTR = "lab_heartbeat"     # journal trials' system attr: [trial_id, unix time of last beat]
SQLITE_HEADER = b"SQLite format 3\x00"


class StorageError(ValueError):
    """A storage URL that cannot be used. ``str()`` is for the operator (it may name hosts)."""


def configured_storage_url(secrets=None) -> str | None:
    """The server's storage URL, from ``secrets`` (the app's, a mapping) or the environment;
    None means in-memory."""
    return (secrets or {}).get(STORAGE_ENV) or os.environ.get(STORAGE_ENV) or None


def _retry_callback():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)


class HeartbeatJournalStorage(optuna.storages.JournalStorage, BaseHeartbeat):
    """A JournalStorage with Optuna's heartbeat interface, so ``fail_stale_trials`` and the retry
    callback work on journal files as on databases. A beat is a system attr naming the trial id,
    so a retry (which copies its original's system attrs) never inherits the original's beat."""

    def __init__(self, backend, heartbeat_interval: int, grace_period: int):
        super().__init__(backend)
        self._interval, self._grace, self._callback = heartbeat_interval, grace_period, \
            _retry_callback()

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, BEAT_ATTR, [trial_id, time.time()])

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        return [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False,
                                                         states=(TrialState.RUNNING,))
                if _last_beat(t) is not None and now - _last_beat(t) > self._grace]

    def get_heartbeat_interval(self) -> int:
        return self._interval

    def get_heartbeat_stale_trial_callback(self):
        return self._callback


def _last_beat(t) -> float | None:
    """The unix time of a trial's last beat in its system attrs; None if it never beat (a
    retry copies its original's attrs, so a beat counts only if it names this trial)."""
    beat = t.system_attrs.get(BEAT_ATTR)
    return beat[1] if beat and beat[0] == t._trial_id else None


def _journal_path(url: str) -> str | None:
    """The file of a journal URL (``journal:///path`` or a bare path), else None."""
    if url.startswith("journal://"):
        path = url[len("journal://"):]
        if not path:
            raise StorageError("journal storage needs a file: journal:///path/to/study.log")
        return "/" + path.lstrip("/") if path.startswith("/") else path
    if "://" in url or url.startswith("sqlite:"):
        return None
    if os.path.isfile(url):
        with open(url, "rb") as f:
            if f.read(len(SQLITE_HEADER)) == SQLITE_HEADER:
                return None
    return url


def _writable_file(path: str, what: str) -> None:
    """Refuse a file that cannot be created or appended to, before any work starts."""
    p = Path(path)
    if not p.parent.is_dir():
        raise StorageError(f"{what}: the folder {str(p.parent)!r} does not exist")
    if p.exists() and not p.is_file():
        raise StorageError(f"{what}: {path!r} is not a regular file")
    try:
        with open(p, "ab"):
            pass
    except OSError as error:
        raise StorageError(f"{what}: cannot write {path!r} ({error.strerror})") from None


def sqlite_url(url: str) -> str:
    """``sqlite:///FILE`` as given, or the URL of a bare path to an existing SQLite file."""
    return url if url.startswith("sqlite:") or "://" in url else f"sqlite:///{url}"


def _check_rdb_url(url: str) -> None:
    import sqlalchemy.engine
    import sqlalchemy.exc
    try:
        parsed = sqlalchemy.engine.make_url(url)
        parsed.get_dialect()
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ValueError):
        raise StorageError(f"unsupported storage {url!r}: use sqlite:///FILE, a journal file "
                           "path, or postgresql://USER@HOST/DB") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise StorageError(f"{url!r} is an in-memory SQLite database that saves nothing: "
                               "name a file, sqlite:///path/to/studies.db")
        _writable_file(parsed.database, "sqlite storage")


def check_storage_url(url: str) -> None:
    """Raise StorageError for a URL that cannot work, without opening a database connection."""
    if not isinstance(url, str) or not url.strip():
        raise StorageError(f"storage must be a URL or file path, got {url!r}")
    path = _journal_path(url)
    if path is not None:
        _writable_file(path, "journal storage")
    else:
        _check_rdb_url(_postgres_driver(sqlite_url(url)))


def open_storage(url: str | None, heartbeat_interval: int = HEARTBEAT_INTERVAL,
                 grace_period: int = GRACE_PERIOD):
    """An Optuna storage for ``url``; None gives a fresh in-memory storage.

    Raises StorageError (a ValueError) for any URL that cannot be used, a refused database
    included, so a caller reports it before training anything.
    """
    if url is None or url == "":
        return optuna.storages.InMemoryStorage()
    check_storage_url(url)
    if heartbeat_interval < 1 or grace_period <= heartbeat_interval:
        raise StorageError("heartbeat interval must be >= 1 s and the grace period longer "
                           "than it")
    path = _journal_path(url)
    if path is not None:
        return HeartbeatJournalStorage(JournalFileBackend(path), heartbeat_interval,
                                       grace_period)
    url = _postgres_driver(sqlite_url(url))
    import sqlalchemy.exc
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                    engine_kwargs=_engine_kwargs(url),
                    heartbeat_stale_trial_callback=_retry_callback())
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError,
                sqlalchemy.exc.OperationalError) as error:
            # Workers started together on an empty database race to create Optuna's tables;
            # the loser's CREATE fails (PostgreSQL: IntegrityError or ProgrammingError; SQLite:
            # OperationalError "table ... already exists"). By the next attempt the tables exist.
            lost_race = not isinstance(error, sqlalchemy.exc.OperationalError) \
                or "already exists" in str(error)
            if not lost_race or attempt == 4:
                raise StorageError(f"cannot open storage {url!r}: "
                                   f"{str(error).splitlines()[0]}") from None
            time.sleep(0.5 * (attempt + 1))
        except ImportError as error:
            raise StorageError(f"cannot open storage {url!r}: "
                               f"{str(error).splitlines()[0]}") from None


def _engine_kwargs(url: str) -> dict | None:
    if url.startswith("sqlite"):
        return None
    kwargs = {"pool_pre_ping": True}
    if url.startswith("postgres"):   # a refused or silent server fails in seconds, not minutes
        kwargs["connect_args"] = {"connect_timeout": 10}
    return kwargs


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


def dashboard_command(url: str) -> str:
    """The ``optuna-dashboard`` command line that opens this storage."""
    import shlex
    path = _journal_path(url)
    return f"optuna-dashboard {shlex.quote(os.path.abspath(path) if path else url)}"


def has_heartbeat(storage) -> bool:
    return optuna.storages._heartbeat.is_heartbeat_enabled(storage)


def mark_beating(storage, trial_id: int) -> None:
    """Record a trial's latest beat where every storage shows it (see :func:`fail_stale`):
    the runner writes it after the storage's own beat, first and every time it beats."""
    storage.set_trial_system_attr(trial_id, BEAT_ATTR, [trial_id, time.time()])


def beat(storage, trial_id: int) -> None:
    """One beat of a trial: the storage's own (Optuna's heartbeat row for a database), then the
    lab's mark. The order matters: a runner killed between the two leaves a trial the storage's
    heartbeat fails, one killed before the first a trial without the mark, which the never-beat
    rule fails; the other order left a mark without a heartbeat row, which neither failed."""
    storage.record_heartbeat(trial_id)
    if not isinstance(storage, HeartbeatJournalStorage):   # there the beat is the mark itself
        mark_beating(storage, trial_id)


def _grace(storage) -> float:
    if isinstance(storage, HeartbeatJournalStorage):
        return storage._grace
    inner = getattr(storage, "_backend", storage)   # Optuna wraps an RDBStorage in a cache
    return getattr(inner, "grace_period", None) or 2 * storage.get_heartbeat_interval()


def unbeaten_grace(storage) -> float:
    """How long a trial that never beat may stay RUNNING: a live runner's ask() can take
    seconds on a busy machine, so much longer than the grace period."""
    return max(UNBEATEN_GRACE, 5 * _grace(storage))


def fail_trial(study: optuna.Study, trial_id: int) -> bool:
    """Fail a RUNNING trial as stale and queue its retry (the storage's callback); False when
    another runner finished or failed it first."""
    storage = study._storage
    try:
        failed = storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    callback = storage.get_heartbeat_stale_trial_callback()
    if failed and callback is not None:
        callback(study, storage.get_trial(trial_id))
    return bool(failed)


def fail_stale(study: optuna.Study) -> None:
    """Fail (and, through the storage's callback, retry) trials whose runner stopped beating.

    Optuna's RDB heartbeat never calls a trial stale that has no beat at all, and a runner killed
    inside ``ask()`` (while the sampler proposes, after the trial exists) or before its first
    beat leaves exactly that: a trial without the lab's beat mark, started long ago
    (:func:`unbeaten_grace`), is failed too. The mark is written after the storage's beat
    (:func:`beat`), so a trial with the mark always has a beat the storage's rule sees.
    """
    storage = study._storage
    if not has_heartbeat(storage):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    now, grace = time.time(), unbeaten_grace(storage)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _last_beat(t) is not None or t.datetime_start is None \
                or now - t.datetime_start.timestamp() <= grace:
            continue
        fail_trial(study, t._trial_id)


class Heartbeat:
    """Beats for one trial while it trains, so that a killed process's RUNNING trial is failed
    and retried. (Optuna beats only inside ``optimize()``; every lab runner uses ask-and-tell.)"""

    def __init__(self, storage, trial_id: int, log: logging.Logger | None = None):
        self.storage, self.trial_id, self.done = storage, trial_id, threading.Event()
        self.log, self.thread = log or logging.getLogger(__name__), None

    def __enter__(self):
        if has_heartbeat(self.storage):
            beat(self.storage, self.trial_id)   # the order of its two writes is the point
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()
        return self

    def _beat(self):
        while not self.done.wait(self.storage.get_heartbeat_interval()):
            try:
                beat(self.storage, self.trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                return   # failed as stale by another runner (a very busy machine): its retry
            except Exception:   # a lost beat only risks a retry; never kill the search for it
                self.log.warning("heartbeat of trial id %s failed", self.trial_id,
                                 exc_info=True)

    def __exit__(self, *exc):
        self.done.set()
        if self.thread is not None:
            self.thread.join()


class BeatWatch:
    """What a runner waiting for other runners' trials saw of their beats, on its own clock.

    A RUNNING trial whose beat mark has not changed for longer than the grace period (plus one
    interval), or that never beat for longer than :func:`unbeaten_grace`, while this runner
    watched, is failed here and retried, with a warning: whatever the timestamps in the storage
    say (another machine's clock, a rule that missed it), the wait ends.
    """

    def __init__(self, study: optuna.Study, log) -> None:
        self.study, self.log = study, log
        self.seen: dict[int, tuple[float | None, float]] = {}   # trial id -> (beat, since)

    def check(self, trials) -> None:
        storage = self.study._storage
        now = time.monotonic()
        running = {t._trial_id: t for t in trials if t.state == TrialState.RUNNING}
        self.seen = {i: s for i, s in self.seen.items() if i in running}
        for trial_id, t in running.items():
            last = _last_beat(t)
            seen = self.seen.get(trial_id)
            if seen is None or seen[0] != last:
                self.seen[trial_id] = (last, now)
                continue
            limit = unbeaten_grace(storage) if last is None else \
                _grace(storage) + storage.get_heartbeat_interval()
            if now - seen[1] > limit and fail_trial(self.study, trial_id):
                self.log.warning(
                    "trial %d %s for %.0f s while this runner waited for it: failed here, to "
                    "be retried", t.number, "never beat" if last is None else "has not beaten",
                    now - seen[1])
