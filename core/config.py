"""Frozen, validated configuration of one training run, and the metrics it yields per epoch.

The run settings (``RUN_SETTINGS``) are described here once: type, range, default, help, CLI
flag, URL key, widget, and whether a population or a comparison must share it. The CLI's flags
(core/cli/main.py), the links (ui/params.py, ui/sweep_params.py), the pages' widgets
(ui/widgets.py), the fields populations and comparisons share, the budget's command lines and the
search's settings are made from this list, so a new run setting is one entry here (and its
``RunConfig`` field). The model's own knobs (``hidden``, ``channels``, ...) come from the model
registry (core/models/) and travel the same ways under their own names.
"""

import math
from dataclasses import InitVar, asdict, dataclass, field, fields
from typing import Any, Mapping

from .data import SPLITS
from .models import DEFAULT_MODEL, MODELS, all_knobs, get_model
from .models.mlp import MAX_HIDDEN_LAYERS, MAX_HIDDEN_WIDTH  # noqa: F401 (the MLP's limits)
from .models.spec import whole_number as _whole
from .optim.registry import BASELINE, get_method
from .schedules import DEFAULT as DEFAULT_SCHEDULE
from .schedules import KNOBS as SCHEDULE_KNOBS
from .schedules import SCHEDULES, get_schedule
from .schedules import resolve as resolve_schedule

DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_EPOCHS = 10_000
MAX_SEED = 2**31 - 1
MAX_BATCH = 4000


@dataclass(frozen=True)
class RunSetting:
    """One run setting. ``kind`` is ``int`` (a whole number in [low, high]), ``choice`` (one of
    ``choices``), ``model`` (a model key; its knobs come with it, in ``RunConfig.shape``) or
    ``schedule`` (an lr schedule's key, core/schedules.py; its knobs come with it, in
    ``RunConfig.schedule_params``). A registry choice's knobs travel under their own names. ``population``: every member
    of a population must have the same value; ``comparison``: every entry of a comparison, a
    sweep or a search must (``seed`` there is the first seed). ``widget`` says how a page draws
    it: ``number``, ``radio``, ``select`` or ``device`` (a select of the devices present)."""

    name: str
    label: str
    kind: str
    default: Any
    help: str = ""
    low: int = 0
    high: int = 0
    choices: tuple = ()
    widget: str = "number"
    population: bool = True
    comparison: bool = True
    step: int = 1

    @property
    def cli_flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def url_key(self) -> str:
        return self.name

    @property
    def knobs_field(self) -> str | None:
        """The RunConfig field that holds a registry choice's knobs (None for plain values)."""
        return _KNOBS_FIELDS.get(self.kind)

    def knobs(self) -> dict:
        """A registry choice's knobs of every key, by name (each has ``cli_flag``)."""
        if self.kind == "model":
            return all_knobs()
        return dict(SCHEDULE_KNOBS) if self.kind == "schedule" else {}

    def options(self) -> tuple:
        if self.kind == "model":
            return tuple(MODELS)
        return tuple(SCHEDULES) if self.kind == "schedule" else self.choices

    def check(self, value: Any):
        """``value`` of this setting's type, or a ValueError naming the setting."""
        if self.kind == "int":
            return _whole(self.name, value, self.low, self.high)
        if self.kind == "model":
            return get_model(value).key
        if self.kind == "schedule":
            return get_schedule(value).key
        if value not in self.choices:
            raise ValueError(f"unknown {self.name} {value!r}; choose one of {list(self.choices)}")
        return value

    def parse(self, text: str):
        """A URL's text as a value, checked (ValueError in words)."""
        if self.kind == "int":
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"{self.name} must be a whole number, got {text!r}") from None
            if not math.isfinite(number):
                raise ValueError(f"{self.name} must be a whole number, got {text!r}")
            return self.check(number)
        return self.check(text)


_KNOBS_FIELDS = {"model": "shape", "schedule": "schedule_params"}
RUN_SETTINGS: tuple[RunSetting, ...] = (
    RunSetting("model", "Model", "model", DEFAULT_MODEL, widget="select",
               help="The network trained: the write-ups' MLP, or one of the MNIST-1D paper's "
                    "models (logistic regression, CNN, GRU)."),
    RunSetting("epochs", "Epochs", "int", 20, "Passes over the training set.", 1, MAX_EPOCHS),
    RunSetting("batch_size", "Batch size", "int", 100, "Samples per step.", 1, MAX_BATCH, step=10),
    RunSetting("seed", "Seed", "int", 0, "Same seed, same initial weights and batch order.",
               0, MAX_SEED, population=False),
    RunSetting("split", "Split", "choice", "writeup",
               "writeup: validate on the test set as the write-ups did; honest: validate on "
               "800 held-out training samples (the test set is reported after the last epoch)",
               choices=SPLITS, widget="radio"),
    RunSetting("device", "Device", "choice", "auto",
               "auto picks CUDA, then MPS, then the CPU.", choices=DEVICES, widget="device"),
    # Members of a population and entries of a comparison may differ in their schedule; a
    # search fixes it or tunes it among several (SearchConfig.schedules).
    RunSetting("schedule", "LR schedule", "schedule", DEFAULT_SCHEDULE, widget="select",
               help="The lr a step uses is the method's lr times the schedule's factor: "
                    + "; ".join(f"{k}: {s.description}" for k, s in SCHEDULES.items()),
               population=False, comparison=False),
)
SETTINGS = {s.name: s for s in RUN_SETTINGS}
# What every member of a population shares (they fix the shapes and the step count) and what
# every entry of a comparison shares; a registry choice's knobs (``shape``) go with the choice.
KNOB_FIELDS = tuple(s.knobs_field for s in RUN_SETTINGS if s.knobs_field)
POPULATION_SHARED = ("method",) + tuple(
    n for s in RUN_SETTINGS if s.population for n in (s.name, s.knobs_field) if n)
