"""Search spaces built from the method registry: what a search explores, and what it keeps fixed."""

from dataclasses import dataclass
from typing import Any, Mapping

from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from ..optim.registry import get_method


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

    def run_kwargs(self, params: Mapping[str, Any]) -> dict:
        """RunConfig keyword arguments (``lr`` and ``hparams``) for one trial's params."""
        values = {**self.fixed, **params}
        lr = values.pop("lr")
        return {"lr": lr, "hparams": values}


def search_space(method: str, ranges=(), fixed=()) -> SearchSpace:
    """The registry's search ranges for ``method``, narrowed by ``ranges``, minus ``fixed`` knobs.

    A knob without a registry search range stays at its default unless ``ranges`` gives it one.
    Ranges may go anywhere inside the knob's valid limits; anything else is a ValueError.
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
    return SearchSpace(method, distributions, fixed_values)


def describe(space: SearchSpace) -> list[str]:
    """Human-readable lines, one per knob: what is searched and how, what is fixed."""
    lines = []
    for name, d in space.distributions.items():
        scale = "log" if getattr(d, "log", False) else "linear"
        lines.append(f"{name}: [{d.low:g}, {d.high:g}] ({scale})")
    for name, value in space.fixed.items():
        lines.append(f"{name} = {value:g} (fixed)")
    return lines


