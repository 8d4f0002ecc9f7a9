"""What a reproduction produces: per-side runs, the summary over seeds, the verdict, and events."""

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..config import EpochMetrics, finite_or_none as _num
from ..stats import Interval, PairedComparison
from .protocols import QUANTITIES, SIDES, Protocol, get_protocol
from .scale import EVIDENCE
from .verdict import ClaimOutcome


@dataclass(frozen=True)
class SideRun:
    """One side in one stage: the values it ended with, its trials, the measured curve."""

    side: str
    method: str
    seed: int                 # the search's seed
    split: str
    params: Mapping[str, float]
    trial_values: tuple[float | None, ...]
    curve: tuple[EpochMetrics, ...]
    measured: Mapping[str, float]
    note: str = ""
    measure_seed: int | None = None   # the measured training's seed (fresh when honest)

    def to_dict(self) -> dict[str, Any]:
        return {"side": self.side, "method": self.method, "seed": self.seed,
                "measure_seed": self.measure_seed, "split": self.split,
                "params": dict(self.params), "note": self.note,
                "trial_values": [_num(v) for v in self.trial_values],
                "measured": {k: _num(v) for k, v in self.measured.items()},
                "curve": [{"epoch": m.epoch, "train_loss": _num(m.train_loss),
                           "val_loss": _num(m.val_loss), "val_acc": _num(m.val_acc),
                           "test_loss": _num(m.test_loss), "test_acc": _num(m.test_acc),
                           "diverged": m.diverged}
                          for m in self.curve]}


def _interval(ci: Interval | None):
    if ci is None:
        return None
    return {"mean": _num(ci.mean), "low": _num(ci.low), "high": _num(ci.high), "n": ci.n}


@dataclass(frozen=True)
class ExperimentResult:
    key: str
    scale: str
    settings: Mapping[str, int]
    seeds: tuple[int, ...]
    as_written: Mapping[str, SideRun]
    repeats: tuple[Mapping[str, SideRun], ...]
    summary: Mapping[str, Mapping[str, Interval | None]]
    paired: Mapping[str, PairedComparison | None]
    outcomes: tuple[ClaimOutcome, ...]
    verdict: str
    reason: str
    as_written_note: str
    duration_s: float
    environment: Mapping[str, str] = field(default_factory=dict)
    protocol_used: Protocol | None = None
    # The same claims re-run with the unstated settings chosen otherwise (base result only), and
    # one line per claim saying whether its verdict holds under all of them.
    variants: tuple["ExperimentResult", ...] = ()
    robustness: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()        # e.g. a tuned value at the edge of its range
    # Per side, an lr-sensitivity curve (``core.experiments.sensitivity``); empty when not run.
    sensitivity: Mapping[str, Any] = field(default_factory=dict)
    # The claims Holm-adjusted across ``family`` (its own claims when run alone, the record's
    # when run with others), and the write-up's verdict from them: the headline.
    adjusted: tuple[ClaimOutcome, ...] = ()
    adjusted_verdict: str = ""
    family: str = ""

    @property
    def protocol(self) -> Protocol:
        return self.protocol_used or get_protocol(self.key)

    @property
    def variant(self) -> str:
        return self.protocol.variant

    @property
    def is_quick(self) -> bool:
        return self.scale not in EVIDENCE

    @property
    def headline_verdict(self) -> str:
        """The adjusted verdict (the raw one where no adjustment was made)."""
        return self.adjusted_verdict or self.verdict

    def headline(self) -> str:
        p = self.protocol
        tag = "" if not self.is_quick else f" [{self.scale.upper()} RUN: not evidence]"
        family = (f" (Holm over {self.family}; unadjusted: {self.verdict})"
                  if self.adjusted_verdict else "")
        return (f"{p.writeup} {p.key}: {self.headline_verdict.upper()}{family}{tag}: "
                f"{self.reason}")

    def rows(self) -> list[dict[str, Any]]:
        """The reported-vs-measured table: one row per (quantity, side), then the paired rows.

        ``as written``: seed 0 under the write-up's protocol; ``honest mean`` and its 95% CI:
        over the honest seeds, measured as ``honest measure`` says.
        """
        p = self.protocol
        rows = []
        for q in p.quantities:
            for s in SIDES:
                run = self.as_written.get(s)
                if run is None or q not in run.measured:
                    continue
                ci = self.summary.get(q, {}).get(s)
                rows.append({
                    "quantity": QUANTITIES[q][0], "side": p.side(s).spec.display_name,
                    "reported": p.reported_value(s, q),
                    "as written": _num(run.measured.get(q)),
                    "honest measure": QUANTITIES[q][1],
                    "honest mean": None if ci is None else _num(ci.mean),
                    "95% CI low": None if ci is None else _num(ci.low),
                    "95% CI high": None if ci is None else _num(ci.high),
                    "seeds": 0 if ci is None else ci.n, "verdict": ""})
            pc = self.paired.get(q)
            if pc is not None:
                d = pc.difference
                rows.append({
                    "quantity": QUANTITIES[q][0], "side": "method - Adam (paired)",
                    "reported": _reported_difference(p, q),
                    "as written": _as_written_difference(self, q),
                    "honest measure": QUANTITIES[q][1],
                    "honest mean": _num(d.mean),
                    "95% CI low": _num(d.low), "95% CI high": _num(d.high),
                    "seeds": d.n, "verdict": self._verdict_text(q, pc)})
        return rows

    def _verdict_text(self, q: str, pc: PairedComparison) -> str:
        """A claimed loss shows its claim's verdict, adjusted with the raw beside it; any other
        quantity (an accuracy beside its loss) the Compare flavour, unadjusted."""
        for i, o in enumerate(self.outcomes):
            if o.claim.quantity == q:
                text = f"{o.text} (claim: {o.claim.direction})"
                if i < len(self.adjusted):
                    text = (f"{self.adjusted[i].text} (claim: {o.claim.direction}; Holm over "
                            f"{self.family}; unadjusted: {o.judged.text if o.judged else o.text})")
                return text
        return pc.verdict + (f"; {pc.diverged_text}" if pc.diverged_text else "") + \
            " (not a claim; unadjusted)"

    def csv(self) -> str:
        rows = self.rows()
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return out.getvalue()

    def to_dict(self, curves: bool = True) -> dict[str, Any]:
        def side_runs(runs):
            out = {}
            for s, r in runs.items():
                d = r.to_dict()
                if not curves:
                    d.pop("curve")
                out[s] = d
            return out
        p = self.protocol
        return {
            "key": self.key, "writeup": p.writeup, "title": p.title, "scale": self.scale,
            "model": p.model,
            "variant": p.variant, "protocol": p.table(), "margins": p.margins(),
            "startup_trials": p.startup_trials,
            "quick": self.is_quick, "settings": dict(self.settings), "seeds": list(self.seeds),
            "verdict": self.verdict, "reason": self.reason,
            "as_written_note": self.as_written_note, "conclusion": p.conclusion,
            "claims": [_claim_dict(o, a) for o, a in
                       zip(self.outcomes, self.adjusted or (None,) * len(self.outcomes))],
            "adjusted_verdict": self.adjusted_verdict, "family": self.family,
            "reported": [{"side": r.side, "quantity": r.quantity, "value": r.value}
                         for r in p.reported],
            "table": self.rows(),
            "summary": {q: {s: _interval(ci) for s, ci in by.items()}
                        for q, by in self.summary.items()},
            "paired": {q: None if pc is None else {"difference": _interval(pc.difference),
                                                   "verdict": pc.verdict, "reason": pc.reason,
                                                   "differences": [_num(d) for d in
                                                                   pc.differences],
                                                   "diverged": list(pc.diverged),
                                                   "margin": _num(pc.judged.margin)
                                                   if pc.judged else None}
                       for q, pc in self.paired.items()},
            "as_written": side_runs(self.as_written),
            "repeats": [side_runs(r) for r in self.repeats],
            "duration_s": round(self.duration_s, 2),
            "environment": dict(self.environment),
            "variants": [v.to_dict(curves=False) for v in self.variants],
            "robustness": list(self.robustness), "notes": list(self.notes),
            "sensitivity": dict(self.sensitivity),
        }


