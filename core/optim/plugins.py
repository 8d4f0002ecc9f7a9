"""Methods from outside the repository: installed packages and an environment variable.

A plug-in is a ``MethodSpec`` (or a list of them) that some module defines. The lab finds them in
two places, both chosen by whoever starts the server or the CLI, never by a browser:

* the entry-point group ``mnist1d_lab.methods`` of installed packages, e.g. in pyproject.toml
  ``[project.entry-points."mnist1d_lab.methods"] lion = "my_pkg.lion:LION"``;
* ``MNIST1D_LAB_METHODS=module:NAME[,module:NAME...]`` (the module importable from sys.path).

A plug-in that fails to import, is not a valid spec, or whose key or knob names clash with what
the lab already has is left out with one message naming it; the lab starts with the others.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from typing import Callable, Iterable, Mapping

from .spec import MethodSpec

ENTRY_POINT_GROUP = "mnist1d_lab.methods"
ENV_VAR = "MNIST1D_LAB_METHODS"

# Knob names that would collide with a run setting: the CLI has a flag of that name, the URLs a
# parameter (tests/test_plugins.py checks this list against the CLI's parsers).
RESERVED_NAMES = frozenset({
    "method", "hparams", "epochs", "batch_size", "seed", "hidden", "split", "device", "json",
    "trials", "sampler", "pruning", "storage", "study", "parallel", "duel", "range", "fix",
    "seeds", "confirm_epochs", "confirm_seeds", "heartbeat", "grace", "quick", "markdown",
    "threads", "curves", "command", "handler", "parser", "methods", "band", "name", "help",
    "entry", "range2", "baseline", "knob", "knob2", "points", "points2", "metric",
    "startup_trials", "no_sensitivity", "no_variants", "thread_check", "model", "channels",
    "hidden_size", "shape", "models"})


def _sources(environ: Mapping[str, str], entry_points, group: str = ENTRY_POINT_GROUP,
             env_var: str = ENV_VAR) -> Iterable[tuple[str, Callable]]:
    """(where it came from, a loader) for every plug-in named anywhere, entry points first
    (plug-in models use the same two places under their own group and variable)."""
    for ep in entry_points(group=group):
        yield f"entry point {ep.name!r} ({ep.value})", ep.load
    for item in filter(None, (s.strip() for s in environ.get(env_var, "").split(","))):
        module, sep, name = item.partition(":")
        if not (sep and module and name):
            def bad(item=item):
                raise ValueError(f"expected module:NAME, got {item!r}")
            yield f"{env_var} entry {item!r}", bad
            continue
        yield (f"{env_var} entry {item!r}",
               lambda module=module, name=name: getattr(importlib.import_module(module), name))


def _specs(obj, kind: type = MethodSpec) -> list:
    specs = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    wrong = [type(s).__name__ for s in specs if not isinstance(s, kind)]
    if wrong or not specs:
        raise ValueError(f"expected a {kind.__name__} or a list of them, got {wrong or 'nothing'}")
    return specs


def _check(spec: MethodSpec, known: Mapping[str, MethodSpec]) -> None:
    if spec.key in known:
        raise ValueError(f"method key {spec.key!r} is already taken by "
                         f"{known[spec.key].display_name}")
    if spec.baseline:
        raise ValueError("a plug-in cannot be the baseline (the comparisons' reference is Adam)")
    integer = {hp.name: hp.integer for s in known.values() for hp in s.hyperparams}
    for hp in spec.hyperparams:
        if hp.name in RESERVED_NAMES:
            raise ValueError(f"knob name {hp.name!r} is a run setting's name; rename it")
        if hp.name in integer and integer[hp.name] != hp.integer:
            raise ValueError(f"knob {hp.name!r} is {'an integer' if integer[hp.name] else 'a real'}"
                             " in another method; the CLI flag --{} has one type".format(
                                 hp.name.replace("_", "-")))


def load_plugins(known: Mapping[str, MethodSpec], environ: Mapping[str, str] | None = None,
                 entry_points=importlib.metadata.entry_points
                 ) -> tuple[list[MethodSpec], list[str]]:
    """The plug-in specs that load cleanly next to ``known``, and one message per one that
    does not (``environ`` defaults to ``os.environ``)."""
    return load_specs(known, _check, MethodSpec, "method", ENTRY_POINT_GROUP, ENV_VAR,
                      environ, entry_points)


def load_specs(known: Mapping, check: Callable, kind: type, what: str, group: str, env_var: str,
               environ: Mapping[str, str] | None = None,
               entry_points=importlib.metadata.entry_points) -> tuple[list, list[str]]:
    """Plug-in specs of ``kind`` (methods, models) from ``group`` and ``env_var``, each passed
    through ``check(spec, known so far)``; a plug-in loads whole or not at all."""
    environ = os.environ if environ is None else environ
    taken = dict(known)
    loaded: list = []
    problems: list[str] = []
    for source, load in _sources(environ, entry_points, group, env_var):
        try:
            specs = _specs(load(), kind)
            staged = dict(taken)   # all of a plug-in's specs load, or none
            for spec in specs:
                check(spec, staged)
                staged[spec.key] = spec
        except Exception as error:   # a plug-in's own code may raise anything: report, go on
            problems.append(f"plug-in {what} from {source} left out: "
                            f"{type(error).__name__}: {error}")
            continue
        taken = staged
        loaded.extend(specs)
    return loaded, problems
