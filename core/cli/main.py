"""``python -m core``: the lab from a terminal. Flags come from the method registry.

Each subcommand lives in a module that exposes ``register(subparsers)``; add it to
``COMMAND_MODULES`` below.
"""

import argparse
import importlib
import json
import sys

from ..config import DEVICES, RunConfig
from ..data import SPLITS
from ..optim.registry import BASELINE, METHODS

COMMAND_MODULES = ["core.cli.main", "core.cli.search", "core.cli.reproduce", "core.cli.sweep",
                   "core.cli.compare"]


def hyperparam_flags() -> dict[str, dict]:
    """Every hyperparameter of every method, once: flag -> (name, type, which methods, help)."""
    flags: dict[str, dict] = {}
    for spec in METHODS.values():
        for hp in spec.hyperparams:
            entry = flags.setdefault(hp.cli_flag, {"name": hp.name, "integer": hp.integer,
                                                   "methods": [], "help": hp.help})
            entry["methods"].append(spec.key)
    return flags


def add_run_arguments(parser: argparse.ArgumentParser, *, epochs_default: int = 20) -> None:
    """Method, hyperparameter and run flags shared by every subcommand that trains."""
    parser.add_argument("--method", default=BASELINE, choices=sorted(METHODS),
                        help="optimizer to train with")
    for flag, entry in hyperparam_flags().items():
        parser.add_argument(flag, dest=f"hp_{entry['name']}", default=None,
                            type=int if entry["integer"] else float, metavar=entry["name"].upper(),
                            help=f"{entry['help']} (methods: {', '.join(entry['methods'])}; "
                                 "default: the method's own)")
    parser.add_argument("--seed", type=int, default=0)
    add_shape_arguments(parser, epochs_default=epochs_default)


def add_shape_arguments(parser: argparse.ArgumentParser, *, epochs_default: int = 20) -> None:
    """Epochs, batch size, model, split and device: the run fields every training command has."""
    parser.add_argument("--epochs", type=int, default=epochs_default)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--hidden", type=int, nargs="+", default=[100, 100],
                        help="hidden layer widths, e.g. --hidden 100 100")
    parser.add_argument("--split", choices=SPLITS, default="writeup",
                        help="writeup: validate on the test set as the write-ups did; "
                             "honest: validate on 800 held-out training samples")
    parser.add_argument("--device", choices=DEVICES, default="auto")


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunConfig:
    """Build a RunConfig; flags that the chosen method lacks, or bad values, exit with code 2."""
    spec = METHODS[args.method]
    own = {hp.name for hp in spec.hyperparams}
    hparams = {}
    for flag, entry in hyperparam_flags().items():
        value = getattr(args, f"hp_{entry['name']}")
        if value is None:
            continue
        if entry["name"] not in own:
            parser.error(f"{flag} does not apply to --method {args.method} "
                         f"(it takes: {', '.join(sorted(own))})")
        hparams[entry["name"]] = value
    lr = hparams.pop("lr", None)
    try:
        return RunConfig(method=args.method, lr=lr, hparams=hparams, epochs=args.epochs,
                         batch_size=args.batch_size, seed=args.seed, hidden=tuple(args.hidden),
                         split=args.split, device=args.device)
    except ValueError as error:
        parser.error(str(error))


def _run_train(parser, args) -> int:
    from ..training.train import resolve_device, train
    config = config_from_args(parser, args)
    try:
        device = resolve_device(config.device)
    except ValueError as error:
        parser.error(str(error))
    if not args.json:
        hp = ", ".join(f"{k}={v:g}" for k, v in config.optimizer_hparams().items())
        print(f"# {METHODS[config.method].display_name} ({hp}), {config.epochs} epochs, "
              f"seed {config.seed}, split {config.split}, device {device}", flush=True)
    history = []
    for m in train(config):
        history.append(m)
        if args.json:
            continue
        line = (f"epoch {m.epoch:4d}  train {m.train_loss:.4f}  val {m.val_loss:.4f}  "
                f"acc {m.val_acc:.3f}  lr {m.lrs[0]:.3g}  {m.elapsed:6.2f}s")
        if m.test_loss is not None:
            line += f"  test {m.test_loss:.4f} acc {m.test_acc:.3f}"
        print(line, flush=True)
        if m.diverged:
            print(f"# diverged: {m.reason}", flush=True)
    if args.json:
        json.dump({"config": config.to_dict(), "epochs": [m.to_dict() for m in history]},
                  sys.stdout, indent=1)
        print()
    return 1 if history and history[-1].diverged else 0


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one method and print a line per epoch")
    add_run_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON document at the end")
    p.set_defaults(handler=_run_train, parser=p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core",
                                     description="mnist1d Optimizer Lab from the command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv=None) -> int:
    from ..optim.plugins import PluginError
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args.parser, args)
    except PluginError as error:   # a plug-in's bug, named; no traceback into the lab's code
        parser.exit(2, f"{parser.prog}: error: {error}\n")
