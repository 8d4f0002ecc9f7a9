"""How a trained trial ends, and how it is written to and read back from an Optuna study.

One set of rules for every way a trial is run (a search, a duel, a worker):

- each finite epoch's validation loss is reported as an Optuna intermediate value, so Optuna's
  tools draw the learning curve and the median pruner can compare trials;
- the objective is the best validation loss over the epochs (COMPLETE);
- a diverged trial is PRUNED with an intermediate value of +inf at the epoch it diverged and a
  ``diverged`` attr, so Optuna's tools show ``inf`` (never its last finite loss as if it were a
  result) and TPE learns that its region is bad;
- a trial stopped by the median rule is PRUNED with a ``reason``;
- a trial without any finite validation loss FAILs.

The rest of a curve is stored as short per-metric lists (4 significant digits), one user attr
each, so that optuna-dashboard's 1,024-character attribute cell shows them whole for runs of up
to about 80 epochs.
"""

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from optuna.trial import FrozenTrial, TrialState

from ..config import EpochMetrics

REASON_ATTR = "reason"        # user attr: why a trial was pruned or failed
DIVERGED_ATTR = "diverged"    # user attr: the divergence message of a diverged trial
VOID_ATTR = "void"            # user attr: why this trial does not count (stopped or surplus)
FIXED_PREFIX = "fixed_"       # user attrs fixed_<knob>: the knobs this search did not search
# Per-epoch series besides val_loss (which is the intermediate values), one user attr each.
SERIES = ("train_loss", "val_acc", "elapsed", "lr")

KeepGoing = Callable[[int, EpochMetrics], bool]
Trainer = Callable[[Sequence, KeepGoing], list]


@dataclass(frozen=True)
class TrialResult:
    side: str                  # the method of this trial's study (a duel has two sides)
    number: int
    params: dict
    value: float | None        # best validation loss; None unless COMPLETE
    state: str                 # "COMPLETE" | "PRUNED" | "FAIL"
    curve: tuple               # EpochMetrics per epoch trained
    duration: float
    reason: str | None = None

    def row(self) -> dict:
        """One flat row for a table or CSV."""
        return {"side": self.side, "number": self.number, "state": self.state,
                "value": self.value, "epochs": len(self.curve),
                "duration": round(self.duration, 3), "reason": self.reason,
                **{f"params_{k}": v for k, v in self.params.items()}}


def best_val(curve: Sequence[EpochMetrics]) -> float | None:
    values = [m.val_loss for m in curve if math.isfinite(m.val_loss)]
    return min(values) if values else None


def best_of(trials: Iterable) -> TrialResult | None:
    """The COMPLETE trial with the lowest value (lowest number on ties)."""
    done = [t for t in trials if isinstance(t, TrialResult) and t.state == "COMPLETE"
            and t.value is not None]
    return min(done, key=lambda t: (t.value, t.number)) if done else None


@dataclass(frozen=True)
class SearchProgress:
    """Where a search stands after an epoch of its current batch of trials, so that a page or a
    terminal can move while a batch trains together (no trial finishes before its last epoch).
    A trial that finished, or left its batch early (pruned, diverged), counts all its epochs."""

    side: str
    batch: int                 # the batch now training, from 1, and the batches this run plans
    batches: int
    epoch: int                 # the epoch of that batch just trained (0: about to start)
    epochs: int
    training: int              # trials of the batch still training
    done: int                  # trials of the study finished before this batch
    trials: int
    epochs_done: int
    epochs_planned: int
    # The batch's trials as they stand: (number, params, epochs trained, best val loss so far
    # or None, "RUNNING" or "LEFT" once pruned or diverged), so a page can list a trial from
    # its first epoch rather than only once its batch has ended.
    running: tuple = ()

    @property
    def fraction(self) -> float:
        return min(1.0, self.epochs_done / max(1, self.epochs_planned))

    def line(self) -> str:
        return (f"batch {self.batch}/{self.batches}: epoch {self.epoch}/{self.epochs}, "
                f"{self.training} trial{'' if self.training == 1 else 's'} training, "
                f"{self.done} done")


