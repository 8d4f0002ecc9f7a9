"""What a comparison is: configurations (a method, its knobs, a short label), seeds, a baseline;
and the table and verdicts the Compare page and ``python -m core compare`` both show.

An entry is any configuration: the same method may appear several times (Adam at lr 1e-3 and
1e-2, WeightTrajectoryLR at beta 0 and 0.3). Paired differences and verdicts are against the
baseline entry, by default the first entry of the registry's baseline method, else the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..config import COMPARISON_SHARED, RunConfig, shared_dict
from ..data import MNIST1D
from ..optim.registry import BASELINE
from ..schedules import KNOBS, config_is_constant, with_texts
from ..schedules import NAMES as SCHEDULE_NAMES
from ..schedules import to_texts as schedule_texts
from ..stats import DIVERGENCE_RULE, NOT_DETECTED, Interval, PairedComparison
from .compare import (BANDS, MEASURES, CompareItem, EntrySummary, comparison_seeds, paired_on,
                      run_comparison, summarize)

MAX_ENTRIES = 8
MAX_LABEL_CHARS = 24
# The run fields every compared entry shares (``seed`` being the first seed; the model with its
# knobs, ``shape``), as core/config.py's run-setting descriptions say.
SHARED_FIELDS = COMPARISON_SHARED
SUMMARY_LABELS = {"best_val_loss": "best val loss", "final_val_loss": "final val loss",
                  "best_val_acc": "best val acc", "final_val_acc": "final val acc",
                  "test_loss_at_best_val": "test loss @ best val",
                  "test_acc_at_best_val": "test acc @ best val"}


def parse_entry(text: str, base: RunConfig | None = None) -> tuple[RunConfig, str | None]:
    """``"weight_trajectory:lr=0.01,beta=0.3,label=WT 0.3"`` -> (its config, its label or None).

    The method, then its knobs as ``NAME=VALUE`` (the rest at the registry's defaults), and an
    optional short ``label``; the run fields come from ``base``. ValueError, naming the bad
    part, for an unknown method, a knob the method lacks, or a bad value.
    """
    method, _, rest = str(text).strip().partition(":")
    base = base or RunConfig()
    try:
        config = base.replace(method=method.strip())
    except ValueError as error:
        raise ValueError(f"entry {text!r}: {error}") from None
    knobs: dict[str, str] = {}
    label = None
    for part in filter(None, (p.strip() for p in rest.split(","))):
        name, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not name or not value:
            raise ValueError(f"entry {text!r}: {part!r} is not NAME=VALUE")
        if name in knobs or (name == "label" and label is not None):
            raise ValueError(f"entry {text!r}: {name} given twice")
        if name == "label":
            label = check_label(value)
        else:
            knobs[name] = value
    try:
        # The lr schedule's settings (schedule=cosine, warmup=2) before the method's knobs.
        config = with_texts(config, {n: knobs.pop(n) for n in SCHEDULE_NAMES if n in knobs})
        for name, value in knobs.items():
            config.spec.hyperparam(name).check(value)   # names the knob, before float()
        lr = knobs.pop("lr", None)
        config = config.replace(lr=None if lr is None else float(lr),
                                hparams={k: float(v) for k, v in knobs.items()})
    except (KeyError, ValueError) as error:
        raise ValueError(f"entry {text!r}: {error.args[0]}") from None
    return config, label


def check_label(label: str | None) -> str | None:
    if label is None or not str(label).strip():
        return None
    label = str(label).strip()
    if len(label) > MAX_LABEL_CHARS or any(c in label for c in ",:\n"):
        raise ValueError(f"label {label[:MAX_LABEL_CHARS]!r}...: at most {MAX_LABEL_CHARS} "
                         "characters, without commas or colons")
    return label


def entry_text(config: RunConfig, label: str | None = None) -> str:
    """The inverse of :func:`parse_entry` (every knob explicit, so a link keeps its meaning)."""
    knobs = ",".join(f"{k}={v!r}" for k, v in config.optimizer_hparams().items())
    # A schedule only when there is one: entries written before schedules read the same.
    knobs += "".join(f",{k}={v}" for k, v in schedule_texts(config, always=False).items())
    return f"{config.method}:{knobs}" + (f",label={label}" if label else "")


def short_name(config: RunConfig) -> str:
    """The display name without its parenthesised base: "WeightTrajectoryLR", "Adam"."""
    return config.spec.display_name.split(" (")[0]


def describe(config: RunConfig) -> str:
    """The full configuration in one line (for a tooltip)."""
    knobs = ", ".join(f"{k}={v:.4g}" for k, v in config.optimizer_hparams().items())
    return f"{config.spec.display_name}: {knobs}"


def entry_label(index: int, config: RunConfig, label: str | None = None) -> str:
    """A short unique label: its number, then the given label, else the method's short name
    with its lr and the knobs away from their defaults ("2. WeightTrajectoryLR lr=0.01
    beta=0.3")."""
    if label:
        return f"{index + 1}. {label}"
    defaults = config.spec.defaults()
    knobs = [f"lr={config.lr:.3g}"]
    knobs += [f"{k}={v:.3g}" for k, v in config.hparams if defaults.get(k) != v]
    if not config_is_constant(config):
        knobs.append(config.schedule + "".join(
            f" {k}={v:g}" for k, v in config.schedule_params if KNOBS[k].default != v))
    return f"{index + 1}. {short_name(config)} {' '.join(knobs)}"


def distinct_labels(entries: Sequence[RunConfig], labels: Sequence[str | None]) -> list[str]:
    """:func:`entry_label` for every entry, told apart where two would read alike: knobs with
    more digits (lr=0.005 and lr=0.005000001), then "(copy k)" for true copies."""
    def text(i: int, digits: int) -> str:
        if labels[i]:
            return labels[i]
        c = entries[i]
        defaults = c.spec.defaults()
        knobs = [f"lr={c.lr:.{digits}g}"]
        knobs += [f"{k}={v:.{digits}g}" for k, v in c.hparams if defaults.get(k) != v]
        return f"{short_name(c)} {' '.join(knobs)}"

    def key(i: int):
        return (entries[i].method, entries[i].lr, tuple(entries[i].hparams))

    names = [text(i, 3) for i in range(len(entries))]
    for name in set(names):
        group = [i for i, n in enumerate(names) if n == name and not labels[i]]
        if len({key(i) for i in group}) < 2:
            continue        # one entry, or true copies: "(copy k)" below
        for digits in (6, 12, 17):
            if len({text(i, digits) for i in group}) == len({key(i) for i in group}):
                break
        for i in group:
            names[i] = text(i, digits)
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        seen[n] = seen.get(n, 0) + 1
        copy = f" (copy {seen[n]})" if names.count(n) > 1 and seen[n] > 1 else ""
        out.append(f"{i + 1}. {n}{copy}")
    return out


def verdict(comparison: PairedComparison | None) -> str:
    """The one place a paired comparison becomes words, for the page, the CLI and the CSV:
    the verdict, and "diverged on k of n seeds" beside it when some did."""
    if comparison is None:
        return "-"
    extra = comparison.diverged_text
    return comparison.verdict + (f"; {extra}" if extra else "")


def verdict_class(comparison: PairedComparison | None) -> str:
    """The verdict's label without its qualifier ("better", "worse", "negligible",
    "equivalent", "not detected", ...), for colours; only ``core.stats.STRONG`` labels get a
    strong colour."""
    if comparison is None or comparison.judged is None:
        return NOT_DETECTED
    return comparison.judged.label


def family_note(summaries: Sequence[EntrySummary], split: str) -> str:
    """The sentence under a verdict table: the adjustment, its family, what the metrics
    measure and the divergence rule."""
    loss, acc = paired_on(split)
    n = max((s.family for s in summaries), default=0)
    pairs = sum(len(s.versus) for s in summaries)
    untested = f"; {pairs - n} without seed-to-seed variation are no test" if pairs > n else ""
    return (f"Verdicts are Holm-adjusted across this comparison's {n} paired tests (every entry "
            f"against the baseline on 2 metrics{untested}; family-wise error 5%), and \"could "
            f"detect >= X\" is computed at the family's strictest level, 5%/{max(n, 1)}: a "
            "point estimate from the seeds run. Loss: " + MEASURES[loss] + ". Accuracy: "
            + MEASURES[acc] + ". " + DIVERGENCE_RULE)


@dataclass(frozen=True)
class CompareSettings:
    """A comparison: entries sharing the run fields (``seed`` is the first seed), optional
    short labels, how many seeds, the band drawn around mean curves, and the baseline
    (an entry index; ``None`` picks the default)."""

    entries: tuple[RunConfig, ...]
    n_seeds: int = 3
    band: str = BANDS[0]
    labels: tuple[str | None, ...] = ()
    baseline: int | None = None

    def __post_init__(self):
        entries = tuple(self.entries)
        set_ = object.__setattr__
        set_(self, "entries", entries)
        if not entries or not all(isinstance(e, RunConfig) for e in entries):
            raise ValueError("pick at least one entry")
        if len(entries) > MAX_ENTRIES:
            raise ValueError(f"at most {MAX_ENTRIES} entries, got {len(entries)}")
        for name in SHARED_FIELDS:
            if len({getattr(e, name) for e in entries}) > 1:
                raise ValueError(f"compared entries must share {name.replace('_', ' ')}")
        if isinstance(self.n_seeds, bool) or not isinstance(self.n_seeds, int):
            raise ValueError(f"number of seeds must be a whole number, got {self.n_seeds!r}")
        comparison_seeds(entries[0].seed, self.n_seeds)     # the seed range check
        if self.band not in BANDS:
            raise ValueError(f"unknown band {self.band!r}; choose one of {list(BANDS)}")
        labels = tuple(check_label(l) for l in self.labels) + (None,) * len(entries)
        set_(self, "labels", labels[:len(entries)])
        if self.baseline is None:
            set_(self, "baseline", next((i for i, e in enumerate(entries)
                                         if e.method == BASELINE), 0))
        elif isinstance(self.baseline, bool) or not isinstance(self.baseline, int) \
                or not 0 <= self.baseline < len(entries):
            shown = self.baseline + 1 if isinstance(self.baseline, int) else self.baseline
            raise ValueError(f"baseline must be an entry from 1 to {len(entries)}, "
                             f"got {shown!r}")

    @classmethod
    def from_texts(cls, texts: Sequence[str], base: RunConfig | None = None, **kwargs
                   ) -> "CompareSettings":
        """From ``METHOD:K=V,...`` entries (see :func:`parse_entry`), run fields from ``base``."""
        if len(texts) > MAX_ENTRIES:
            raise ValueError(f"at most {MAX_ENTRIES} entries, got {len(texts)}")
        parsed = [parse_entry(t, base) for t in texts]
        return cls(tuple(c for c, _ in parsed), labels=tuple(l for _, l in parsed), **kwargs)

    @property
    def methods(self) -> list[str]:
        return [e.method for e in self.entries]

    @property
    def seeds(self) -> list[int]:
        return comparison_seeds(self.entries[0].seed, self.n_seeds)

    def label(self, index: int) -> str:
        return distinct_labels(self.entries, self.labels)[index]

    def texts(self) -> list[str]:
        return [entry_text(e, l) for e, l in zip(self.entries, self.labels)]

    def to_dict(self) -> dict:
        return {"entries": self.texts(), "baseline": self.baseline + 1, "n_seeds": self.n_seeds,
                "band": self.band, **shared_dict(self.entries[0])}


def run_settings_comparison(settings: CompareSettings, data: MNIST1D | None = None):
    """:func:`run_comparison` over the settings' entries and seeds."""
    return run_comparison(settings.entries, settings.seeds, data)


def fmt_interval(ci: Interval | None, sign: str = "") -> str:
    if ci is None:
        return "-"
    if not math.isfinite(ci.half_width):
        return f"{ci.mean:{sign}.4f} (n={ci.n}, no interval)"
    return f"{ci.mean:{sign}.4f} ± {ci.half_width:.4f}"


def comparison_table(settings: CompareSettings, items: Iterable[CompareItem],
                     summaries: Sequence[EntrySummary] | None = None) -> list[dict]:
    """The full table, one row per entry: mean ± 95% half-width of each summary, and for
    ``PAIRED_ON`` the paired difference to the baseline and its verdict."""
    if summaries is None:
        summaries = summarize(items, settings.entries, settings.baseline)
    rows = []
    for s in summaries:
        row = {"entry": settings.label(s.entry), "seeds done": len(s.seeds),
               "diverged": len(s.diverged)}
        row.update({label: fmt_interval(s.stats[name]) for name, label in SUMMARY_LABELS.items()})
        for name in paired_on(settings.entries[0].split):
            cmp = s.versus.get(name)
            label = SUMMARY_LABELS[name]
            is_base = s.entry == settings.baseline
            row[f"Δ {label} vs baseline"] = ("baseline" if is_base else
                                             fmt_interval(None if cmp is None
                                                          else cmp.difference, "+"))
            row[f"verdict ({label}, Holm)"] = "baseline" if is_base else verdict(cmp)
            row[f"unadjusted ({label})"] = "baseline" if is_base else \
                verdict(s.versus_raw.get(name))
        rows.append(row)
    return rows


def forest_rows(settings: CompareSettings, summaries: Sequence[EntrySummary],
                name: str | None = None) -> list[dict]:
    """Per entry other than the baseline: the paired difference (mean, 95% interval) in
    ``name`` (default: the loss the verdicts rest on) and its adjusted verdict, for a forest
    plot; entries without a pair yet are left out."""
    name = name or paired_on(settings.entries[0].split)[0]
    rows = []
    for s in summaries:
        cmp = s.versus.get(name)
        if s.entry == settings.baseline or cmp is None:
            continue
        d = cmp.difference
        rows.append({"entry": settings.label(s.entry), "index": s.entry, "mean": d.mean,
                     "low": d.low if math.isfinite(d.low) else None,
                     "high": d.high if math.isfinite(d.high) else None, "n": d.n,
                     "verdict": verdict(cmp), "class": verdict_class(cmp),
                     "config": describe(settings.entries[s.entry])})
    return rows
