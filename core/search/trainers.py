"""Who trains a search's trials: one after another, or stacked as one population."""

from typing import Sequence

from ..config import EpochMetrics, RunConfig
from .outcomes import KeepGoing, Trainer


def train_trials(configs: Sequence[RunConfig], keep_going: KeepGoing) -> list[list[EpochMetrics]]:
    """Train each config; ``keep_going(i, metrics)`` is called per epoch and False stops config i.

    The one place where trials are trained, so that a population trainer that trains a batch of
    configs at once can replace it (same signature, same per-epoch callback).
    """
    from ..data import load_mnist1d
    from ..training.train import train
    data = load_mnist1d()
    curves = []
    for i, config in enumerate(configs):
        curve = []
        run = train(config, data)
        try:
            for m in run:
                curve.append(m)
                if not keep_going(i, m):
                    break
        finally:
            run.close()
        curves.append(curve)
    return curves


def default_trainer(method: str, together: int) -> Trainer:
    """The population trainer when several configs of a method that has a population form are
    trained at once (stacked weights, about 3x faster on 2 cores), else one after another."""
    if together > 1:
        from ..training.population import population_trainer, supports_population
        if supports_population(method):
            return population_trainer
    return train_trials
