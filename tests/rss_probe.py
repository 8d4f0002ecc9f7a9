"""Run one accepted job in this (fresh) process and print its peak memory against its estimate.

``python tests/rss_probe.py CASE`` prints one JSON line: ``increase`` (peak resident memory
while the job ran, VmHWM, minus the resident memory just before it, VmRSS) and ``estimate``
(the job's ``core.budget`` plan), both in bytes. A small job of the same kind runs first, so
that lazy imports, the first optimizer's set-up and the allocator's first pools are not taken
for the job's own memory. tests/test_budget_rss.py runs every case in a process of its own.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import budget  # noqa: E402
from core.config import RunConfig  # noqa: E402


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    try:   # Linux >= 4.0: VmHWM restarts from the present VmRSS
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass   # then the peak may include the warm-up's, which can only overstate the job's


def _drain(iterator) -> None:
    for _ in iterator:
        pass


# -- the cases: (job, plan), each a page's own job and plan -----------------------------------
def solo(data, small=False):
    from core.training.train import train
    config = RunConfig(method="adam", hidden=(8,) if small else (1000, 1000), epochs=1,
                       batch_size=500)
    return (lambda: list(train(config, data))), budget.train_plan(config)


def population(data, small=False):
    """200 narrow members: the old gather held 2 x 200 copies of the training set (270 MB)."""
    from core.training.population import train_population
    configs = [RunConfig(method="wngd", lr=0.01 * (1 + i / 200), seed=i, epochs=1 if small else 2,
                         hidden=(8,) if small else (32,)) for i in range(2 if small else 200)]
    return (lambda: _drain(train_population(configs, data))), \
        budget.Plan(budget.estimate(configs, populations=[configs]), "population", "")


def cnn_population(data, small=False):
    """32 CNN members: the stacked forward keeps each layer's padded input and patches too."""
    from core.training.population import train_population
    configs = [RunConfig(method="adam", model="cnn", lr=0.01 * (1 + i / 32), seed=i, epochs=1)
               for i in range(2 if small else 32)]
    return (lambda: _drain(train_population(configs, data))), \
        budget.Plan(budget.estimate(configs, populations=[configs]), "population", "")


def gru_population(data, small=False):
    """16 GRU members (32 are refused at 400 MB): the hand-written recurrence keeps five blocks
    per step and direction, and an evaluation runs the batch in slices."""
    from core.training.population import train_population
    configs = [RunConfig(method="adam", model="gru", lr=0.01 * (1 + i / 16), seed=i, epochs=1)
               for i in range(2 if small else 16)]
    return (lambda: _drain(train_population(configs, data))), \
        budget.Plan(budget.estimate(configs, populations=[configs]), "population", "")


def sweep(data, small=False):
    """Issue 20's Sensitivity link, 2 epochs instead of 6: 1,000 members of width 1."""
    from core.training.sweep import Axis, SweepConfig, run_sweep
    entry = RunConfig(method="weight_trajectory", lr=0.01, hparams={"beta": 0.1},
                      epochs=1 if small else 2, batch_size=100, hidden=(1,))
    config = SweepConfig((entry,), Axis("lr", 3 if small else 10),
                         Axis("beta", 3 if small else 10, (0.01, 10)),
                         n_seeds=1 if small else 10)
    return (lambda: _drain(run_sweep(config, data))), budget.sweep_plan(config)


def search_batch(data, small=False):
    from core.search.study import SearchConfig, run_search
    config = SearchConfig(method="gnw_adam", trials=2 if small else 12, epochs=1 if small else 2,
                          sampler="random", hidden=(8,) if small else (100, 100))
    parallel = 2 if small else 12
    return (lambda: _drain(run_search(config, batch=parallel))), \
        budget.search_plan(config, parallel=parallel)


def compare(data, small=False):
    from core.training.compare import run_comparison
    seeds = [0, 1] if small else list(range(10))
    entries = [RunConfig(method=m, epochs=1 if small else 2, hidden=(8,) if small else (100, 100))
               for m in ("adam", "meta_curvature")]
    return (lambda: _drain(run_comparison(entries, seeds, data))), \
        budget.compare_plan(entries, seeds)


CASES = {f.__name__: f for f in (solo, population, cnn_population, gru_population, sweep,
                                  search_batch, compare)}


def main(case: str) -> None:
    import torch
    from core.data import load_mnist1d
    from core.server_settings import ServerSettings
    torch.set_num_threads(1)
    data = load_mnist1d()
    warm, _ = CASES[case](data, small=True)
    warm()
    job, plan = CASES[case](data)
    assert budget.refusal(plan, ServerSettings()) is None, "the case must be an accepted job"
    del warm
    gc.collect()
    _reset_peak()
    before = _status("VmRSS")
    job()
    print(json.dumps({"case": case, "increase": _status("VmHWM") - before,
                      "estimate": plan.work.memory_bytes}))


if __name__ == "__main__":
    main(sys.argv[1])
