"""The Sensitivity page's sweep <-> URL query parameters (pure Python, tested directly).

``sensitivity?e1=adam:lr=0.01&e2=wngd:lr=0.1,eps=1e-08&knob=lr&points=8&low=0.0001&high=0.1``
``&knob2=beta&points2=5&seeds=3&metric=best_val_loss&model=mlp&hidden=100,100&epochs=10``
``&batch_size=100&seed=0&split=writeup&device=auto`` (the run settings as Train's links). ``low``/``high`` absent: each method's
registry search range. Every value goes through ``SweepConfig``'s own checks; a bad part is
dropped with a warning, and a link whose parts do not fit together is ignored with one.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from core.config import RunConfig
from core.training.compare_settings import SHARED_FIELDS, entry_text, parse_entry
from core.sweep_settings import KnobAxis as Axis, KnobSweepConfig as SweepConfig
from core.training.sweep import MAX_ENTRIES, MAX_POINTS, METRICS, MIN_POINTS
from ui.params import (_KNOBS, _available, _read, _whole_number, apply_model, in_words,
                       read_run_field, run_params, shown)

ENTRY_KEYS = tuple(f"e{i + 1}" for i in range(MAX_ENTRIES))
AXIS_KEYS = (("knob", "points", "low", "high"), ("knob2", "points2", "low2", "high2"))
MAX_SWEEP_PARAMS = MAX_ENTRIES + 8 + 2 + len(SHARED_FIELDS) + len(_KNOBS)
SWEEP_DEFAULTS = SweepConfig.build(["adam"], epochs=10)


def sweep_to_params(config: SweepConfig) -> dict[str, str]:
    params = {key: entry_text(e) for key, e in zip(ENTRY_KEYS, config.entries)}
    for keys, axis in zip(AXIS_KEYS, config.axes):
        params[keys[0]], params[keys[1]] = axis.knob, str(axis.points)
        if axis.span is not None:
            params[keys[2]], params[keys[3]] = repr(axis.span[0]), repr(axis.span[1])
    params["seeds"] = str(config.n_seeds)
    params["metric"] = config.metric
    params.update(run_params(config.entries[0], shared=True))
    return params


def _axis(items: dict, keys: tuple, base: Axis | None, warnings: list[str]) -> Axis | None:
    knob_key, points_key, low_key, high_key = keys
    if not any(k in items for k in keys):
        return base
    knob = items.pop(knob_key, base.knob if base else None)
    if not knob:
        for k in keys:
            items.pop(k, None)
        return None
    points, span = (base.points, base.span) if base else (5, None)
    text = items.pop(points_key, None)
    try:
        if text is not None:
            number = _whole_number(points_key, text)
            if not MIN_POINTS <= number <= MAX_POINTS:
                raise ValueError(f"{points_key} must be from {MIN_POINTS} to {MAX_POINTS}")
            points = number
    except ValueError as error:
        warnings.append(f"Ignored {shown(points_key + '=' + text)}: {shown(error, 120)}")
    low, high = items.pop(low_key, None), items.pop(high_key, None)
    if (low is None) != (high is None):
        warnings.append(f"Ignored {shown(low_key)}/{shown(high_key)}: give both ends or none.")
    elif low is not None:
        try:
            span = (float(low), float(high))
        except ValueError:
            warnings.append(f"Ignored {shown(low_key + '=' + low)}, {shown(high_key + '=' + high)}"
                            ": not numbers.")
    return Axis(str(knob)[:40], points, span)


def _misfit(axis: Axis, entries: Sequence[RunConfig]) -> str | None:
    """Why ``axis`` cannot sweep every entry (in words), or None when it can."""
    for entry in entries:
        try:
            axis.grid(entry)
        except ValueError as error:
            return f"{entry.spec.display_name}: {in_words(error)}"
    return None


def _fit(axis: Axis | None, entries: Sequence[RunConfig], keys: tuple, fallback: Axis | None,
         warnings: list[str]) -> Axis | None:
    """``axis`` when it fits every entry; else the same knob over the registry's range when
    only the link's range was wrong; else ``fallback``, with a warning naming what was
    dropped."""
    if axis is None:
        return None
    why = _misfit(axis, entries)
    if why is None:
        return axis
    if axis.span is not None and _misfit(Axis(axis.knob, axis.points), entries) is None:
        warnings.append(f"Ignored {shown(keys[2])}/{shown(keys[3])} ({why}); {axis.knob} is "
                        "swept over each method's search range.")
        return Axis(axis.knob, axis.points)
    kept = (f"; sweeping {fallback.knob} instead" if fallback is not None
            else "; the sweep has one knob")
    warnings.append(f"Ignored {shown(keys[0] + '=' + axis.knob)} ({why}){kept}.")
    return fallback


def sweep_from_params(params: Mapping[str, str], base: SweepConfig | None = None,
                      devices: Sequence[str] | None = None
                      ) -> tuple[SweepConfig | None, list[str]]:
    """(sweep, warnings); ``None`` when the URL carries nothing usable."""
    warnings: list[str] = []
    if not params:
        return None, warnings
    items = _read(params, MAX_SWEEP_PARAMS, warnings)
    if items is None:
        return None, warnings
    base = base or SWEEP_DEFAULTS
    shared: RunConfig = base.entries[0]
    entries = list(base.entries)
    texts = {k: items.pop(k) for k in ENTRY_KEYS if k in items}
    if texts:
        entries = []
        for key, text in texts.items():
            try:
                entries.append(parse_entry(text, shared)[0])
            except ValueError as error:
                warnings.append(f"Ignored {shown(key + '=' + text)}: {shown(error, 160)}")
        if not entries:
            warnings.append("The link names no valid entry; kept the page's entries.")
            entries = list(base.entries)
    axis = _axis(items, AXIS_KEYS[0], base.axis, warnings) or base.axis
    axis2 = _axis(items, AXIS_KEYS[1], base.axis2, warnings)
    shared = apply_model(items, shared, warnings)
    n_seeds, metric = base.n_seeds, base.metric
    for key, text in items.items():
        try:
            read = read_run_field(key, text, shared, n_seeds)
            if read is not None:
                shared, n_seeds = read
            elif key == "metric":
                if text not in METRICS:
                    raise ValueError(f"unknown metric; choose one of {', '.join(METRICS)}")
                metric = text
            else:
                warnings.append(f"Ignored the link parameter {shown(key)}: Sensitivity has no "
                                "such setting.")
        except (ValueError, TypeError, OverflowError) as error:
            warnings.append(f"Ignored {shown(key + '=' + text)}: {shown(error, 120)}")
    shared = _available(shared, devices, warnings)
    run = {name: getattr(shared, name) for name in SHARED_FIELDS}
    run["shape"] = dict(run["shape"])
    try:
        entries = [e.replace(**run) for e in entries]
    except ValueError as error:
        warnings.append(f"Ignored the link: {shown(error, 200)}")
        return None, warnings
    # A knob (or range) the link's entries lack loses only that axis, said by name; they are
    # checked with the link's run settings, whose lr schedule decides which schedule knobs exist.
    fallback = next((a for a in (base.axis, Axis()) if _misfit(a, entries) is None), Axis())
    axis = _fit(axis, entries, AXIS_KEYS[0], fallback, warnings)
    axis2 = _fit(axis2, entries, AXIS_KEYS[1], None, warnings)
    if axis2 is not None and axis2.knob == axis.knob:
        warnings.append(f"Ignored {shown('knob2=' + axis2.knob)}: the second knob must differ "
                        "from the first.")
        axis2 = None
    try:
        return SweepConfig(tuple(entries), axis, axis2, n_seeds, metric), warnings
    except ValueError as error:
        warnings.append(f"Ignored the link: {shown(error, 200)}")
        return None, warnings
