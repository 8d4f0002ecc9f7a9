"""How closely a population member matches its solo run, in float64, for every method.

    python -m bench.population_precision [--epochs 2]

Every built-in method, and every wrapper over every base method it can wrap, trains two members
(different seeds and knobs spread over their search ranges) as one population and alone; the
table gives the largest absolute difference in any per-epoch loss (train, validation, test)
between a member and its solo run, and the largest loss (a run far above ln 10 = 2.3 is in a
chaotic regime, where training amplifies the last bits as it would any perturbation). The
README and ``core/training/population.py`` quote it.
"""

import argparse

import torch

from core.config import RunConfig
from core.data import load_mnist1d
from core.optim import METHODS
from core.optim.hessian_lr import hessian_lr_over
from core.optim.meta_curvature import meta_curvature_over
from core.optim.weight_trajectory import weight_trajectory_over
from core.training.population import population_to_end
from core.training.train import train

WRAPPERS = (weight_trajectory_over, meta_curvature_over, hessian_lr_over)


def specs():
    """The registry's methods, then each wrapper over each base that is no wrapper itself."""
    out = dict(METHODS)
    bases = [s for s in METHODS.values() if s.population is not None
             and not getattr(s.population, "is_wrapper_form", False)]
    for wrap in WRAPPERS:
        for base in bases:
            try:
                spec = wrap(base)
            except ValueError:   # a knob of the same name (HessianLR's eps over WNGD)
                continue
            out.setdefault(spec.key, spec)
    return out


def configs(spec, epochs):
    out = []
    for i, f in enumerate((0.0, 0.5)):
        knobs = {hp.name: hp.at(f) for hp in spec.hyperparams if hp.search is not None}
        lr = knobs.pop("lr")
        out.append(RunConfig(method=spec.key, lr=lr, hparams=knobs, epochs=epochs, seed=5 + i,
                             device="cpu", split="honest"))
    return out


def largest_difference(spec, data, epochs) -> tuple[float, float]:
    runs = configs(spec, epochs)
    members = population_to_end(runs, data, dtype=torch.float64)
    worst = largest = 0.0
    for config, history in zip(runs, members):
        for a, b in zip(train(config, data, dtype=torch.float64), history):
            for name in ("train_loss", "val_loss", "test_loss"):
                x, y = getattr(a, name), getattr(b, name)
                if x is not None and y is not None:
                    worst, largest = max(worst, abs(x - y)), max(largest, abs(x))
    return worst, largest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_mnist1d()
    print(f"{'method':32s} {'difference':>10s} {'largest loss':>12s}")
    for key, spec in specs().items():
        if spec.population is None:
            continue
        METHODS.setdefault(key, spec)   # RunConfig looks methods up by key
        worst, largest = largest_difference(spec, data, args.epochs)
        print(f"{key:32s} {worst:10.1e} {largest:12.3g}", flush=True)


if __name__ == "__main__":
    main()
