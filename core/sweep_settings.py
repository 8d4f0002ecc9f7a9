"""Sweeps over a run setting's knobs as well as a method's: the lr schedule's warm-up epochs,
cosine floor, step decay's interval and factor, on the same grid machinery.

``core.training.sweep`` sweeps a method's knobs (``lr``, ``beta``, ...). A run setting whose
members of one population may differ (``RunSetting.population`` False) and whose knobs are
described as ``HyperParam`` entries (the lr schedule's, core/schedules.py) can be swept the same
way: its knobs come from the ``RUN_SETTINGS`` description, with their ranges, log flags and
search ranges, so nothing here names a schedule or a knob. Which of them an entry can sweep is
what its chosen value takes (a cosine schedule has ``lr_floor``, a constant one has not).

:class:`KnobSweepConfig` is a :class:`~core.training.sweep.SweepConfig` whose axes are
:class:`KnobAxis`: a method's knob first (the method's own name wins), else a run-setting knob.
Every grid point is built as a run before anything starts, so a warm-up as long as the run is
refused with the schedule's own message.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .config import RUN_SETTINGS, RunConfig
from .optim.spec import HyperParam
from .training.sweep import Axis, SweepConfig, make_grid


def setting_knobs(config: RunConfig) -> dict[str, tuple[str, HyperParam]]:
    """The run-setting knobs ``config`` can sweep, by name: (the RunConfig field that holds
    them, their description), for the value each setting has in ``config``."""
    out: dict[str, tuple[str, HyperParam]] = {}
    for setting in RUN_SETTINGS:
        if setting.population or not setting.knobs_field:
            continue      # members of one population must share it, or it has no knobs
        described = setting.knobs()
        for name in dict(getattr(config, setting.knobs_field)):
            hp = described.get(name)
            if isinstance(hp, HyperParam):
                out[name] = (setting.knobs_field, hp)
    return out


def sweep_knob(config: RunConfig, name: str) -> HyperParam:
    """The description of knob ``name`` of ``config``: its method's, else a run setting's
    (ValueError naming what it has otherwise)."""
    try:
        return config.spec.hyperparam(name)
    except KeyError as error:
        missing = error.args[0]
    found = setting_knobs(config).get(name)
    if found is None:
        run = ", ".join(setting_knobs(config)) or "none"
        raise ValueError(f"{missing}; nor do its run settings (their knobs here: {run})")
    return found[1]


def sweepable(entries) -> list[str]:
    """The knobs every entry can sweep: the methods' shared ones (in the first's order), then
    the run settings' shared ones."""
    if not entries:
        return ["lr"]
    first = entries[0]
    method = [hp.name for hp in first.spec.hyperparams
              if all(any(h.name == hp.name for h in e.spec.hyperparams) for e in entries)]
    run = [n for n in setting_knobs(first) if n not in method
           and all(n in setting_knobs(e) for e in entries)]
    return method + run


def _same_fields(a, b, base) -> bool:
    return isinstance(b, base) and all(getattr(a, f.name) == getattr(b, f.name)
                                       for f in fields(base))


@dataclass(frozen=True, eq=False)
class KnobAxis(Axis):
    """An axis over a method's knob or a run setting's (:func:`sweep_knob`); equal to an
    :class:`Axis` of the same knob, points and range (the same sweep)."""

    def __eq__(self, other):
        return _same_fields(self, other, Axis)

    __hash__ = Axis.__hash__

    def grid(self, config: RunConfig) -> tuple[float, ...]:
        return make_grid(sweep_knob(config, self.knob), self.points, self.span)


def knob_axis(axis: Axis | None) -> KnobAxis | None:
    if axis is None or isinstance(axis, KnobAxis):
        return axis
    return KnobAxis(**{f.name: getattr(axis, f.name) for f in fields(Axis)})


@dataclass(frozen=True, eq=False)
class KnobSweepConfig(SweepConfig):
    """A sweep whose knobs may be a run setting's: each point sets them in their field.
    Equal to a :class:`SweepConfig` of the same fields (the same sweep)."""

    def __eq__(self, other):
        return _same_fields(self, other, SweepConfig)

    __hash__ = SweepConfig.__hash__

    def __post_init__(self):
        object.__setattr__(self, "axis", knob_axis(self.axis))
        object.__setattr__(self, "axis2", knob_axis(self.axis2))
        super().__post_init__()
        for i in range(len(self.entries)):
            for point in self.grid_points(i):
                self.point_config(i, point)     # a warm-up as long as the run: ValueError

    def point_config(self, entry: int, point: tuple[float, ...], seed: int | None = None
                     ) -> RunConfig:
        base = self.entries[entry]
        changes = {"lr": base.lr, "hparams": dict(base.hparams)}
        run = setting_knobs(base)
        for axis, value in zip(self.axes, point):
            if axis.knob == "lr":
                changes["lr"] = value
            elif any(hp.name == axis.knob for hp in base.spec.hyperparams):
                changes["hparams"][axis.knob] = value
            else:
                field = run[axis.knob][0]
                changes[field] = {**dict(changes.get(field, getattr(base, field))),
                                  axis.knob: value}
        return base.replace(**changes, seed=base.seed if seed is None else seed)