def _claim_dict(o: ClaimOutcome, a: ClaimOutcome | None = None) -> dict[str, Any]:
    j = o.judged
    out = {"quantity": o.claim.quantity, "direction": o.claim.direction, "text": o.claim.text,
           "measures": QUANTITIES[o.claim.quantity][1],
           "outcome": o.outcome, "verdict": o.text,
           "p": None if j is None or j.p is None else _num(j.p),
           "p_equivalence": None if j is None else _num(j.p_equivalence),
           "detectable": None if j is None else _num(j.detectable),
           "margin": None if j is None else _num(j.margin),
           "diverged": None if o.paired is None else list(o.paired.diverged),
           "seeds": 0 if o.paired is None else o.paired.difference.n,
           "paired_verdict": None if o.paired is None else o.paired.verdict}
    if a is not None:
        aj = a.judged
        out.update({"adjusted_outcome": a.outcome, "adjusted_verdict": a.text,
                    "p_adjusted": None if aj is None or aj.p is None else _num(aj.p),
                    "detectable_adjusted": None if aj is None else _num(aj.detectable)})
    return out


def _reported_difference(p: Protocol, q: str):
    a, b = p.reported_value("method", q), p.reported_value("baseline", q)
    return None if a is None or b is None else a - b


def _as_written_difference(r: ExperimentResult, q: str):
    try:
        return _num(r.as_written["method"].measured[q] - r.as_written["baseline"].measured[q])
    except KeyError:
        return None


@dataclass(frozen=True)
class Event:
    """One step of a running reproduction, for live figures and progress lines.

    ``kind``: ``stage`` (a stage starts), ``trial`` (a search trial ended; ``trial``),
    ``epoch`` (an epoch of a measured training ended; ``epoch``), ``side`` (a side's run is
    measured; ``run``), ``result`` (the end; ``result``). ``stage`` 0 is the write-up's own
    protocol, 1..K the honest repeats. ``label`` says what is running: the stage, except for
    the epochs of seeds trained together, whose events each keep their own stage and side but
    are labelled with the population (so a progress line does not name one seed of many).
    """

    kind: str
    key: str
    stage: int
    stages: int
    label: str
    side: str | None = None
    trial: Any = None
    epoch: EpochMetrics | None = None
    run: SideRun | None = None
    result: ExperimentResult | None = None
    message: str = ""
    variant: str = ""        # the variant running ("" for the protocol as chosen)
