"""Running a reproduction: the write-up's protocol once as written, then over K honest seeds.

``reproduce(key, seeds=5, scale=FULL)`` is a generator of :class:`Event`; the last one carries
the :class:`ExperimentResult`. Close it to stop (the search and training in flight are closed too).

Stage 0 is the protocol exactly as written: seed 0, the write-up split (validation = test set),
numbers read off the validation curve as the write-up did. Stages 1..K repeat the same protocol
with seeds 0..K-1 on the honest split: searches and early stopping look only at a validation set
carved from the training data, and every loss that decides a verdict is read on the untouched test
set (see ``QUANTITIES`` for which).
"""

import math
import platform
import time
from typing import Callable, Iterator

from ..config import EpochMetrics, RunConfig, is_finite_number
from ..stats import mean_ci, paired_comparison
from ..train import train
from .protocols import (EARLY_EPOCHS, FULL, LOSSES, SIDES, Protocol, Scale, SideProtocol,
                        get_protocol)
from .result import Event, ExperimentResult, SideRun
from .verdict import judge_claim, overall

AS_WRITTEN_SEED = 0
INF = float("inf")


def stage_labels(seeds: int) -> list[str]:
    return (["as written (seed 0, write-up split)"]
            + [f"seed {s} of {seeds} (honest split)" for s in range(seeds)])


def measured_epochs(settings: dict) -> int:
    """Length of the run whose curve is measured (for scaled settings): the final training,
    else a search trial (write-up 000 measures its best trial's own run)."""
    return settings["final_epochs"] or settings["search_epochs"]


def planned_events(protocol: Protocol, seeds: int, scale: Scale = FULL) -> int:
    """How many events a run yields when nothing diverges (for a progress bar and ETA)."""
    s = scale.apply(protocol)
    measured = measured_epochs(s)
    as_written = 1 + 2 * (s["search_trials"] + s["final_epochs"] + 1)
    honest = 1 + 2 * (s["search_trials"] + measured + 1)
    return as_written + seeds * honest + 1


def planned_epochs(protocol: Protocol, seeds: int, scale: Scale = FULL) -> int:
    """Training epochs a run costs (an upper bound: honest early stopping may retrain up to one
    more measured training per side and seed). At ~40-50 ms an epoch on one CPU core."""
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
                     batch_size=protocol.batch_size, seed=seed, hidden=protocol.hidden,
                     split=split, device=device)


def measure(protocol: Protocol, curve: list[EpochMetrics], params: dict, split: str,
            retrain_to: Callable[[int], EpochMetrics | None]) -> dict[str, float]:
    """The protocol's quantities from one side's measured curve.

    Under the write-up split the validation set is the test set and everything is read off the
    validation curve, as the write-ups did. Under the honest split, ``best_val_loss`` is the test
    loss of the model stopped at the epoch of minimum validation loss (``retrain_to(k)``
    retrains the same config for k epochs, which is bit-identical up to epoch k), and
    ``final_val_loss`` is the test loss after the last epoch. A diverged run ends at +inf.
    """
    out: dict[str, float] = {}
    for q in protocol.quantities:
        if q not in LOSSES:
            if q in params:
                out[q] = float(params[q])
            continue
        if not curve:
            out[q] = math.nan
            continue
        last = curve[-1]
        vals = [m.val_loss if is_finite_number(m.val_loss) else INF for m in curve]
        if q == "early_val_loss":
            window = vals[:EARLY_EPOCHS]
            out[q] = sum(window) / len(window)
        elif q == "final_train_loss":
            out[q] = last.train_loss if not last.diverged else INF
        elif q == "final_val_loss":
            if last.diverged:
                out[q] = INF
            else:
                out[q] = last.val_loss if split == "writeup" else last.test_loss
        elif q == "best_val_loss":
            k = min(range(len(vals)), key=vals.__getitem__)
            if split == "writeup" or not is_finite_number(vals[k]):
                out[q] = vals[k]
            elif k == len(curve) - 1 and last.test_loss is not None:
                out[q] = last.test_loss
            else:
                stopped = retrain_to(k + 1)
                out[q] = stopped.test_loss if stopped is not None and \
                    stopped.test_loss is not None else math.nan
    return out


def _environment() -> dict[str, str]:
    import torch
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "machine": f"{platform.machine()}, {platform.system()}"}
    try:
        import optuna
        env["optuna"] = optuna.__version__
    except ImportError:
        pass
    env["torch_threads"] = str(torch.get_num_threads())
    return env


