"""Widgets built from the method registry, the model registry and the run settings'
descriptions (core/config.py ``RUN_SETTINGS``); no page hard-codes a method, a model or a run
setting.

Every widget has a key under a page prefix and ``persist_state="session"``, so its value survives
switching pages; the URL loader writes those keys before the widgets are drawn.
"""

from __future__ import annotations

import math

import streamlit as st

from core.config import DEVICES, RUN_SETTINGS, RunConfig, RunSetting
from core.models import MODELS, ShapeKnob, all_knobs
from core.optim.registry import METHODS, HyperParam, MethodSpec
from core.schedules import SCHEDULES
from core.training.train import available_devices

SPLIT_HELP = ("**writeup**: validate on the 1000 test samples, as the write-ups did. "
              "**honest**: validate on 800 held-out training samples; the test set is reported "
              "once, after the last epoch.")
# Markdown help where the one-line CLI help is too terse for a page.
PAGE_HELP = {"split": SPLIT_HELP,
             "device": "Only the devices present on this machine are offered.",
             "schedule": "The lr a step uses is the method's lr times the schedule's factor.  \n"
                         + "  \n".join(f"**{s.display_name}**: {s.description}"
                                       for s in SCHEDULES.values())}

# How a page names a registry choice's value (RunSetting kinds whose values are registry keys).
_CHOICE_NAMES = {"model": lambda k: MODELS[k].display_name,
                 "schedule": lambda k: SCHEDULES[k].display_name}


def hp_key(prefix: str, method: str, name: str) -> str:
    return f"{prefix}.hp.{method}.{name}"


def device_choices() -> list[str]:
    """``auto`` plus only the devices present on this machine."""
    present = available_devices()
    return [d for d in DEVICES if d == "auto" or d in present]


def hyperparam_help(spec: MethodSpec, hp: HyperParam) -> str:
    scale = "log scale" if hp.log else "linear scale"
    return (f"{hp.help}  \nRange [{hp.low:g}, {hp.high:g}], {scale}, default {hp.default:g}."
            f"  \n{spec.display_name}: $${spec.formula}$$")


def _float_format(hp: HyperParam) -> str:
    # Log-scale knobs span decades: scientific notation shows 1e-6 and 0.3 equally well.
    return "%.3e" if hp.log else "%g"


def _step(hp: HyperParam) -> float:
    if hp.default > 0:
        return 10 ** math.floor(math.log10(hp.default)) / (10 if hp.log else 1)
    return (hp.high - hp.low) / 100


# Number inputs carry no min/max: with them the browser keeps showing a typed value outside
# the range while the server silently keeps the old one. Unbounded, the value typed is the
# value used, and RunConfig's check (the registry's range) says what is wrong in words.


def hyperparam_input(spec: MethodSpec, hp: HyperParam, key: str):
    """One knob: a number input, default from the registry; its range is checked by
    RunConfig, whose error the page shows."""
    if key not in st.session_state:
        st.session_state[key] = int(hp.default) if hp.integer else float(hp.default)
    common = dict(key=key, help=hyperparam_help(spec, hp), persist_state="session")
    if hp.integer:
        return st.number_input(hp.name, step=1, format="%d", **common)
    return st.number_input(hp.name, step=_step(hp), format=_float_format(hp), **common)


def method_hyperparams(spec: MethodSpec, prefix: str) -> tuple[float, dict]:
    """All of ``spec``'s knobs as widgets; returns (lr, the other hparams)."""
    values = {hp.name: hyperparam_input(spec, hp, hp_key(prefix, spec.key, hp.name))
              for hp in spec.hyperparams}
    return values.pop("lr"), values


def method_select(prefix: str, label: str = "Method") -> str:
    key = f"{prefix}.method"
    if key not in st.session_state:
        st.session_state[key] = next(iter(METHODS))
    return st.selectbox(label, list(METHODS), key=key, persist_state="session",
                        format_func=lambda k: METHODS[k].display_name,
                        help="The optimizers from the write-ups, and Adam as the baseline.")


def model_help(key: str) -> str:
    """The model's description, for a caption under the choice."""
    return MODELS[key].description


