"""Running a reproduction: the write-up's protocol once as written, then over K honest seeds.

``reproduce(key, seeds=None, scale=FULL)`` (None: the protocol's own seed count) is a generator of :class:`Event`; the last one carries
the :class:`ExperimentResult`. Close it to stop (the search and training in flight are closed too).

Stage 0 is the protocol exactly as written: seed 0, the write-up split (validation = test set),
numbers read off the validation curve as the write-up did. Stages 1..K repeat the same protocol
on the honest split: seed i's search runs on seed i, and the values it picks are trained on the
fresh seed CONFIRM_SEED + i (initial weights and batch order the search never saw, so the best
trial's luck is not measured again); searches and early stopping look only at a validation set
carved from the training data, and every loss that decides a verdict is read on the untouched
test set (see ``QUANTITIES`` for which).

Order of the work: stage 0, one side after the other (search, then its measured training); then
the honest searches, seed by seed; then each side's honest measured trainings, its K seeds
trained together as one population (``core.training.population``: each member has its solo run's initial
weights and batch order, so seeds stay paired across sides) when the method has a population
form. The honest trainings report the test set after every epoch, so early stopping reads the
test loss at the epoch it picks instead of retraining to it.
"""

import platform
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from ..config import EpochMetrics, RunConfig, is_finite_number
from ..training.population import supports_population, train_population
from ..stats import mean_ci, paired_comparison
from ..training.train import train
from .protocols import (ACCURACIES, CONFIRM_SEED, FULL, LOSSES, SIDES, Protocol,
                        Scale, SideProtocol, get_protocol)
from .measure import measure
from .result import Event, ExperimentResult, SideRun
from .verdict import adjusted_result, judge_claim, overall

AS_WRITTEN_SEED = 0


def stage_labels(seeds: int, variant: str = "") -> list[str]:
    tag = f"[{variant}] " if variant else ""
    return ([f"{tag}as written (seed 0, write-up split)"]
            + [f"{tag}seed {s} of {seeds} (honest split, measured on seed {CONFIRM_SEED + s})"
               for s in range(seeds)])


def measured_epochs(settings: dict) -> int:
    """Length of the run whose curve is measured (for scaled settings): the final training,
    else a search trial (write-up 000 measures its best trial's own run)."""
    return settings["final_epochs"] or settings["search_epochs"]


def planned_events(protocol: Protocol, seeds: int | None, scale: Scale = FULL) -> int:
    """How many events a run yields when no measured training diverges and no search fails
    outright (for a progress bar and ETA); fewer otherwise, never more. ``seeds`` None: the
    protocol's own count."""
    seeds = protocol.seeds if seeds is None else seeds
    s = scale.apply(protocol)
    measured = measured_epochs(s)
    as_written = 1 + 2 * (s["search_trials"] + s["final_epochs"] + 1)
    honest = 1 + 2 * (s["search_trials"] + measured + 1)
    return as_written + seeds * honest + 1


def planned_epochs(protocol: Protocol, seeds: int | None, scale: Scale = FULL) -> int:
    """Training epochs a run costs when nothing diverges (fewer otherwise; early stopping reads
    the test loss each honest epoch reports, so nothing is retrained). At ~40-50 ms an epoch on
    one CPU core; the honest measured epochs train several seeds at once, which costs less."""
    seeds = protocol.seeds if seeds is None else seeds
    s = scale.apply(protocol)
    search = 2 * s["search_trials"] * s["search_epochs"]
    as_written = search + 2 * s["final_epochs"]
    honest = search + 2 * measured_epochs(s)
    return as_written + seeds * honest


def _knobs(side: SideProtocol) -> tuple[dict, dict]:
    """(ranges, fixed) for the search: every knob not tuned is held at the protocol's value or,
    when the protocol does not name it, the registry default (also a fixed, documented value)."""
    tuned = {n: (lo, hi) for n, lo, hi in side.tuned}
    given = dict(side.fixed)
    fixed = {hp.name: given.get(hp.name, hp.default)
             for hp in side.spec.hyperparams if hp.name not in tuned}
    return tuned, fixed


