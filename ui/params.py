"""Page settings <-> URL query parameters, so a copied link reproduces a run or a comparison.

Pure Python (no streamlit), so it is tested directly. Every value read from a URL goes through
``RunConfig``'s own validation (and so the registry's ranges); a bad or unknown parameter is
dropped with a warning and the rest of the link still applies.

Train: ``method=wngd&lr=0.1&eps=1e-08&model=mlp&hidden=100,100&epochs=20&batch_size=100``
``&seed=0&split=writeup&device=auto`` (the method's and the model's knobs under their own
names; the run settings as core/config.py's ``RUN_SETTINGS`` name them). A link without
``model`` is the MLP, as every link was before models were a choice. Compare: one
parameter per entry, ``e1=adam:lr=0.01&e2=adam:lr=0.001,label=slow&e3=wngd:lr=0.1,eps=1e-08``
(so a method may appear more than once), ``baseline`` (an entry number), ``seeds`` (how many)
and ``seed`` (the first), the same run fields as Train, and ``band``. Older Compare links,
``methods=adam,wngd&adam.lr=0.01&wngd.lr=0.1``, are still read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping, Sequence

from core.training.compare import BANDS, comparison_seeds
from core.training.compare_settings import (MAX_ENTRIES, SHARED_FIELDS, CompareSettings,
                                            parse_entry)
from core.config import RUN_SETTINGS, SETTINGS, RunConfig
from core.models import DEFAULT_MODEL, MODELS, all_knobs
from core.optim.registry import METHODS
from core.schedules import KNOBS as SCHEDULE_KNOBS
from core.schedules import SETTING as SCHEDULE
from core.schedules import to_texts as schedule_texts
from core.schedules import with_texts

_KNOBS = all_knobs()
RUN_FIELDS = ("method", "lr", *SETTINGS, *_KNOBS)
MAX_PARAMS = 32
MAX_VALUE_CHARS = 200
# Hyperparameters appear in the URL under their own names; one named like a run setting or a
# model knob would be ambiguous, so refuse such a registry at import time rather than misread
# links.
_HPARAM_NAMES = {hp.name for spec in METHODS.values() for hp in spec.hyperparams} - {"lr"}
assert not _HPARAM_NAMES & set(RUN_FIELDS), "a hyperparameter shadows a run setting"
assert not _HPARAM_NAMES & {SCHEDULE, *SCHEDULE_KNOBS}, "a hyperparameter shadows a schedule's"
# Compare names a knob METHOD.NAME and splits at the first dot.
assert not any("." in key for key in METHODS), "a method key with a dot would split wrongly"


def shown(text: object, limit: int = 40) -> str:
    """A URL fragment made safe to print inside markdown: cut short, in a code span."""
    s = str(text).replace("`", "'").replace("\n", " ")
    if len(s) > limit:
        s = s[:limit] + "..."
    return f"`{s}`"


def _number(text: str, name: str = "the value") -> float:
    try:
        return float(text)        # "nan"/"inf" pass here and are caught by validation
    except ValueError:
        raise ValueError(f"{name} must be a number") from None


def in_words(error: object) -> str:
    """An error message as a visitor reads it: Python's list and quote syntax taken out."""
    text = re.sub(r"\[((?:'[^']*'(?:, )?)+)\]",
                  lambda m: ", ".join(re.findall(r"'([^']*)'", m.group(1))), str(error))
    text = re.sub(r"'([^'\s]{1,40})'", r"\1", text).replace("`", "'")
    text = re.sub(r"=\S+ is outside \[([^,\]]+), ([^\]]+)\]", r" must be between \1 and \2", text)
    return text if len(text) <= 160 else text[:160] + "..."


def ignored(key: str, text: str, error: object) -> str:
    return f"Ignored {shown(key + '=' + text)}: {in_words(error)}."