def _setting_widget(setting: RunSetting, key: str, container, label: str | None = None):
    keep = dict(key=key, persist_state="session")
    label = label or setting.label
    help_ = PAGE_HELP.get(setting.name, setting.help)
    if setting.kind == "int":
        # unbounded, as the hyperparameters' inputs: RunConfig says what is out of range
        return container.number_input(label, step=setting.step, **keep,
                                      help=f"{help_} From {setting.low} to {setting.high}.")
    if setting.widget == "radio":
        return container.radio(label, list(setting.options()), horizontal=True, help=help_,
                               **keep)
    if setting.widget == "device":
        devices = device_choices()
        if st.session_state.get(key) not in devices:
            st.session_state[key] = "auto"
        return container.selectbox(label, devices, help=help_, **keep)
    if setting.kind in _CHOICE_NAMES:
        return container.selectbox(label, list(setting.options()), help=help_, **keep,
                                   format_func=_CHOICE_NAMES[setting.kind])
    return container.selectbox(label, list(setting.options()), help=help_, **keep)


def widget_value(knob: ShapeKnob, value):
    """What a knob's widget holds: a list knob's text (``100,100``), a number knob's number."""
    return knob.to_text(value) if knob.many else value


def _knob_widget(knob: ShapeKnob, key: str, container):
    """A list knob is a text field (``100,100``), parsed here (ValueError for the page);
    a number knob a number input within its range."""
    st.session_state.setdefault(key, widget_value(knob, knob.default))
    label = knob.help or knob.name
    if knob.many:
        text = container.text_input(label, key=key, persist_state="session",
                                    help=f"Comma-separated: {knob.describe()}")
        value = knob.parse(text)
        if not value and knob.empty_help:
            container.warning(knob.empty_help, icon=":material/warning:")
        return value
    # unbounded, as the hyperparameters' inputs: the knob's check says what is out of range
    return knob.check(container.number_input(label, step=1, key=key, persist_state="session",
                                             help=knob.describe()))


def model_settings(prefix: str):
    """The model choice and, under it, its knobs' widgets: (model key, a callable that reads
    the knobs, raising ValueError naming a knob whose text does not parse)."""
    setting = next(s for s in RUN_SETTINGS if s.kind == "model")
    key = f"{prefix}.{setting.name}"
    st.session_state.setdefault(key, setting.default)
    if st.session_state[key] not in MODELS:
        st.session_state[key] = setting.default
    model = _setting_widget(setting, key, st)
    st.caption(model_help(model))
    knobs = MODELS[model].knobs
    columns = st.columns(len(knobs)) if knobs else ()
    values = {}
    errors = []
    for knob, column in zip(knobs, columns):
        try:
            values[knob.name] = _knob_widget(knob, f"{prefix}.{knob.name}", column)
        except ValueError as error:
            errors.append(error)

    def shape() -> dict:
        if errors:
            raise errors[0]
        return values
    return model, shape


def knob_url_fields(prefix: str) -> list:
    """URL fields (ui.share) for :func:`model_settings`'s widgets: ``model`` and each knob.
    Every knob's widget key gets its default now, so that a knob whose model was just chosen
    is in the link at once (ui.share writes the keys it knows before the page draws)."""
    from ui.params import UrlField, one_of
    for knob in all_knobs().values():
        st.session_state.setdefault(f"{prefix}.{knob.name}", widget_value(knob, knob.default))

    def knob_parse(knob):
        return lambda text: knob.to_text(knob.parse(text)) if knob.many else knob.parse(text)
    return [UrlField("model", f"{prefix}.model", one_of(list(MODELS))),
            *(UrlField(k.name, f"{prefix}.{k.name}", knob_parse(k)) for k in all_knobs().values())]


def run_settings(prefix: str, defaults: RunConfig | None = None, *, seed_label: str = "Seed") -> dict:
    """Every run setting (``RUN_SETTINGS``) and the chosen model's knobs: the RunConfig fields
    that do not depend on the method. Returns keyword arguments for RunConfig (``shape`` for
    the knobs); a knob's text that does not parse raises ValueError for the page to show."""
    d = defaults or RunConfig()
    for setting in RUN_SETTINGS:
        st.session_state.setdefault(f"{prefix}.{setting.name}", getattr(d, setting.name))
    for name, value in d.shape:
        st.session_state.setdefault(f"{prefix}.{name}", widget_value(all_knobs()[name], value))
    labels = {"seed": seed_label}
    values: dict = {}
    numbers = [s for s in RUN_SETTINGS if s.kind == "int"]
    values["model"], shape = model_settings(prefix)
    for setting, column in zip(numbers, st.columns(len(numbers))):
        values[setting.name] = _setting_widget(setting, f"{prefix}.{setting.name}", column,
                                               labels.get(setting.name))
    values["shape"] = shape()
    rest = [s for s in RUN_SETTINGS if s.kind == "choice"]
    for setting, column in zip(rest, st.columns(len(rest))):
        values[setting.name] = _setting_widget(setting, f"{prefix}.{setting.name}", column)
    return values


