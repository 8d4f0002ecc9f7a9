"""The reproductions' cross-model variants (each claim re-run on other models of the registry)
and the warm-up + cosine Adam control, and ``python -m core reproduce --model``."""

import json
from dataclasses import replace

import pytest

import core.experiments.protocols as protocols_module
from core.experiments import FULL, PROTOCOLS, QUICK, Scale, planned_events_all, \
    reproduce_all_settings
from core.experiments.protocols import (CROSS_MODEL_SEEDS, CROSS_MODELS, REDUCED,
                                        cross_model_variants)
from core.experiments.run import _config, planned_epochs
from core.models import DEFAULT_MODEL, MODELS, get_model
from core.schedules import factor

TINY = Scale("test", max_trials=2, max_search_epochs=2, max_final_epochs=3)


def _model_variants(p):
    return [v for v in p.variants if v.model]


@pytest.mark.parametrize("key", sorted(PROTOCOLS))
def test_every_claim_is_rerun_on_each_cross_model_workload_of_the_registry(key):
    p = PROTOCOLS[key]
    assert p.model == DEFAULT_MODEL and p.margins()
    assert [v.model for v in _model_variants(p)] == list(CROSS_MODELS)
    for v in _model_variants(p):
        q = p.with_variant(v)
        spec = get_model(v.model)
        # The registry's default shape: no MLP widths travel to another model.
        assert q.model == spec.key and q.hidden is None and q.shape == {}
        assert q.seeds == min(p.seeds, CROSS_MODEL_SEEDS) and v.scale == REDUCED
        config = _config(q, q.baseline, {"lr": 1e-3}, 2, 0, "honest", "cpu")
        assert config.model == spec.key and dict(config.shape) == spec.defaults()
        # Margins were measured on the write-up's model: on another one there are none.
        assert q.margins() == {} and all(q.margin(c.quantity) is None for c in q.claims)
        # The record states the caps next to the variant, and the model in the protocol table.
        assert f"{CROSS_MODEL_SEEDS} seeds" in v.name and f"{REDUCED.max_trials} trials" in v.name
        model_row = next(r["value"] for r in q.table() if r["what"] == "Model")
        assert spec.display_name in model_row and f"{spec.parameter_count(spec.defaults()):,}" \
            in model_row
    # The write-up's own model row reads as it always did.
    assert next(r["value"] for r in p.table() if r["what"] == "Model").startswith("MLP 40-")


def test_the_cross_model_workloads_are_data_any_registry_model_can_be():
    # Nothing tests a model's name: any key of the registry gives its variant.
    for key in MODELS:
        (v,) = cross_model_variants((key,))
        assert v.model == key and get_model(key).display_name in v.name
        q = PROTOCOLS["gnw_adam"].with_variant(v)
        assert q.model == key
    with pytest.raises(ValueError, match="unknown model"):
        cross_model_variants(("nope",))


def test_a_cross_model_variant_caps_seeds_and_scale_and_a_quick_run_stays_quick():
    p = PROTOCOLS["hessian_lr"]
    v = _model_variants(p)[0]
    from core.experiments.variants import _scale_of, _seeds_of
    assert _scale_of(v, FULL) == REDUCED and _scale_of(v, QUICK) == QUICK
    assert _seeds_of(v, p, None) == CROSS_MODEL_SEEDS and _seeds_of(v, p, 2) == 2
    assert _seeds_of(v, p, 50) == CROSS_MODEL_SEEDS
    # Far cheaper in epochs than the protocol as chosen.
    q = p.with_variant(v)
    assert planned_epochs(q, CROSS_MODEL_SEEDS, REDUCED) < planned_epochs(p, None, FULL) / 4
    # A reduced run is evidence (its caps are stated), not a smoke test; a quick one is not.
    from core.experiments.scale import EVIDENCE
    assert REDUCED.name in EVIDENCE and QUICK.name not in EVIDENCE


SHRINKERS = ("weight_trajectory", "meta_curvature", "hessian_lr")