def run_params(config: RunConfig, shared: bool = False) -> dict[str, str]:
    """Every run setting under its URL key, a registry choice's knobs after it (the model's,
    the schedule's: ``schedule=cosine&warmup=2``); ``shared``: only those a comparison shares
    (each Compare entry carries its own schedule)."""
    params = {}
    for setting in RUN_SETTINGS:
        if shared and not setting.comparison:
            continue
        if setting.kind == "schedule":
            params.update(schedule_texts(config))
            continue
        params[setting.url_key] = str(getattr(config, setting.name))
        if setting.kind == "model":
            params.update({k: _KNOBS[k].to_text(v) for k, v in config.shape})
    return params


def config_to_params(config: RunConfig) -> dict[str, str]:
    """Every field explicitly, so a link keeps meaning the same run if defaults change."""
    params = {"method": config.method, "lr": repr(config.lr)}
    params.update({name: repr(value) for name, value in config.hparams})
    params.update(run_params(config))
    return params


def _parse_field(name: str, text: str):
    if name in SETTINGS:
        return SETTINGS[name].parse(text)
    if name in _KNOBS:
        return _KNOBS[name].parse(text)
    if name == "lr":
        return _number(text, "lr")
    return text


def apply_model(items: dict, config: RunConfig, warnings: list[str]) -> RunConfig:
    """The link's ``model`` (popped from ``items``) applied first, since it decides which knobs
    exist; a link without one is the default model (links made before models were a choice)."""
    text = items.pop("model", DEFAULT_MODEL)
    if text not in MODELS:
        warnings.append(f"Ignored {shown('model=' + text)}: unknown model; choose one of "
                        f"{', '.join(MODELS)}.")
        return config
    return config.replace(model=text)


def _read(params: Mapping[str, str], limit: int, warnings: list[str]) -> dict[str, str] | None:
    """The link's parameters as short strings; ``None`` when it has too many to be one of ours."""
    if len(params) > limit:
        warnings.append(f"The link has {len(params)} parameters; at most {limit} are read, "
                        "so it was ignored.")
        return None
    items = {}
    for key, value in params.items():
        value = value[-1] if isinstance(value, (list, tuple)) and value else value
        if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS or len(str(key)) > 40:
            warnings.append(f"Ignored the link parameter {shown(key)}: value too long.")
            continue
        items[key] = value
    return items


def _available(config: RunConfig, devices: Sequence[str] | None, warnings: list[str]) -> RunConfig:
    if devices is not None and config.device != "auto" and config.device not in devices:
        warnings.append(f"Device {shown(config.device)} is not available here; using auto.")
        return config.replace(device="auto")
    return config


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
    items = _read(params, MAX_PARAMS, warnings)
    if items is None:
        return None, warnings
    config = base or RunConfig()
    if "method" in items:
        method = items.pop("method")
        if method in METHODS:
            config = config.replace(method=method)
        else:
            warnings.append(f"Ignored {shown('method=' + method)}: unknown method; "
                            f"choose one of {', '.join(METHODS)}.")
    config = apply_model(items, config, warnings)
    if SCHEDULE in items:   # first: it decides which schedule settings exist
        text = items.pop(SCHEDULE)
        try:
            config = with_texts(config, {SCHEDULE: text})
        except ValueError as error:
            warnings.append(ignored(SCHEDULE, text, error))
    own = {hp.name for hp in config.spec.hyperparams} - {"lr"}
    for key, text in items.items():
        try:
            if key in RUN_FIELDS and key != "method":
                config = config.replace(**{key: _parse_field(key, text)})
            elif key in own:
                config = config.replace(hparams={**dict(config.hparams),
                                                 key: _number(text, key)})
            elif key in SCHEDULE_KNOBS:
                config = with_texts(config, {key: text})
            else:
                warnings.append(f"Ignored the link parameter {shown(key)}: "
                                f"{config.spec.display_name} has no such setting.")
        except (ValueError, TypeError, OverflowError) as error:
            warnings.append(ignored(key, text, error))
    return _available(config, devices, warnings), warnings


# -- Compare ------------------------------------------------------------------------------------
# The honest split by default: on the write-up split "best validation loss" is the minimum over
# epochs of the test loss.
COMPARE_DEFAULTS = CompareSettings(tuple(RunConfig(method=key, epochs=10, split="honest")
                                         for key in list(METHODS)[:2]))
