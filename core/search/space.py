"""Search spaces built from the method registry: what a search explores, and what it keeps fixed."""

from dataclasses import dataclass
from typing import Any, Mapping

from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)

from ..optim.registry import get_method
from ..schedules import get_schedule

# The trial parameter that holds the schedule when a search tunes it (a categorical knob).
SCHEDULE = "schedule"


def _pairs(value: Any, what: str) -> tuple:
    """``{name: v}`` or ``((name, v), ...)`` -> a sorted tuple of pairs (hashable, frozen)."""
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = [(str(k), v) for k, v in items]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be pairs of (name, value), got {value!r}") from None
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names a hyperparameter twice: {names}")
    return tuple(sorted(pairs))


@dataclass(frozen=True)
class SearchSpace:
    """``distributions`` are searched; ``fixed`` values are used as given (defaults included)."""

    method: str
    distributions: Mapping[str, BaseDistribution]
    fixed: Mapping[str, float]
    # The lr schedule every trial uses (``schedule`` is searched instead when it is one of the
    # distributions); ``schedule_params`` apply to each schedule that has them.
    schedule: str = "constant"
    schedule_params: Mapping[str, float] = ()

    def run_kwargs(self, params: Mapping[str, Any]) -> dict:
        """RunConfig keyword arguments (``lr``, ``hparams`` and the schedule) for one trial's
        params."""
        values = {**self.fixed, **params}
        schedule = values.pop(SCHEDULE, self.schedule)
        lr = values.pop("lr")
        names = {hp.name for hp in get_schedule(schedule).knobs}
        knobs = {k: v for k, v in dict(self.schedule_params).items() if k in names}
        return {"lr": lr, "hparams": values, "schedule": schedule, "schedule_params": knobs}


def search_space(method: str, ranges=(), fixed=(), schedule: str = "constant",
                 schedule_params=(), schedules=()) -> SearchSpace:
    """The registry's search ranges for ``method``, narrowed by ``ranges``, minus ``fixed`` knobs.

    A knob without a registry search range stays at its default unless ``ranges`` gives it one.
    Ranges may go anywhere inside the knob's valid limits; anything else is a ValueError.
    Every trial trains with ``schedule`` (and ``schedule_params``), unless ``schedules`` names
    two or more: then the schedule is a categorical knob, ``schedule``, among them.
    """
    spec = get_method(method)
    ranges = dict(_pairs(ranges, "ranges"))
    fixed = dict(_pairs(fixed, "fixed"))
    known = {hp.name for hp in spec.hyperparams}
    for what, given in (("ranges", ranges), ("fixed", fixed)):
        unknown = set(given) - known
        if unknown:
            raise ValueError(f"{what}: {spec.display_name} has no hyperparameter(s) "
                             f"{sorted(unknown)}; it has {sorted(known)}")
    both = set(ranges) & set(fixed)
    if both:
        raise ValueError(f"{sorted(both)} cannot be both fixed and searched")

    distributions: dict[str, BaseDistribution] = {}
    fixed_values: dict[str, float] = {}
    for hp in spec.hyperparams:
        if hp.name in fixed:
            fixed_values[hp.name] = hp.check(fixed[hp.name])
            continue
        bounds = ranges.get(hp.name, hp.search)
        if bounds is None:
            fixed_values[hp.name] = hp.default
            continue
        try:
            low, high = (hp.check(b) for b in bounds)
        except (TypeError, ValueError) as error:
            raise ValueError(f"range for {hp.name}: {error}") from None
        if not low < high:
            raise ValueError(f"range for {hp.name} needs low < high, got [{low:g}, {high:g}]")
        if hp.log and low <= 0:
            raise ValueError(f"{hp.name} is searched on a log scale: its range must start above 0, "
                             f"got [{low:g}, {high:g}]")
        if hp.integer:
            distributions[hp.name] = IntDistribution(int(low), int(high), log=hp.log)
        else:
            distributions[hp.name] = FloatDistribution(float(low), float(high), log=hp.log)
    choices = tuple(dict.fromkeys(schedules))
    for key in (schedule, *choices):
        get_schedule(key)   # an unknown schedule is a ValueError that lists the known ones
    knob_names = {hp.name for key in (schedule, *choices) for hp in get_schedule(key).knobs}
    extra = sorted(set(dict(schedule_params)) - knob_names)
    if extra:
        raise ValueError(f"schedule settings {extra} belong to none of the schedules "
                         f"{sorted({schedule, *choices})}")
    if len(choices) > 1:
        distributions[SCHEDULE] = CategoricalDistribution(choices)
    elif choices:
        schedule = choices[0]
    return SearchSpace(method, distributions, fixed_values, schedule,
                       tuple(sorted(dict(schedule_params).items())))


def describe(space: SearchSpace) -> list[str]:
    """Human-readable lines, one per knob: what is searched and how, what is fixed."""
    lines = []
    for name, d in space.distributions.items():
        if isinstance(d, CategoricalDistribution):
            lines.append(f"{name}: one of {', '.join(map(str, d.choices))}")
            continue
        scale = "log" if getattr(d, "log", False) else "linear"
        lines.append(f"{name}: [{d.low:g}, {d.high:g}] ({scale})")
    for name, value in space.fixed.items():
        lines.append(f"{name} = {value:g} (fixed)")
    if SCHEDULE not in space.distributions and (space.schedule != "constant"
                                                or space.schedule_params):
        knobs = ", ".join(f"{k}={v:g}" for k, v in space.schedule_params)
        lines.append(f"schedule = {space.schedule}" + (f" ({knobs})" if knobs else ""))
    return lines


