"""Time estimates per model: ``python bench/pace_models.py [--members P] [--epochs E]``.

For every model of the registry at its default shape: one solo run and a P-member population,
each timed against this server's estimate for it (``core.pace``, measured in the same process,
start-up left out). A ratio near 1 is a good estimate; above 1 the budget lets through more
than it means to. Timings never go into tests; results: ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core import budget, pace  # noqa: E402
from core.config import RunConfig  # noqa: E402
from core.data import load_mnist1d  # noqa: E402
from core.models import MODELS  # noqa: E402
from core.training.population import population_to_end  # noqa: E402
from core.training.train import train  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_mnist1d()
    server = pace.measure(1)
    print(f"{'model':8} {'solo measured/estimated':>24} {f'P={args.members} measured/estimated':>26}")
    for model in MODELS:
        solo = RunConfig(model=model, epochs=args.epochs)
        members = [solo.replace(seed=i) for i in range(args.members)]
        estimates = [server.seconds(budget.estimate([solo])) - pace.START_S,
                     server.seconds(budget.estimate(members, populations=[members]))
                     - pace.START_S]
        measured = [timed(lambda: list(train(solo, data))),
                    timed(lambda: population_to_end(members, data))]
        cells = [f"{m:.2f}s / {e:.2f}s = {m / e:.2f}" for m, e in zip(measured, estimates)]
        print(f"{model:8} {cells[0]:>24} {cells[1]:>26}", flush=True)


if __name__ == "__main__":
    main()