def entry_settings(prefix: str) -> dict:
    """The run settings each entry may set for itself (``RUN_SETTINGS`` with ``comparison``
    False: the lr schedule), each a select and, under it, the knobs its chosen value takes, as
    described there; returns RunConfig keyword arguments (``schedule``, ``schedule_params``).
    Train and Sensitivity draw them once for the run, Compare once per entry."""
    values: dict = {}
    for setting in RUN_SETTINGS:
        if setting.comparison:
            continue
        key = f"{prefix}.{setting.name}"
        st.session_state.setdefault(key, setting.default)
        if st.session_state[key] not in setting.options():
            st.session_state[key] = setting.default
        value = _setting_widget(setting, key, st)
        values[setting.name] = value
        if setting.knobs_field:
            values[setting.knobs_field] = _choice_knobs(prefix, setting, value)
    return values


def _choice_knobs(prefix: str, setting: RunSetting, value) -> dict:
    """Number inputs for the knobs ``value`` of ``setting`` takes (what RunConfig resolves for
    it, described by ``setting.knobs()``), keyed ``{prefix}.{setting}.{knob}``."""
    takes = dict(getattr(RunConfig(**{setting.name: value}), setting.knobs_field))
    described = setting.knobs()
    knobs = {}
    for column, name in zip(st.columns(max(len(takes), 1)), takes):
        hp = described[name]
        knob_key = f"{prefix}.{setting.name}.{hp.name}"
        st.session_state.setdefault(knob_key, int(hp.default) if hp.integer else hp.default)
        common = dict(key=knob_key, help=f"{hp.help}  \nRange [{hp.low:g}, {hp.high:g}].",
                      persist_state="session")
        if hp.integer:
            knobs[hp.name] = column.number_input(hp.name, int(hp.low), int(hp.high), step=1,
                                                 **common)
        else:
            knobs[hp.name] = column.number_input(hp.name, float(hp.low), float(hp.high),
                                                 step=_step(hp), format=_float_format(hp),
                                                 **common)
    return knobs


def apply_entry_settings_to_widgets(config: RunConfig, prefix: str) -> None:
    """Write a config's :func:`entry_settings` (each value and its knobs) into their keys."""
    for setting in RUN_SETTINGS:
        if setting.comparison:
            continue
        st.session_state[f"{prefix}.{setting.name}"] = getattr(config, setting.name)
        for name, value in getattr(config, setting.knobs_field or "", ()) or ():
            st.session_state[f"{prefix}.{setting.name}.{name}"] = value


def apply_hyperparams_to_widgets(config: RunConfig, prefix: str) -> None:
    """Write a config's knobs into its method's widget keys (before they are drawn)."""
    for name, value in config.optimizer_hparams().items():
        st.session_state[hp_key(prefix, config.method, name)] = value


def apply_run_settings_to_widgets(config: RunConfig, prefix: str) -> None:
    """Write the fields :func:`run_settings` draws into its keys (before they are drawn)."""
    for setting in RUN_SETTINGS:
        st.session_state[f"{prefix}.{setting.name}"] = getattr(config, setting.name)
    for name, value in config.shape:
        st.session_state[f"{prefix}.{name}"] = widget_value(all_knobs()[name], value)


def apply_config_to_widgets(config: RunConfig, prefix: str) -> None:
    """Write a config into the widgets' session keys (before they are drawn)."""
    st.session_state[f"{prefix}.method"] = config.method
    apply_hyperparams_to_widgets(config, prefix)
    apply_run_settings_to_widgets(config, prefix)
    apply_entry_settings_to_widgets(config, prefix)
