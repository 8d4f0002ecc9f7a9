"""Methods from outside the repository: installed packages and an environment variable.

A plug-in is a ``MethodSpec`` (or a list of them) that some module defines. The lab finds them in
two places, both chosen by whoever starts the server or the CLI, never by a browser:

* the entry-point group ``mnist1d_lab.methods`` of installed packages, e.g. in pyproject.toml
  ``[project.entry-points."mnist1d_lab.methods"] lion = "my_pkg.lion:LION"``;
* ``MNIST1D_LAB_METHODS=module:NAME[,module:NAME...]`` (the module importable from sys.path).

A plug-in that fails to import, is not a valid spec, whose key or knob names clash with what
the lab already has, or whose factory or population form raises when the loader tries them on a
tiny model (:func:`probe`: the defaults, and each knob at its ends) is left out with one message
naming it; the lab starts with the others. A loaded plug-in's factory and population form that
raise later (for other values) raise :class:`PluginError`, which names the plug-in: the CLI
prints it without a traceback and exits 2, the app shows it as the run's error.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
from typing import Callable, Iterable, Mapping

import torch

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
    "startup_trials", "no_sensitivity", "no_variants", "thread_check",
    # sweep --confirm / --confirm-seed (confirming the best point on fresh seeds)
    "confirm", "confirm_seed",
    # compare --entry's entry label, and the URL key of a run handle (ui/session.py)
    "label", "run",
    # the model and its built-in knobs (core/models/), and ``python -m core models --models``
    "model", "shape", "channels", "hidden_size", "models",
    # The lr schedule's settings (core/schedules.py).
    "schedule", "schedules", "warmup", "lr_floor", "step_every", "step_gamma",
    # python -m core benchmark, and worker --benchmark
    "benchmark", "reference", "margin_acc", "margin_loss"})


class PluginError(ValueError):
    """A plug-in's own code raised; the message names the plug-in and what it was doing."""


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


def _stacked_step(spec: MethodSpec, hparams: list[dict]) -> None:
    """Build the population form of ``hparams`` over a tiny stacked linear model; two steps."""
    gen = torch.Generator().manual_seed(0)
    p = len(hparams)
    params = [torch.randn(p, 2, 3, generator=gen).requires_grad_(),
              torch.randn(p, 2, generator=gen).requires_grad_()]
    x, y = torch.randn(4, 3, generator=gen), torch.randn(4, 2, generator=gen)
    form = spec.population(hparams, list(range(p)), params)
    for _ in range(2):
        loss = ((torch.einsum("nd,pkd->pnk", x, params[0]) + params[1][:, None] - y) ** 2).sum()
        grads = torch.autograd.grad(loss, params, create_graph=bool(form.needs_create_graph))
        for param, g in zip(params, grads):
            param.grad = g
        form.step(params)


def _solo_step(spec: MethodSpec, hparams: dict) -> None:
    from .graph import backward
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(4, 3, generator=gen), torch.randn(4, 2, generator=gen)
    optimizer = spec.factory(list(model.parameters()), hparams, 0)
    for _ in range(2):
        optimizer.zero_grad()
        backward(((model(x) - y) ** 2).sum(), optimizer)
        optimizer.step()


def probe(spec: MethodSpec) -> None:
    """Build ``spec``'s optimizer and population form on a tiny model and step them twice: at
    the defaults, and with each knob in turn at its low and high end. Raises PluginError saying
    which part raised, for which values (a diverging step is no error)."""
    defaults = spec.defaults()
    tries = [defaults] + [{**defaults, hp.name: end} for hp in spec.hyperparams
                          for end in (hp.low, hp.high) if end != hp.default]
    for i, hparams in enumerate(tries):
        values = "the defaults" if i == 0 else f"{hparams}"
        for part, run in (("factory", _solo_step),
                          ("population form", spec.population and _stacked_step)):
            if not run:
                continue
            try:
                run(spec, hparams if part == "factory" else [hparams, defaults])
            except Exception as error:
                raise PluginError(f"its {part} raised {type(error).__name__} at {values}: "
                                  f"{error}") from error


def _named(spec: MethodSpec, source: str) -> MethodSpec:
    """``spec`` whose factory and population form name the plug-in when they raise."""
    def guard(part, fn):
        def call(*args):
            try:
                return fn(*args)
            except PluginError:
                raise
            except Exception as error:
                raise PluginError(f"plug-in method {spec.key!r} (from {source}): its {part} "
                                  f"raised {type(error).__name__}: {error}") from error
        call.plugin = fn   # the plug-in's own callable
        call.is_wrapper_form = getattr(fn, "is_wrapper_form", False)   # see wrapper_method
        return call
    return dataclasses.replace(
        spec, factory=guard("factory", spec.factory),
        population=spec.population and guard("population form", spec.population))


def load_plugins(known: Mapping[str, MethodSpec], environ: Mapping[str, str] | None = None,
                 entry_points=importlib.metadata.entry_points
                 ) -> tuple[list[MethodSpec], list[str]]:
    """The plug-in specs that load cleanly next to ``known``, and one message per one that
    does not (``environ`` defaults to ``os.environ``)."""
    def check(spec, staged):
        _check(spec, staged)
        probe(spec)
    return load_specs(known, check, MethodSpec, "method", ENTRY_POINT_GROUP, ENV_VAR, environ,
                      entry_points, wrap=_named)


def load_specs(known: Mapping, check: Callable, kind: type, what: str, group: str, env_var: str,
               environ: Mapping[str, str] | None = None,
               entry_points=importlib.metadata.entry_points,
               wrap: Callable = lambda spec, source: spec) -> tuple[list, list[str]]:
    """Plug-in specs of ``kind`` (methods, models) from ``group`` and ``env_var``, each passed
    through ``check(spec, known so far)`` and then ``wrap(spec, source)``; a plug-in loads whole
    or not at all."""
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
            specs = [wrap(spec, source) for spec in specs]
            staged.update((spec.key, spec) for spec in specs)
        except Exception as error:   # a plug-in's own code may raise anything: report, go on
            problems.append(f"plug-in {what} from {source} left out: "
                            f"{type(error).__name__}: {error}")
            continue
        taken = staged
        loaded.extend(specs)
    return loaded, problems
