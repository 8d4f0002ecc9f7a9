"""``python -m core benchmark``: every method tuned the same way on every workload, from a terminal.

Every input is checked before anything trains (exit 2 with the reason): methods and their fixed
knobs, models and their knobs, trials and seeds, the storage, the output files. Progress goes to
stderr, one line per finished cell to stdout, the record to ``--json`` and ``--markdown``.
"""

import sys
import time

import torch

from ..benchmark import (BenchmarkConfig, BenchmarkDone, CellDone, CellProgress, MethodEntry,
                         Workload, benchmark_name, plan, run_benchmark, to_markdown)
from ..benchmark.config import DEFAULT_MARGINS
from ..budget import duration
from ..models import MODELS, all_knobs
from ..optim.registry import BASELINE, get_method
from ..schedules import KNOBS as SCHEDULE_KNOBS
from ..search.study import SAMPLERS
from .main import add_setting_arguments
from .outputs import check_output_path, write_atomic
from .search import _storage

PROGRESS_EVERY_S = 2.0


def parse_entry(text: str) -> MethodEntry:
    """``lion`` or ``lion:lr=0.001,beta1=0.9`` or ``adam:schedule=cosine,warmup=2``."""
    method, _, rest = text.partition(":")
    fixed, schedule, params = {}, None, {}
    for part in filter(None, rest.split(",")):
        name, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"--method {text!r}: write knobs as name=value, got {part!r}")
        name = name.strip()
        if name == "schedule":
            schedule = value.strip()
            continue
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"--method {text!r}: {name} must be a number, got {value!r}") \
                from None
        (params if name in SCHEDULE_KNOBS else fixed)[name] = number
    get_method(method)
    if params and schedule is None:
        raise ValueError(f"--method {text!r}: schedule knobs {sorted(params)} need "
                         "schedule=NAME")
    return MethodEntry(method, fixed=fixed, schedule=schedule, schedule_params=params)


def _workloads(parser, args) -> tuple:
    models = args.model or [next(iter(MODELS))]
    given = {name: getattr(args, name) for name in all_knobs()
             if getattr(args, name, None) is not None}
    for name in given:
        if not any(name in {k.name for k in MODELS[m].knobs} for m in models):
            parser.error(f"{all_knobs()[name].cli_flag} applies to none of the models "
                         f"{models}")
    knobs = {name: getattr(args, name) for name in SCHEDULE_KNOBS
             if getattr(args, name, None) is not None}
    out = []
    for m in models:
        own = {k.name for k in MODELS[m].knobs}
        out.append(Workload(m, shape={k: v for k, v in given.items() if k in own},
                            epochs=args.epochs, batch_size=args.batch_size,
                            schedule=args.schedule, schedule_params=knobs))
    return tuple(out)


def _config(parser, args) -> BenchmarkConfig:
    try:
        return BenchmarkConfig(
            methods=tuple(parse_entry(t) for t in (args.method or [])),
            workloads=_workloads(parser, args), trials=args.trials, seeds=args.seeds,
            seed=args.seed, sampler=args.sampler, startup_trials=args.startup_trials,
            baseline=args.baseline, reference=args.reference or args.baseline,
            margins={"test_acc": args.margin_acc, "test_loss": args.margin_loss},
            parallel=args.parallel, device=args.device)
    except ValueError as error:
        parser.error(str(error))


def _cell_line(event: CellDone) -> str:
    c = event.cell
    accs = [r.test_acc for r in c.runs if not r.diverged]
    acc = f"test acc {sum(accs) / len(accs):.4f} over {len(accs)} seed(s)" if accs else "no score"
    div = f", diverged on {c.diverged} of {len(c.runs)} seeds" if c.diverged else ""
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in (c.best_params or {}).items()) or "no completed trial"
    return (f"[{event.cells_done}/{event.cells}] {c.method} on {c.workload}: {acc}{div}; "
            f"best {params} ({c.search_s + c.confirm_s:.1f} s)")


