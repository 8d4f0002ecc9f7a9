"""Models benchmark (issue 21 section 6): ``python bench/models.py [--epochs E] [--json PATH]``.

For the CNN and the GRU, each a ratio against a reference measured in the same process,
interleaved, median over repeats:

1. core ``train()`` (the model's fast path) vs the plain loop (nn.Module, DataLoader,
   torch.optim.Adam; ``bench/plain_loop.py``), ``--epochs`` epochs each;
2. a P = 32 population vs the same 32 runs one after another, one epoch each.

Timings never go into tests; results: ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402

from core.config import RunConfig  # noqa: E402
from core.data import load_mnist1d  # noqa: E402
from core.training.population import train_population  # noqa: E402
from core.training.train import train  # noqa: E402
from plain_loop import plain_train  # noqa: E402
from run import _drain, _timed  # noqa: E402

TARGETS = {"solo_vs_plain": 0.6, "population": 0.35}


def bench_model(model: str, epochs: int, population: int, repeats: int, data) -> dict:
    config = RunConfig(method="adam", model=model, epochs=epochs, device="cpu")
    solo, plain = [], []
    for _ in range(repeats):
        solo.append(_timed(lambda: _drain(train(config, data))))
        plain.append(_timed(lambda: _drain(plain_train(epochs, lr=config.lr, data=data,
                                                       model=model))))
    one = config.replace(epochs=1)
    members = [one.replace(seed=s) for s in range(population)]
    together, apart = [], []
    for _ in range(repeats):
        together.append(_timed(lambda: _drain(train_population(members, data))))
        apart.append(_timed(lambda: [_drain(train(c, data)) for c in members]))
    ratio = lambda a, b: statistics.median(x / y for x, y in zip(a, b))
    return {"model": model, "solo_s": statistics.median(solo),
            "plain_s": statistics.median(plain), "solo_vs_plain": ratio(solo, plain),
            "population_s": statistics.median(together), "sequential_s": statistics.median(apart),
            "population": ratio(together, apart), "epochs": epochs, "P": population}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--population", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", nargs="+", default=["cnn", "gru"])
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist1d()
    rows = []
    for model in args.models:
        row = bench_model(model, args.epochs, args.population, args.repeats, data)
        rows.append(row)
        print(f"{model}: solo {row['solo_s']:.2f}s vs plain {row['plain_s']:.2f}s -> "
              f"{row['solo_vs_plain']:.2f} (target <= {TARGETS['solo_vs_plain']}); "
              f"P={row['P']} population {row['population_s']:.1f}s vs sequential "
              f"{row['sequential_s']:.1f}s -> {row['population']:.2f} "
              f"(target <= {TARGETS['population']})", flush=True)
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"threads {args.threads}, load average {load} (1, 5, 15 min) at the end")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "load": load,
                                               "threads": args.threads}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
