"""From paired differences over seeds to a verdict on each claim and on the write-up.

A claim says the method is ``better`` or ``worse`` than Adam on one loss. ``core.stats.judge``
turns the per-seed differences into one of: ``reproduced`` (the two-sided paired t-test agrees
with the claim), ``reversed`` (it shows the opposite), ``equivalent within +-m`` (two one-sided
tests with the protocol's margin, fixed before the run) or ``not detected (could detect >= X)``.
The write-up is:

- ``reversed`` when any claim is reversed;
- ``reproduced`` when every claim is reproduced;
- ``equivalent`` when some claim is shown equivalent (and none reversed);
- ``not detected`` otherwise (each claim's line says what its seeds could have detected).

:func:`holm_adjusted` judges every claim of a record again with Holm-adjusted p-values, so that a
verdict that holds only because several claims were tested at 5% each shows as such.
"""

from dataclasses import dataclass

from ..stats import (EQUIVALENT, NOT_DETECTED, REPRODUCED, REVERSED, PairedComparison, Verdict,
                     holm, judge)
from .protocols import Claim

NOT_REPRODUCED = REVERSED          # the old name of the same outcome
VERDICTS = (REPRODUCED, REVERSED, EQUIVALENT, NOT_DETECTED)
_ORDER = (REVERSED, EQUIVALENT, NOT_DETECTED)


@dataclass(frozen=True)
class ClaimOutcome:
    claim: Claim
    outcome: str                 # a Verdict label: reproduced / reversed / equivalent / not detected
    paired: PairedComparison | None
    note: str = ""               # why there is no comparison, when there is none
    judged: Verdict | None = None

    @property
    def text(self) -> str:
        """The outcome with its qualifier (the margin, or what the seeds could detect)."""
        if self.judged is not None:
            return self.judged.text
        return f"{NOT_DETECTED} (not measurable)"

    def describe(self) -> str:
        how = self.paired.reason if self.paired is not None else self.note
        return f"{self.claim.text}: {self.text} ({how})"


def judge_claim(claim: Claim, paired: PairedComparison | None, note: str = "",
                margin: float | None = None, p: float | None = None,
                p_equivalence: float | None = None) -> ClaimOutcome:
    if paired is None or not paired.differences:
        return ClaimOutcome(claim, NOT_DETECTED, paired, note or "no paired seeds")
    judged = judge(paired.differences, claim=claim.direction, margin=margin, p=p,
                   p_equivalence=p_equivalence)
    return ClaimOutcome(claim, judged.label, paired, note, judged)


def overall(outcomes: list[ClaimOutcome]) -> tuple[str, str]:
    """The verdict and its one-line reason."""
    if not outcomes:
        raise ValueError("a verdict needs at least one claim")
    kinds = {o.outcome for o in outcomes}
    if kinds == {REPRODUCED}:
        verdict = REPRODUCED
    else:
        verdict = next(k for k in _ORDER if k in kinds)
    return verdict, "; ".join(o.describe() for o in outcomes)


def holm_adjusted(outcomes: list[ClaimOutcome], margins: list[float | None]
                  ) -> list[ClaimOutcome]:
    """Every claim judged again with Holm-adjusted p-values across the whole list (difference
    tests and equivalence tests adjusted as two families). Unmeasurable claims stay as they are.
    """
    measured = [i for i, o in enumerate(outcomes) if o.judged is not None]
    p_diff = holm([outcomes[i].judged.p for i in measured])
    eq = [i for i in measured if outcomes[i].judged.p_equivalence is not None]
    p_eq = dict(zip(eq, holm([outcomes[i].judged.p_equivalence for i in eq])))
    adjusted = list(outcomes)
    for i, p in zip(measured, p_diff):
        o = outcomes[i]
        adjusted[i] = judge_claim(o.claim, o.paired, o.note, margins[i], p=p,
                                  p_equivalence=p_eq.get(i))
    return adjusted
