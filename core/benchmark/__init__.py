"""A benchmark: every method tuned the same way on every workload, ranked with its uncertainty.

The protocol (fixed before anything trains, stored with the results; Schmidt et al. 2021,
DeepOBS, AlgoPerf):

- a **workload** (:class:`Workload`) is a model with its shape knobs, epochs, batch size and lr
  schedule; the split is always ``honest`` (validate on 800 held-out training samples, report
  the test set);
- a **method entry** (:class:`MethodEntry`) is a registry method with its registry search space,
  some knobs optionally fixed (and optionally an lr schedule of its own, e.g. Adam with warm-up
  + cosine);
- each (method, workload) is a **cell**: an Optuna search (:func:`core.search.study.run_search`)
  with the same trials, tuning seed and sampler settings for every cell, trials trained as
  populations, then the best configuration retrained on K fresh seeds
  (:func:`core.search.duel.fresh_seeds`, the same seeds for every cell, so a seed means the same
  initial weights and batch order for every method of a workload: the runs are paired);
- **scores** per confirmation seed: test accuracy and test loss at the best validation epoch,
  and the epochs to reach the workload's target validation accuracy (the median over the
  reference method's confirmation seeds of their best validation accuracy, as AlgoPerf sets
  targets from a tuned baseline); **cost**: wall seconds of the cell and the gradient and
  Hessian-vector evaluations per step its best configuration pays (declared by the registry:
  ``MethodSpec.evaluations_per_step``);
- a diverged run is a failure: it takes the worst value of its workload (core.stats'
  ``DIVERGENCE_RULE``), is never dropped, and is shown as diverged;
- verdicts: each method against the baseline method, paired per seed, on test accuracy and test
  loss, judged by :func:`core.stats.judge` with the config's margins, Holm across the whole
  table (every workload and both metrics). A tie is "equivalent within +-m" or "not detected
  (could detect >= X)", never a win.

Public API (what a page needs)::

    from core.benchmark import (BenchmarkConfig, MethodEntry, Workload, plan, run_benchmark,
                                BenchmarkRecord, summarize, frames, to_markdown)

    config = BenchmarkConfig(methods=(MethodEntry("adam"), MethodEntry("lion")),
                             workloads=(Workload("mlp", epochs=20), Workload("cnn")),
                             trials=20, seeds=5)          # ValueError in words if bad
    p = plan(config)                 # core.budget.Plan: refuse with core.budget.refusal(p, ...)
    stop = threading.Event()
    for event in run_benchmark(config, storage=None, stop=stop):
        # CellProgress: cell (index), cells, method, workload, phase ("search" | "confirm"),
        #               epochs_done / epochs_planned (this cell), fraction (whole benchmark)
        # CellDone:     cell (a CellResult), cells_done, cells
        # BenchmarkDone: record (a BenchmarkRecord)
        ...
    s = summarize(record)            # tables, verdicts, profile, counts, heatmap as plain rows
                                     # (a partial record, the CellDone cells so far, works too:
                                     #  BenchmarkRecord(name, config, cells))
    dfs = frames(record)             # the same as pandas DataFrames, by name
    text = to_markdown(record)
    BenchmarkRecord.from_json(record.to_json()) == record

``run_benchmark(config, storage=URL)`` writes each cell to the study
``cell_study_name(config, entry, workload)`` (deterministic) and its confirmation to that study's
user attrs, so a killed benchmark rerun with the same storage resumes and loses no finished
trial or confirmation; ``python -m core worker --storage URL --benchmark NAME`` shares the work.

Record format (JSON, ``format`` = ``"mnist1d-lab-benchmark"``, ``version`` = 1)::

    {"format": "mnist1d-lab-benchmark", "version": 1,
     "name": "bench-<12 hex>",                      # the storage's study-name prefix
     "config": {...BenchmarkConfig.to_dict()...},   # methods, workloads, trials, seeds, ...
     "protocol": {"split": "honest", "seeds": [..fresh seeds..], "divergence_rule": "...",
                  "target_rule": "...", "sampler": "...", "margins": {...}, "alpha": 0.05},
     "environment": {"python": ..., "torch": ..., "optuna": ..., "platform": ...,
                     "machine": ..., "threads": ..., "device": "cpu (auto asked)"},
     "started": ISO-8601, "wall_s": float,
     "cells": [{"method": entry key, "workload": workload key,
                "best_params": {...} | null, "best_value": float | null,   # tuning-seed val loss
                "trials": int, "states": {"COMPLETE": n, "PRUNED": n, ...},
                "search_s": float, "confirm_s": float,
                "grads_per_step": float, "hvps_per_step": float, "steps_per_epoch": int,
                "study": the cell's study name (open it on Search) | null,
                "runs": [{"seed": int, "test_acc": float | null, "test_loss": float | null,
                          "best_epoch": int | null, "val_acc": [per epoch],
                          "diverged": bool, "reason": str | null}, ...]}, ...],
     "summary": {"targets", "table", "profile", "ratios", "counts", "heatmap", "family"}}
                           # summarize(record) as plain data; derived, ignored on load

``summary.table`` has one row per (workload, method), ranked within its workload: ``rank``,
``test_acc_mean/low/high``, ``test_loss_mean/low/high`` (after the divergence rule; low/high
None for one seed), ``test_acc_verdict`` / ``test_loss_verdict`` (text), ``..._label`` (one of
core.stats.LABELS, "none" without any value), ``..._p`` (Holm-adjusted), ``diverged``,
``failed``, ``target``, ``epochs_to_target`` (median, None when most seeds never reached it),
``reached_target``, ``wall_s``, ``grads_per_step``, ``hvps_per_step``, ``best_params``.

``null`` test scores mean the run diverged (or the search had no completed trial: every seed
then counts as diverged).
"""

from .config import (BenchmarkConfig, MethodEntry, Workload, benchmark_name, cell_study_name,
                     plan)
from .record import BenchmarkRecord, CellResult, SeedRun
from .results import frames, summarize
from .markdown import to_markdown
from .runner import BenchmarkDone, CellDone, CellProgress, run_benchmark

__all__ = ["BenchmarkConfig", "BenchmarkDone", "BenchmarkRecord", "CellDone", "CellProgress",
           "CellResult", "MethodEntry", "SeedRun", "Workload", "benchmark_name",
           "cell_study_name", "frames", "plan", "run_benchmark", "summarize", "to_markdown"]
