"""Each verdict tested against the settings its write-up did not state.

``reproduce_all_settings(key)`` runs the protocol as chosen, then once per :class:`Variant`
(a range widened until the tuned value is inside it, an lr-matched Adam control, Adam with a
warm-up + cosine schedule, another width or batch, another model of the registry at a reduced
scale), and ends with the base result carrying the variants' results and one line per claim:
"holds under all N settings" or "depends on X: ...".
"""

import math
from dataclasses import replace
from typing import Iterator

from ..config import is_finite_number
from ..stats import NO_VARIATION, NOT_DETECTED
from .protocols import FULL, Protocol, Scale, Variant, get_protocol
from .result import Event, ExperimentResult
from .run import planned_events, reproduce
from .sensitivity import planned as planned_sensitivity, run_sensitivity

# A tuned value in the top (or bottom) 5% of its log range is "at the edge": the search would
# likely have gone further.
EDGE_FRACTION = 0.05
MAX_WIDENINGS = 3


def _honest_values(result: ExperimentResult, side: str, knob: str) -> list[float]:
    return [float(r[side].params[knob]) for r in result.repeats
            if knob in r[side].params and is_finite_number(r[side].params[knob])]


def _edges(lo: float, hi: float) -> tuple[float, float]:
    span = math.log(hi / lo) * EDGE_FRACTION
    return lo * math.exp(span), hi * math.exp(-span)


def edge_notes(result: ExperimentResult) -> tuple[str, ...]:
    """Which tuned knobs some honest seeds set at the edge of their search range."""
    p = result.protocol
    notes = []
    for side in ("baseline", "method"):
        for knob, lo, hi in p.side(side).tuned:
            values = _honest_values(result, side, knob)
            low_edge, high_edge = _edges(lo, hi)
            top = sum(v >= high_edge for v in values)
            bottom = sum(v <= low_edge for v in values)
            for count, where in ((top, "top"), (bottom, "bottom")):
                if count:
                    notes.append(f"{p.side(side).spec.display_name} {knob}: {count} of "
                                 f"{len(values)} seeds tuned to the {where} "
                                 f"{EDGE_FRACTION:.0%} of "
                                 f"[{lo:g}, {hi:g}] (the search may have wanted to go further)")
    return tuple(notes)


def _stepped_lr(m) -> float | None:
    # A wrapper that scales its base's lr reports the lr it steps with as the diagnostic "lr";
    # its ``lrs`` are the scheduled lr (what a scheduler sets), which would match nothing.
    lr = m.diagnostics.get("lr") if m.diagnostics else None
    return lr if lr is not None else (m.lrs[0] if m.lrs else None)


def mean_effective_lr(result: ExperimentResult) -> float:
    """The method's lr as it ran (the lr its base stepped with), averaged over the epochs (read
    at each epoch's end) and the honest seeds; what an lr-matched Adam control trains at."""
    lrs = [lr for r in result.repeats for m in r["method"].curve
           if (lr := _stepped_lr(m)) is not None and is_finite_number(lr)]
    if not lrs:
        raise ValueError("no measured method curve to read an effective lr from")
    return math.fsum(lrs) / len(lrs)


def _widening(v: Variant, result: ExperimentResult) -> Variant | None:
    """The next range for ``v.widen`` when some honest seed tuned it to the top edge, else None
    (inside the range, or already at the registry's bound)."""
    p = result.protocol
    ranges = {n: (lo, hi) for n, lo, hi in p.method.tuned}
    lo, hi = ranges[v.widen]
    values = _honest_values(result, "method", v.widen)
    bound = p.method.spec.hyperparam(v.widen).high
    if not values or max(values) < _edges(lo, hi)[1] or hi >= bound:
        return None
    new_hi = min(hi * 10, bound)
    return Variant(f"{p.method.spec.display_name} {v.widen} in [{lo:g}, {new_hi:g}] (widened "
                   "until the tuned value is inside)", v.setting,
                   method_tuned=((v.widen, lo, new_hi),))


def _run(protocol: Protocol, seeds: int | None, scale: Scale, device: str
         ) -> Iterator[Event]:
    """Generator of one run's events, tagged with its variant; returns its result."""
    result = None
    for ev in reproduce(protocol, seeds=seeds, scale=scale, device=device):
        if ev.kind == "result":
            result = ev.result
        else:
            yield replace(ev, variant=protocol.variant)
    return result


def _label_settings(base: Protocol, settings: set[str]) -> str:
    """"hidden width (chosen: 100), batch size (chosen: 100)" for the settings a verdict
    depends on; a variant that changes several names them joined by ", "."""
    chosen = dict(base.unstated)
    names = dict.fromkeys(n for s in sorted(settings) for n in s.split(", "))
    return ", ".join(f"{n} (chosen: {chosen[n]})" if n in chosen else n for n in names)


# Outcomes that say nothing either way: a variant with one of them cannot contradict a verdict.
_CANNOT_TELL = (NOT_DETECTED, NO_VARIATION)


