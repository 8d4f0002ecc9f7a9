"""A RunConfig <-> URL query parameters, so a copied link reproduces a run.

Pure Python (no streamlit), so it is tested directly. Every value read from a URL goes through
``RunConfig``'s own validation; a bad or unknown parameter is dropped with a warning and the rest
of the link still applies.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Mapping, Sequence

from core.config import RunConfig
from core.optim.registry import METHODS

RUN_FIELDS = tuple(f.name for f in fields(RunConfig) if f.name != "hparams")
MAX_PARAMS = 32
MAX_VALUE_CHARS = 200
# Hyperparameters appear in the URL under their own names; one named like a RunConfig field
# would be ambiguous, so refuse such a registry at import time rather than misread links.
_HPARAM_NAMES = {hp.name for spec in METHODS.values() for hp in spec.hyperparams} - {"lr"}
assert not _HPARAM_NAMES & set(RUN_FIELDS), "a hyperparameter shadows a RunConfig field"
_INT_FIELDS = {"epochs", "batch_size", "seed"}


def shown(text: object, limit: int = 40) -> str:
    """A URL fragment made safe to print inside markdown: cut short, in a code span."""
    s = str(text).replace("`", "'").replace("\n", " ")
    if len(s) > limit:
        s = s[:limit] + "..."
    return f"`{s}`"


def _number(text: str) -> float:
    value = float(text)           # ValueError for junk; "nan"/"inf" are caught by validation
    return value


def config_to_params(config: RunConfig) -> dict[str, str]:
    """Every field explicitly, so a link keeps meaning the same run if defaults change."""
    params = {"method": config.method, "lr": repr(config.lr)}
    params.update({name: repr(value) for name, value in config.hparams})
    params.update({"epochs": str(config.epochs), "batch_size": str(config.batch_size),
                   "seed": str(config.seed), "hidden": ",".join(map(str, config.hidden)),
                   "split": config.split, "device": config.device})
    return params


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"100,100"`` -> ``(100, 100)``, as typed in the widget or carried in a link."""
    try:
        return tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise ValueError(f"hidden sizes must be whole numbers separated by commas, got {text!r}") from None


def _parse_field(name: str, text: str):
    if name in _INT_FIELDS:
        value = _number(text)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{name} must be a whole number, got {text!r}")
        return value
    if name == "lr":
        return _number(text)
    if name == "hidden":
        return parse_hidden(text)
    return text


def config_from_params(params: Mapping[str, str], base: RunConfig | None = None,
                       devices: Sequence[str] | None = None) -> tuple[RunConfig | None, list[str]]:
    """(config, warnings). ``None`` when the URL carries no run parameters at all.

    ``method`` is applied first (it decides which hyperparameters exist), then every other
    parameter on its own, so one bad value loses only itself. ``devices`` lists the devices
    present here; a link made on a GPU machine falls back to ``auto`` elsewhere.
    """
    warnings: list[str] = []
    if not params:
        return None, warnings
    if len(params) > MAX_PARAMS:
        return None, [f"The link has {len(params)} parameters; at most {MAX_PARAMS} are read, "
                      "so it was ignored."]
    config = base or RunConfig()
    items = {}
    for key, value in params.items():
        value = value[-1] if isinstance(value, (list, tuple)) and value else value
        if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS or len(str(key)) > 40:
            warnings.append(f"Ignored the link parameter {shown(key)}: value too long.")
            continue
        items[key] = value
    if "method" in items:
        method = items.pop("method")
        if method in METHODS:
            config = config.replace(method=method)
        else:
            warnings.append(f"Ignored {shown('method=' + method)}: unknown method; "
                            f"choose one of {', '.join(METHODS)}.")
    own = {hp.name for hp in config.spec.hyperparams} - {"lr"}
    for key, text in items.items():
        try:
            if key in RUN_FIELDS and key != "method":
                config = config.replace(**{key: _parse_field(key, text)})
            elif key in own:
                config = config.replace(hparams={**dict(config.hparams), key: _number(text)})
            else:
                warnings.append(f"Ignored the link parameter {shown(key)}: "
                                f"{config.spec.display_name} has no such setting.")
        except (ValueError, TypeError, OverflowError) as error:
            warnings.append(f"Ignored {shown(key + '=' + text)}: {shown(error, 120)}")
    if devices is not None and config.device != "auto" and config.device not in devices:
        warnings.append(f"Device {shown(config.device)} is not available here; using auto.")
        config = config.replace(device="auto")
    return config, warnings
