"""What describes a method to the lab: its knobs (``HyperParam``) and itself (``MethodSpec``).

This is the public API for a method, built in or plug-in (``from core.optim import MethodSpec,
HyperParam``): the app's widgets, the CLI's flags, the search space and the sweep grids are all
made from these two classes, and nothing else in the lab needs to know a method's name.
"""

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

# Keys and knob names end up in URLs (``adam.lr``), CLI flags and JSON: plain identifiers only.
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class HyperParam:
    """One knob: its valid range (inclusive), default, scale, and the range a search explores.

    ``search`` is ``None`` for a knob that searches keep fixed at its default.
    """

    name: str
    default: float
    low: float
    high: float
    log: bool = False
    integer: bool = False
    search: tuple[float, float] | None = None
    help: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise ValueError(f"hyperparameter name {self.name!r} must be a lowercase identifier "
                             "(letters, digits, underscores)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in (self.default, self.low, self.high)):
            raise ValueError(f"{self.name}: default, low and high must be finite numbers")
        if not self.low <= self.default <= self.high:
            raise ValueError(f"{self.name}: default {self.default} outside [{self.low}, {self.high}]")
        if self.search is not None and not self.low <= self.search[0] < self.search[1] <= self.high:
            raise ValueError(f"{self.name}: search range {self.search} outside [{self.low}, {self.high}]")
        if self.log and self.low <= 0 and self.search is not None and self.search[0] <= 0:
            raise ValueError(f"{self.name}: a log-scale search needs a positive lower bound")

    def check(self, value: Any) -> float | int:
        """Return ``value`` coerced to this knob's type, or raise ValueError naming it."""
        if isinstance(value, bool):
            raise ValueError(f"{self.name} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{self.name} must be finite, got {value!r}")
        if self.integer:
            if number != int(number):
                raise ValueError(f"{self.name} must be a whole number, got {value!r}")
            number = int(number)
        if not self.low <= number <= self.high:
            raise ValueError(f"{self.name}={value!r} is outside [{self.low:g}, {self.high:g}]")
        return number

    def at(self, fraction: float) -> float | int:
        """The value ``fraction`` (0 to 1) of the way through the search range: on the log scale
        for a log knob, rounded for an integer one (benchmarks and tests spread members so)."""
        lo, hi = self.search
        value = math.exp(math.log(lo) + fraction * math.log(hi / lo)) if self.log \
            else lo + fraction * (hi - lo)
        return round(value) if self.integer else value

    @property
    def cli_flag(self) -> str:
        return "--" + self.name.replace("_", "-")


Factory = Callable[[Iterable[torch.Tensor], Mapping[str, float], int], torch.optim.Optimizer]
# population(hparams, seeds, params): the population form of P runs (a
# core.optim._population.PopulationOptimizer), from each member's resolved hyperparameters (lr
# included) and seed, over the stacked parameters (member i is slice [i]).
PopulationFactory = Callable[[Sequence[Mapping[str, float]], Sequence[int],
                              Sequence[torch.Tensor]], Any]


@dataclass(frozen=True)
class MethodSpec:
    """A method: ``build(params, hparams, seed)`` makes its optimizer; ``hparams`` holds every knob."""

    key: str
    display_name: str
    description: str
    formula: str
    factory: Factory
    hyperparams: tuple[HyperParam, ...]
    # True when the optimizer may ask for loss.backward(create_graph=True); it then says when
    # through its ``needs_create_graph`` property.
    needs_create_graph: bool = False
    writeup: str | None = None
    # The method every other one is compared with (exactly one entry says so).
    baseline: bool = False
    # How P configurations train at once, as one stacked model (core/optim/_population.py);
    # None: they train one after another, with the same results and no speed-up.
    population: PopulationFactory | None = None
    # Say True to state that a method has no population form on purpose (a registry test fails
    # for a method with neither).
    one_after_another: bool = False
    # Gradient and Hessian-vector evaluations one step pays, from the resolved knobs (None: one
    # gradient, no Hessian-vector product), so a benchmark shows what each method cost.
    evaluations: Callable[[Mapping[str, float]], tuple[float, float]] | None = None

    def __post_init__(self):
        if not isinstance(self.key, str) or not NAME.fullmatch(self.key):
            raise ValueError(f"method key {self.key!r} must be a lowercase identifier "
                             "(letters, digits, underscores; it goes into URLs and CLI flags)")
        if not callable(self.factory):
            raise ValueError(f"{self.key}: factory must be callable (params, hparams, seed)")
        if self.population is not None and not callable(self.population):
            raise ValueError(f"{self.key}: population must be callable or None")
        if self.population is not None and self.one_after_another:
            raise ValueError(f"{self.key}: a population form and one_after_another=True "
                             "contradict each other")
        names = [hp.name for hp in self.hyperparams]
        if not all(isinstance(hp, HyperParam) for hp in self.hyperparams):
            raise ValueError(f"{self.key}: hyperparams must be HyperParam instances")
        if len(set(names)) != len(names):
            raise ValueError(f"{self.key}: hyperparameter names repeat: {names}")
        if "lr" not in names:
            raise ValueError(f"{self.key}: every method needs an 'lr' hyperparameter")

    @property
    def trains_together(self) -> bool:
        """Whether a population of this method trains as one stacked model (else one after
        another: the same numbers, no speed-up; pages say which)."""
        return self.population is not None

    def evaluations_per_step(self, hparams: Mapping[str, Any]) -> tuple[float, float]:
        """(gradient evaluations, Hessian-vector products) per optimizer step, on average."""
        if self.evaluations is None:
            return 1.0, 0.0
        grads, hvps = self.evaluations(self.resolve(hparams))
        return float(grads), float(hvps)

    def hyperparam(self, name: str) -> HyperParam:
        for hp in self.hyperparams:
            if hp.name == name:
                return hp
        raise KeyError(f"{self.display_name} has no hyperparameter {name!r}; "
                       f"it has {[hp.name for hp in self.hyperparams]}")

    def defaults(self) -> dict[str, float]:
        return {hp.name: hp.default for hp in self.hyperparams}

    def resolve(self, given: Mapping[str, Any]) -> dict[str, float]:
        """Defaults overlaid with ``given``, each value checked; unknown names are rejected."""
        unknown = set(given) - {hp.name for hp in self.hyperparams}
        if unknown:
            raise ValueError(f"{self.display_name} has no hyperparameter(s) {sorted(unknown)}; "
                             f"it has {[hp.name for hp in self.hyperparams]}")
        values = self.defaults()
        for name, value in given.items():
            values[name] = self.hyperparam(name).check(value)
        return values

    def build(self, params, hparams: Mapping[str, Any], seed: int = 0) -> torch.optim.Optimizer:
        return self.factory(params, self.resolve(hparams), seed)


def lr_param(default: float, high: float = 1.0, search=(1e-4, 1e-1)) -> HyperParam:
    """The learning-rate knob every method has (its range, and the search's log range)."""
    return HyperParam("lr", default, 1e-6, high, log=True, search=search,
                      help="Learning rate (the search explores it on a log scale).")