# Entries, the old scheme's knobs and the page's own fields: a longer link is not one of ours.
MAX_COMPARE_PARAMS = max(MAX_PARAMS, sum(len(s.hyperparams) for s in METHODS.values())
                         + len(SHARED_FIELDS) + MAX_ENTRIES + 4)
ENTRY_KEYS = tuple(f"e{i + 1}" for i in range(MAX_ENTRIES))


def compare_to_params(settings: CompareSettings) -> dict[str, str]:
    """Every setting explicitly: one ``eN`` per entry with all its knobs."""
    params = {key: text for key, text in zip(ENTRY_KEYS, settings.texts())}
    params["baseline"] = str(settings.baseline + 1)
    params["seeds"] = str(settings.n_seeds)
    params.update(run_params(settings.entries[0], shared=True))
    params["band"] = settings.band
    return params


def _methods(text: str, warnings: list[str]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) > len(METHODS):
        warnings.append(f"Ignored {shown('methods=' + text)}: {len(names)} methods; there are "
                        f"only {len(METHODS)}.")
        return []
    picked = []
    for name in names:
        if name not in METHODS:
            warnings.append(f"Ignored the method {shown(name)}: unknown; choose from "
                            f"{', '.join(METHODS)}.")
        elif name in picked:
            warnings.append(f"Ignored the repeated method {shown(name)}.")
        else:
            picked.append(name)
    if not names:
        warnings.append("Ignored `methods=`: it names no method.")
    return picked


def read_run_field(key: str, text: str, shared: RunConfig, n_seeds: int
                   ) -> tuple[RunConfig, int] | None:
    """A link's run field (epochs, hidden, ...) or seed count, as Compare and Sensitivity links
    both carry them: the updated (shared run, seeds), or None for a key that is neither (the
    model itself is :func:`apply_model`'s)."""
    if key in SHARED_FIELDS or key in _KNOBS:
        return shared.replace(**{key: _parse_field(key, text)}), n_seeds
    if key == "seeds":
        count = _whole_number("number of seeds", text)
        comparison_seeds(0, count)
        return shared, count
    return None


def _whole_number(name: str, text: str) -> int:
    value = _number(text, name)
    if value != value or value in (float("inf"), float("-inf")) or value != int(value):
        raise ValueError(f"{name} must be a whole number, got {text!r}")
    return int(value)


def _old_scheme_knob(entries: list, key: str, text: str, warnings: list[str]) -> bool:
    """``METHOD.NAME=VALUE`` of an older link; False when ``key`` is not one."""
    method, _, name = key.partition(".")
    if not name or method not in METHODS:
        return False
    index = next((i for i, (e, _) in enumerate(entries) if e.method == method), None)
    if index is None:
        warnings.append(f"Ignored the link parameter {shown(key)}: {shown(method)} is not "
                        "among the compared methods.")
        return True
    entry, label = entries[index]
    if name not in {hp.name for hp in entry.spec.hyperparams}:
        warnings.append(f"Ignored the link parameter {shown(key)}: "
                        f"{entry.spec.display_name} has no such setting.")
    elif name == "lr":
        entries[index] = (entry.replace(lr=_number(text, key)), label)
    else:
        entries[index] = (entry.replace(hparams={**dict(entry.hparams), name: _number(text, key)}),
                          label)
    return True


