"""Models from outside the repository, found where plug-in methods are (core/optim/plugins.py):

* the entry-point group ``mnist1d_lab.models`` of installed packages, e.g. in pyproject.toml
  ``[project.entry-points."mnist1d_lab.models"] tiny_cnn = "my_pkg.tiny:TINY_CNN"``;
* ``MNIST1D_LAB_MODELS=module:NAME[,module:NAME...]``.

A plug-in that fails to import, is not a ``ModelSpec``, or whose key or knob names clash with
what the lab has is left out with one message naming it; the lab starts with the others.
"""

from __future__ import annotations

import importlib.metadata
from typing import Mapping

from ..optim.plugins import RESERVED_NAMES, load_specs
from .spec import ModelSpec

ENTRY_POINT_GROUP = "mnist1d_lab.models"
ENV_VAR = "MNIST1D_LAB_MODELS"


def _check(spec: ModelSpec, known: Mapping[str, ModelSpec]) -> None:
    if spec.key in known:
        raise ValueError(f"model key {spec.key!r} is already taken by "
                         f"{known[spec.key].display_name}")
    if spec.default:
        raise ValueError("a plug-in cannot be the default model (links without model= mean "
                         "the MLP)")
    from ..optim.registry import METHODS
    method_knobs = {hp.name for m in METHODS.values() for hp in m.hyperparams}
    kinds = {k.name: k.many for s in known.values() for k in s.knobs}
    builtin_knobs = set(kinds)
    for knob in spec.knobs:
        if knob.name in (RESERVED_NAMES - builtin_knobs) or knob.name in method_knobs:
            raise ValueError(f"knob name {knob.name!r} is a run setting's or a method knob's "
                             "name; rename it")
        if knob.name in kinds and kinds[knob.name] != knob.many:
            raise ValueError(f"knob {knob.name!r} is {'a list' if kinds[knob.name] else 'one number'}"
                             " in another model; the CLI flag and the URL key have one type")


def load_model_plugins(known: Mapping[str, ModelSpec], environ: Mapping[str, str] | None = None,
                       entry_points=importlib.metadata.entry_points
                       ) -> tuple[list[ModelSpec], list[str]]:
    """The plug-in models that load cleanly next to ``known``, and one message per one that
    does not (``environ`` defaults to ``os.environ``)."""
    return load_specs(known, _check, ModelSpec, "model", ENTRY_POINT_GROUP, ENV_VAR,
                      environ, entry_points)
