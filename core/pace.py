"""How long a job takes on this server: its estimated work at the pace measured here.

The FLOP count alone does not bound wall time: 10,000 epochs at batch size 1 are 40 million
optimizer steps of ~0.3 ms each (hours) but only 0.06 TFLOP. So a job's seconds are

    START_S + correction x (steps x step_s + flops x flop_s)

with ``steps`` and ``flops`` from :mod:`core.budget` and two rates measured once per process,
on this server, with the lab's own training step (:func:`measure`, a fraction of a second):
``step_s``, one step of the default MLP at batch size 1 (all overhead), and ``flop_s``, the
extra time per operation of a step at batch size 1,000 (all arithmetic). ``correction`` follows
how jobs finished here compare with their estimates (:meth:`ServerPace.record`, called by the
runner): a server busier than when it was probed, or two jobs sharing its CPUs, makes the next
estimates longer. On the 2-core machine the lab is developed on, the probe takes 0.15 s, and
its estimates came within 0.55-1.2x of the measured time for a default run, a batch-size-1
run and a 32-member population, and 2x over for a 1000-wide model (larger matrices run
faster per operation) and for a method that differentiates through its gradient. Nothing here imports torch until :func:`measure` runs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

START_S = 0.5              # thread start, the first optimizer built, the dataset's tensors
CORRECTION_RANGE = (0.25, 20.0)
PROBE_STEPS = (60, 6)      # steps timed at batch size 1 and at batch size 1,000
_BIG_BATCH = 1000


@dataclass
class ServerPace:
    """Seconds per optimizer step and per floating-point operation on this server."""

    step_s: float
    flop_s: float
    correction: float = 1.0

    def __post_init__(self):
        self._lock = threading.Lock()

    def seconds(self, work) -> float:
        """Wall time of ``work`` (a ``core.budget.Work``) once its job has a slot."""
        with self._lock:
            correction = self.correction
        return START_S + correction * (work.steps * self.step_s + work.flops * self.flop_s)

    def record(self, estimated_s: float, measured_s: float) -> None:
        """A job estimated at ``estimated_s`` finished in ``measured_s``: the correction moves
        halfway (in ratio) towards what would have estimated it exactly, so one job that
        finished during a burst of load does not swing it; it stays within
        ``CORRECTION_RANGE``."""
        if not (estimated_s > START_S and measured_s > 0):
            return   # nothing to learn from a job that is all start-up
        ratio = max(measured_s - START_S, 1e-9) / (estimated_s - START_S)
        with self._lock:
            low, high = CORRECTION_RANGE
            self.correction = min(high, max(low, self.correction * ratio ** 0.5))


def measure(threads: int = 1) -> ServerPace:
    """Time the lab's training step here, with ``threads`` torch threads (a job's own count),
    in a thread of its own so the caller's torch settings are left alone."""
    out: dict = {}

    def probe():
        import torch

        from . import budget
        from .config import RunConfig
        from .training.train import SoloMembers
        torch.set_num_threads(max(1, int(threads)))
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(_BIG_BATCH, budget.N_INPUT, generator=gen)
        y = torch.randint(budget.N_CLASSES, (_BIG_BATCH,), generator=gen)

        def per_step(config: RunConfig, steps: int) -> float:
            members = SoloMembers(config, torch.device("cpu"), torch.float32)
            members.start_epoch(x, y)
            members.train_batch(0, config.batch_size)   # first-call costs are not the pace
            start = time.perf_counter()
            for _ in range(steps):
                members.train_batch(0, config.batch_size)
            return (time.perf_counter() - start) / steps

        small, big = RunConfig(batch_size=1), RunConfig(batch_size=_BIG_BATCH)
        step_s = per_step(small, PROBE_STEPS[0])
        size = budget.model_size(big)
        flops = 6 * size.macs * _BIG_BATCH + budget.STEP_FLOPS_PER_PARAM * size.params
        # never below 1 TFLOP/s of one core, whatever the timer's noise says
        out["pace"] = ServerPace(step_s, max(1e-12, (per_step(big, PROBE_STEPS[1]) - step_s)
                                             / flops))

    thread = threading.Thread(target=probe, name="pace-probe", daemon=True)
    thread.start()
    thread.join()
    if "pace" not in out:
        raise RuntimeError("measuring this server's pace failed (see the log)")
    return out["pace"]


_server: dict[int, ServerPace] = {}
_server_lock = threading.Lock()


def server_pace(threads: int) -> ServerPace:
    """This process's pace at ``threads`` torch threads per job, measured on first use."""
    with _server_lock:
        if threads not in _server:
            _server[threads] = measure(threads)
        return _server[threads]


def record_finished(estimated_s: float | None, measured_s: float) -> None:
    """The runner's report of a finished job: every measured pace of this process learns it."""
    if estimated_s is None:
        return
    with _server_lock:
        paces = list(_server.values())
    for pace in paces:
        pace.record(estimated_s, measured_s)
