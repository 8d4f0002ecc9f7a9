"""``python -m core search`` and ``python -m core worker``: Optuna searches from a terminal."""

import dataclasses
import json
import sys

from ..config import finite_or_none
from ..optim.registry import METHODS
from ..search.duel import ConfirmationRun, DuelSummary, fresh_seeds, run_duel
from ..search.outcomes import SearchProgress, TrialResult, best_of, params_text, trial_line
from ..search.space import describe
from ..search.storage import (STORAGE_ENV, configured_storage_url,
                              dashboard_command, open_storage)
from ..search.study import (BASELINE, SAMPLERS, SearchConfig, attach, default_study_name,
                            open_study, resolve_study_name, run_search)
from ..search.worker import run_worker
from ..schedules import SCHEDULES
from .main import add_setting_arguments, describe_model, settings_from_args


def _search_arguments(p, method_required: bool) -> None:
    p.add_argument("--method", choices=sorted(METHODS), required=method_required,
                   default=None, help="method to tune")
    add_setting_arguments(p, helps={
        "epochs": "epochs per trial",
        "seed": "seed of every trial's weights and batches, and of the sampler"})
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    p.add_argument("--pruning", action="store_true",
                   help="stop trials whose validation loss is worse than the median (MedianPruner)")
    p.add_argument("--range", nargs=3, action="append", default=[], metavar=("NAME", "LOW", "HIGH"),
                   help="narrow a knob's search range, e.g. --range lr 1e-3 1e-1 (repeatable)")
    p.add_argument("--fix", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="keep a knob fixed, e.g. --fix beta 0.5 (repeatable)")
    p.add_argument("--startup-trials", type=int, default=None,
                   help="TPE's random trials before it models the results (default: a quarter "
                        "of --trials, at most 10)")
    p.add_argument("--storage", default=None,
                   help=f"sqlite:///FILE, a journal FILE (as optuna-dashboard takes it), "
                        f"journal:///FILE or postgresql://... (default: ${STORAGE_ENV}, "
                        f"else in memory)")
    p.add_argument("--study", default=None, help="study name (default: from the settings)")
    p.add_argument("--schedules", nargs="+", choices=list(SCHEDULES), default=(),
                   help="tune the lr schedule among these (a categorical knob), each with the "
                        "schedule flags given, e.g. --schedules constant cosine --warmup 2")


def _config(parser, args, trials: int) -> SearchConfig:
    def number(text):
        try:
            return float(text)
        except ValueError:
            parser.error(f"not a number: {text!r}")
    try:
        run = settings_from_args(parser, args)
        own = {f: run.pop(f) for f in ("shape", *SearchConfig.__dataclass_fields__) if f in run}
        own["schedules"] = tuple(args.schedules)
        return SearchConfig(
            method=args.method, trials=trials, sampler=args.sampler, pruning=args.pruning,
            ranges=tuple((n, (number(lo), number(hi))) for n, lo, hi in args.range),
            fixed=tuple((n, number(v)) for n, v in args.fix),
            startup_trials=args.startup_trials, settings=run, **own)
    except ValueError as error:
        parser.error(str(error))


def _storage(parser, args) -> str | None:
    """The storage URL, checked before anything trains (a bad one exits 2 with a message)."""
    storage = args.storage or configured_storage_url()
    if storage:
        try:
            open_storage(storage)   # checks the URL, then connects (a refused server too)
        except ValueError as error:
            parser.error(str(error))
    return storage


def _sampler_note(config: SearchConfig) -> str:
    if config.guided_trials == 0:
        return ("random search" if config.sampler == "random" else
                f"tpe, but all {config.trials} trials are its random start-up trials: "
                "effectively random search")
    return f"tpe: {config.startup_trials} random start-up trials, then {config.guided_trials} guided"