def _config(protocol: Protocol, side: SideProtocol, params: dict, epochs: int, seed: int,
            split: str, device: str) -> RunConfig:
    values = dict(params)
    lr = values.pop("lr")
    return RunConfig(method=side.method, lr=lr, hparams=values, epochs=epochs,
                     batch_size=protocol.batch_size, seed=seed, model=protocol.model,
                     shape=protocol.shape, schedule=side.schedule,
                     schedule_params=dict(side.schedule_params), split=split, device=device)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _torch_build() -> str:
    """The git commit torch was built from, its parallel backend and math libraries."""
    lines = [ln.strip() for ln in torch.__config__.parallel_info().splitlines()]
    backend = next((ln.split(":", 1)[1].strip() for ln in lines
                    if ln.startswith("ATen parallel backend")), "unknown")
    libs = [ln.split(" Version ")[0].split(" (")[0] for ln in lines
            if ln.startswith(("Intel(R) oneAPI", "Intel(R) MKL-DNN", "OpenBLAS"))]
    return (f"git {torch.version.git_version[:10]}, {backend} backend"
            + "".join(f", {lib}" for lib in libs))


def _environment() -> dict[str, str]:
    # Bit-for-bit equality holds on one CPU model and torch build: another differs in the last
    # bits, enough to change a search's pick, so the record names both.
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "machine": f"{platform.machine()}, {platform.system()}", "cpu": _cpu_model(),
           "torch build": _torch_build()}
    try:
        import optuna
        env["optuna"] = optuna.__version__
    except ImportError:
        pass
    env["torch_threads"] = str(torch.get_num_threads())
    return env


@dataclass(frozen=True)
class _Searched:
    """One side of one stage after its search: what its measured training starts from."""

    side: str
    stage: int
    seed: int
    split: str
    measure_seed: int         # the measured training's seed: CONFIRM_SEED + seed when honest
    params: dict              # empty when every trial failed: nothing to train or measure
    trial_values: tuple
    curve: tuple              # the best trial's own run, where that is what is measured
    note: str


def _search(protocol: Protocol, name: str, settings: dict, seed: int, split: str, ev: dict,
            device: str, as_written: bool):
    """Generator of one side's trial events; its return value is the :class:`_Searched`."""
    side = protocol.side(name)
    ranges, fixed = _knobs(side)
    where = dict(side=name, stage=ev["stage"], seed=seed, split=split,
                 measure_seed=seed if as_written else CONFIRM_SEED + seed)
    if not settings["search_trials"]:
        return _Searched(**where, params=dict(fixed), trial_values=(), curve=(), note="")
    from ..search.study import SearchConfig, best_of, run_search
    config = SearchConfig(method=side.method, trials=settings["search_trials"],
                          epochs=settings["search_epochs"], seed=seed, split=split,
                          sampler=protocol.sampler, pruning=False,
                          ranges=tuple(ranges.items()), fixed=tuple(fixed.items()),
                          batch_size=protocol.batch_size, model=protocol.model,
                          shape=tuple(protocol.shape.items()), schedule=side.schedule,
                          schedule_params=side.schedule_params, device=device,
                          startup_trials=protocol.startup_trials)
    trials, trial_values = [], []
    search = run_search(config)
    try:
        for t in search:
            trials.append(t)
            trial_values.append(t.value if t.state == "COMPLETE" else None)
            yield Event("trial", trial=t, **ev)
    finally:
        search.close()
    best = best_of(trials)
    if best is None:
        return _Searched(**where, params={}, trial_values=tuple(trial_values), curve=(),
                         note="every search trial failed or diverged")
    # Write-up 000 measured the best trial's own run, so as written that is what is read.
    curve = tuple(best.curve) if as_written and not settings["final_epochs"] else ()
    return _Searched(**where, params={**fixed, **best.params},
                     trial_values=tuple(trial_values), curve=curve, note="")


def _train_solo(config: RunConfig, ev: dict, dtype: torch.dtype):
    """Generator of one run's epoch events; its return value is the curve."""
    curve = []
    run = train(config, dtype=dtype, test_every_epoch=True)
    try:
        for m in run:
            curve.append(m)
            yield Event("epoch", epoch=m, **ev)
    finally:
        run.close()
    return curve


