"""Persistent studies: SQLite and journal files resume after a killed process."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from core.search.study import BASELINE, SearchConfig, run_search, study_results
from core.search.counting import counted, counts
from core.search.storage import BEAT_ATTR, open_storage

ROOT = Path(__file__).resolve().parents[1]

# A fake trainer with known values; ``SLOW`` seconds per epoch give a kill time to land mid-study.
TRAINER = textwrap.dedent("""
    import math, time
    from core.config import EpochMetrics
    SLOW = float(__import__("os").environ.get("FAKE_EPOCH_SECONDS", "0"))
    def trainer(configs, keep_going):
        curves = []
        for i, c in enumerate(configs):
            curve = []
            for e in range(1, c.epochs + 1):
                time.sleep(SLOW)
                val = (math.log10(c.lr) + 2) ** 2 + 1 / e
                m = EpochMetrics(epoch=e, train_loss=val, val_loss=val, val_acc=0.5,
                                 elapsed=0.0, lrs=(c.lr,))
                curve.append(m)
                if not keep_going(i, m):
                    break
            curves.append(curve)
        return curves
""")
_ns: dict = {}
exec(TRAINER, _ns)
trainer = _ns["trainer"]
CONFIG = SearchConfig(BASELINE, trials=6, epochs=2)


def _script(url: str, tmp_path: Path) -> Path:
    path = tmp_path / "search_child.py"
    path.write_text(TRAINER + textwrap.dedent(f"""
        from core.search.study import SearchConfig, run_search
        config = SearchConfig({BASELINE!r}, trials=6, epochs=2)
        for r in run_search(config, storage={url!r}, study_name="resume", trainer=trainer,
                            storage_kwargs=dict(heartbeat_interval=1, grace_period=2)):
            print(r.number, r.state, flush=True)
    """))
    return path


def kill_when_running(child: subprocess.Popen, url: str, study: str, finished: int,
                      running: int) -> None:
    """Kill the child once ``finished`` trials are reported and ``running`` more are training
    (polled, not timed: the machine may be slow)."""
    for _ in range(finished):
        child.stdout.readline()
    storage = open_storage(url, heartbeat_interval=1, grace_period=2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            # beating: a trial killed inside ask(), before its first beat, waits far longer
            now = [t for t in optuna.load_study(study_name=study, storage=storage).get_trials()
                   if t.state == TrialState.RUNNING and BEAT_ATTR in t.system_attrs]
        except KeyError:
            now = []
        if len(now) >= running:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)


def _trials(url, name="resume"):
    storage = open_storage(url, heartbeat_interval=1, grace_period=2)
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


@pytest.mark.timeout(120)
def test_sqlite_study_killed_mid_trial_resumes(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    child = subprocess.Popen(
        [sys.executable, str(_script(url, tmp_path))], cwd=ROOT, stdout=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(ROOT), "FAKE_EPOCH_SECONDS": "0.3"})
    kill_when_running(child, url, "resume", finished=2, running=1)   # inside the third trial
    before = _trials(url)
    ghosts = [t.number for t in before if t.state == TrialState.RUNNING]
    assert len(ghosts) == 1, "killed mid-trial"
    kept = {t.number: (t.params, t.value) for t in counted(before)}
    assert sorted(kept) == list(range(len(kept))) and len(kept) >= 2

    time.sleep(3)   # past the grace period: the killed trial is stale
    resumed = list(run_search(CONFIG, storage=url, study_name="resume", trainer=trainer,
                              storage_kwargs=dict(heartbeat_interval=1, grace_period=2)))
    after = _trials(url)
    assert counts(after).finished == CONFIG.trials
    assert counts(after).running == 0
    assert {t.number: (t.params, t.value) for t in counted(after)
            if t.number in kept} == kept, "finished trials are kept unchanged"
    assert len(resumed) == CONFIG.trials - len(kept)
    # The killed trial was failed by its heartbeat and retried with the same parameters.
    killed = next(t for t in after if t.number == ghosts[0])
    assert killed.state == TrialState.FAIL
    retry = next(t for t in after if t.system_attrs.get("failed_trial") == ghosts[0])
    assert retry.params == killed.params and retry.state == TrialState.COMPLETE


def test_journal_study_resumes_and_continues_the_count(tmp_path):
    url = f"journal:///{tmp_path / 'studies.log'}"
    first = list(run_search(SearchConfig(BASELINE, trials=2, epochs=2), storage=url,
                            study_name="j", trainer=trainer))
    more = list(run_search(SearchConfig(BASELINE, trials=5, epochs=2), storage=url,
                           study_name="j", trainer=trainer))
    assert [r.number for r in first] == [0, 1] and [r.number for r in more] == [2, 3, 4]
    assert list(run_search(SearchConfig(BASELINE, trials=5, epochs=2), storage=url,
                           study_name="j", trainer=trainer)) == []
    # a resumed sampler does not replay the first run's draws
    assert len({r.params["lr"] for r in first + more}) == 5
    watched = study_results(optuna.load_study(study_name="j", storage=open_storage(url)))
    assert [w.number for w in watched] == [0, 1, 2, 3, 4]
    assert watched[0].curve[-1].val_loss == pytest.approx(first[0].curve[-1].val_loss)


def test_a_study_refuses_a_different_search(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    list(run_search(SearchConfig(BASELINE, trials=1, epochs=2), storage=url, study_name="s",
                    trainer=trainer))
    with pytest.raises(ValueError, match="epochs"):
        next(run_search(SearchConfig(BASELINE, trials=2, epochs=3), storage=url,
                        study_name="s", trainer=trainer))


def test_stopped_trials_do_not_count(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    gen = run_search(SearchConfig(BASELINE, trials=3, epochs=2), storage=url, study_name="s",
                     trainer=trainer)
    next(gen)
    gen.close()   # between trials: nothing is voided
    assert counts(_trials(url, "s")).finished == 1
    results = list(run_search(SearchConfig(BASELINE, trials=3, epochs=2), storage=url,
                              study_name="s", trainer=trainer))
    assert [r.number for r in results] == [1, 2]


@pytest.mark.parametrize("url, message", [("foo://x", "unsupported"), ("journal://", "file")])
def test_bad_storage_urls(url, message):
    with pytest.raises(ValueError, match=message):
        open_storage(url)
