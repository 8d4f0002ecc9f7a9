"""Widgets built from the method registry and RunConfig's limits; no page hard-codes a method.

Every widget has a key under a page prefix and ``persist_state="session"``, so its value survives
switching pages; the URL loader writes those keys before the widgets are drawn.
"""

from __future__ import annotations

import math

import streamlit as st

from core.config import DEVICES, MAX_BATCH, MAX_EPOCHS, MAX_SEED, RunConfig
from core.data import SPLITS
from core.optim.registry import METHODS, HyperParam, MethodSpec
from core.training.train import available_devices
from ui.params import parse_hidden

SPLIT_HELP = ("**writeup**: validate on the 1000 test samples, as the write-ups did. "
              "**honest**: validate on 800 held-out training samples; the test set is reported "
              "once, after the last epoch.")


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


def run_settings(prefix: str, defaults: RunConfig | None = None, *, seed_label: str = "Seed") -> dict:
    """Epochs, batch size, seed, hidden sizes, split and device: the RunConfig fields that do
    not depend on the method. Returns keyword arguments for RunConfig (hidden still as text
    is parsed here; a bad value raises ValueError for the page to show)."""
    d = defaults or RunConfig()
    initial = {"epochs": d.epochs, "batch_size": d.batch_size, "seed": d.seed,
               "hidden": ",".join(map(str, d.hidden)), "split": d.split, "device": d.device}
    for name, value in initial.items():
        st.session_state.setdefault(f"{prefix}.{name}", value)
    keep = dict(persist_state="session")
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input("Epochs", step=1, key=f"{prefix}.epochs", **keep)
    batch = c2.number_input("Batch size", step=10, key=f"{prefix}.batch_size", **keep)
    seed = c3.number_input(seed_label, step=1, key=f"{prefix}.seed", **keep,
                           help=f"Same seed, same initial weights and batch order. Epochs "
                                f"1 to {MAX_EPOCHS}, batch size 1 to {MAX_BATCH}, seed 0 to "
                                f"{MAX_SEED}.")
    hidden = st.text_input("Hidden layer widths", key=f"{prefix}.hidden", **keep,
                           help="Comma-separated widths of the MLP's hidden layers, e.g. 100,100.")
    if not hidden.replace(",", "").strip():
        st.warning("No hidden layer widths: the model is a linear classifier (softmax "
                   "regression on the 40 inputs). Type widths such as 100,100 for an MLP.",
                   icon=":material/warning:")
    c4, c5 = st.columns(2)
    split = c4.radio("Split", list(SPLITS), key=f"{prefix}.split", horizontal=True,
                     help=SPLIT_HELP, **keep)
    devices = device_choices()
    if st.session_state.get(f"{prefix}.device") not in devices:
        st.session_state[f"{prefix}.device"] = "auto"
    device = c5.selectbox("Device", devices, key=f"{prefix}.device", **keep,
                          help="Only the devices present on this machine are offered.")
    return {"epochs": int(epochs), "batch_size": int(batch), "seed": int(seed),
            "hidden": parse_hidden(hidden), "split": split, "device": device}


def apply_hyperparams_to_widgets(config: RunConfig, prefix: str) -> None:
    """Write a config's knobs into its method's widget keys (before they are drawn)."""
    for name, value in config.optimizer_hparams().items():
        st.session_state[hp_key(prefix, config.method, name)] = value


def apply_run_settings_to_widgets(config: RunConfig, prefix: str) -> None:
    """Write the fields :func:`run_settings` draws into its keys (before they are drawn)."""
    for name in ("epochs", "batch_size", "seed", "split", "device"):
        st.session_state[f"{prefix}.{name}"] = getattr(config, name)
    st.session_state[f"{prefix}.hidden"] = ",".join(map(str, config.hidden))


def apply_config_to_widgets(config: RunConfig, prefix: str) -> None:
    """Write a config into the widgets' session keys (before they are drawn)."""
    st.session_state[f"{prefix}.method"] = config.method
    apply_hyperparams_to_widgets(config, prefix)
    apply_run_settings_to_widgets(config, prefix)
