"""``python -m core compare``: the Compare page's table from a terminal.

    python -m core compare --entry adam:lr=0.01 --entry weight_trajectory:lr=0.01,beta=0.3 \\
        --seeds 5 --epochs 20 [--baseline 2] [--json]
"""

import argparse
import json
import sys

from ..config import RunConfig
from .main import add_shape_arguments, settings_from_args

ENTRY_HELP = ("METHOD[:NAME=VALUE,...]: a method and its knobs (the rest at their defaults), "
              "optionally label=SHORT; repeat for each entry, the same method as often as you like")


def add_shared_flags(parser: argparse.ArgumentParser, *, epochs_default: int = 20) -> None:
    """The run fields every entry of a comparison or a sweep shares."""
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds (1 to 10)")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    add_shape_arguments(parser, epochs_default=epochs_default)


def shared_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunConfig:
    """The shared run fields as a RunConfig (bad values exit 2 naming the field); the device
    is checked here too, so nothing starts on a device that is absent."""
    from ..training.train import resolve_device
    try:
        config = RunConfig(**settings_from_args(parser, args))
        resolve_device(config.device)
        return config
    except ValueError as error:
        parser.error(str(error))


def _run_compare(parser, args) -> int:
    from ..training.compare import summarize
    from ..training.compare_settings import (CompareSettings, comparison_table, family_note,
                                             run_settings_comparison)
    base = shared_config(parser, args)
    try:
        settings = CompareSettings.from_texts(args.entry, base, n_seeds=args.seeds,
                                              baseline=args.baseline - 1
                                              if args.baseline is not None else None)
    except ValueError as error:
        parser.error(str(error))
    if not args.json:
        print(f"# {len(settings.entries)} entries x {args.seeds} seeds, {base.epochs} epochs, "
              f"split {base.split}; baseline: {settings.label(settings.baseline)}", flush=True)
    items = list(run_settings_comparison(settings))
    summaries = summarize(items, settings.entries, settings.baseline)
    table = comparison_table(settings, items, summaries)
    note = family_note(summaries, base.split)
    if args.json:
        json.dump({"settings": settings.to_dict(), "table": table, "note": note,
                   "runs": [{"entry": i.entry + 1, "seed": i.seed, **i.metrics.to_dict()}
                            for i in items]}, sys.stdout, indent=1)
        print()
        return 0
    print(format_table(table))
    print(f"# {note}")
    return 0


def format_table(rows: list[dict]) -> str:
    """Plain aligned columns, every cell as text."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[k]) for row in cells)) for k, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
    return "\n".join([line(columns)] + [line(row) for row in cells])


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="several configurations over seeds, paired, "
                                              "with verdicts against a baseline")
    p.add_argument("--entry", action="append", required=True, metavar="METHOD[:K=V,...]",
                   help=ENTRY_HELP)
    p.add_argument("--baseline", type=int, default=None, metavar="N",
                   help="which entry (1-based) the others are compared with; default: the "
                        "first Adam entry, else the first")
    add_shared_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON document at the end")
    # The honest split by default: on the write-up split "best validation loss" is the minimum
    # over epochs of the test loss.
    p.set_defaults(handler=_run_compare, parser=p, split="honest")
