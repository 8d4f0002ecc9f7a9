"""How long a job takes on this server: its estimated work at the pace measured here.

The FLOP count alone does not bound wall time: 10,000 epochs at batch size 1 are 40 million
optimizer steps of ~1 ms each (hours) but only 0.06 TFLOP, and 1,000 members of width 1 cost
~0.5 us per sample each (a gather, a softmax) against 300 flops. So a job's seconds are

    START_S + correction x (steps x step_s + member_steps x member_step_s
                            + samples x sample_s + flops x flop_s)

with the counts from :mod:`core.budget` and four rates measured once per process, on this
server, with the lab's own training step (:func:`measure`, a fraction of a second): one step
of the default MLP at batch size 1 (``step_s``, all overhead), of a width-1 MLP at batch size
1,000 (the per-sample cost), of the default MLP at batch size 1,000 (the difference of the two
is arithmetic), and of populations of 16 and 256 members of width 1 at batch size 1 (each
member's share of a stacked step). ``correction`` follows how jobs finished here compare with their estimates
(:meth:`ServerPace.record`, called by the runner): a server busier than when it was probed, or
two jobs sharing its CPUs, makes the next estimates longer. On the 2-core machine the lab is
developed on, under load, the probe took 0.3-0.5 s, and the measured times of a default run, a
batch-size-1 run, a 1000-wide model, a 32-member population and issue 20's 1,000- and
1,280-member sweeps were 0.3-1.1x their estimates: it errs long, mostly on wide models.

Those rates are the default MLP's. Another model's step costs more per counted flop (a CNN's
convolutions, a GRU's time steps in sequence, a stacked CNN's skinny matmuls), so a
work's flops carry their model and population size (``Work.mix``), and the first estimate for a
model times one solo and one 16-member step of it at its default shape against the same for the
MLP (:meth:`ServerPace.model_factor`, ~1-2 s once per model). Before, a CNN population of 32
took 5.6x its estimate and a solo GRU 3.8x; with the factors, solo runs and 32-member
populations of every model took 0.7-2.0x theirs (three runs) (``python bench/pace_models.py``).
Nothing here imports torch until :func:`measure` runs.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

START_S = 0.5              # thread start, the first optimizer built, the dataset's tensors
CORRECTION_RANGE = (0.25, 20.0)
FACTOR_MEMBERS = 16        # the population a model's stacked step is timed at
FACTOR_RANGE = (0.25, 50.0)
_BIG, _MEMBERS, _REPEATS = 1000, (16, 256), 3


@dataclass
class ServerPace:
    """Seconds per step, per member's share of a step, per sample and per operation here."""

    step_s: float
    flop_s: float
    member_step_s: float = 0.0
    sample_s: float = 0.0
    correction: float = 1.0
    threads: int = 1          # torch threads of the jobs it times (the model probes use them)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()   # one model probe at a time, each once
        self._ratios: dict[str, tuple[float, float]] = {}      # per model, over the MLP's
        self._default_ratios: tuple[float, float] | None = None  # the MLP's own, measured

    def seconds(self, work) -> float:
        """Wall time of ``work`` (a ``core.budget.Work``) once its job has a slot."""
        with self._lock:
            correction = self.correction
        return START_S + correction * self.uncorrected(work) * self.mix_factor(work.mix)

    def uncorrected(self, work) -> float:
        """``work``'s seconds at the default MLP's rates, before start-up and correction."""
        return (work.steps * self.step_s + work.member_steps * self.member_step_s
                + work.samples * self.sample_s + work.flops * self.flop_s)

    def mix_factor(self, mix) -> float:
        """How much longer ``mix``'s (model, members, flops) take here than the default MLP's
        rates say: each part's :meth:`model_factor`, weighted by its flops."""
        total = sum(f for _, _, f in mix)
        if not total > 0:
            return 1.0
        return sum(f * self.model_factor(m, k) for m, k, f in mix) / total

    def model_factor(self, model: str, together: int) -> float:
        """A step of ``model`` (``together`` members stacked, 1: solo) against what the rates
        predict for it, relative to the same for the default MLP: measured once per model, solo
        and at :data:`FACTOR_MEMBERS` members, interpolated geometrically in log(members)."""
        from .models import DEFAULT_MODEL
        if model == DEFAULT_MODEL:
            return 1.0
        solo, stacked = self._model_ratios(model)
        t = min(1.0, math.log(max(1, together)) / math.log(FACTOR_MEMBERS))
        return solo ** (1 - t) * stacked ** t

    def _model_ratios(self, model: str) -> tuple[float, float]:
        """``model``'s (solo, stacked) step ratios over the default MLP's, measured once."""
        with self._probe_lock:
            if model not in self._ratios:
                from .models import DEFAULT_MODEL
                if self._default_ratios is None:
                    self._default_ratios = self._measured_ratios(DEFAULT_MODEL)
                low, high = FACTOR_RANGE
                self._ratios[model] = tuple(
                    min(high, max(low, a / b))
                    for a, b in zip(self._measured_ratios(model), self._default_ratios))
            return self._ratios[model]

    def _measured_ratios(self, model: str) -> tuple[float, float]:
        return _in_thread(lambda: _step_ratios(self, model), self.threads)

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
    return _in_thread(lambda: _probe(threads), threads)


