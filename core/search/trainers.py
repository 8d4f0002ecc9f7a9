"""Who trains a search's trials: one after another, or stacked as one population."""

from typing import Generator, Sequence

from ..config import EpochMetrics, RunConfig
from ..training.population import (population_steps, population_trainer, supports_population,
                                  to_end)
from .outcomes import KeepGoing, Trainer

Curves = list[list[EpochMetrics]]


def train_trials(configs: Sequence[RunConfig], keep_going: KeepGoing) -> Curves:
    """Train each config; ``keep_going(i, metrics)`` is called per epoch and False stops config i.

    The one place where trials are trained, so that a population trainer that trains a batch of
    configs at once can replace it (same signature, same per-epoch callback).
    """
    return to_end(trial_steps(configs, keep_going))


def trial_steps(configs: Sequence[RunConfig], keep_going: KeepGoing
                ) -> Generator[None, None, Curves]:
    """:func:`train_trials` pausing (yielding None) after every epoch; returns the curves."""
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
                going = keep_going(i, m)
                yield
                if not going:
                    break
        finally:
            run.close()
        curves.append(curve)
    return curves


def default_trainer(method: str, together: int) -> Trainer:
    """The population trainer when several configs of a method that has a population form are
    trained at once (stacked weights, about 3x faster on 2 cores), else one after another."""
    if together > 1:
        if supports_population(method):
            return population_trainer
    return train_trials


def epoch_by_epoch(trainer: Trainer, configs: Sequence[RunConfig], keep_going: KeepGoing
                   ) -> Generator[None, None, Curves]:
    """``trainer``'s work as a generator that pauses after every epoch (so a search can report
    progress between epochs) and returns the curves; a trainer without such a form (a test's
    fake) runs in one go."""
    steps = {train_trials: trial_steps, population_trainer: population_steps}.get(trainer)
    if steps is None:
        return trainer(configs, keep_going)
    return (yield from steps(configs, keep_going))