@pytest.mark.parametrize("key", SHRINKERS)
def test_a_method_that_shrinks_the_lr_faces_adam_with_warmup_and_cosine(key):
    p = PROTOCOLS[key]
    (v,) = [v for v in p.variants if v.baseline_schedule]
    q = p.with_variant(v)
    # Adam is tuned exactly as the protocol tunes it, with the schedule on top; the method side
    # and the model are untouched.
    assert q.baseline.tuned == p.baseline.tuned and q.baseline.fixed == p.baseline.fixed
    assert (q.baseline.schedule, dict(q.baseline.schedule_params)) == ("cosine", {"warmup": 2})
    assert q.method == p.method and q.model == p.model and q.margins() == p.margins()
    config = _config(q, q.baseline, {"lr": 1e-3}, 20, 0, "honest", "cpu")
    assert config.schedule == "cosine" and dict(config.schedule_params)["warmup"] == 2
    method = _config(q, q.method, {**dict(q.method.fixed), "lr": 1e-3}, 20, 0, "honest", "cpu")
    assert method.schedule == "constant"
    row = next(r["value"] for r in q.table() if r["what"] == "Adam")
    assert "lr schedule cosine (warmup 2)" in row
    assert ("Adam's lr schedule", "constant") in p.unstated


def test_only_the_lr_shrinking_writeups_get_the_schedule_control():
    assert {k for k, p in PROTOCOLS.items()
            if any(v.baseline_schedule for v in p.variants)} == set(SHRINKERS)


@pytest.mark.timeout(300)
def test_the_variants_run_and_each_claim_gets_its_robustness_line():
    # meta_curvature trains without a search: the cheapest protocol to run every kind of variant
    # of (a fixed knob, the lr-matched control, the schedule control, a cross-model run).
    base = PROTOCOLS["meta_curvature"]
    wanted = [v for v in base.variants if v.lr_matched_baseline or v.baseline_schedule]
    p = replace(base, variants=(*wanted, *cross_model_variants(("linear",))))
    events = list(reproduce_all_settings(p, seeds=2, scale=TINY, sensitivity=False))
    r = events[-1].result
    assert len(events) == planned_events_all(p, 2, TINY, sensitivity=False)
    matched, scheduled, linear = r.variants
    assert linear.protocol.model == "linear" and linear.seeds == (0, 1)
    assert all(run.curve for runs in linear.repeats for run in runs.values())
    # Without margins, no claim of the cross-model run can read as equivalent.
    assert all(o.judged is None or o.judged.margin is None for o in linear.outcomes)
    # The scheduled Adam stepped with the schedule's lr (2 warm-up epochs, then the cosine);
    # the method kept its constant one.
    lrs = [m.lrs[0] for m in scheduled.repeats[0]["baseline"].curve]
    assert lrs[0] < lrs[1] <= 1e-3 and lrs[2] < lrs[1]
    assert {m.lrs[0] for m in scheduled.repeats[0]["method"].curve} == {1e-3}
    assert matched.protocol.baseline.schedule == "constant"
    assert len(r.robustness) == len(p.claims)
    assert all(("holds under all 4 settings" in line) or ("depends on" in line)
               for line in r.robustness)
    d = json.loads(json.dumps(r.to_dict(curves=False)))
    assert [v["model"] for v in d["variants"]] == [DEFAULT_MODEL, DEFAULT_MODEL, "linear"]


def test_cli_model_runs_a_protocol_on_another_workload(tmp_path, monkeypatch):
    import core.cli.reproduce as cli_reproduce
    from core.cli import main
    monkeypatch.setattr(cli_reproduce, "QUICK", TINY)
    out = tmp_path / "r.json"
    md = tmp_path / "r.md"
    assert main(["reproduce", "meta_curvature", "--model", "linear", "--seeds", "2", "--quick",
                 "--no-variants", "--no-sensitivity", "--json", str(out), "--markdown",
                 str(md)]) == 0
    (exp,) = json.loads(out.read_text())["experiments"]
    assert exp["model"] == "linear" and exp["margins"] == {}
    assert exp["variant"].startswith("on ") and "`linear`" in exp["variant"]
    assert "not on the write-up's model" in md.read_text()


def test_cli_model_keeps_only_the_variants_that_apply():
    from core.cli.reproduce import on_model
    p = on_model(PROTOCOLS["gnw_adam"], "cnn")
    # The width variants set the MLP's widths, which a CNN lacks; the batch one applies; the
    # cross-model ones are gone (the run is on another model already).
    assert [v.name for v in p.variants] == ["width 100, batch 256"]
    assert on_model(PROTOCOLS["gnw_adam"], None) is PROTOCOLS["gnw_adam"]


@pytest.mark.parametrize("bad", ["nope", "MLP "])
def test_cli_model_rejects_an_unknown_model_before_anything_runs(bad, capsys):
    from core.cli import main
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "gnw_adam", "--model", bad])
    assert e.value.code == 2 and "unknown model" in capsys.readouterr().err


