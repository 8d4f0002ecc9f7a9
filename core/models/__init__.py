"""The models the lab trains: one file per model, each with its ``ModelSpec``, and the registry.

Built-in models are listed in ``BUILT_IN`` below; plug-in models (an installed package's
``mnist1d_lab.models`` entry point, or ``MNIST1D_LAB_MODELS=module:NAME``; see
``core/optim/plugins.py``, which loads plug-in methods the same way) join them when this module
is first imported. A broken plug-in is reported once, through the ``core.models`` logger and
``PLUGIN_PROBLEMS``.
"""

# The spec API first: plug-ins import it from here while the registry loads them.
from .spec import N_CLASSES, N_INPUT, ModelSpec, ShapeKnob, linear_bound  # isort: skip
import logging

import torch

from .cnn import CNN, CNN_SPEC
from .gru import GRU, GRU_SPEC
from .linear import LINEAR_SPEC
from .mlp import MLP, MLP_SPEC
from .plugins import load_model_plugins

BUILT_IN: tuple[ModelSpec, ...] = (MLP_SPEC, LINEAR_SPEC, CNN_SPEC, GRU_SPEC)

MODELS: dict[str, ModelSpec] = {spec.key: spec for spec in BUILT_IN}
_plugins, PLUGIN_PROBLEMS = load_model_plugins(MODELS)
MODELS.update((spec.key, spec) for spec in _plugins)
PLUGINS: tuple[str, ...] = tuple(spec.key for spec in _plugins)
for _problem in PLUGIN_PROBLEMS:
    logging.getLogger("core.models").warning(_problem)

DEFAULT_MODEL: str = next(key for key, spec in MODELS.items() if spec.default)

__all__ = ["BUILT_IN", "CNN", "DEFAULT_MODEL", "GRU", "MLP", "MODELS", "ModelSpec", "N_CLASSES",
           "N_INPUT", "PLUGINS", "PLUGIN_PROBLEMS", "ShapeKnob", "all_knobs", "get_model",
           "init_generator", "linear_bound"]


def get_model(key: str) -> ModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise ValueError(f"unknown model {key!r}; choose one of {', '.join(MODELS)}") from None


def all_knobs() -> dict[str, ShapeKnob]:
    """Every model's knobs by name, once (knobs of one name share a type across models, so a
    CLI flag or a URL key means one thing), in registry order."""
    knobs: dict[str, ShapeKnob] = {}
    for spec in MODELS.values():
        for knob in spec.knobs:
            knobs.setdefault(knob.name, knob)
    return knobs


def knob_models(name: str) -> list[str]:
    """The models that have a knob called ``name``."""
    return [key for key, spec in MODELS.items() if any(k.name == name for k in spec.knobs)]


def init_generator(seed: int) -> torch.Generator:
    """Generator for a run's initial weights (the batch order uses a different stream)."""
    return torch.Generator().manual_seed(int(seed))
