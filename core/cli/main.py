"""``python -m core``: the lab from a terminal. Flags come from the method registry, the run
settings' descriptions (core/config.py ``RUN_SETTINGS``) and the model registry (each model
knob once, e.g. ``--hidden 100 100``, ``--channels 25``).

Each subcommand lives in a module that exposes ``register(subparsers)``; add it to
``COMMAND_MODULES`` below.
"""

import argparse
import importlib
import json
import sys

from typing import Any, Mapping

from ..config import RUN_SETTINGS, RunConfig
from ..models import MODELS, all_knobs, knob_models
from ..optim.registry import BASELINE, METHODS
from ..schedules import to_texts as schedule_texts

COMMAND_MODULES = ["core.cli.main", "core.cli.search", "core.cli.reproduce", "core.cli.sweep",
                   "core.cli.compare", "core.cli.models", "core.cli.benchmark"]


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
    add_setting_arguments(parser, defaults={"epochs": epochs_default})


def add_shape_arguments(parser: argparse.ArgumentParser, *, epochs_default: int = 20) -> None:
    """The run settings but the seed (a comparison names its seeds itself): model and its
    knobs, epochs, batch size, split and device."""
    add_setting_arguments(parser, defaults={"epochs": epochs_default}, skip=("seed",))


def add_setting_arguments(parser: argparse.ArgumentParser, *, defaults: Mapping[str, Any] = {},
                          helps: Mapping[str, str] = {}, skip: tuple = ()) -> None:
    """One flag per run setting (``RUN_SETTINGS``), a registry choice's knobs after it (the
    model's ``--hidden``, the schedule's ``--warmup``); ``defaults`` and ``helps`` override a
    setting's own for one command."""
    for setting in RUN_SETTINGS:
        if setting.name in skip:
            continue
        default = defaults.get(setting.name, setting.default)
        kwargs = {"type": int} if setting.kind == "int" else {"choices": list(setting.options())}
        parser.add_argument(setting.cli_flag, dest=setting.name, default=default,
                            help=f"{helps.get(setting.name, setting.help)} (default {default})",
                            **kwargs)
        if setting.kind == "model":
            for knob in setting.knobs().values():
                parser.add_argument(knob.cli_flag, dest=knob.name, type=int,
                                    nargs="+" if knob.many else None, default=None,
                                    metavar=knob.name.upper(),
                                    help=f"{knob.describe()}; models: "
                                         f"{', '.join(knob_models(knob.name))}")
        elif setting.kind == "schedule":
            for hp in setting.knobs().values():
                parser.add_argument(hp.cli_flag, dest=hp.name, default=None,
                                    type=int if hp.integer else float, metavar=hp.name.upper(),
                                    help=f"{hp.help} (default {hp.default:g})")


def settings_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """RunConfig keyword arguments for the run settings; a knob the chosen model lacks exits
    with code 2 naming both (one the schedule lacks is RunConfig's ValueError)."""
    values = {s.name: getattr(args, s.name) for s in RUN_SETTINGS if hasattr(args, s.name)}
    if "model" in values:
        own = {k.name for k in MODELS[values["model"]].knobs}
        shape = {}
        for name, knob in all_knobs().items():
            value = getattr(args, name, None)
            if value is None:
                continue
            if name not in own:
                parser.error(f"{knob.cli_flag} does not apply to --model {values['model']} "
                             f"(it takes: {', '.join(sorted(own)) or 'no shape knobs'})")
            shape[name] = value
        values["shape"] = shape
    for setting in RUN_SETTINGS:
        if setting.kind == "schedule" and setting.name in values:
            # a knob the schedule lacks is RunConfig's ValueError, which names both
            values[setting.knobs_field] = {
                name: getattr(args, name) for name in setting.knobs()
                if getattr(args, name, None) is not None}
    return values


def setting_flags(source, skip: tuple = ()) -> list[str]:
    """The inverse of :func:`settings_from_args`: the flags that give ``source`` (a RunConfig,
    or anything with the run settings and ``shape`` as attributes) its run settings."""
    args: list[str] = []
    for setting in RUN_SETTINGS:
        if setting.name in skip:
            continue
        if setting.kind == "schedule":
            # none for the default (constant, no warm-up): commands read as before schedules
            texts = schedule_texts(source, always=False)
            args += [a for name, text in texts.items()
                     for a in (setting.cli_flag if name == setting.name
                               else setting.knobs()[name].cli_flag, text)]
            continue
        args += [setting.cli_flag, str(getattr(source, setting.name))]
        if setting.kind == "model":
            for name, value in source.shape:
                flag = all_knobs()[name].cli_flag
                args += [flag, *map(str, value)] if isinstance(value, tuple) else [flag, str(value)]
    return args


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunConfig:
    """Build a RunConfig; flags that the chosen method or model lacks, or bad values, exit
    with code 2."""
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
        return RunConfig(method=args.method, lr=lr, hparams=hparams,
                         **settings_from_args(parser, args))
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
        print(f"# {METHODS[config.method].display_name} ({hp}) on {describe_model(config)}, "
              f"{config.epochs} epochs, seed {config.seed}, split {config.split}, "
              f"device {device}", flush=True)
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


def describe_model(config) -> str:
    """``CNN (channels=25, 5,210 parameters)``, for the commands' first line."""
    spec = MODELS[config.model]
    knobs = [f"{k}={all_knobs()[k].to_text(v)}" for k, v in config.shape]
    count = spec.parameter_count(dict(config.shape))
    return f"{spec.display_name} ({', '.join(knobs + [f'{count:,} parameters'])})"


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
