"""Reproductions of the five write-ups: protocols as data, a runner of events, and a verdict.

See ``protocols`` for what each write-up did and reported, ``run.reproduce`` for how a
reproduction runs, and ``verdict`` for how the seeds judge a write-up's conclusion.
"""

from .protocols import (EARLY_EPOCHS, FULL, PROTOCOLS, QUANTITIES, QUICK, Claim, Protocol,
                        Reported, Scale, SideProtocol, by_writeup, get_protocol)
from .result import Event, ExperimentResult, SideRun
from .run import measure, planned_epochs, planned_events, reproduce, stage_labels
from .verdict import NOT_REPRODUCED, REPRODUCED, VERDICTS, WITHIN_NOISE, judge_claim, overall

__all__ = ["EARLY_EPOCHS", "FULL", "PROTOCOLS", "QUANTITIES", "QUICK", "Claim", "Protocol",
           "Reported", "Scale", "SideProtocol", "by_writeup", "get_protocol", "Event", "ExperimentResult",
           "SideRun", "measure", "planned_epochs", "planned_events", "reproduce", "stage_labels",
           "NOT_REPRODUCED", "REPRODUCED", "VERDICTS", "WITHIN_NOISE", "judge_claim", "overall"]
