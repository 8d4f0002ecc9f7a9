"""A benchmark in a storage: killed, it resumes and loses nothing; workers share its cells."""

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import optuna
import pytest

from core.benchmark import (BenchmarkConfig, BenchmarkDone, CellDone, CellProgress, Workload,
                            benchmark_name, cell_study_name, run_benchmark)
from core.benchmark.cell import CONFIRM_ATTR
from core.search.counting import counted, counts
from core.search.storage import open_storage
from tests.test_search_storage import TRAINER, kill_when_running, trainer

ROOT = Path(__file__).resolve().parents[1]
BEAT = dict(heartbeat_interval=1, grace_period=2)
CONFIG = BenchmarkConfig(methods=("adam", "lion"),
                         workloads=(Workload("mlp", shape={"hidden": (8,)}, epochs=2),),
                         trials=3, seeds=2, parallel=1, device="cpu")


def _studies(url):
    storage = open_storage(url, **BEAT)
    return {name: optuna.load_study(study_name=name, storage=storage)
            for name in (cell_study_name(CONFIG, m, w) for m, w in CONFIG.cells())}


@pytest.mark.timeout(240)
def test_a_killed_benchmark_resumes_and_loses_nothing(tmp_path):
    url = str(tmp_path / "bench.log")
    script = tmp_path / "child.py"
    script.write_text(TRAINER + textwrap.dedent(f"""
        from core.benchmark import BenchmarkConfig, CellDone, Workload, run_benchmark
        config = BenchmarkConfig(methods=("adam", "lion"),
                                 workloads=(Workload("mlp", shape={{"hidden": (8,)}}, epochs=2),),
                                 trials=3, seeds=2, parallel=1, device="cpu")
        for e in run_benchmark(config, storage={url!r}, trainer=trainer,
                               storage_kwargs=dict(heartbeat_interval=1, grace_period=2)):
            if isinstance(e, CellDone):
                print(e.cell.method, flush=True)
    """))
    child = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT),
                                             "FAKE_EPOCH_SECONDS": "0.3"})
    second = cell_study_name(CONFIG, *CONFIG.cells()[1])
    kill_when_running(child, url, second, finished=1, running=1)   # inside cell 2's search
    before = _studies(url)
    first = before[cell_study_name(CONFIG, *CONFIG.cells()[0])]
    kept_confirmation = first.user_attrs[CONFIRM_ATTR]
    kept_trials = {t.number: (t.params, t.value) for t in counted(first.get_trials())}
    ghosts = [t.number for t in before[second].get_trials()
              if t.state == optuna.trial.TrialState.RUNNING]
    assert len(kept_trials) == 3 and len(ghosts) == 1

    events = list(run_benchmark(CONFIG, storage=url, trainer=trainer, storage_kwargs=BEAT))
    record = events[-1].record
    assert isinstance(events[-1], BenchmarkDone) and len(record.cells) == 2
    # the first cell came back from the storage as it was: its trials and its confirmation
    assert not [e for e in events if isinstance(e, CellProgress) and e.cell == 0]
    after = _studies(url)
    first = after[cell_study_name(CONFIG, *CONFIG.cells()[0])]
    assert first.user_attrs[CONFIRM_ATTR] == kept_confirmation
    assert {t.number: (t.params, t.value) for t in counted(first.get_trials())} == kept_trials
    assert record.cells[0].to_dict() == kept_confirmation
    # the killed trial was failed by its heartbeat and retried; no study overran its count
    for study in after.values():
        c = counts(study.get_trials())
        assert (c.finished, c.running, c.waiting) == (3, 0, 0)
    killed = next(t for t in after[second].get_trials() if t.number == ghosts[0])
    assert killed.state == optuna.trial.TrialState.FAIL


def _worker(url, name):
    return subprocess.Popen(
        [sys.executable, "-m", "core", "worker", "--storage", url, "--benchmark", name,
         "--device", "cpu", "--heartbeat", "1", "--grace", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(300)
def test_workers_share_a_benchmark_and_the_starter_finds_it_done(tmp_path):
    _share(str(tmp_path / "bench.log"))   # a journal file: made for several processes


@pytest.mark.timeout(300)
def test_workers_share_a_benchmark_in_postgresql():
    from tests.pg_support import postgres_server
    with postgres_server() as url:
        _share(url, starter_too=True)


def _share(url, starter_too: bool = False):
    """Register the benchmark, let two workers (or one and the starter, at once) do all of it,
    then find it done."""
    stop = threading.Event()
    stop.set()
    assert list(run_benchmark(CONFIG, storage=url, stop=stop, storage_kwargs=BEAT)) == []
    name = benchmark_name(CONFIG)       # the benchmark is registered in the storage
    workers = [_worker(url, name) for _ in range(1 if starter_too else 2)]
    if starter_too:
        events = list(run_benchmark(CONFIG, storage=url, storage_kwargs=BEAT))
        assert isinstance(events[-1], BenchmarkDone)
    outputs = [w.communicate(timeout=240) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]
        assert "is complete" in out
    done_lines = [line for out, _ in outputs for line in out.splitlines() if " done" in line]
    assert len(done_lines) >= 2          # each cell reported by whoever finished it
    for study in _studies(url).values():
        c = counts(study.get_trials())
        assert (c.finished, c.running, c.waiting) == (3, 0, 0), "no cell overran its trials"
        assert CONFIRM_ATTR in study.user_attrs
    events = list(run_benchmark(CONFIG, storage=url, storage_kwargs=BEAT))
    assert not [e for e in events if isinstance(e, CellProgress)], "nothing left to train"
    assert [type(e) for e in events] == [CellDone, CellDone, BenchmarkDone]
    assert all(not r.diverged for c in events[-1].record.cells for r in c.runs)


def test_a_worker_needs_a_benchmark_that_exists(tmp_path, capsys):
    from core.cli.main import main
    url = str(tmp_path / "empty.log")
    with pytest.raises(SystemExit) as exit_:
        main(["worker", "--storage", url, "--benchmark", "bench-nothing"])
    assert exit_.value.code == 2
    assert "no benchmark named 'bench-nothing'" in capsys.readouterr().err


def test_stop_ends_a_benchmark_between_epochs_and_a_rerun_keeps_what_finished(tmp_path):
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    stop = threading.Event()
    first = []
    for event in run_benchmark(CONFIG, storage=url, stop=stop, trainer=trainer):
        first.append(event)
        if isinstance(event, CellDone):
            stop.set()
    assert not [e for e in first if isinstance(e, BenchmarkDone)]
    assert [type(e) for e in first if not isinstance(e, CellProgress)] == [CellDone]
    progress = [e for e in first if isinstance(e, CellProgress)]
    assert progress[-1].eta_s is not None and progress[-1].elapsed_s > 0
    again = list(run_benchmark(CONFIG, storage=url, trainer=trainer))
    assert {e.cell for e in again if isinstance(e, CellProgress)} == {1}   # only what was left
    assert again[-1].record.cells[0] == first[-1].cell
