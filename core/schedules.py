"""Learning-rate schedules, a run setting that any method takes: the lr a step uses is the
method's lr times the schedule's factor at that step.

A schedule is a shape (``constant``, ``cosine``, ``step``) with an optional linear warm-up in
front; ``SCHEDULES`` describes each shape and its knobs as ``HyperParam`` entries, the way the
method registry describes a method, so the CLI, the URL, the pages and the search spaces are
made from it. With ``t`` the step (0-based), ``S`` the steps per epoch, ``T = epochs * S`` the
run's steps and ``W = warmup * S`` the warm-up's:

* warm-up: ``(t + 1) / W`` for ``t < W``, then 1 (the first step already moves, as
  Schedule-Free's own warm-up does);
* ``constant``: 1 (the default; with ``warmup=0`` every run is what it was before schedules);
* ``cosine``: ``floor + (1 - floor) (1 + cos(pi (t - W) / (T - W))) / 2`` after the warm-up,
  from 1 down towards ``floor`` (a fraction of the lr) at the end of the run (Loshchilov &
  Hutter 2017, SGDR, without restarts);
* ``step``: ``gamma ** floor(e / every)`` in epoch ``e`` (0-based), torch's ``StepLR``.

The factor is set before every step, so a wrapper that rescales the lr (MetaCurvatureLR) scales
the scheduled one, as it does under a torch scheduler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .optim.spec import HyperParam


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule shape: its knobs (warm-up included) and its factor after the warm-up,
    ``shape(t, S, T, W, knobs)``."""

    key: str
    display_name: str
    description: str
    knobs: tuple[HyperParam, ...]
    shape: Callable[[int, int, int, int, Mapping[str, float]], float]

    def knob(self, name: str) -> HyperParam:
        for hp in self.knobs:
            if hp.name == name:
                return hp
        raise KeyError(name)


MAX_WARMUP = 10_000
WARMUP = HyperParam("warmup", 0, 0, MAX_WARMUP, integer=True, search=(0, 5),
                    help="Epochs of linear warm-up from lr/W up to lr before the schedule starts "
                         "(0: none).")
FLOOR = HyperParam("lr_floor", 0.0, 0.0, 1.0, search=(0.0, 0.1),
                   help="Cosine: the fraction of the lr reached at the end of the run.")
EVERY = HyperParam("step_every", 10, 1, 10_000, integer=True, search=(2, 10),
                   help="Step decay: epochs between two multiplications by step_gamma.")
GAMMA = HyperParam("step_gamma", 0.1, 1e-4, 1.0, log=True, search=(0.05, 0.7),
                   help="Step decay: the factor the lr is multiplied by every step_every epochs.")


def _cosine(t, steps_per_epoch, total, warm, knobs):
    floor = knobs["lr_floor"]
    progress = (t - warm) / (total - warm)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


SCHEDULES: dict[str, ScheduleSpec] = {spec.key: spec for spec in (
    ScheduleSpec("constant", "Constant", "The method's lr at every step (after any warm-up).",
                 (WARMUP,), lambda t, s, total, warm, knobs: 1.0),
    ScheduleSpec("cosine", "Cosine decay",
                 "Half a cosine from the lr down to lr * lr_floor over the run (after any "
                 "warm-up).", (WARMUP, FLOOR), _cosine),
    ScheduleSpec("step", "Step decay",
                 "The lr times step_gamma every step_every epochs (torch's StepLR).",
                 (WARMUP, EVERY, GAMMA),
                 lambda t, s, total, warm, knobs: knobs["step_gamma"] ** (
                     (t // s) // knobs["step_every"])),
)}
DEFAULT = "constant"
# Every knob any schedule has: the run settings a CLI flag or URL key is made for.
KNOBS: dict[str, HyperParam] = {hp.name: hp for spec in SCHEDULES.values() for hp in spec.knobs}


def get_schedule(key: str) -> ScheduleSpec:
    try:
        return SCHEDULES[key]
    except KeyError:
        raise ValueError(f"unknown schedule {key!r}; choose one of {list(SCHEDULES)}") from None


def resolve(key: str, given: Mapping[str, Any], epochs: int) -> dict[str, float | int]:
    """The schedule's knobs, defaults overlaid with ``given``, each checked; a knob the schedule
    lacks, or a warm-up as long as the run, is a ValueError that says so."""
    spec = get_schedule(key)
    names = [hp.name for hp in spec.knobs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"the {key} schedule has no setting(s) {unknown}; it takes {names}")
    values = {hp.name: hp.default for hp in spec.knobs}
    for name, value in given.items():
        values[name] = spec.knob(name).check(value)
    if values["warmup"] >= epochs:
        raise ValueError(f"warmup={values['warmup']} epochs must be shorter than the run "
                         f"({epochs} epochs)")
    return values


def is_constant(key: str, knobs: Mapping[str, float]) -> bool:
    """Whether the factor is 1 at every step (nothing to set during the run)."""
    return key == "constant" and not knobs.get("warmup", 0)


def factor(key: str, knobs: Mapping[str, float], t: int, steps_per_epoch: int,
           epochs: int) -> float:
    """The lr factor of step ``t`` (0-based) of a run of ``epochs`` epochs of
    ``steps_per_epoch`` steps each (``knobs`` resolved)."""
    warm = int(knobs.get("warmup", 0)) * steps_per_epoch
    if t < warm:
        return (t + 1) / warm
    return float(SCHEDULES[key].shape(t, steps_per_epoch, epochs * steps_per_epoch, warm, knobs))


def factors(key: str, knobs: Mapping[str, float], steps_per_epoch: int,
            epochs: int) -> list[float]:
    """Every step's factor, in order (what the training loop applies)."""
    return [factor(key, knobs, t, steps_per_epoch, epochs)
            for t in range(epochs * steps_per_epoch)]


def config_is_constant(config) -> bool:
    """Whether run ``config`` (a RunConfig) keeps its lr constant."""
    return is_constant(config.schedule, dict(config.schedule_params))


def config_factor(config, t: int, steps_per_epoch: int) -> float:
    """The lr factor of step ``t`` of run ``config``."""
    return factor(config.schedule, dict(config.schedule_params), t, steps_per_epoch,
                  config.epochs)


# --- Text forms: CLI flags, link parameters and Compare entries (``schedule=cosine``,
# ``warmup=2``): the schedule under ``schedule``, its knobs under their own names.
SETTING = "schedule"
NAMES = (SETTING, *KNOBS)


def to_texts(config, always: bool = True) -> dict[str, str]:
    """``{"schedule": key, knob: value, ...}`` for run ``config``; with ``always=False`` nothing
    for the default (constant, no warm-up), so texts made before schedules existed still read
    as they were written."""
    knobs = dict(config.schedule_params)
    if not always and is_constant(config.schedule, knobs):
        return {}
    return {SETTING: config.schedule, **{k: repr(v) for k, v in knobs.items()}}


def parse_knob(name: str, text: str) -> float | int:
    """A schedule knob's value from text, checked (ValueError naming it)."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {text!r}") from None
    return KNOBS[name].check(number)


def with_texts(config, items):
    """``config`` with the schedule settings among ``items`` (name -> text) applied, the
    schedule first (it decides which knobs exist); other names are left alone. ValueError
    names what is wrong."""
    items = dict(items)
    key = items.pop(SETTING, None)
    if key is not None:
        get_schedule(key)
        config = config.replace(schedule=key)
    knobs = {n: parse_knob(n, t) for n, t in items.items() if n in KNOBS}
    if knobs:
        config = config.replace(schedule_params={**dict(config.schedule_params), **knobs})
    return config
