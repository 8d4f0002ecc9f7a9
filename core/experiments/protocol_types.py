"""What a write-up's reproduction is made of: its sides, reported numbers, claims, variants and
the :class:`Protocol` that holds them, with the quantities a reproduction measures.

The five write-ups themselves, as data, are in :mod:`core.experiments.protocols`.
"""

from dataclasses import dataclass, replace

from ..models import DEFAULT_MODEL, get_model
from ..optim.registry import BASELINE, get_method
from ..schedules import DEFAULT as CONSTANT, get_schedule, resolve as resolve_schedule
from .pinned_margins import margin as pinned_margin
from .scale import Scale

SIDES = ("baseline", "method")

# Quantities a write-up reports and a reproduction measures. Each has a label under the
# write-up's protocol (validation = the test set) and under the honest split (tuning on a
# validation set carved from training data; losses then read on the untouched test set).
QUANTITIES: dict[str, tuple[str, str]] = {
    "lr": ("best learning rate", "best learning rate"),
    "beta": ("best beta", "best beta"),
    "best_val_loss": ("minimum validation loss",
                      "test loss at the epoch of minimum validation loss"),
    "final_val_loss": ("final validation loss", "test loss after the last epoch"),
    "early_val_loss": ("mean validation loss over the first epochs",
                       "mean test loss over the first epochs (area under the early test curve)"),
    "final_train_loss": ("final training loss", "final training loss"),
    "best_val_acc": ("validation accuracy at the epoch of minimum validation loss",
                     "test accuracy at the epoch of minimum validation loss"),
    "final_val_acc": ("final validation accuracy", "test accuracy after the last epoch"),
}
# Losses are what the verdicts compare; the rest (learning rates, beta) are only reported.
LOSSES = ("best_val_loss", "final_val_loss", "early_val_loss", "final_train_loss")
# Accuracy next to each loss a claim reads (higher is better); reported with a paired verdict of
# the Compare flavour, never judged as a claim.
ACCURACY_OF = {"best_val_loss": "best_val_acc", "final_val_loss": "final_val_acc",
               "early_val_loss": "final_val_acc"}
ACCURACIES = ("best_val_acc", "final_val_acc")
# "Converges faster early" (write-up 003) is measured as the mean loss over this many first
# epochs (a quarter of its 20): an area under the early curve, steadier than one epoch. Honest
# seeds read it on the test curve, not on the validation set that picked the lr.
EARLY_EPOCHS = 5
FIGURES = ("trial_box", "val_curves", "train_test")
DIRECTIONS = ("better", "worse")
# Honest seed i searches on seed i and is measured on seed CONFIRM_SEED + i: initial weights and
# batch order the search never saw, so the best trial's luck is not measured again.
CONFIRM_SEED = 1000


@dataclass(frozen=True)
class SideProtocol:
    """One side of a duel: the method, the knobs a search tunes (name, low, high), the knobs held.

    A side with no ``tuned`` knobs is trained at ``fixed`` as given (write-up 002).
    """

    method: str
    tuned: tuple[tuple[str, float, float], ...] = ()
    fixed: tuple[tuple[str, float], ...] = ()
    # The lr schedule every run of this side trains with (core/schedules.py), and its knobs.
    schedule: str = CONSTANT
    schedule_params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        get_schedule(self.schedule)
        resolve_schedule(self.schedule, dict(self.schedule_params), 10**9)  # names, ranges
        spec = get_method(self.method)
        names = [n for n, _, _ in self.tuned] + [n for n, _ in self.fixed]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.method}: a knob is both tuned and fixed, or listed twice")
        for name, low, high in self.tuned:
            hp = spec.hyperparam(name)
            if not hp.low <= low < high <= hp.high:
                raise ValueError(f"{self.method}: range {name} [{low}, {high}] outside "
                                 f"[{hp.low}, {hp.high}]")
        spec.resolve(dict(self.fixed))   # raises on unknown names or bad values

    @property
    def spec(self):
        return get_method(self.method)


@dataclass(frozen=True)
class Reported:
    """A number a write-up reports for one side."""

    side: str
    quantity: str
    value: float

    def __post_init__(self):
        if self.side not in SIDES or self.quantity not in QUANTITIES:
            raise ValueError(f"bad reported figure {self}")


@dataclass(frozen=True)
class Claim:
    """Part of a write-up's conclusion: the method is ``better``/``worse`` than Adam on a loss."""

    quantity: str
    direction: str
    text: str

    def __post_init__(self):
        if self.quantity not in LOSSES or self.direction not in DIRECTIONS:
            raise ValueError(f"bad claim {self}")


