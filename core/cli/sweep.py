"""``python -m core sweep``: a knob swept on a grid for several methods over seeds.

    python -m core sweep --method adam --method wngd --knob lr --points 8 --seeds 5 --epochs 20 \\
        [--range 1e-4 1] [--knob2 beta --points2 5 [--range2 0.001 10]] [--json]
    python -m core sweep --method adam --schedule cosine --knob warmup --points 4 --epochs 20

A knob is a method's or a run setting's (the lr schedule's warm-up, floor, step interval and
factor: ``core.sweep_settings``), over its search range unless ``--range`` gives one.

``--method`` takes the same ``METHOD[:NAME=VALUE,...]`` as ``compare --entry``, so the fixed
knobs of each entry can be set (``--method weight_trajectory:beta=0.3``).
"""

import json
import sys

from .compare import add_shared_flags, format_table, shared_config


POINTS2 = 5   # --points2's default; None tells a flag left out from one given


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _run_sweep(parser, args) -> int:
    from ..training.compare_settings import parse_entry
    from ..sweep_settings import KnobAxis as Axis, KnobSweepConfig as SweepConfig
    from ..training.sweep import edge_warnings, point_rows, run_sweep, sweep_points, METRICS
    base = shared_config(parser, args)
    try:
        entries = tuple(parse_entry(text, base)[0] for text in args.method)
        for flag, given in (("--range2", args.range2), ("--points2", args.points2)):
            if given is not None and not args.knob2:
                raise ValueError(f"{flag} needs --knob2")
        axis2 = Axis(args.knob2, POINTS2 if args.points2 is None else args.points2,
                     tuple(args.range2) if args.range2 else None) if args.knob2 else None
        config = SweepConfig(entries, Axis(args.knob, args.points,
                                           tuple(args.range) if args.range else None),
                             axis2, args.seeds, args.metric)
    except ValueError as error:
        parser.error(str(error))
    if not args.json:
        knobs = " x ".join(f"{a.knob} ({a.points} points)" for a in config.axes)
        print(f"# sweep {knobs}, {len(entries)} entries x {config.n_seeds} seeds = "
              f"{config.n_runs} runs, {base.epochs} epochs, split {base.split}; metric: "
              f"{METRICS[config.metric][0]}", flush=True)
    runs = []
    for event in run_sweep(config):
        runs.extend(event.finished)
        if not args.json and event.epoch == base.epochs:
            print(f"# entry {event.entry + 1} ({entries[event.entry].method}) done", flush=True)
    points = sweep_points(config, runs)
    warnings = edge_warnings(config, points)
    rows = point_rows(config, points)
    confirmed = _confirm(parser, args, config, points) if args.confirm else None
    if args.json:
        doc = {"config": config.to_dict(), "points": rows, "warnings": warnings,
               "runs": [r.to_dict() for r in runs]}
        if confirmed is not None:
            doc["confirmation"] = confirmed
        json.dump(doc, sys.stdout, indent=1)
        print()
        return 0
    shown = []
    for row in rows:
        half = (None if row["high"] is None else (row["high"] - row["low"]) / 2)
        cells = {k: v for k, v in row.items() if k not in ("mean", "low", "high", "best")}
        cells.update({a.knob: f"{row[a.knob]:.4g}" for a in config.axes})
        cells["mean"] = _fmt(row["mean"])
        cells["± 95%"] = _fmt(half)
        cells["best"] = "*" if row["best"] else ""
        shown.append(cells)
    print(format_table(shown))
    diverged = sum(r.diverged for r in runs)
    if diverged:
        print(f"# {diverged} of {len(runs)} runs diverged (their points count them; a point "
              "with a diverged seed is never the best)")
    for w in warnings:
        print(f"# warning: {w}")
    if confirmed is None:
        print("# the best points (*) were picked on these same seeds: optimistic; --confirm "
              "retrains them on fresh seeds")
    else:
        print(f"# best points retrained on fresh seeds {confirmed['seeds'][0]}-"
              f"{confirmed['seeds'][-1]} (the sweep's own number is optimistic):")
        print(format_table(confirmed["rows"]))
    return 0


def _confirm(parser, args, config, points) -> dict:
    """Each entry's best point on fresh seeds; the minima tested against entry 1's."""
    from ..training.sweep_confirm import (confirmation_plan, confirmation_rows, confirmations,
                                          minima_tests, run_confirmation)
    try:
        plan = confirmation_plan(config, points, first=args.confirm_seed)
    except ValueError as error:
        parser.error(str(error))
    runs = [r for event in run_confirmation(plan) for r in event.finished]
    found = confirmations(plan, runs)
    tests = minima_tests(plan, found)
    return {"seeds": list(plan.seeds), "rows": confirmation_rows(plan, found, tests),
            "runs": [r.to_dict() for r in runs]}


def register(subparsers) -> None:
    from ..training.sweep import MAX_POINTS, METRICS, MIN_POINTS
    p = subparsers.add_parser("sweep", help="metric against a knob (or two) for several "
                                            "methods over seeds: a sensitivity curve")
    p.add_argument("--method", action="append", required=True, metavar="METHOD[:K=V,...]",
                   help="a method and its fixed knobs; repeat for each entry")
    p.add_argument("--knob", default="lr",
                   help="the knob to sweep (default lr): a method's, or one of the lr "
                        "schedule's (--schedule cosine --knob warmup, --knob lr_floor)")
    p.add_argument("--points", type=int, default=8,
                   help=f"grid points ({MIN_POINTS} to {MAX_POINTS}), log-spaced for log knobs")
    p.add_argument("--range", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="the grid's ends (default: the registry's search range)")
    p.add_argument("--knob2", default=None, help="a second knob: a grid of both")
    p.add_argument("--points2", type=int, default=None,
                   help=f"grid points of --knob2 (default {POINTS2})")
    p.add_argument("--range2", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None)
    p.add_argument("--metric", choices=list(METRICS), default="best_val_loss",
                   help="what each run contributes (test_loss_at_best_val: --split honest)")
    p.add_argument("--confirm", action="store_true",
                   help="retrain each entry's best point on fresh seeds and show both numbers "
                        "(the sweep's own is optimistic: picked on the seeds it is read on)")
    p.add_argument("--confirm-seed", type=int, default=None, metavar="FIRST",
                   help="first confirmation seed (default: the first seed + 100)")
    add_shared_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON document at the end")
    p.set_defaults(handler=_run_sweep, parser=p)