def test_protocols_module_lists_only_registry_models():
    assert all(m in MODELS for m in protocols_module.CROSS_MODELS)
    assert DEFAULT_MODEL not in protocols_module.CROSS_MODELS


def test_a_schedule_warmup_longer_than_a_run_is_refused_when_the_run_is_built():
    p = PROTOCOLS["hessian_lr"]
    (v,) = [v for v in p.variants if v.baseline_schedule]
    q = p.with_variant(v)
    with pytest.raises(ValueError, match="warmup"):
        _config(q, q.baseline, {"lr": 1e-3}, 2, 0, "honest", "cpu")
    assert factor("cosine", {"warmup": 2, "lr_floor": 0.0}, 0, 10, 20) == pytest.approx(0.05)


def test_the_page_estimate_and_budget_count_the_chosen_models_cost():
    from core import budget
    from ui import estimate
    p = PROTOCOLS["gnw_adam"]
    rates = estimate._model_rates()
    assert estimate.model_factor(p) == 1.0
    for key in ("cnn", "gru"):
        q = p.on_model(key)
        if key in rates and DEFAULT_MODEL in rates:
            assert estimate.model_factor(q) == pytest.approx(rates[key] / rates[DEFAULT_MODEL])
            assert estimate.estimate_s(q, 5, FULL) > estimate.estimate_s(p, 5, FULL) * \
                planned_epochs(q, 5, FULL) / planned_epochs(p, 5, FULL)
        plan = budget.reproduce_plan("gnw_adam", 5, False, key)
        assert plan.cli.endswith(f"--model {key}")
        assert plan.work.flops != budget.reproduce_plan("gnw_adam", 5, False).work.flops
    assert "--model" not in budget.reproduce_plan("gnw_adam", 5, False).cli


def test_a_record_made_before_these_variants_still_renders(tmp_path):
    # The committed record predates the schedule control and the cross-model variants (no
    # "model" field either): the report and the pages read it as it is.
    from pathlib import Path
    from core.experiments.report import main as rebuild
    record = Path(__file__).resolve().parents[1] / "results" / "reproduction.json"
    out = tmp_path / "again.md"
    assert rebuild([str(record), str(out)]) == 0
    text = out.read_text()
    assert "## 000" in text and "not on the write-up's model" not in text


def test_a_hand_built_protocol_has_no_margins_instead_of_an_error():
    # A protocol a user builds under a new key (e.g. in a notebook) was never calibrated.
    p = replace(next(iter(PROTOCOLS.values())), key="my-own-writeup")
    assert p.margins() == {}


def test_a_variant_that_could_not_tell_does_not_make_a_verdict_depend_on_it():
    from core.experiments.variants import claim_line
    from core.stats import NOT_DETECTED, REPRODUCED, REVERSED
    p = next(iter(PROTOCOLS.values()))
    silent = ("model", "on cnn", NOT_DETECTED, "not detected (could detect >= 0.2)")
    line = claim_line("X beats Adam", p, (REPRODUCED, "reproduced"),
                      [silent, ("width", "width 50", REPRODUCED, "reproduced")])
    assert line.startswith("X beats Adam: no setting contradicts it (reproduced under 2 of 3)")
    assert "on cnn -> not detected (could detect >= 0.2)" in line and "depends" not in line
    flipped = claim_line("X beats Adam", p, (REPRODUCED, "reproduced"),
                         [silent, ("width", "width 50", REVERSED, "reversed")])
    assert flipped.startswith("X beats Adam: depends on ") and "width 50 -> reversed" in flipped
    # an undetected verdict that a variant does detect depends on that variant's setting
    found = claim_line("X beats Adam", p, (NOT_DETECTED, "not detected"),
                       [("width", "width 50", REPRODUCED, "reproduced")])
    assert found.startswith("X beats Adam: depends on width")
    assert claim_line("X", p, (REPRODUCED, "r"), [("w", "w", REPRODUCED, "r")]) == \
        "X: holds under all 2 settings (reproduced)"


def test_the_stored_record_restates_its_lines_under_the_current_rule():
    from pathlib import Path
    from core.experiments.variants import robustness_of_record
    record = json.loads((Path(__file__).parent.parent / "results/reproduction.json").read_text())
    for e in record["experiments"]:
        lines = robustness_of_record(e)
        assert len(lines) >= len(e["claims"]) and all(isinstance(x, str) for x in lines)
        assert [x.split(":")[0] for x in lines[:len(e["claims"])]] == \
            [c["text"].split(":")[0] for c in e["claims"]]
