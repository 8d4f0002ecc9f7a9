"""What a study's trial count is, and how many trials a runner may start without overrunning it.

A study's *count* is the number of trials that finished and stand for a configuration:
COMPLETE and PRUNED trials, and FAIL trials other than those a heartbeat retry replaced (their
retry stands for them) or that were voided (a trial stopped by the user, or one started after the
study was already full).

Several processes or tabs may run one study. Each trial holds a *slot*; a retry holds its failed
original's slot. Trial numbers are handed out atomically by the storage, so the slots below a
trial's number are settled when it is created: a new trial whose lower numbers already hold
``trials`` slots is surplus and is voided before it trains. That is what keeps two runners that
asked at the same moment from overrunning the count.
"""

from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from .outcomes import VOID_ATTR

RETRY_OF = "failed_trial"   # Optuna's system attr on a retry: the number it replaces


def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of trials that a heartbeat retry replaced."""
    return {n for t in trials for n in t.system_attrs.get("retry_history", ())}


@dataclass(frozen=True)
class Counts:
    finished: int      # counted: COMPLETE, PRUNED, FAIL not retried and not void
    running: int
    waiting: int       # queued retries


def counts(trials: list[FrozenTrial]) -> Counts:
    retried = retried_numbers(trials)
    finished = running = waiting = 0
    for t in trials:
        if t.user_attrs.get(VOID_ATTR):
            continue
        if t.state == TrialState.RUNNING:
            running += 1
        elif t.state == TrialState.WAITING:
            waiting += 1
        elif t.state == TrialState.FAIL and t.number in retried:
            continue
        elif t.state.is_finished():
            finished += 1
    return Counts(finished, running, waiting)


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The finished trials that count, in number order."""
    retried = retried_numbers(trials)
    return sorted((t for t in trials if t.state.is_finished() and not t.user_attrs.get(VOID_ATTR)
                   and not (t.state == TrialState.FAIL and t.number in retried)),
                  key=lambda t: t.number)


def to_start(trials: list[FrozenTrial], wanted: int, batch: int) -> int:
    """How many trials a runner should ask for now: queued retries first, then free slots."""
    c = counts(trials)
    free = max(0, wanted - (c.finished + c.running + c.waiting))
    return min(batch, c.waiting + free)


def is_surplus(trial: FrozenTrial, trials: list[FrozenTrial], wanted: int) -> bool:
    """A new trial (not a retry) whose lower-numbered trials already hold ``wanted`` slots."""
    if RETRY_OF in trial.system_attrs:
        return False
    slots = sum(1 for t in trials if t.number < trial.number and RETRY_OF not in t.system_attrs
                and not t.user_attrs.get(VOID_ATTR))
    return slots >= wanted
