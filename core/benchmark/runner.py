"""Run a benchmark: every cell in turn, as a generator of events a page or a terminal draws.

With a storage URL, each cell is a study named by :func:`cell_study_name` and the benchmark
itself a small study (named by :func:`benchmark_name`) holding its config, so a rerun of the same
command resumes, and ``python -m core worker --benchmark NAME`` (:func:`attach_benchmark`) joins
in: the cells' trials are shared as any study's are, and a cell's confirmation is claimed by one
runner at a time.
"""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Mapping

import optuna

from ..search.storage import open_storage
from ..search.study import load_lab_study, make_sampler, open_study
from .cell import Busy, CellProgress, run_cell
from .config import BenchmarkConfig, benchmark_name, cell_study_name, epochs_planned
from .record import BenchmarkRecord, CellResult, environment

BENCHMARK_ATTR = "mnist1d_lab_benchmark"   # the benchmark study's user attr: the config


@dataclass(frozen=True)
class CellDone:
    cell: CellResult
    cells_done: int
    cells: int


@dataclass(frozen=True)
class BenchmarkDone:
    record: BenchmarkRecord


def _manifest(storage, config: BenchmarkConfig, name: str) -> None:
    """Create the benchmark's own study, or check that it was made for this protocol."""
    study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True)
    stored = study.user_attrs.get(BENCHMARK_ATTR)
    if stored is None:
        study.set_user_attr(BENCHMARK_ATTR, config.to_dict())
        return
    mine = BenchmarkConfig.from_dict(stored).protocol_dict()
    if mine != config.protocol_dict():
        diff = sorted(k for k in set(mine) | set(config.protocol_dict())
                      if mine.get(k) != config.protocol_dict().get(k))
        raise ValueError(f"benchmark {name!r} in this storage was made with another protocol "
                         f"(differs in {diff}); use another --name or the same settings")
    if (stored["trials"], stored["seeds"]) != (config.trials, config.seeds):
        study.set_user_attr(BENCHMARK_ATTR, config.to_dict())   # it grew: workers follow


def attach_benchmark(storage_url: str, name: str, **storage_kwargs) -> BenchmarkConfig:
    """The config of benchmark ``name`` in the storage (for a worker); ValueError if none."""
    _, stored = load_lab_study(storage_url, name, BENCHMARK_ATTR, "benchmark", **storage_kwargs)
    return BenchmarkConfig.from_dict(stored)


def _device(config: BenchmarkConfig) -> str:
    """The device "auto" picked here, for the record (the config keeps what was asked)."""
    from ..training.epochs import resolve_device
    return f"{resolve_device(config.device)} ({config.device} asked)"


def run_benchmark(config: BenchmarkConfig, storage: str | None = None,
                  stop: threading.Event | None = None, *, name: str | None = None,
                  trainer=None, worker: bool = False,
                  storage_kwargs: Mapping | None = None) -> Iterator:
    """Run every cell and yield CellProgress (per epoch), CellDone (per cell, also for a cell
    found done in the storage) and, at the end, one BenchmarkDone with the record.

    ``stop`` (or closing the generator) ends it between epochs; what finished is kept in the
    storage. ``worker``: an unseeded sampler (workers must not all propose alike). ``trainer``
    replaces the search's trainer (tests).
    """
    stop = stop or threading.Event()
    name = name or benchmark_name(config)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    st = open_storage(storage, **(storage_kwargs or {}))
    _manifest(st, config, name)
    cells = config.cells()
    planned = [epochs_planned(config, w) for _, w in cells]
    total = sum(planned)
    results: dict[int, CellResult] = {}
    shared = storage is not None
    beat = st.get_heartbeat_interval() if hasattr(st, "get_heartbeat_interval") else 1
    while len(results) < len(cells) and not stop.is_set():
        busy = 0
        for i, (entry, workload) in enumerate(cells):
            if i in results or stop.is_set():
                continue
            search = config.search_config(entry, workload)
            study = open_study(search, st, cell_study_name(config, entry, workload, name))
            if worker:
                study.sampler = make_sampler(search, None)
            done_before = sum(planned[j] for j in results)

            def report(phase, epochs, line, i=i, entry=entry, workload=workload,
                       done_before=done_before):
                return CellProgress(i, len(cells), entry.key, workload.key, phase,
                                    min(epochs, planned[i]), planned[i],
                                    min(1.0, (done_before + min(epochs, planned[i])) / total),
                                    line, time.perf_counter() - t0)
            try:
                cell = yield from run_cell(config, entry, workload, study, stop, report,
                                           trainer=trainer, claim=shared)
            except Busy:
                busy += 1
                continue
            if cell is None:
                return
            results[i] = cell
            yield CellDone(cell, len(results), len(cells))
        if busy and len(results) < len(cells):
            stop.wait(beat)    # other runners are confirming: look again soon
    if stop.is_set():
        return
    record = BenchmarkRecord(name=name, config=config,
                             cells=tuple(results[i] for i in range(len(cells))),
                             environment={**environment(), "device": _device(config)},
                             started=started, wall_s=time.perf_counter() - t0)
    yield BenchmarkDone(record)
