"""Reproductions of the five write-ups: protocols as data, a runner of events, and a verdict.

See ``protocols`` for what each write-up did and reported, ``run.reproduce`` for how a
reproduction runs, ``verdict`` for how the seeds judge a write-up's conclusion, and ``variants``
for the same claims under the settings the write-ups left open.
"""

from .protocols import (CONFIRM_SEED, EARLY_EPOCHS, FULL, PROTOCOLS, QUANTITIES, QUICK, Claim,
                        Protocol, Reported, Scale, SideProtocol, Variant, by_writeup,
                        get_protocol)
from .result import Event, ExperimentResult, SideRun
from .run import measure, planned_epochs, planned_events, reproduce, stage_labels
from .variants import planned_events_all, reproduce_all_settings
from .verdict import (NOT_REPRODUCED, REPRODUCED, VERDICTS, holm_adjusted, judge_claim,
                      overall)

__all__ = ["CONFIRM_SEED", "EARLY_EPOCHS", "FULL", "PROTOCOLS", "QUANTITIES", "QUICK", "Claim",
           "Protocol", "Reported", "Scale", "SideProtocol", "Variant", "by_writeup",
           "get_protocol", "Event", "ExperimentResult", "SideRun", "measure", "planned_epochs",
           "planned_events", "reproduce", "stage_labels", "planned_events_all",
           "reproduce_all_settings", "NOT_REPRODUCED", "REPRODUCED", "VERDICTS",
           "holm_adjusted", "judge_claim", "overall"]
