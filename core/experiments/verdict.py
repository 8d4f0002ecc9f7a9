"""From paired differences over seeds to a one-line verdict on a write-up's own conclusion.

A claim says the method is ``better`` or ``worse`` than Adam on one loss. The paired comparison
(``core.stats``) says ``better``, ``worse`` or ``not detected``. A claim is
*supported* when they agree, *contradicted* when the seeds show the opposite, and *in the noise*
otherwise. The write-up is:

- ``reproduced`` when every claim is supported;
- ``not reproduced`` when any claim is contradicted (the seeds show the opposite);
- ``within noise`` otherwise: the seeds cannot tell the two sides apart on some claim.
"""

from dataclasses import dataclass

from ..stats import PairedComparison
from .protocols import Claim

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
WITHIN_NOISE = "within noise"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, WITHIN_NOISE)


@dataclass(frozen=True)
class ClaimOutcome:
    claim: Claim
    outcome: str            # "supported", "contradicted" or "in the noise"
    paired: PairedComparison | None
    note: str = ""          # why there is no comparison, when there is none

    def describe(self) -> str:
        how = self.paired.reason if self.paired is not None else self.note
        measured = self.paired.verdict if self.paired is not None else "not measurable"
        return f"{self.claim.text}: {self.outcome} (measured: method {measured}; {how})"


def judge_claim(claim: Claim, paired: PairedComparison | None, note: str = "") -> ClaimOutcome:
    if paired is None:
        return ClaimOutcome(claim, "in the noise", None, note or "no paired seeds")
    if paired.verdict == claim.direction:
        outcome = "supported"
    elif paired.verdict in ("better", "worse"):
        outcome = "contradicted"
    else:
        outcome = "in the noise"
    return ClaimOutcome(claim, outcome, paired, note)


def overall(outcomes: list[ClaimOutcome]) -> tuple[str, str]:
    """The verdict and its one-line reason."""
    if not outcomes:
        raise ValueError("a verdict needs at least one claim")
    kinds = [o.outcome for o in outcomes]
    if "contradicted" in kinds:
        verdict = NOT_REPRODUCED
    elif all(k == "supported" for k in kinds):
        verdict = REPRODUCED
    else:
        verdict = WITHIN_NOISE
    return verdict, "; ".join(o.describe() for o in outcomes)
