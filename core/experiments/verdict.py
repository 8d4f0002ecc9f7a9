"""From paired differences over seeds to a verdict on each claim and on the write-up.

A claim says the method is ``better`` or ``worse`` than Adam on one loss. ``core.stats.judge``
turns the per-seed differences into one of: ``reproduced`` (significant, in the claimed
direction, and reaching outside the claim's margin), ``reversed`` (the same, the other way),
``significant but within +-m: negligible``, ``equivalent within +-m`` (two one-sided tests with
the metric's margin, set on calibration seeds before the run: ``core.experiments.margins``),
``identical``, ``no seed-to-seed variation`` or ``not detected (could detect >= X)``. A seed on
which a side diverged is a failure (``core.stats.DIVERGENCE_RULE``). The write-up is:

- ``reversed`` when any claim is reversed;
- ``reproduced`` when every claim is reproduced;
- otherwise the first of negligible, equivalent, not detected that some claim has (each
  claim's line says what its seeds showed or could have detected).

:func:`holm_adjusted` judges every claim of a family again with Holm-adjusted p-values (and the
detectable effect at the family's level), so that a verdict that holds only because several
claims were tested at 5% each shows as such. The headline of a record is the adjusted verdict.
"""

from dataclasses import dataclass, replace

from ..stats import (EQUIVALENT, IDENTICAL, NEGLIGIBLE, NO_VARIATION, NOT_DETECTED, REPRODUCED,
                     REVERSED, PairedComparison, Verdict, holm, judge)
from .protocols import Claim

NOT_REPRODUCED = REVERSED          # the old name of the same outcome
VERDICTS = (REPRODUCED, REVERSED, NEGLIGIBLE, EQUIVALENT, NOT_DETECTED, NO_VARIATION, IDENTICAL)
_ORDER = (REVERSED, NEGLIGIBLE, EQUIVALENT, NOT_DETECTED, NO_VARIATION, IDENTICAL)


@dataclass(frozen=True)
class ClaimOutcome:
    claim: Claim
    outcome: str                 # a Verdict label (see VERDICTS)
    paired: PairedComparison | None
    note: str = ""               # why there is no comparison, or how many seeds diverged
    judged: Verdict | None = None

    @property
    def text(self) -> str:
        """The outcome with its qualifier (the margin, or what the seeds could detect), and
        "diverged on k of n seeds" when some did."""
        if self.judged is None:
            return f"{NOT_DETECTED} (not measurable)"
        diverged = self.paired.diverged_text if self.paired is not None else ""
        return self.judged.text + (f"; {diverged}" if diverged else "")

    def describe(self) -> str:
        how = self.paired.reason if self.paired is not None else self.note
        return f"{self.claim.text}: {self.text} ({how})"


def judge_claim(claim: Claim, paired: PairedComparison | None, note: str = "",
                margin: float | None = None, p: float | None = None,
                p_equivalence: float | None = None, family: int = 1) -> ClaimOutcome:
    if paired is None or not paired.differences:
        return ClaimOutcome(claim, NOT_DETECTED, paired, note or "no paired seeds")
    judged = judge(paired.differences, claim=claim.direction, margin=margin, p=p,
                   p_equivalence=p_equivalence, family=family)
    return ClaimOutcome(claim, judged.label, paired, note, judged)


def overall(outcomes: list[ClaimOutcome]) -> tuple[str, str]:
    """The verdict and its one-line reason."""
    if not outcomes:
        raise ValueError("a verdict needs at least one claim")
    kinds = {o.outcome for o in outcomes}
    if kinds == {REPRODUCED}:
        verdict = REPRODUCED
    else:
        verdict = next((k for k in _ORDER if k in kinds), NOT_DETECTED)
    return verdict, "; ".join(o.describe() for o in outcomes)


def holm_adjusted(outcomes: list[ClaimOutcome], margins: list[float | None]
                  ) -> list[ClaimOutcome]:
    """Every claim judged again with Holm-adjusted p-values across the whole list (difference
    tests and equivalence tests adjusted as two families; the detectable effect at alpha / m).
    Claims without a test (unmeasurable, identical, no variation) stay as they are and do not
    count in the family."""
    measured = [i for i, o in enumerate(outcomes)
                if o.judged is not None and o.judged.p is not None]
    p_diff = holm([outcomes[i].judged.p for i in measured])
    eq = [i for i in measured if outcomes[i].judged.p_equivalence is not None]
    p_eq = dict(zip(eq, holm([outcomes[i].judged.p_equivalence for i in eq])))
    adjusted = list(outcomes)
    for i, p in zip(measured, p_diff):
        o = outcomes[i]
        adjusted[i] = judge_claim(o.claim, o.paired, o.note, margins[i], p=p,
                                  p_equivalence=p_eq.get(i), family=len(measured))
    return adjusted


def adjusted_result(result, family: str | None = None):
    """``result`` (an ExperimentResult) with its claims Holm-adjusted across its own claims
    only, and its verdict from them: what a write-up run alone states as its headline."""
    p = result.protocol
    adjusted = holm_adjusted(list(result.outcomes), [p.margin(o.claim.quantity)
                                                     for o in result.outcomes])
    verdict, reason = overall(adjusted)
    return replace(result, adjusted=tuple(adjusted), adjusted_verdict=verdict,
                   family=family or f"its own {len(adjusted)} claim(s) only")