COMPARISON_SHARED = tuple(
    n for s in RUN_SETTINGS if s.comparison for n in (s.name, s.knobs_field) if n)


def _shape_pairs(value) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    return dict(value or ())


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run. Same config, same numbers (bit for bit on CPU).

    ``lr=None`` takes the method's default; ``hparams`` holds the method's other knobs (missing
    ones take their defaults) and is stored resolved, as a sorted tuple of pairs, so the config
    is hashable and says everything explicitly. ``shape`` is the model's knobs, stored the same
    way; each also reads as an attribute (``config.hidden``), and ``RunConfig(hidden=...)``
    sets the MLP's widths as it always did.
    """

    method: str = BASELINE
    lr: float | None = None
    hparams: Any = field(default_factory=dict)
    model: str = DEFAULT_MODEL
    shape: Any = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 100
    seed: int = 0
    split: str = "writeup"
    device: str = "auto"
    # The lr schedule (a run setting) and its knobs, stored resolved like hparams.
    schedule: str = DEFAULT_SCHEDULE
    schedule_params: Any = field(default_factory=dict)
    hidden: InitVar[Any] = None

    def __post_init__(self, hidden):
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
        for setting in RUN_SETTINGS:
            set_(self, setting.name, setting.check(getattr(self, setting.name)))
        shape = _shape_pairs(self.shape)
        if hidden is not None:
            shape["hidden"] = hidden
        set_(self, "shape", tuple(sorted(get_model(self.model).resolve(shape).items())))
        knobs = self.schedule_params
        knobs = dict(knobs.items() if isinstance(knobs, Mapping) else knobs)
        set_(self, "schedule_params",
             tuple(sorted(resolve_schedule(self.schedule, knobs, self.epochs).items())))

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails: a model knob read as an attribute.
        if not name.startswith("_"):
            shape = self.__dict__.get("shape", ())
            for key, value in shape:
                if key == name:
                    return value
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def spec(self):
        return get_method(self.method)

    @property
    def model_spec(self):
        return get_model(self.model)

    def optimizer_hparams(self) -> dict[str, float]:
        """All knobs the method's factory takes, lr included."""
        return {"lr": self.lr, **dict(self.hparams)}

    def shape_dict(self) -> dict[str, Any]:
        return dict(self.shape)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the model's knobs under their own names (an MLP's dict reads as it did
        before models were a choice, plus ``model``)."""
        d = asdict(self)
        d["hparams"] = dict(self.hparams)
        d["schedule_params"] = dict(self.schedule_params)
        del d["shape"]
        d.update({k: list(v) if isinstance(v, tuple) else v for k, v in self.shape})
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunConfig":
        """The inverse of :meth:`to_dict`; a record made before ``model`` existed is the MLP."""
        names = {f.name for f in fields(cls)}
        knobs = all_knobs()
        unknown = set(d) - names - set(knobs)
        if unknown:
            raise ValueError(f"unknown config field(s) {sorted(unknown)}")
        kwargs = {k: v for k, v in d.items() if k in names}
        shape = _shape_pairs(kwargs.pop("shape", {}))
        shape.update({k: v for k, v in d.items() if k in knobs})
        return cls(**kwargs, shape=shape)

    def replace(self, **changes) -> "RunConfig":
        """A copy with ``changes``; a new method starts from its defaults, and so does a new
        model's shape. Model knobs may be given by name (``replace(hidden=(32,))``)."""
        d = self.to_dict()
        if "method" in changes and changes["method"] != self.method:
            d["hparams"], d["lr"] = {}, None
        if "schedule" in changes and changes["schedule"] != self.schedule:
            d["schedule_params"] = {}
        if "model" in changes and changes["model"] != self.model:
            for name in dict(self.shape):
                d.pop(name)
        if "shape" in changes:
            for name in dict(self.shape):
                d.pop(name, None)
            d.update(_shape_pairs(changes.pop("shape")))
        d.update(changes)
        return RunConfig.from_dict(d)


# The InitVar's default would shadow ``__getattr__``; the generated __init__ keeps its own copy.
del RunConfig.hidden


def shared_dict(config: RunConfig) -> dict[str, Any]:
    """The run settings a comparison shares, JSON-ready, the model's knobs under their names."""
    d = config.to_dict()
    return {k: v for k, v in d.items() if k in COMPARISON_SHARED or k in dict(config.shape)}


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
