"""A runner killed at any point of a trial's first beat leaves a trial that is failed and retried,
and a runner waiting for other runners' trials never waits forever (issue 20, High 1).

A kill is simulated deterministically: the storage writes of ``Heartbeat.__enter__`` are counted
and the process "dies" (a BaseException nobody catches, and no clean-up runs) after the first k
of them, for every k. The clean-up rules then have to fail every one of those trials.
"""

import logging
import time

import optuna
import pytest
from optuna.trial import TrialState

import core.search.storage as storage_module
import core.search.study as study_module
from core.search.storage import BEAT_ATTR, fail_stale, open_storage
from core.search.study import BASELINE, Heartbeat, SearchConfig, open_study, run_search
from tests.pg_support import postgres_server
from tests.test_search import fake_trainer

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")
BEAT = dict(heartbeat_interval=1, grace_period=2)
CONFIG = SearchConfig(BASELINE, trials=1, epochs=1, device="cpu")
UNBEATEN = 3.0   # the never-beat rule's wait, shortened for the test (60 s and more for real)


class Killed(BaseException):
    """The process dies here: nothing after this point of the runner runs."""


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def url(request, tmp_path):
    if request.param == "postgresql":
        # one server for the module; a fresh study name per test keeps them apart
        return request.getfixturevalue("pg_url")
    return (f"sqlite:///{tmp_path / 'studies.db'}" if request.param == "sqlite"
            else str(tmp_path / "studies.log"))


@pytest.fixture(autouse=True)
def short_unbeaten_grace(monkeypatch):
    monkeypatch.setattr(storage_module, "unbeaten_grace", lambda storage: UNBEATEN)


def _study(url, name):
    return open_study(CONFIG, open_storage(url, **BEAT), name)


def _die_during_first_beat(monkeypatch, storage, trial_id: int, writes: int) -> None:
    """``Heartbeat.__enter__`` for ``trial_id``, killed once ``writes`` of its storage writes
    (the outermost calls: a journal's beat is itself an attr write) have gone through."""
    done, depth = [], [0]

    def counted(fn):
        def call(*args, **kwargs):
            if depth[0] == 0 and len(done) == writes:
                raise Killed
            depth[0] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    done.append(fn.__name__)
        return call

    with monkeypatch.context() as m:
        for name in ("record_heartbeat", "set_trial_system_attr"):
            m.setattr(storage, name, counted(getattr(storage, name)))
        beat = Heartbeat(storage, trial_id)
        try:
            beat.__enter__()
        except Killed:
            pass
        # A process killed after its first beat beats no more: stop the thread, tell nothing.
        beat.done.set()
        if beat.thread is not None:
            beat.thread.join()


@pytest.mark.timeout(120)
def test_a_kill_at_any_point_of_the_first_beat_leaves_a_trial_that_is_failed(
        url, monkeypatch, request):
    name = f"windows-{request.node.callspec.id}"
    study = _study(url, name)
    space = CONFIG.space()
    killed = {}
    for writes in (0, 1, 2):   # before the first write, between the two, after both
        trial = study.ask(dict(space.distributions))
        _die_during_first_beat(monkeypatch, study._storage, trial._trial_id, writes)
        killed[writes] = trial.number
    time.sleep(max(UNBEATEN, BEAT["grace_period"]) + 2)   # past every rule's wait
    # A fresh runner's clean-up (another process: a new storage object).
    again = optuna.load_study(study_name=name, storage=open_storage(url, **BEAT))
    fail_stale(again)
    trials = again.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    for writes, number in killed.items():
        assert by_number[number].state == TrialState.FAIL, f"killed after {writes} write(s)"
        retry = [t for t in trials if t.system_attrs.get("failed_trial") == number]
        assert len(retry) == 1 and retry[0].params == by_number[number].params


