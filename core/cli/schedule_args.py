"""The lr schedule's CLI flags (core/schedules.py describes them), for every command that
trains: ``--schedule cosine --warmup 2 --lr-floor 0.05``, ``--schedule step --step-every 5``."""

import argparse

from ..schedules import DEFAULT, KNOBS, SCHEDULES, SETTING


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schedule", choices=list(SCHEDULES), default=None,
                        help="lr schedule: " + "; ".join(f"{k}: {s.description}"
                                                         for k, s in SCHEDULES.items())
                        + f" (default {DEFAULT})")
    for hp in KNOBS.values():
        parser.add_argument(hp.cli_flag, dest=f"schedule_{hp.name}", default=None,
                            type=int if hp.integer else float, metavar=hp.name.upper(),
                            help=f"{hp.help} (default {hp.default:g})")


def schedule_texts(args: argparse.Namespace) -> dict[str, str]:
    """The schedule flags given, as text by name (``core.schedules.with_texts`` applies them)."""
    items = {} if args.schedule is None else {SETTING: args.schedule}
    for name in KNOBS:
        value = getattr(args, f"schedule_{name}", None)
        if value is not None:
            items[name] = str(value)
    return items