def _in_thread(probe, threads: int):
    out: dict = {}

    def run():
        try:
            import torch
            torch.set_num_threads(max(1, int(threads)))
            out["value"] = probe()
        except Exception as error:   # reported to the caller below
            out["error"] = error

    thread = threading.Thread(target=run, name="pace-probe", daemon=True)
    thread.start()
    thread.join()
    if "value" not in out:
        raise RuntimeError(f"measuring this server's pace failed: {out.get('error')!r}")
    return out["value"]


def _probe_data():
    import torch

    from . import budget
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(_BIG, budget.N_INPUT, generator=gen),
            torch.randint(budget.N_CLASSES, (_BIG,), generator=gen))


def _per_step(members, x, y, batch: int, steps: int) -> float:
    members.start_epoch(x, y)
    members.train_batch(0, batch)   # first-call costs are not the pace
    times = []
    for _ in range(_REPEATS):       # the median of a few: one burst of load is not the pace
        start = time.perf_counter()
        for _ in range(steps):
            members.train_batch(0, batch)
        times.append((time.perf_counter() - start) / steps)
    return sorted(times)[_REPEATS // 2]


def _step_ratios(pace: ServerPace, model: str) -> tuple[float, float]:
    """Measured over predicted seconds of a step of ``model`` at its default shape, batch size
    and method: solo, and :data:`FACTOR_MEMBERS` members stacked."""
    import torch

    from . import budget
    from .config import RunConfig
    from .training.population import StackedMembers, trains_together
    from .training.train import SoloMembers
    x, y = _probe_data()
    cpu = torch.device("cpu")
    config = RunConfig(model=model)
    configs = [config.replace(seed=i) for i in range(FACTOR_MEMBERS)]
    ratios = []
    for members in (1, FACTOR_MEMBERS):
        runner = (SoloMembers(config, cpu, torch.float32) if members == 1
                  or not trains_together(config) else
                  StackedMembers(configs, cpu, torch.float32))
        measured = _per_step(runner, x, y, config.batch_size, 3)
        ratios.append(measured / pace.uncorrected(budget.step_work(config, members)))
    return tuple(ratios)


def _probe(threads: int) -> ServerPace:
    import torch

    from . import budget
    from .config import RunConfig
    from .training.population import StackedMembers
    from .training.train import SoloMembers
    x, y = _probe_data()
    cpu = torch.device("cpu")

    def solo(hidden, batch, steps):
        config = RunConfig(hidden=hidden, batch_size=batch)
        flops = 6 * budget.model_size(config).macs * batch
        return _per_step(SoloMembers(config, cpu, torch.float32), x, y, batch, steps), flops

    default = RunConfig().hidden
    step_s, _ = solo(default, 1, 20)
    narrow, narrow_flops = solo((1,), _BIG, 5)
    wide, wide_flops = solo(default, _BIG, 3)
    flop_s = max(1e-13, (wide - narrow) / (wide_flops - narrow_flops))
    sample_s = max(0.0, (narrow - step_s - narrow_flops * flop_s) / _BIG)

    def stacked(members: int) -> float:
        configs = [RunConfig(hidden=(1,), batch_size=1, seed=i) for i in range(members)]
        return _per_step(StackedMembers(configs, cpu, torch.float32), x, y, 1, 10)

    # a stacked step's own overhead is not a solo step's (the population forms are leaner):
    # the member's share is the slope between two population sizes
    few, many = _MEMBERS
    member_step_s = max(0.0, (stacked(many) - stacked(few)) / (many - few) - sample_s)
    return ServerPace(step_s, flop_s, member_step_s, sample_s, threads=threads)


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