def _train_together(configs: list[RunConfig], evs: list[dict], dtype: torch.dtype):
    """Generator of every member's epoch events (each with its own stage), epoch by epoch; its
    return value is the members' curves."""
    curves: list[list[EpochMetrics]] = [[] for _ in configs]
    run = train_population(configs, dtype=dtype, test_every_epoch=True)
    try:
        for row in run:
            for curve, ev, m in zip(curves, evs, row):
                if m is not None:
                    curve.append(m)
                    yield Event("epoch", epoch=m, **ev)
    finally:
        run.close()
    return curves


def _side_run(protocol: Protocol, found: _Searched, curve: Sequence[EpochMetrics]) -> SideRun:
    note = found.note
    if curve and curve[-1].diverged:
        note = curve[-1].reason or "diverged"
    return SideRun(side=found.side, method=protocol.side(found.side).method, seed=found.seed,
                   measure_seed=found.measure_seed, split=found.split, params=found.params, trial_values=found.trial_values,
                   curve=tuple(curve), measured=measure(protocol, curve, found.params,
                                                        found.split), note=note)


def _seed_list(seeds: Sequence[int]) -> str:
    if list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _measure_side(protocol: Protocol, found: list[_Searched], epochs: int, device: str,
                  dtype: torch.dtype, labels: list[str]):
    """Generator of one side's measured trainings over its stages and their ``side`` events;
    its return value is the SideRuns, in the order of ``found``.

    Several seeds of a method with a population form train together (members differ in seed
    and searched values); otherwise each trains alone, and its ``side`` event follows its
    training at once.
    """
    side = protocol.side(found[0].side)

    def ev(f: _Searched) -> dict:
        return dict(key=protocol.key, stage=f.stage, stages=len(labels), label=labels[f.stage],
                    side=f.side)

    todo = [i for i, f in enumerate(found) if f.params and not f.curve]
    configs = {i: _config(protocol, side, found[i].params, epochs, found[i].measure_seed,
                          found[i].split, device) for i in todo}
    curves: list[Sequence[EpochMetrics]] = [f.curve for f in found]
    together = len(todo) > 1 and supports_population(side.method)
    if together:
        # The label says what runs for as long as the population trains; each member's events
        # keep its own stage, so its curve stays with its seed.
        label = (f"{side.spec.display_name}: seeds "
                 f"{_seed_list([found[i].measure_seed for i in todo])}"
                 f" of {len(labels) - 1} trained together ({found[todo[0]].split} split)")
        got = yield from _train_together([configs[i] for i in todo],
                                         [{**ev(found[i]), "label": label} for i in todo], dtype)
        for i, curve in zip(todo, got):
            curves[i] = curve
    runs = []
    for i, f in enumerate(found):
        if i in configs and not together:
            curves[i] = yield from _train_solo(configs[i], ev(f), dtype)
        run = _side_run(protocol, f, curves[i])
        yield Event("side", run=run, **ev(f))
        runs.append(run)
    return runs


def _summarise(protocol: Protocol, repeats: list[dict[str, SideRun]]):
    """Per quantity: each side's mean over the seeds that gave a number, and the paired
    comparison under ``core.stats.DIVERGENCE_RULE`` (a seed on which a side diverged, or could
    not be measured, keeps its pair and takes the worst value of the comparison)."""
    summary, paired, notes = {}, {}, {}
    for q in protocol.quantities:
        summary[q] = {}
        for s in SIDES:
            xs = [r[s].measured[q] for r in repeats if q in r[s].measured]
            xs = [x for x in xs if is_finite_number(x)]
            summary[q][s] = mean_ci(xs) if xs else None
        if q in LOSSES or q in ACCURACIES:
            method = [r["method"].measured.get(q) for r in repeats]
            base = [r["baseline"].measured.get(q) for r in repeats]
            loss = q in LOSSES
            try:
                paired[q] = paired_comparison(method, base, lower_is_better=loss,
                                              margin=protocol.margin(q))
            except ValueError:      # every seed of both sides failed: nothing to rank
                paired[q] = None
            notes[q] = "" if paired[q] is None else paired[q].diverged_text
            if paired[q] is None:
                notes[q] = "every seed of both sides diverged or could not be measured"
    return summary, paired, notes


