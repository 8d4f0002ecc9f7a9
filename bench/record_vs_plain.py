"""The committed benchmark record's protocol against plain trials (issue 24 section 4):
``python bench/record_vs_plain.py [--epochs E] [--trials N] [--seeds K] [--json PATH]``.

The record's twelve method entries on its three workloads (``results/benchmark.md``), each
cell searched and confirmed by ``core.benchmark`` (trials ten at a time as populations, seeds as
one population, tested every epoch) against the same cells done plainly
(``plain_loop.plain_cell``: trials one after another in a plain PyTorch loop with the method's
optimizer, then the seeds). ``--epochs`` below the record's 10 keeps it to minutes; the ratio
is the total time of one side over the other's, each cell timed, cells interleaved. Timings
never go into tests; results: ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402

from core.benchmark import BenchmarkConfig, Workload, run_benchmark  # noqa: E402
from core.cli.benchmark import parse_entry  # noqa: E402
from core.data import load_mnist1d  # noqa: E402
from plain_loop import plain_cell  # noqa: E402
from run import _drain  # noqa: E402

# The record's command (README, "The committed benchmark").
ENTRIES = ("weight_trajectory", "wngd", "meta_curvature", "hessian_lr", "gnw_adam", "adam",
           "adamw", "sgd", "lion", "muon", "adamw_schedulefree", "adam:schedule=cosine,warmup=2")
MODELS = ("mlp", "cnn", "gru")
TARGET = 0.35


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)   # the warm-up entry needs 3
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    # the plain loop's backward(create_graph=True) for second-order methods, as a user's
    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph")
    data = load_mnist1d()
    rows, core_total, plain_total = [], 0.0, 0.0
    for model in args.models:
        for text in ENTRIES:
            entry = parse_entry(text)
            # one cell, its own baseline and reference (no verdicts are read here)
            config = BenchmarkConfig(methods=(entry,),
                                     workloads=(Workload(model, epochs=args.epochs),),
                                     trials=args.trials, seeds=args.seeds, device="cpu",
                                     baseline=entry.method, reference=entry.method)
            start = time.perf_counter()
            _drain(run_benchmark(config))
            core_s = time.perf_counter() - start
            search = config.search_config(entry, config.workloads[0])
            start = time.perf_counter()
            plain_cell(search, config.confirm_seeds, data)
            plain_s = time.perf_counter() - start
            core_total, plain_total = core_total + core_s, plain_total + plain_s
            rows.append({"model": model, "entry": text, "core_s": core_s, "plain_s": plain_s,
                         "ratio": core_s / plain_s})
            print(f"{model:4s} {text:32s} core {core_s:6.1f}s plain {plain_s:6.1f}s "
                  f"ratio {core_s / plain_s:.2f}", flush=True)
    ratio = core_total / plain_total
    print(f"all cells: core {core_total:.0f}s plain {plain_total:.0f}s -> {ratio:.3f} "
          f"(target <= {TARGET}); threads {args.threads}, load average "
          f"{[round(x, 2) for x in os.getloadavg()]} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "core_s": core_total,
                                               "plain_s": plain_total, "ratio": ratio,
                                               "epochs": args.epochs, "trials": args.trials,
                                               "seeds": args.seeds}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
