"""The one description of every method: the CLI, the search and the app are built from it.

A method is one file: its optimizer, its ``MethodSpec`` and its population form (for the
built-in ones, ``core/optim/<method>.py``). Built-in methods are listed in ``BUILT_IN`` below;
plug-in methods (``core/optim/plugins.py``) join them when this module is first imported, and a
broken plug-in is reported once, through the ``core.optim`` logger and ``PLUGIN_PROBLEMS``.
"""

import logging

from .adafactor import ADAFACTOR
from .adagrad import ADAGRAD
from .adam import ADAM
from .adamw import ADAMW
from .adamw_schedulefree import ADAMW_SCHEDULEFREE
from .adopt import ADOPT
from .gnw_adam import GNW_ADAM
from .hessian_lr import HESSIAN_LR
from .lion import LION
from .meta_curvature import META_CURVATURE
from .muon import MUON
from .nadam import NADAM
from .plugins import load_plugins
from .prodigy import PRODIGY
from .radam import RADAM
from .rmsprop import RMSPROP
from .sgd import SGD_MOMENTUM
from .sgd_schedulefree import SGD_SCHEDULEFREE
from .soap import SOAP
from .spec import HyperParam, MethodSpec
from .weight_trajectory import WEIGHT_TRAJECTORY
from .wngd import WNGD_METHOD

# The write-ups' methods first, then the baselines people compare against (issue 22).
BUILT_IN: tuple[MethodSpec, ...] = (
    ADAM, WEIGHT_TRAJECTORY, WNGD_METHOD, META_CURVATURE, HESSIAN_LR, GNW_ADAM, SGD_MOMENTUM, ADAMW,
    NADAM, RADAM, ADAGRAD, RMSPROP, ADAFACTOR, MUON, LION, PRODIGY, SOAP, ADOPT,
    ADAMW_SCHEDULEFREE, SGD_SCHEDULEFREE)

METHODS: dict[str, MethodSpec] = {spec.key: spec for spec in BUILT_IN}

_plugins, PLUGIN_PROBLEMS = load_plugins(METHODS)
METHODS.update((spec.key, spec) for spec in _plugins)
PLUGINS: tuple[str, ...] = tuple(spec.key for spec in _plugins)
for _problem in PLUGIN_PROBLEMS:
    logging.getLogger("core.optim").warning(_problem)

BASELINE: str = next(key for key, spec in METHODS.items() if spec.baseline)

__all__ = ["BASELINE", "BUILT_IN", "METHODS", "PLUGINS", "PLUGIN_PROBLEMS", "HyperParam",
           "MethodSpec", "get_method"]


def get_method(key: str) -> MethodSpec:
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; choose one of {sorted(METHODS)}") from None