def _jsonable(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_dict"):
            return obj.to_dict()
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    return finite_or_none(obj)


def _print_summary(s: DuelSummary) -> None:
    def ci(i):
        return "-" if i is None else f"{i.mean:.4f} [{i.low:.4f}, {i.high:.4f}]"
    print(f"# confirmation: {len(s.seeds)} seeds x {s.epochs} epochs")
    for side in (s.method, s.baseline):
        params = ", ".join(f"{k}={v:.4g}" for k, v in (side.best_params or {}).items())
        print(f"#   {side.side:18s} best params {params or '-'}; best val {ci(side.best_loss)}; "
              f"final val {ci(side.final_loss)}"
              + (f"; diverged on seeds {list(side.diverged_seeds)}" if side.diverged_seeds else ""))
    print(f"# verdict: {s.verdict}")


def _run_search(parser, args) -> int:
    config = _config(parser, args, args.trials)
    if args.confirm_seeds < 1:
        parser.error("--confirm-seeds must be at least 1")
    if not 1 <= args.parallel <= 256:
        parser.error(f"--parallel must be in [1, 256], got {args.parallel}")
    if args.duel and config.method == BASELINE:
        parser.error(f"--duel compares a method with {BASELINE}; pick another --method")
    if args.duel:
        try:
            seeds = fresh_seeds(config.seed, args.confirm_seeds)
        except ValueError as error:
            parser.error(str(error))
    storage = _storage(parser, args)
    try:
        name = resolve_study_name(args.study, f"duel-{default_study_name(config)}" if args.duel
                                  else default_study_name(config))
    except ValueError as error:
        parser.error(str(error))
    try:
        events = (run_duel(config, args.confirm_seeds, args.confirm_epochs, storage=storage,
                           batch=args.parallel, study_prefix=name) if args.duel
                  else run_search(config, storage=storage, study_name=name, batch=args.parallel,
                                  progress=args.parallel > 1 and not args.json))
        if not args.json:
            where = storage or "memory"
            print(f"# {'duel vs adam, ' if args.duel else ''}{METHODS[config.method].display_name}:"
                  f" {config.trials} trials x {config.epochs} epochs on {describe_model(config)},"
                  f" seed {config.seed}, "
                  f"{_sampler_note(config)}{', pruning' if config.pruning else ''}, study "
                  f"{name!r} in {where}", flush=True)
            print("# searching " + "; ".join(describe(config.space())), flush=True)
            if args.duel:
                print(f"# confirmation on fresh seeds {list(seeds)} (the search trains on seed "
                      f"{config.seed} only)", flush=True)
        trials, summary = [], None
        for event in events:
            if isinstance(event, TrialResult):
                trials.append(event)
                if not args.json:
                    print(trial_line(event), flush=True)
            elif isinstance(event, SearchProgress):
                # A batch's trials all finish at its last epoch: say where it is meanwhile, on
                # stderr so that stdout stays one line per trial.
                print(f"# [{event.side}] {event.line()}", file=sys.stderr, flush=True)
            elif isinstance(event, ConfirmationRun) and not args.json:
                best = "diverged" if event.best is None else f"best {event.best:.4f}"
                print(f"[{event.side}] confirm seed {event.seed}: {best}", flush=True)
            elif isinstance(event, DuelSummary):
                summary = event
    except ValueError as error:
        parser.error(str(error))
    if args.json:
        json.dump({"study": name, "config": {**config.to_attrs(),
                                             "startup_trials": config.startup_trials},
                   "trials": [{**_jsonable(t), "curve": [m.to_dict() for m in t.curve]}
                              for t in trials],
                   "summary": _jsonable(summary)}, sys.stdout, indent=1)
        print()
        return 0
    for side in dict.fromkeys(t.side for t in trials):
        best = best_of(t for t in trials if t.side == side)
        states = [t.state for t in trials if t.side == side]
        tally = ", ".join(f"{states.count(s)} {s.lower()}" for s in dict.fromkeys(states))
        if best is None:
            print(f"# [{side}] no completed trial ({tally})")
        else:
            params = params_text(best.params, ", ")
            print(f"# [{side}] best: trial {best.number}, value {best.value:.4f}, {params} "
                  f"({tally} in this run)")
    if summary is not None:
        _print_summary(summary)
    if storage:
        print(f"# watch it: {dashboard_command(storage)}")
    return 0


def _run_worker(parser, args) -> int:
    storage = _storage(parser, args)
    if not storage:
        parser.error(f"a worker needs a shared storage: --storage URL or ${STORAGE_ENV}")
    if args.benchmark is not None:
        return _run_benchmark_worker(parser, args, storage)
    if args.study is None or args.trials is None:
        parser.error("a worker needs --study and --trials (or --benchmark NAME)")
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    kwargs = {k: v for k, v in (("heartbeat_interval", args.heartbeat),
                                ("grace_period", args.grace)) if v is not None}
    try:
        if args.method is not None:
            # Create the study (or check that it was made with these settings) before attaching.
            open_study(_config(parser, args, args.trials), open_storage(storage, **kwargs),
                       args.study)
        attach(storage, args.study, **kwargs)
        done, complete = run_worker(storage, args.study, args.trials, device=args.device,
                                    **kwargs, log=lambda line: print(line, flush=True))
    except ValueError as error:
        parser.error(str(error))
    if not complete:   # stopped before the study filled: say so, and fail
        print(f"# worker finished {done} trial(s); the study is NOT complete", file=sys.stderr)
        return 1
    print(f"# worker finished {done} trial(s); the study holds its {args.trials} trials")
    print(f"# watch it: {dashboard_command(storage)}")
    return 0


def _run_benchmark_worker(parser, args, storage) -> int:
    """Take cells of a benchmark someone started with ``--storage``: their trials (shared as
    any study's) and their confirmations (one runner per cell), until every cell is done."""
    from dataclasses import replace

    from ..benchmark.runner import BenchmarkDone, CellDone, attach_benchmark, run_benchmark
    kwargs = {k: v for k, v in (("heartbeat_interval", args.heartbeat),
                                ("grace_period", args.grace)) if v is not None}
    try:
        config = replace(attach_benchmark(storage, args.benchmark, **kwargs), device=args.device)
        done = False
        for event in run_benchmark(config, storage=storage, name=args.benchmark, worker=True,
                                   storage_kwargs=kwargs):
            if isinstance(event, CellDone):
                c = event.cell
                print(f"[{event.cells_done}/{event.cells}] {c.method} on {c.workload} done",
                      flush=True)
            done = done or isinstance(event, BenchmarkDone)
    except ValueError as error:
        parser.error(str(error))
    print(f"# benchmark {args.benchmark!r} is {'complete' if done else 'NOT complete'}")
    return 0 if done else 1


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="tune a method with Optuna; print a line per trial")
    _search_arguments(p, method_required=True)
    p.add_argument("--trials", type=int, default=20,
                   help="trials the study should hold (a resumed study counts its old ones)")
    p.add_argument("--duel", action="store_true",
                   help="also tune Adam with the same budget, then confirm both over seeds")
    p.add_argument("--confirm-seeds", type=int, default=5)
    p.add_argument("--parallel", type=int, default=10,
                   help="trials asked from the sampler and trained together as one population "
                        "(1: one at a time, as the write-ups did)")
    p.add_argument("--confirm-epochs", type=int, default=None,
                   help="epochs of each confirmation run (default: --epochs)")
    p.add_argument("--json", action="store_true", help="print one JSON document at the end")
    p.set_defaults(handler=_run_search, parser=p)

    w = subparsers.add_parser("worker", help="pull trials of a shared study (run one per machine)")
    _search_arguments(w, method_required=False)
    w.add_argument("--trials", type=int, default=None, help="trials the study should hold")
    w.add_argument("--benchmark", default=None, metavar="NAME",
                   help="take cells of this benchmark (python -m core benchmark --storage "
                        "prints its name) instead of one study")
    w.add_argument("--heartbeat", type=int, default=None,
                   help="seconds between heartbeats (default 10)")
    w.add_argument("--grace", type=int, default=None,
                   help="seconds without a heartbeat before a trial is failed and retried "
                        "(default 60)")
    w.set_defaults(handler=_run_worker, parser=w)
    w.epilog = ("With --method (and search flags) the study is created when missing. "
                "Give --study and --trials, or --benchmark NAME.")
