"""What describes a model to the lab: the knobs of its shape (``ShapeKnob``) and itself
(``ModelSpec``).

This is the public API for a model, built in or plug-in (``from core.models import ModelSpec,
ShapeKnob``). The training loops, the population trainer, the budget, the diagnostics, the CLI's
flags, the URLs and the widgets all ask a spec; nothing else in the lab knows a model's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch

# Keys and knob names end up in URLs (``model=cnn&channels=25``), CLI flags and JSON.
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
N_INPUT, N_CLASSES = 40, 10   # MNIST-1D: 40 samples per signal, 10 digits


def whole_number(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in [low, high], or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside [{low}, {high}]")
    return value


@dataclass(frozen=True)
class ShapeKnob:
    """One knob of a model's shape: a whole number in ``[low, high]``, or with ``many`` a list
    of ``min_items..max_items`` such numbers (layer widths). ``default`` is an int, or a tuple
    with ``many``; ``empty_help`` is what a page says when a list knob is left empty."""

    name: str
    default: Any
    low: int
    high: int
    help: str = ""
    many: bool = False
    max_items: int = 1
    min_items: int = 1
    empty_help: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise ValueError(f"knob name {self.name!r} must be a lowercase identifier")
        if not (isinstance(self.low, int) and isinstance(self.high, int) and self.low <= self.high):
            raise ValueError(f"{self.name}: low and high must be whole numbers, low <= high")
        if self.many and not 0 <= self.min_items <= self.max_items:
            raise ValueError(f"{self.name}: a list knob needs 0 <= min_items <= max_items")
        object.__setattr__(self, "default", self.check(self.default))

    def check(self, value: Any):
        """``value`` coerced to this knob's type (a tuple of ints with ``many``), or a
        ValueError naming the knob."""
        if not self.many:
            return whole_number(self.name, value, self.low, self.high)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValueError(f"{self.name} must be a list of whole numbers, got {value!r}")
        items = tuple(whole_number(self.name, v, self.low, self.high) for v in value)
        if not self.min_items <= len(items) <= self.max_items:
            raise ValueError(f"{self.name} takes {self.min_items} to {self.max_items} values, "
                             f"got {len(items)}")
        return items

    def to_text(self, value) -> str:
        """The URL's and the widget's spelling: ``100,100`` or ``25``."""
        return ",".join(map(str, value)) if self.many else str(value)

    def parse(self, text: str):
        """The inverse of :meth:`to_text`, checked (ValueError naming the knob)."""
        parts = [p for p in str(text).replace(" ", "").split(",") if p]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"{self.name} must be whole numbers separated by commas, "
                             f"got {text!r}") from None
        if not self.many:
            if len(numbers) != 1:
                raise ValueError(f"{self.name} must be one whole number, got {text!r}")
            return self.check(numbers[0])
        return self.check(numbers)

    @property
    def cli_flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        count = f"{self.min_items} to {self.max_items} values, each " if self.many else ""
        return f"{self.help} ({count}in [{self.low}, {self.high}]; default {self.to_text(self.default)})"


Shape = Mapping[str, Any]
# build(shape, generator) -> nn.Module whose parameters() are in tensor_names order.
Builder = Callable[[Shape, torch.Generator], torch.nn.Module]
# forward(params, x): (B, 40) -> (B, 10) over the module's parameters, without module dispatch.
Forward = Callable[[Sequence[torch.Tensor], torch.Tensor], torch.Tensor]
# stacked_forward(params, x): P members' parameters stacked on dim 0, x (P, 40, B) with
# features on dim 1 -> logits (P, 10, B); member i's slice is forward(member i's params, x[i].T).
StackedForward = Callable[[Sequence[torch.Tensor], torch.Tensor], torch.Tensor]
Count = Callable[[Shape], int]


@dataclass(frozen=True)
class ModelSpec:
    """A model: how to build it from an explicit generator, how to run one or a stacked
    population of it, and what it costs.

    Counts are per sample: ``macs`` multiply-adds of one forward pass, ``activations`` floats
    a training forward pass keeps for the backward pass (its input included), ``widest`` floats
    of its largest layer output (an evaluation holds two such); ``sequential_ops`` is the
    kernels of one forward pass that must run one after another (a GRU's 40 time steps of a few
    kernels each), which bounds how fast a batch can go whatever its flops.

    ``training_forward`` and ``training_stacked_forward`` are optional faster twins of
    ``forward`` and ``stacked_forward`` for the training steps of methods that need no second
    derivatives (``MethodSpec.needs_create_graph`` False): the same function through other
    kernels (float32's last bits may differ from the module's), possibly with a hand-written
    backward that refuses to be differentiated twice. Evaluation and second-order methods use
    the plain ones.
    """

    key: str
    display_name: str
    description: str
    source: str
    knobs: tuple[ShapeKnob, ...]
    build: Builder
    forward: Forward
    parameter_count: Count
    macs: Count
    activations: Count
    widest: Count
    tensor_names: Callable[[Shape], list[str]]
    stacked_forward: StackedForward | None = None
    training_forward: Forward | None = None
    training_stacked_forward: StackedForward | None = None
    sequential_ops: Count = lambda shape: 1
    # The default model (exactly one built-in says so): every page and link without model=.
    default: bool = False
    # Test accuracy its source reports under the MNIST-1D paper's protocol (Adam lr 1e-2,
    # batch 100, 8000 steps): ``python -m core models`` re-measures it next to this figure.
    reported_accuracy: float | None = None

    def __post_init__(self):
        if not isinstance(self.key, str) or not NAME.fullmatch(self.key):
            raise ValueError(f"model key {self.key!r} must be a lowercase identifier")
        for name in ("build", "forward", "parameter_count", "macs", "activations", "widest",
                     "tensor_names", "sequential_ops"):
            if not callable(getattr(self, name)):
                raise ValueError(f"{self.key}: {name} must be callable")
        for name in ("stacked_forward", "training_forward", "training_stacked_forward"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise ValueError(f"{self.key}: {name} must be callable or None")
        if self.training_stacked_forward is not None and self.stacked_forward is None:
            raise ValueError(f"{self.key}: training_stacked_forward needs a stacked_forward")
        if not all(isinstance(k, ShapeKnob) for k in self.knobs):
            raise ValueError(f"{self.key}: knobs must be ShapeKnob instances")
        names = [k.name for k in self.knobs]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.key}: knob names repeat: {names}")

    @property
    def trains_together(self) -> bool:
        """Whether a population of this model runs as one stacked model (else its members run
        side by side as solo runs: the same numbers, no speed-up)."""
        return self.stacked_forward is not None

    def forward_for_training(self, second_order: bool) -> Forward:
        """The forward a solo run's training steps call: the faster twin unless the method may
        differentiate twice."""
        return self.forward if second_order or self.training_forward is None \
            else self.training_forward

    def stacked_forward_for_training(self, second_order: bool) -> StackedForward | None:
        """As :meth:`forward_for_training`, for a stacked population."""
        return self.stacked_forward if second_order or self.training_stacked_forward is None \
            else self.training_stacked_forward

    def knob(self, name: str) -> ShapeKnob:
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(f"{self.display_name} has no knob {name!r}; "
                       f"it has {[k.name for k in self.knobs] or 'none'}")

    def defaults(self) -> dict[str, Any]:
        return {k.name: k.default for k in self.knobs}

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``, each checked; a knob the model lacks is rejected."""
        unknown = set(given) - {k.name for k in self.knobs}
        if unknown:
            has = ", ".join(k.name for k in self.knobs) or "no knobs"
            raise ValueError(f"model {self.key} has no knob(s) {', '.join(sorted(unknown))} "
                             f"(it has {has})")
        values = self.defaults()
        for name, value in given.items():
            values[name] = self.knob(name).check(value)
        return values

    def make(self, shape: Shape, generator: torch.Generator) -> torch.nn.Module:
        """The model at ``shape`` (checked), its weights drawn from ``generator``."""
        return self.build(self.resolve(shape), generator)


def linear_bound(fan_in: int) -> float:
    """nn.Linear's and nn.Conv1d's default init range: uniform in +-1/sqrt(fan_in)."""
    return fan_in ** -0.5