def _run_side(protocol: Protocol, name: str, settings: dict, seed: int, split: str,
              stage: int, stages: int, label: str, device: str, as_written: bool):
    """Generator of events for one side of one stage; its return value is the SideRun."""
    side = protocol.side(name)
    ev = dict(key=protocol.key, stage=stage, stages=stages, label=label, side=name)
    trial_values: list[float | None] = []
    params: dict = {}
    curve: list[EpochMetrics] = []
    note = ""
    if settings["search_trials"]:
        from ..search import SearchConfig, best_of, run_search
        ranges, fixed = _knobs(side)
        config = SearchConfig(method=side.method, trials=settings["search_trials"],
                              epochs=settings["search_epochs"], seed=seed, split=split,
                              sampler=protocol.sampler, pruning=False,
                              ranges=tuple(ranges.items()), fixed=tuple(fixed.items()),
                              batch_size=protocol.batch_size, hidden=protocol.hidden,
                              device=device)
        trials = []
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
            note = "every search trial failed or diverged"
        else:
            params = {**fixed, **best.params}
            if not settings["final_epochs"] and as_written:
                # Write-up 000 measured the best trial's own run, so that is what is read here.
                curve = list(best.curve)
    else:
        params = dict(_knobs(side)[1])
    epochs = measured_epochs(settings)
    if params and not curve:
        run = train(_config(protocol, side, params, epochs, seed, split, device))
        try:
            for m in run:
                curve.append(m)
                yield Event("epoch", epoch=m, **ev)
        finally:
            run.close()
        if curve and curve[-1].diverged:
            note = curve[-1].reason or "diverged"

    def retrain_to(k: int) -> EpochMetrics | None:
        ms = list(train(_config(protocol, side, params, k, seed, split, device)))
        return ms[-1] if ms else None

    measured = measure(protocol, curve, params, split, retrain_to)
    run_ = SideRun(side=name, method=side.method, seed=seed, split=split, params=params,
                   trial_values=tuple(trial_values), curve=tuple(curve), measured=measured,
                   note=note)
    yield Event("side", run=run_, **ev)
    return run_


def _summarise(protocol: Protocol, repeats: list[dict[str, SideRun]]):
    summary, paired, notes = {}, {}, {}
    for q in protocol.quantities:
        summary[q] = {}
        for s in SIDES:
            xs = [r[s].measured[q] for r in repeats if q in r[s].measured]
            xs = [x for x in xs if is_finite_number(x)]
            summary[q][s] = mean_ci(xs) if xs else None
        if q in LOSSES:
            pairs = [(r["method"].measured.get(q), r["baseline"].measured.get(q))
                     for r in repeats]
            kept = [(m, b) for m, b in pairs if is_finite_number(m) and is_finite_number(b)]
            dropped = len(pairs) - len(kept)
            notes[q] = (f"{dropped} seed(s) left out: a side diverged or could not be measured"
                        if dropped else "")
            paired[q] = (paired_comparison([m for m, _ in kept], [b for _, b in kept])
                         if kept else None)
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


def reproduce(key: str | Protocol, seeds: int = 5, scale: Scale = FULL,
              device: str = "cpu") -> Iterator[Event]:
    """Run one write-up's reproduction; yields :class:`Event` and ends with a ``result`` event."""
    protocol = key if isinstance(key, Protocol) else get_protocol(key)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= 100:
        raise ValueError(f"seeds must be a whole number in [1, 100], got {seeds!r}")
    settings = scale.apply(protocol)
    labels = stage_labels(seeds)
    stages = len(labels)
    start = time.perf_counter()

    def stage_runs(stage: int, seed: int, split: str):
        yield Event("stage", protocol.key, stage, stages, labels[stage],
                    message=f"{protocol.key}: {labels[stage]}")
        runs = {}
        for s in SIDES:
            runs[s] = yield from _run_side(protocol, s, settings, seed, split, stage, stages,
                                           labels[stage], device, as_written=stage == 0)
        return runs

    as_written = yield from stage_runs(0, AS_WRITTEN_SEED, "writeup")
    repeats = []
    for i in range(seeds):
        repeats.append((yield from stage_runs(i + 1, i, "honest")))
    summary, paired, notes = _summarise(protocol, repeats)
    outcomes = tuple(judge_claim(c, paired.get(c.quantity), notes.get(c.quantity, ""))
                     for c in protocol.claims)
    verdict, reason = overall(list(outcomes))
    result = ExperimentResult(
        key=protocol.key, scale=scale.name, settings=settings, seeds=tuple(range(seeds)),
        as_written=as_written, repeats=tuple(repeats), summary=summary, paired=paired,
        outcomes=outcomes, verdict=verdict, reason=reason,
        as_written_note=_as_written_note(protocol, as_written),
        duration_s=time.perf_counter() - start, environment=_environment())
    yield Event("result", protocol.key, stages - 1, stages, labels[-1], result=result,
                message=result.headline())