def compare_from_params(params: Mapping[str, str], base: CompareSettings | None = None,
                        devices: Sequence[str] | None = None
                        ) -> tuple[CompareSettings | None, list[str]]:
    """(settings, warnings); ``None`` when the URL carries nothing usable.

    The entries come first (``e1``, ``e2``, ... or an older link's ``methods``), then every
    other parameter on its own over ``base``, so one bad value loses only itself. A link whose
    parts are each valid but do not fit together (a first seed whose last seed leaves the range)
    is ignored as a whole, with a warning: the page keeps what it had.
    """
    warnings: list[str] = []
    if not params:
        return None, warnings
    items = _read(params, MAX_COMPARE_PARAMS, warnings)
    if items is None:
        return None, warnings
    base = base or COMPARE_DEFAULTS
    shared = base.entries[0]
    entries = list(zip(base.entries, base.labels))
    baseline = base.baseline if base.baseline < len(entries) else None
    texts = {k: items.pop(k) for k in ENTRY_KEYS if k in items}
    if texts:
        entries, baseline = [], None
        for key, text in texts.items():
            try:
                entries.append(parse_entry(text, shared))
            except ValueError as error:
                warnings.append(ignored(key, text, error))
    elif "methods" in items:
        kept = {e.method: (e, l) for e, l in entries}
        picked = _methods(items.pop("methods"), warnings)
        if picked:
            entries = [kept.get(m) or (RunConfig(method=m), None) for m in picked]
            baseline = None
    if "methods" in items:
        warnings.append(f"Ignored {shown('methods=' + items.pop('methods'))}: the link's "
                        "e1, e2, ... name the entries.")
    if not entries:
        warnings.append("The link names no valid entry; kept the page's entries.")
        entries = list(zip(base.entries, base.labels))
    shared = apply_model(items, shared, warnings)
    n_seeds, band = base.n_seeds, base.band
    for key, text in items.items():
        try:
            read = read_run_field(key, text, shared, n_seeds)
            if read is not None:
                shared, n_seeds = read
            elif key == "band":
                if text not in BANDS:
                    raise ValueError(f"unknown band; choose one of {', '.join(BANDS)}")
                band = text
            elif key == "baseline":
                number = _whole_number("baseline", text)
                if not 1 <= number <= len(entries):
                    raise ValueError(f"baseline must be an entry from 1 to {len(entries)}")
                baseline = number - 1
            elif not _old_scheme_knob(entries, key, text, warnings):
                hint = (f" (a knob belongs to an entry, e.g. {shown('e1=adam:lr=0.01')})"
                        if key == "lr" or key in _HPARAM_NAMES else "")
                warnings.append(f"Ignored the link parameter {shown(key)}: Compare has no "
                                f"such setting{hint}.")
        except (ValueError, TypeError, OverflowError) as error:
            warnings.append(ignored(key, text, error))
    shared = _available(shared, devices, warnings)
    run = {name: getattr(shared, name) for name in SHARED_FIELDS}
    run["shape"] = dict(run["shape"])
    try:
        settings = CompareSettings(tuple(e.replace(**run) for e, _ in entries), n_seeds, band,
                                   tuple(l for _, l in entries), baseline)
    except ValueError as error:
        warnings.append(f"Ignored the link: its settings do not fit together ({in_words(error)}).")
        return None, warnings
    return settings, warnings


# -- Plain widgets (Search, Reproduce) ------------------------------------------------------------
@dataclass(frozen=True)
class UrlField:
    """One widget's value in the URL: ``name=...`` <-> ``st.session_state[key]``. ``parse``
    turns the URL's text into a value the widget accepts, or raises ValueError in words."""

    name: str
    key: str
    parse: Callable[[str], Any]
    show: Callable[[Any], str] = str


def whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = _whole_number("the value", text)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value
    return parse


def one_of(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"choose one of {', '.join(choices)}")
        return text
    return parse


TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def flag(text: str) -> bool:
    """``true``/``false`` as the page writes them, and the spellings people type in a link
    (``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    word = text.strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError("must be true or false (or 1 or 0)")
    return word in TRUE_WORDS


def show_flag(value: bool) -> str:
    return "true" if value else "false"


def fields_from_params(params: Mapping[str, str], fields: Sequence[UrlField]
                       ) -> tuple[dict[str, Any] | None, list[str]]:
    """({widget key: value}, warnings): each parameter on its own, so one bad value loses only
    itself; ``None`` when the link is too long to be one of ours."""
    warnings: list[str] = []
    items = _read(params, MAX_PARAMS, warnings)
    if items is None:
        return None, warnings
    by_name = {f.name: f for f in fields}
    values = {}
    for name, text in items.items():
        field = by_name.get(name)
        if field is None:
            warnings.append(f"Ignored the link parameter {shown(name)}: this page has no such "
                            "setting.")
            continue
        try:
            values[field.key] = field.parse(text)
        except (ValueError, OverflowError) as error:
            warnings.append(ignored(name, text, error))
    return values, warnings