def _run(parser, args) -> int:
    config = _config(parser, args)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)   # the record states it: "what fits on one core"
    for path in (args.json, args.markdown):
        if path:
            try:
                check_output_path(path)
            except ValueError as error:
                parser.error(str(error))
    storage = _storage(parser, args)
    name = args.name or benchmark_name(config)
    if not name.strip():
        parser.error("--name is empty: name the benchmark")
    p = plan(config)
    print(f"# {p.what}; about {p.work.flops / 1e12:.2f} TFLOP; benchmark {name!r} in "
          f"{storage or 'memory'}", flush=True)
    if storage:
        print(f"# more machines: python -m core worker --storage {storage} --benchmark {name}",
              flush=True)
    record, last = None, 0.0
    try:
        for event in run_benchmark(config, storage=storage, name=name):
            if isinstance(event, CellProgress):
                now = time.monotonic()
                if now - last >= PROGRESS_EVERY_S:
                    last = now
                    eta = "" if event.eta_s is None else f", ~{duration(event.eta_s)} left"
                    print(f"# {100 * event.fraction:5.1f}%{eta} cell {event.cell + 1}/"
                          f"{event.cells} ({event.phase}, epoch {event.epochs_done}/"
                          f"{event.epochs_planned}) {event.line}", file=sys.stderr, flush=True)
            elif isinstance(event, CellDone):
                print(_cell_line(event), flush=True)
            elif isinstance(event, BenchmarkDone):
                record = event.record
    except ValueError as error:
        parser.error(str(error))
    except KeyboardInterrupt:   # the generator closed: the trials in flight were voided
        print("# interrupted" + ("; rerun the same command to resume" if storage else
                                 " (nothing kept: without --storage a benchmark cannot resume)"),
              file=sys.stderr)
        return 130
    if record is None:
        print("# stopped before the benchmark finished; rerun with the same storage to resume",
              file=sys.stderr)
        return 1
    text = to_markdown(record)
    if args.json:
        write_atomic(args.json, record.to_json() + "\n")
    if args.markdown:
        write_atomic(args.markdown, text)
    if not args.markdown:
        print(text)
    print(f"# done in {duration(record.wall_s)}"
          + (f"; record {args.json}" if args.json else "")
          + (f"; markdown {args.markdown}" if args.markdown else ""), flush=True)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "benchmark", help="tune every method the same way on every model, confirm on fresh "
                          "seeds, rank with intervals and paired verdicts")
    p.add_argument("--method", action="append", default=None, metavar="METHOD[:KNOB=V,...]",
                   help="a method to benchmark (repeatable), optionally with fixed knobs or a "
                        "schedule of its own: lion, sgd:lr=0.1, adam:schedule=cosine,warmup=2")
    p.add_argument("--model", action="append", default=None, choices=list(MODELS),
                   help="a workload's model (repeatable; default the MLP)")
    for knob in all_knobs().values():
        p.add_argument(knob.cli_flag, dest=knob.name, type=int,
                       nargs="+" if knob.many else None, default=None,
                       metavar=knob.name.upper(), help=f"{knob.describe()} (the models that "
                                                       "have it)")
    add_setting_arguments(p, skip=("model", "split"), helps={
        "epochs": "epochs of every trial and confirmation run",
        "seed": "the tuning seed (confirmation seeds are the next --seeds ones)"})
    p.add_argument("--trials", type=int, default=20, help="trials per cell (default 20)")
    p.add_argument("--seeds", type=int, default=5,
                   help="fresh confirmation seeds per cell (default 5)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    p.add_argument("--startup-trials", type=int, default=None,
                   help="TPE's random start-up trials (default: a quarter of --trials, <= 10)")
    p.add_argument("--parallel", type=int, default=10,
                   help="trials trained together as one population (default 10)")
    p.add_argument("--baseline", default=BASELINE,
                   help=f"the method verdicts compare against (default {BASELINE})")
    p.add_argument("--reference", default=None,
                   help="the method whose tuned runs set each workload's target accuracy "
                        "(default: the baseline)")
    p.add_argument("--margin-acc", type=float, default=DEFAULT_MARGINS["test_acc"],
                   help="test-accuracy difference that matters (equivalence margin)")
    p.add_argument("--margin-loss", type=float, default=DEFAULT_MARGINS["test_loss"],
                   help="test-loss difference that matters (equivalence margin)")
    p.add_argument("--storage", default=None,
                   help="sqlite:///FILE, a journal FILE, journal:///FILE or postgresql://...: "
                        "resume after a kill, share with workers")
    p.add_argument("--name", default=None,
                   help="the benchmark's name in the storage (default: from the protocol)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's own choice)")
    p.add_argument("--json", default=None, metavar="PATH", help="write the record as JSON")
    p.add_argument("--markdown", default=None, metavar="PATH",
                   help="write the record as markdown (else it is printed)")
    p.set_defaults(handler=_run, parser=p)
