"""Killed searches and workers, and studies shared by several runners (issue 13, Medium 3 and 6).

Every storage kind fails a dead runner's RUNNING trial after the grace period and retries it with
the same parameters; a resumed search or a worker waits for that instead of leaving a ghost, and
runners that share a study never overrun its trial count.
"""

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from core.search.counting import counted, counts, is_surplus
from core.search.storage import open_storage
from core.search.study import BASELINE, SearchConfig, _ask, open_study, run_search
from core.search.worker import run_worker
from tests.test_search_storage import TRAINER, kill_when_running, trainer

ROOT = Path(__file__).resolve().parents[1]
BEAT = dict(heartbeat_interval=1, grace_period=2)


def _child(url: str, tmp_path: Path, trials: int, batch: int,
           epoch_s: float = 0.3) -> subprocess.Popen:
    """A search in another process, slow enough (``epoch_s`` an epoch) to be killed mid-trial."""
    path = tmp_path / "child.py"
    path.write_text(TRAINER + textwrap.dedent(f"""
        from core.search.study import SearchConfig, run_search
        config = SearchConfig({BASELINE!r}, trials={trials}, epochs=2)
        for r in run_search(config, storage={url!r}, study_name="s", trainer=trainer,
                            batch={batch}, storage_kwargs=dict(heartbeat_interval=1,
                                                               grace_period=2)):
            print(r.number, flush=True)
    """))
    return subprocess.Popen([sys.executable, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT),
                                            "FAKE_EPOCH_SECONDS": str(epoch_s)})


def _trials(url):
    return optuna.load_study(study_name="s", storage=open_storage(url, **BEAT)).get_trials()


def _assert_recovered(trials, killed_numbers, wanted):
    c = counts(trials)
    assert (c.finished, c.running, c.waiting) == (wanted, 0, 0), c
    for number in killed_numbers:
        killed = next(t for t in trials if t.number == number)
        assert killed.state == TrialState.FAIL
        retry = next(t for t in trials if t.system_attrs.get("failed_trial") == number)
        assert retry.state == TrialState.COMPLETE and retry.params == killed.params


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_search_resumed_at_once_retries_the_killed_trial(tmp_path, kind):
    url = (str(tmp_path / "studies.log") if kind == "journal"
           else f"sqlite:///{tmp_path / 'studies.db'}")
    kill_when_running(_child(url, tmp_path, trials=4, batch=1), url, "s", finished=2,
                      running=1)
    ghosts = [t.number for t in _trials(url) if t.state == TrialState.RUNNING]
    assert len(ghosts) == 1, "killed mid-trial"
    # Resumed right away, inside the grace period: it waits for the ghost to go stale.
    resumed = list(run_search(SearchConfig(BASELINE, trials=4, epochs=2), storage=url,
                              study_name="s", trainer=trainer, storage_kwargs=BEAT))
    _assert_recovered(_trials(url), ghosts, wanted=4)
    assert len(resumed) == 2


@pytest.mark.timeout(120)
def test_a_killed_batch_of_four_is_retried_whole(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    child = _child(url, tmp_path, trials=8, batch=4, epoch_s=1.0)   # 8 s a batch
    kill_when_running(child, url, "s", finished=4, running=4)
    ghosts = [t.number for t in _trials(url) if t.state == TrialState.RUNNING]
    assert len(ghosts) == 4, "killed inside the second batch"
    list(run_search(SearchConfig(BASELINE, trials=8, epochs=2), storage=url, study_name="s",
                    trainer=trainer, batch=4, storage_kwargs=BEAT))
    _assert_recovered(_trials(url), ghosts, wanted=8)


@pytest.mark.timeout(120)
def test_a_worker_on_a_journal_waits_for_a_ghost_and_runs_its_retry(tmp_path):
    url = str(tmp_path / "studies.log")
    config = SearchConfig(BASELINE, trials=1, epochs=1, device="cpu")
    study = open_study(config, open_storage(url, **BEAT), "w")
    # A runner that asked a trial, beat once and died (a kill leaves exactly this).
    ghost = study.ask(dict(config.space().distributions))
    study._storage.record_heartbeat(ghost._trial_id)
    lines = []
    done, complete = run_worker(url, "w", trials=1, device="cpu", log=lines.append, **BEAT)
    trials = optuna.load_study(study_name="w", storage=open_storage(url)).get_trials()
    assert (done, complete) == (1, True) and len(lines) == 1
    _assert_recovered(trials, [ghost.number], wanted=1)


def test_a_trial_asked_after_the_study_filled_is_voided_not_trained():
    config = SearchConfig(BASELINE, trials=2, epochs=1)
    study = open_study(config, open_storage(None), "s")
    space = config.space()
    others = [study.ask(dict(space.distributions)) for _ in range(2)]   # another runner's
    assert _ask(study, space, 1, wanted=2) == []
    trials = study.get_trials()
    late = trials[-1]
    assert late.state == TrialState.FAIL and late.user_attrs["void"]
    assert not any(is_surplus(t, trials, 2) for t in trials if t.number in
                   {o.number for o in others})


@pytest.mark.timeout(120)
def test_two_runners_sharing_a_study_never_overrun_it(tmp_path):
    url = str(tmp_path / "shared.log")
    config = SearchConfig(BASELINE, trials=5, epochs=2)
    open_study(config, open_storage(url, **BEAT), "s")
    yielded = []

    def runner():
        yielded.extend(run_search(config, storage=url, study_name="s", trainer=slow,
                                  storage_kwargs=BEAT))

    def slow(configs, keep_going):
        threading.Event().wait(0.05)
        return trainer(configs, keep_going)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    trials = _trials(url)
    assert len(counted(trials)) == 5 and len(yielded) == 5
    assert counts(trials).running == 0