def claim_line(claim: str, base: Protocol, chosen: tuple[str, str],
               others: list[tuple[str, str, str, str]]) -> str:
    """One claim's verdict under the protocol as chosen (outcome, its text) and under each
    variant (setting, name, outcome, text): "holds under all N settings", or "depends on X"
    when some variant reaches another conclusion, or, when the only other outcomes are "not
    detected", that no setting contradicts it and which could not tell (a cross-model run
    without margins and with few seeds often cannot; that is no dependence)."""
    if not others:
        return f"{claim}: not re-run under other settings"
    outcome = chosen[0]
    texts = [("as chosen", chosen[1])] + [(name, text) for _, name, _, text in others]
    if all(o == outcome for _, _, o, _ in others):
        return f"{claim}: holds under all {len(others) + 1} settings ({outcome})"
    changed = {s for s, _, o, _ in others if o != outcome and o not in _CANNOT_TELL}
    if not changed and outcome not in _CANNOT_TELL:
        silent = [(name, text) for _, name, o, text in others if o != outcome]
        return (f"{claim}: no setting contradicts it ({outcome} under "
                f"{len(others) + 1 - len(silent)} of {len(others) + 1}); could not tell: "
                + "; ".join(f"{name} -> {text}" for name, text in silent))
    changed |= {s for s, _, o, _ in others if o != outcome}
    return (f"{claim}: depends on {_label_settings(base, changed)}: "
            + "; ".join(f"{name} -> {text}" for name, text in texts))


def robustness(base: ExperimentResult, runs: list[tuple[str, ExperimentResult]],
               skipped: list[str]) -> tuple[str, ...]:
    """One line per claim: its verdict under the protocol as chosen and under every variant."""
    p = base.protocol
    return tuple(claim_line(c.text, p, (base.outcomes[i].outcome, base.outcomes[i].text),
                            [(s, r.variant, r.outcomes[i].outcome, r.outcomes[i].text)
                             for s, r in runs])
                 for i, c in enumerate(p.claims)) + tuple(skipped)


def robustness_of_record(e: dict) -> list[str]:
    """:func:`robustness` again for a stored experiment (``results/reproduction.json``), so a
    record keeps the current rule without retraining. Each stored variant is matched to its
    protocol variant by name (an lr-matched control's name carries its lr after the name)."""
    p = get_protocol(e["key"])
    settings = {v.name: v.setting for v in p.variants}

    def setting_of(name: str) -> str:
        return next((s for n, s in settings.items() if name == n or name.startswith(f"{n} (")),
                    name)
    runs = [(setting_of(v["variant"]), v) for v in e.get("variants", [])]
    lines = [claim_line(c["text"], p, (c["outcome"], c["verdict"]),
                        [(s, v["variant"], v["claims"][i]["outcome"], v["claims"][i]["verdict"])
                         for s, v in runs])
             for i, c in enumerate(e["claims"])]
    claims = tuple(c["text"] for c in e["claims"])
    return lines + [line for line in e.get("robustness", []) if not line.startswith(claims)]


def _scale_of(v: Variant, scale: Scale) -> Scale:
    """A variant's own scale caps a full run; a quick run stays quick."""
    return v.scale if v.scale is not None and scale.is_full else scale


def _seeds_of(v: Variant, protocol: Protocol, seeds: int | None) -> int | None:
    """The seeds a variant runs: its own cap on the asked-for count (None: the protocol's)."""
    if v.seeds is None:
        return seeds
    return min(v.seeds, protocol.seeds if seeds is None else seeds)


def reproduce_all_settings(key: str | Protocol, seeds: int | None = None, scale: Scale = FULL,
                           device: str = "cpu", variants: bool = True,
                           sensitivity: bool = True) -> Iterator[Event]:
    """The reproduction of ``key`` and, with ``variants``, of each of its variants, then with
    ``sensitivity`` each side's lr-sensitivity curve; ends with one ``result`` event whose
    result carries the variants' results, the robustness lines and the curves."""
    base_p = key if isinstance(key, Protocol) else get_protocol(key)
    base = yield from _run(base_p, seeds, scale, device)
    runs: list[tuple[str, ExperimentResult]] = []
    skipped: list[str] = []
    for v in base_p.variants if variants else ():
        if v.widen:
            current, steps = base, 0
            while steps < MAX_WIDENINGS and (w := _widening(v, current)) is not None:
                current = yield from _run(base_p.with_variant(w), seeds, scale, device)
                steps += 1
            if steps:
                runs.append((v.setting, current))
            else:
                skipped.append(f"{v.name}: not run, no honest seed tuned it to the top edge "
                               "of its range")
        elif v.lr_matched_baseline:
            lr = mean_effective_lr(base)
            named = replace(v, name=f"{v.name} ({lr:.3g})")
            runs.append((v.setting, (yield from _run(base_p.with_variant(named, lr), seeds,
                                                     scale, device))))
        else:
            runs.append((v.setting, (yield from _run(base_p.with_variant(v),
                                                     _seeds_of(v, base_p, seeds),
                                                     _scale_of(v, scale), device))))
    curves = (yield from run_sensitivity(base_p, scale)) if sensitivity else {}
    results = [r for _, r in runs]
    final = replace(base, variants=tuple(replace(r, notes=edge_notes(r)) for r in results),
                    robustness=robustness(base, runs, skipped), notes=edge_notes(base),
                    sensitivity=curves)
    yield Event("result", final.key, 0, 1, "done", result=final, message=final.headline())


def planned_events_all(protocol: Protocol, seeds: int | None = None, scale: Scale = FULL,
                       variants: bool = True, sensitivity: bool = True) -> int:
    """Events of :func:`reproduce_all_settings` when every variant runs once (a widening that
    is not needed runs nothing, one that widens twice runs more)."""
    seeds = protocol.seeds if seeds is None else seeds
    total = planned_events(protocol, seeds, scale) - 1
    for v in protocol.variants if variants else ():
        probe = protocol if (v.widen or v.lr_matched_baseline) else protocol.with_variant(v)
        total += planned_events(probe, _seeds_of(v, protocol, seeds), _scale_of(v, scale)) - 1
    total += planned_sensitivity(protocol, scale) if sensitivity else 0
    return total + 1