@dataclass(frozen=True)
class Variant:
    """The protocol re-run with a setting the write-up did not state chosen otherwise.

    ``method_tuned``/``method_fixed`` replace those of the method's knobs; ``widen`` names a tuned
    knob whose range grows tenfold (up to the registry's bound) for as long as some honest seed
    tunes it to the top edge of the range; ``lr_matched_baseline`` replaces Adam's lr by the
    method's mean effective lr over the measured honest runs (the lr it stepped with, read
    each epoch). ``baseline_schedule`` (with its knobs) trains Adam with that lr schedule,
    tuned as the protocol tunes it. ``model`` runs the protocol on another model of the
    registry (its default shape) and, since such a run costs several MLP runs, ``seeds`` and
    ``scale`` cap it: at most that many honest seeds, that scale's trials and epochs (a quick
    run stays quick).
    """

    name: str
    setting: str
    hidden: tuple[int, ...] | None = None
    batch_size: int | None = None
    method_tuned: tuple[tuple[str, float, float], ...] = ()
    method_fixed: tuple[tuple[str, float], ...] = ()
    widen: str = ""
    lr_matched_baseline: bool = False
    baseline_schedule: str = ""
    baseline_schedule_params: tuple[tuple[str, float], ...] = ()
    model: str = ""
    seeds: int | None = None
    scale: Scale | None = None