def _as_written_note(protocol: Protocol, runs: dict[str, SideRun]) -> str:
    parts = []
    for c in protocol.claims:
        m, b = runs["method"].measured.get(c.quantity), runs["baseline"].measured.get(c.quantity)
        if not (is_finite_number(m) and is_finite_number(b)):
            parts.append(f"{c.quantity}: not measurable as written")
            continue
        direction = "better" if m < b else "worse" if m > b else "equal"
        same = "same direction as" if direction == c.direction else "unlike"
        parts.append(f"{c.quantity}: method {m:.4f} vs Adam {b:.4f} ({direction}, {same} the "
                     "write-up)")
    return "as written (1 seed): " + "; ".join(parts)


def reproduce(key: str | Protocol, seeds: int | None = None, scale: Scale = FULL,
              device: str = "cpu",
              *, dtype: torch.dtype = torch.float32) -> Iterator[Event]:
    """Run one write-up's reproduction; yields :class:`Event` and ends with a ``result`` event.

    ``dtype`` is that of the measured trainings (searches always train in float32); it exists
    for tests, as ``train()``'s does: float64 lets the seeds trained together be checked against
    their solo runs to many digits. The lab always runs float32. ``seeds`` None takes the
    protocol's own count.
    """
    protocol = key if isinstance(key, Protocol) else get_protocol(key)
    seeds = protocol.seeds if seeds is None else seeds
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= 100:
        raise ValueError(f"seeds must be a whole number in [1, 100], got {seeds!r}")
    settings = scale.apply(protocol)
    labels = stage_labels(seeds, protocol.variant)
    stages = len(labels)
    epochs = measured_epochs(settings)
    start = time.perf_counter()

    def ev(stage: int, side: str) -> dict:
        return dict(key=protocol.key, stage=stage, stages=stages, label=labels[stage], side=side)

    def stage_event(stage: int) -> Event:
        return Event("stage", protocol.key, stage, stages, labels[stage],
                     message=f"{protocol.key}: {labels[stage]}")

    # As written: one run per side, so each side is searched and trained before the next.
    yield stage_event(0)
    as_written = {}
    for s in SIDES:
        found = yield from _search(protocol, s, settings, AS_WRITTEN_SEED, "writeup", ev(0, s),
                                   device, as_written=True)
        (as_written[s],) = yield from _measure_side(protocol, [found], epochs, device, dtype,
                                                    labels)
    # Honest: every seed's searches first, so that each side's measured trainings can then
    # run as one population over the seeds.
    found_by_side: dict[str, list[_Searched]] = {s: [] for s in SIDES}
    for i in range(seeds):
        yield stage_event(i + 1)
        for s in SIDES:
            found_by_side[s].append((yield from _search(protocol, s, settings, i, "honest",
                                                        ev(i + 1, s), device,
                                                        as_written=False)))
    repeats: list[dict[str, SideRun]] = [{} for _ in range(seeds)]
    for s in SIDES:
        runs = yield from _measure_side(protocol, found_by_side[s], epochs, device, dtype,
                                        labels)
        for rep, run in zip(repeats, runs):
            rep[s] = run
    summary, paired, notes = _summarise(protocol, repeats)
    outcomes = tuple(judge_claim(c, paired.get(c.quantity), notes.get(c.quantity, ""),
                                 margin=protocol.margin(c.quantity))
                     for c in protocol.claims)
    verdict, reason = overall(list(outcomes))
    result = ExperimentResult(
        key=protocol.key, protocol_used=protocol, scale=scale.name, settings=settings,
        seeds=tuple(range(seeds)),
        as_written=as_written, repeats=tuple(repeats), summary=summary, paired=paired,
        outcomes=outcomes, verdict=verdict, reason=reason,
        as_written_note=_as_written_note(protocol, as_written),
        duration_s=time.perf_counter() - start, environment=_environment())
    # Run alone, a write-up's headline is adjusted over its own claims only (and says so); a
    # record of several write-ups adjusts again over all of theirs (core.cli.reproduce).
    result = adjusted_result(result)
    yield Event("result", protocol.key, stages - 1, stages, labels[-1], result=result,
                message=result.headline())
