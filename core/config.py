"""Frozen, validated configuration of one training run, and the metrics it yields per epoch."""

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from .data import SPLITS
from .optim.registry import BASELINE, get_method
from .schedules import DEFAULT as DEFAULT_SCHEDULE
from .schedules import resolve as resolve_schedule

DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_EPOCHS = 10_000
MAX_SEED = 2**31 - 1
MAX_HIDDEN_LAYERS = 8
MAX_HIDDEN_WIDTH = 4096
MAX_BATCH = 4000


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside [{low}, {high}]")
    return value


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run. Same config, same numbers (bit for bit on CPU).

    ``lr=None`` takes the method's default; ``hparams`` holds the method's other knobs (missing
    ones take their defaults) and is stored resolved, as a sorted tuple of pairs, so the config
    is hashable and says everything explicitly.
    """

    method: str = BASELINE
    lr: float | None = None
    hparams: Any = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 100
    seed: int = 0
    hidden: tuple[int, ...] = (100, 100)
    split: str = "writeup"
    device: str = "auto"
    # The lr schedule (core/schedules.py) and its settings, stored resolved like hparams.
    schedule: str = DEFAULT_SCHEDULE
    schedule_params: Any = field(default_factory=dict)

    def __post_init__(self):
        spec = get_method(self.method)
        given = dict(self.hparams.items() if isinstance(self.hparams, Mapping) else self.hparams)
        if "lr" in given:
            raise ValueError("give the learning rate as lr=..., not inside hparams")
        if self.lr is not None:
            given["lr"] = self.lr
        resolved = spec.resolve(given)
        set_ = object.__setattr__
        set_(self, "lr", float(resolved.pop("lr")))
        set_(self, "hparams", tuple(sorted(resolved.items())))
        set_(self, "epochs", _whole("epochs", self.epochs, 1, MAX_EPOCHS))
        set_(self, "batch_size", _whole("batch_size", self.batch_size, 1, MAX_BATCH))
        set_(self, "seed", _whole("seed", self.seed, 0, MAX_SEED))
        if isinstance(self.hidden, (str, bytes)) or not hasattr(self.hidden, "__iter__"):
            raise ValueError(f"hidden must be a list of layer widths, got {self.hidden!r}")
        hidden = tuple(_whole("hidden width", h, 1, MAX_HIDDEN_WIDTH) for h in self.hidden)
        if len(hidden) > MAX_HIDDEN_LAYERS:
            raise ValueError(f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(hidden)}")
        set_(self, "hidden", hidden)
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; choose one of {list(SPLITS)}")
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {list(DEVICES)}")
        knobs = self.schedule_params
        knobs = dict(knobs.items() if isinstance(knobs, Mapping) else knobs)
        set_(self, "schedule_params",
             tuple(sorted(resolve_schedule(self.schedule, knobs, self.epochs).items())))

    @property
    def spec(self):
        return get_method(self.method)

    def optimizer_hparams(self) -> dict[str, float]:
        """All knobs the method's factory takes, lr included."""
        return {"lr": self.lr, **dict(self.hparams)}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hparams"] = dict(self.hparams)
        d["hidden"] = list(self.hidden)
        d["schedule_params"] = dict(self.schedule_params)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config field(s) {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes) -> "RunConfig":
        d = self.to_dict()
        if "method" in changes and changes["method"] != self.method:
            d["hparams"], d["lr"] = {}, None
        if "schedule" in changes and changes["schedule"] != self.schedule:
            d["schedule_params"] = {}
        d.update(changes)
        return RunConfig.from_dict(d)


def is_finite_number(value) -> bool:
    """A real number that is neither NaN nor infinite (None and other types are not)."""
    return isinstance(value, (int, float)) and math.isfinite(value)


def finite_or_none(value):
    """JSON-safe number: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch produced. ``diagnostics`` maps a flat name to a number, for example
    ``trajectory_factor/layer1.weight`` or ``hessian_trace``."""

    epoch: int
    train_loss: float
    val_loss: float
    val_acc: float
    elapsed: float
    lrs: tuple[float, ...]
    diagnostics: Mapping[str, float] = field(default_factory=dict)
    diverged: bool = False
    reason: str | None = None
    test_loss: float | None = None
    test_acc: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: non-finite numbers become None."""
        d = asdict(self)
        d["lrs"] = list(self.lrs)
        d["diagnostics"] = {k: finite_or_none(v) for k, v in self.diagnostics.items()}
        return {k: finite_or_none(v) for k, v in d.items()}

    def flat(self) -> dict[str, Any]:
        """One row for a table or CSV: diagnostics become columns of their own."""
        row = {k: v for k, v in self.to_dict().items() if k not in ("diagnostics", "lrs")}
        row["lr"] = self.lrs[0] if self.lrs else None
        row.update(self.diagnostics)
        return row