@dataclass(frozen=True)
class Protocol:
    """One write-up's experiment. ``search_trials = 0``: no search, train at the fixed values.
    ``final_epochs = 0``: no final training; as written, the best trial's own run is measured
    (write-up 000), and the honest seeds retrain the best values for a trial's length."""

    key: str
    writeup: str
    title: str
    hypothesis: str
    conclusion: str
    baseline: SideProtocol
    method: SideProtocol
    search_trials: int
    search_epochs: int
    final_epochs: int
    reported: tuple[Reported, ...]
    claims: tuple[Claim, ...]
    figure: str
    choices: tuple[str, ...]
    batch_size: int = 100
    # The MLP's hidden widths; None on a model without them (its registry default shape).
    hidden: tuple[int, ...] | None = (100, 100)
    model: str = DEFAULT_MODEL
    sampler: str = "tpe"
    # What the write-up left open, as (setting, the value chosen here); the variants re-run the
    # claim with some of them set otherwise.
    unstated: tuple[tuple[str, str], ...] = ()
    variants: tuple[Variant, ...] = ()
    seeds: int = 5
    # TPE's random start: Optuna's default 10, which the write-ups ran (they name no sampler
    # settings); with 10 trials (004) the whole search is random, with 15 (001) five are guided.
    startup_trials: int = 10
    variant: str = ""          # the variant this protocol is, "" for the protocol as chosen
    # The pinned margins were measured on this protocol's model; :meth:`on_model` clears it.
    on_margin_model: bool = True

    def __post_init__(self):
        if self.baseline.method != BASELINE:
            raise ValueError("the baseline of every write-up is Adam")
        if self.figure not in FIGURES:
            raise ValueError(f"figure must be one of {FIGURES}")
        if self.search_trials < 0 or self.search_epochs < 0 or self.final_epochs < 0:
            raise ValueError("trial and epoch counts cannot be negative")
        if self.search_trials and not (self.search_epochs and self.baseline.tuned
                                       and self.method.tuned):
            raise ValueError(f"{self.key}: a search needs epochs and tuned knobs on both sides")
        if not self.search_trials and not self.final_epochs:
            raise ValueError(f"{self.key}: without a search there must be a training to measure")
        if not self.claims:
            raise ValueError(f"{self.key}: a write-up without a claim has nothing to reproduce")
        if not 1 <= self.seeds <= 100 or self.startup_trials < 1:
            raise ValueError(f"{self.key}: seeds must be in [1, 100], startup_trials at least 1")
        get_model(self.model).resolve({} if self.hidden is None else {"hidden": self.hidden})

    @property
    def shape(self) -> dict:
        """The model's knobs this protocol sets (the rest are the registry's defaults)."""
        return {} if self.hidden is None else {"hidden": self.hidden}

    def on_model(self, model: str, name: str = "") -> "Protocol":
        """This protocol on ``model`` (its default shape; the same model: unchanged), keeping
        the variants that still apply there (none that sets a knob the model lacks or changes
        the model again)."""
        spec = get_model(model)
        if spec.key == self.model:
            return self
        knobs = {k.name for k in spec.knobs}
        keep = tuple(v for v in self.variants
                     if not v.model and (v.hidden is None or "hidden" in knobs))
        return replace(self, model=spec.key, hidden=None, variants=keep,
                       variant=name or self.variant, on_margin_model=False)

    def with_variant(self, v: Variant, baseline_lr: float | None = None) -> "Protocol":
        """This protocol with ``v``'s settings (a widened range is given as ``method_tuned``)."""
        method = self.method
        if v.method_tuned or v.method_fixed:
            tuned = {n: (lo, hi) for n, lo, hi in method.tuned}
            tuned.update({n: (lo, hi) for n, lo, hi in v.method_tuned})
            fixed = dict(method.fixed) | dict(v.method_fixed)
            method = SideProtocol(method.method, tuple((n, lo, hi) for n, (lo, hi) in
                                                       tuned.items()), tuple(fixed.items()))
        baseline = self.baseline
        if v.baseline_schedule:
            baseline = replace(baseline, schedule=v.baseline_schedule,
                               schedule_params=v.baseline_schedule_params)
        if v.lr_matched_baseline:
            if baseline_lr is None or self.search_trials:
                raise ValueError("an lr-matched Adam needs the method's lr and a protocol "
                                 "without a search")
            baseline = SideProtocol(BASELINE, fixed=(("lr", float(baseline_lr)),))
        base = self.on_model(v.model) if v.model else self
        seeds = min(self.seeds, v.seeds) if v.seeds else self.seeds
        return replace(base, method=method, baseline=baseline, hidden=v.hidden or base.hidden,
                       batch_size=v.batch_size or self.batch_size, variants=(), variant=v.name,
                       seeds=seeds)

    def model_text(self) -> str:
        """"MLP 40-100-100-10" for the write-ups' MLP; the model's name and its parameter count
        otherwise."""
        spec = get_model(self.model)
        shape = spec.resolve(self.shape)
        if self.hidden is not None:
            return f"{spec.key.upper()} 40-{'-'.join(map(str, self.hidden))}-10"
        return f"{spec.display_name} (`{spec.key}`, {spec.parameter_count(shape):,} parameters)"

    def margin(self, quantity: str) -> float | None:
        """The equivalence margin of ``quantity`` (``core.experiments.pinned_margins``: per metric, the
        baseline's seed-to-seed spread on this workload, set on calibration seeds before any
        verdict's run); None where none was set. A variant keeps its write-up's margins, except
        on another model: they were measured on the write-up's, so there it has none."""
        # (a hand-built protocol under a new key has none either: nothing is pinned for it)
        return pinned_margin(self.key, quantity) if self.on_margin_model else None

    def margins(self) -> dict[str, float]:
        return {q: m for q in self.quantities if (m := self.margin(q)) is not None}

    def side(self, name: str) -> SideProtocol:
        return {"baseline": self.baseline, "method": self.method}[name]

    def reported_value(self, side: str, quantity: str) -> float | None:
        for r in self.reported:
            if r.side == side and r.quantity == quantity:
                return r.value
        return None

    @property
    def quantities(self) -> tuple[str, ...]:
        """What this write-up's result table shows: its tuned knobs, its reported and claimed losses."""
        tuned = [n for s in SIDES for n, _, _ in self.side(s).tuned]
        named = tuned + [r.quantity for r in self.reported] + [c.quantity for c in self.claims]
        named += [ACCURACY_OF[q] for q in named if q in ACCURACY_OF]
        return tuple(dict.fromkeys(q for q in QUANTITIES if q in named))

    def table(self) -> list[dict[str, str]]:
        """The protocol as rows (what, value) for the page and the record."""
        def side_text(s: SideProtocol) -> str:
            parts = [f"tunes {n} in [{lo:g}, {hi:g}]" for n, lo, hi in s.tuned]
            parts += [f"{n} = {v:g}" for n, v in s.fixed]
            if s.schedule != CONSTANT or s.schedule_params:
                knobs = ", ".join(f"{n} {v:g}" for n, v in s.schedule_params)
                parts.append(f"lr schedule {s.schedule}" + (f" ({knobs})" if knobs else ""))
            return f"{s.spec.display_name}: " + ("; ".join(parts) or "defaults")
        rows = [("Adam", side_text(self.baseline)), ("Method", side_text(self.method))]
        if self.search_trials:
            rows.append(("Search", f"Optuna {self.sampler.upper()}, {self.search_trials} trials x "
                                   f"{self.search_epochs} epochs per side (the first "
                                   f"{min(self.startup_trials, self.search_trials)} random), "
                                   "objective = minimum validation loss"))
        else:
            rows.append(("Search", "none"))
        rows.append(("Final training", f"{self.final_epochs} epochs with the best values"
                     if self.final_epochs else "none (the best trial's run is measured)"))
        rows.append(("Model", f"{self.model_text()}, batch {self.batch_size}"))
        margins = ", ".join(f"{q} +-{m:.2g}" for q, m in self.margins().items()) or "none set"
        rows.append(("Verdict", f"{self.seeds} honest seeds (searched on seed i, measured on "
                                f"fresh seed {CONFIRM_SEED}+i); equivalence margins {margins}"))
        rows += [("Choice", c) for c in self.choices]
        rows += [("Unstated", f"{a}: {b}") for a, b in self.unstated]
        rows += [("Variant", v.name) for v in self.variants]
        return [{"what": a, "value": b} for a, b in rows]