@dataclass
class Watch:
    """The per-epoch rule shared by every trial runner: report, prune, stop on divergence.

    ``trials[i]`` is the Optuna trial of config ``i``; ``stopped()`` says the user asked to stop.
    ``trained`` (epochs per config), ``left`` (configs told to stop) and ``epoch`` (the last
    epoch seen) are what a progress report reads.
    """

    trials: Sequence
    stopped: Callable[[], bool]
    pruned_at: dict = field(default_factory=dict)
    trained: dict = field(default_factory=dict)
    left: set = field(default_factory=set)
    epoch: int = 0
    best: dict = field(default_factory=dict)

    def keep_going(self, i: int, m: EpochMetrics) -> bool:
        self.trained[i], self.epoch = m.epoch, m.epoch
        if math.isfinite(m.val_loss) and m.val_loss < self.best.get(i, math.inf):
            self.best[i] = float(m.val_loss)
        going = self._verdict(i, m)
        if not going:
            self.left.add(i)
        return going

    def progress(self, side: str, batch: int, batches: int, epochs: int, done: int,
                 trials: int) -> SearchProgress:
        epochs_done = done * epochs + sum(epochs if i in self.left else self.trained.get(i, 0)
                                          for i in range(len(self.trials)))
        training = sum(i not in self.left and self.trained.get(i, 0) < epochs
                       for i in range(len(self.trials)))
        running = tuple((t.number, tuple(sorted(t.params.items())), self.trained.get(i, 0),
                         self.best.get(i), "LEFT" if i in self.left else "RUNNING")
                        for i, t in enumerate(self.trials))
        return SearchProgress(side, batch, batches, self.epoch, epochs, training, done, trials,
                              epochs_done, trials * epochs, running)

    def _verdict(self, i: int, m: EpochMetrics) -> bool:
        if self.stopped():
            return False
        if m.diverged or not math.isfinite(m.val_loss):
            return False
        self.trials[i].report(m.val_loss, m.epoch)
        if self.trials[i].should_prune():
            self.pruned_at[i] = m.epoch
            return False
        return True


def outcome(curve: Sequence[EpochMetrics], pruned_at: int | None
            ) -> tuple[TrialState, float | None, str | None]:
    """(state, value to tell, reason) of a trained trial."""
    value = best_val(curve)
    if curve and curve[-1].diverged:
        return TrialState.PRUNED, None, f"diverged: {curve[-1].reason}"
    if pruned_at is not None:
        return TrialState.PRUNED, None, f"pruned by the median rule after epoch {pruned_at}"
    if value is None:
        return TrialState.FAIL, None, "no finite validation loss"
    return TrialState.COMPLETE, value, None


def _short(x) -> float | None:
    return float(f"{x:.4g}") if x is not None and math.isfinite(x) else None


def record(trial, curve: Sequence[EpochMetrics], reason: str | None,
           fixed: Mapping[str, float]) -> None:
    """Write a trained trial's curve, reason and fixed knobs as user attrs; a diverged trial's
    last epoch becomes the intermediate value +inf (before it is told PRUNED)."""
    for name in SERIES:
        if name == "lr":
            values = [m.lrs[0] if m.lrs else None for m in curve]
        else:
            values = [getattr(m, name) for m in curve]
        trial.set_user_attr(name, [_short(v) for v in values])
    if curve and curve[-1].diverged:
        trial.report(math.inf, curve[-1].epoch)
        trial.set_user_attr(DIVERGED_ATTR, f"epoch {curve[-1].epoch}: {curve[-1].reason}")
    if reason:
        trial.set_user_attr(REASON_ATTR, reason)
    for name, value in fixed.items():
        trial.set_user_attr(FIXED_PREFIX + name, value)


def curve_from_trial(t: FrozenTrial) -> tuple:
    """The per-epoch metrics stored by :func:`record` (val_loss from the intermediate values)."""
    attrs = t.user_attrs
    n = len(attrs.get("train_loss") or ())

    def num(v):
        return float("nan") if v is None else v
    diverged = attrs.get(DIVERGED_ATTR)
    rows = []
    for e in range(n):
        epoch = e + 1
        last = diverged is not None and epoch == n
        rows.append(EpochMetrics(
            epoch=epoch, train_loss=num(attrs["train_loss"][e]),
            val_loss=float("nan") if last else num(t.intermediate_values.get(epoch)),
            val_acc=num(attrs["val_acc"][e]), elapsed=num(attrs["elapsed"][e]),
            lrs=(num(attrs["lr"][e]),), diverged=last,
            reason=diverged.split(": ", 1)[-1] if last else None))
    return tuple(rows)


def result_from_frozen(side: str, t: FrozenTrial) -> TrialResult:
    duration = t.duration.total_seconds() if t.duration is not None else 0.0
    return TrialResult(side=side, number=t.number, params=dict(t.params),
                       value=t.value if t.state == TrialState.COMPLETE else None,
                       state=t.state.name, curve=curve_from_trial(t),
                       duration=duration, reason=t.user_attrs.get(REASON_ATTR))


def params_text(params, sep: str = " ") -> str:
    """A trial's parameters in words: numbers to 4 digits, a categorical (the lr schedule) as
    it is."""
    return sep.join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}"
                    for k, v in params.items())


def trial_line(r: TrialResult) -> str:
    params = params_text(r.params)
    value = f"{r.value:.4f}" if r.value is not None else "-"
    line = (f"[{r.side}] trial {r.number:3d}  {r.state:8s}  value {value:>8s}  {params}  "
            f"({len(r.curve)} ep, {r.duration:.1f}s)")
    return line + (f"  # {r.reason}" if r.reason else "")