def test_the_mark_is_written_after_the_storages_own_beat(tmp_path, monkeypatch):
    # The invariant the rules rest on: a trial with the lab's mark has a beat Optuna sees.
    study = _study(f"sqlite:///{tmp_path / 'order.db'}", "order")
    storage = study._storage
    calls = []
    for name in ("record_heartbeat", "set_trial_system_attr"):
        real = getattr(storage, name)
        monkeypatch.setattr(storage, name, lambda *a, _r=real, _n=name, **k: (calls.append(_n),
                                                                             _r(*a, **k))[1])
    trial = study.ask(dict(CONFIG.space().distributions))
    calls.clear()
    with Heartbeat(storage, trial._trial_id):
        pass
    assert calls == ["record_heartbeat", "set_trial_system_attr"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("beat_once", [True, False], ids=["beat-once", "never-beat"])
def test_a_waiting_runner_fails_a_trial_nobody_beats_itself(tmp_path, monkeypatch, caplog,
                                                            beat_once):
    # The storage's rules are switched off (as when another machine's clock makes every
    # timestamp look fresh): the wait must still end, through what the runner itself watched.
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = _study(url, "silent")
    ghost = study.ask(dict(CONFIG.space().distributions))
    if beat_once:
        study._storage.set_trial_system_attr(ghost._trial_id, BEAT_ATTR,
                                             [ghost._trial_id, time.time() + 3600])  # "fresh"
    monkeypatch.setattr(study_module, "fail_stale", lambda study: None)
    with caplog.at_level(logging.WARNING, logger="core.search.study"):
        results = list(run_search(CONFIG, storage=url, study_name="silent",
                                  trainer=fake_trainer(), storage_kwargs=BEAT))
    trials = optuna.load_study(study_name="silent", storage=open_storage(url)).get_trials()
    killed = next(t for t in trials if t.number == ghost.number)
    assert killed.state == TrialState.FAIL
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == ghost.number)
    assert retry.state == TrialState.COMPLETE and [r.number for r in results] == [retry.number]
    assert any(f"trial {ghost.number}" in r.getMessage() and "failed here" in r.getMessage()
               for r in caplog.records), "the runner says why it failed the trial"


def test_a_live_trial_is_not_failed_by_a_waiting_runner(tmp_path, monkeypatch):
    # A beat that moves resets the watch: only a beat that stands still counts.
    study = _study(f"sqlite:///{tmp_path / 'live.db'}", "live")
    trial = study.ask(dict(CONFIG.space().distributions))
    watch = storage_module.BeatWatch(study, logging.getLogger("test"))
    clock = [0.0]
    monkeypatch.setattr(storage_module.time, "monotonic", lambda: clock[0])
    for t in range(10):
        clock[0] = 2.0 * t   # 18 s watched, far past the grace period
        study._storage.set_trial_system_attr(trial._trial_id, BEAT_ATTR,
                                             [trial._trial_id, float(t)])
        watch.check(study.get_trials(deepcopy=False))
    assert study.get_trials()[0].state == TrialState.RUNNING
    clock[0] += 10.0   # then it stops beating
    watch.check(study.get_trials(deepcopy=False))
    assert study.get_trials()[0].state == TrialState.FAIL


# ---- runners racing to open a fresh SQLite file (issue 20, Medium 7) ---------------------------

def test_losing_the_race_to_create_a_fresh_sqlite_file_is_retried(tmp_path, monkeypatch):
    import sqlalchemy.exc
    real, calls = optuna.storages.RDBStorage, []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:   # another runner created Optuna's tables between check and CREATE
            raise sqlalchemy.exc.OperationalError(
                "CREATE TABLE studies", {}, Exception("table studies already exists"))
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    storage = open_storage(f"sqlite:///{tmp_path / 'fresh.db'}", **BEAT)
    assert len(calls) == 2 and storage.get_all_studies() == []


def test_an_operational_error_that_is_no_race_fails_at_once(tmp_path, monkeypatch):
    import sqlalchemy.exc
    calls = []

    def locked(*args, **kwargs):
        calls.append(1)
        raise sqlalchemy.exc.OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(optuna.storages, "RDBStorage", locked)
    with pytest.raises(storage_module.StorageError, match="database is locked"):
        open_storage(f"sqlite:///{tmp_path / 'locked.db'}", **BEAT)
    assert len(calls) == 1
