"""core.experiments: the protocols match the write-ups, the verdict logic, measuring, a tiny run of
every reproduction, and the reproduce CLI."""

import json
import math
from pathlib import Path

import pytest
import torch

import core.experiments.run as run_module
from core.config import EpochMetrics, RunConfig
import core.experiments.variants as variants_module
from core.experiments import (CONFIRM_SEED, EARLY_EPOCHS, FULL, PROTOCOLS, QUICK, Claim,
                              Protocol, Reported, Scale, SideProtocol, VERDICTS, get_protocol,
                              holm_adjusted, judge_claim, measure, overall, planned_events,
                              planned_events_all, reproduce, reproduce_all_settings)
from core.stats import EQUIVALENT, NOT_DETECTED, REPRODUCED, REVERSED
from core.optim.registry import METHODS
from core.stats import paired_comparison
from core.training.train import train

# The smallest run that still exercises every stage: searches of 2 trials x 2 epochs, final
# trainings of 3 epochs (so the honest "best epoch" may fall before the last one), 2 seeds.
TINY = Scale("test", max_trials=2, max_search_epochs=2, max_final_epochs=3)
WRITEUPS = Path(__file__).resolve().parents[2] / "shared" / "writeups"

# Copied by hand from the write-ups: (trials, search epochs, final epochs, reported numbers).
EXPECTED = {
    "weight_trajectory": ("000", 30, 20, 0, {("baseline", "best_val_loss"): 1.0541,
                                             ("baseline", "lr"): 0.0084,
                                             ("method", "best_val_loss"): 1.0447,
                                             ("method", "lr"): 0.0097,
                                             ("method", "beta"): 0.32}),
    "wngd": ("001", 15, None, 100, {("baseline", "lr"): 0.0104, ("method", "lr"): 0.0932,
                                    ("baseline", "best_val_loss"): 1.1505,
                                    ("method", "best_val_loss"): 1.3635}),
    "meta_curvature": ("002", 0, None, None, {}),
    "hessian_lr": ("003", 20, None, 20, {("baseline", "lr"): 0.00524,
                                         ("method", "lr"): 0.00271}),
    "gnw_adam": ("004", 10, 25, 50, {("baseline", "lr"): 0.00624, ("method", "lr"): 0.00585,
                                     ("baseline", "final_val_loss"): 1.0846,
                                     ("method", "final_val_loss"): 1.0533}),
}
# What each write-up concludes about the method against Adam.
CLAIMS = {"weight_trajectory": {("best_val_loss", "better")},
          "wngd": {("best_val_loss", "worse")},
          "meta_curvature": {("final_val_loss", "worse"), ("final_train_loss", "worse")},
          "hessian_lr": {("early_val_loss", "better"), ("final_val_loss", "worse")},
          "gnw_adam": {("final_val_loss", "better")}}


# ---- protocol data ------------------------------------------------------------------------

def test_one_protocol_per_writeup_and_each_names_its_method_in_the_registry():
    assert set(PROTOCOLS) == set(EXPECTED)
    for key, p in PROTOCOLS.items():
        assert p.writeup == EXPECTED[key][0]
        assert METHODS[p.method.method].writeup == p.writeup
        assert p.baseline.method == "adam"


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_protocol_matches_its_writeup(key):
    p = get_protocol(key)
    _, trials, search_epochs, final_epochs, reported = EXPECTED[key]
    assert p.search_trials == trials
    if search_epochs is not None:
        assert p.search_epochs == search_epochs
    if final_epochs is not None:
        assert p.final_epochs == final_epochs
    assert {(r.side, r.quantity): r.value for r in p.reported} == reported
    assert {(c.quantity, c.direction) for c in p.claims} == CLAIMS[key]
    assert p.choices, "every open detail must be written down next to the protocol"


def test_write_up_specifics():
    # 000 tunes lr and beta for the wrapper, lr for Adam.
    wt = get_protocol("weight_trajectory")
    assert [n for n, *_ in wt.method.tuned] == ["lr", "beta"]
    assert [n for n, *_ in wt.baseline.tuned] == ["lr"]
    # 002: no search, both at lr 1e-3, one Hutchinson sample.
    mc = get_protocol("meta_curvature")
    assert dict(mc.baseline.fixed)["lr"] == dict(mc.method.fixed)["lr"] == 1e-3
    assert dict(mc.method.fixed)["n_samples"] == 1
    assert {"alpha", "update_freq"} <= set(dict(mc.method.fixed))
    # 004: "a simple MLP with one hidden layer".
    assert len(get_protocol("gnw_adam").hidden) == 1


@pytest.mark.skipif(not WRITEUPS.is_dir(), reason="the write-ups are not next to this checkout")
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_reported_numbers_appear_in_the_writeup_text(key):
    p = get_protocol(key)
    (text_file,) = WRITEUPS.glob(f"{p.writeup}_*.txt")
    text = text_file.read_text()
    for r in p.reported:
        assert f"{r.value:g}" in text or f"{r.value:.4f}" in text, (r, text_file.name)
    if p.search_trials:
        assert f"{p.search_trials} trials" in text


def test_bad_protocols_are_rejected():
    with pytest.raises(ValueError):
        SideProtocol("adam", tuned=(("lr", 1e-9, 1e-1),))        # below lr's valid range
    with pytest.raises(ValueError):
        SideProtocol("adam", tuned=(("lr", 1e-4, 1e-1),), fixed=(("lr", 1e-3),))
    with pytest.raises(ValueError):
        SideProtocol("adam", fixed=(("beta", 0.1),))              # Adam has no beta
    with pytest.raises(ValueError):
        Claim("lr", "better", "not a loss")
    with pytest.raises(ValueError):
        Reported("adam", "lr", 0.1)                               # sides are roles
    p = get_protocol("gnw_adam")
    kwargs = {f: getattr(p, f) for f in p.__dataclass_fields__}
    with pytest.raises(ValueError):
        Protocol(**{**kwargs, "baseline": SideProtocol("gnw_adam", tuned=(("lr", 1e-4, 1e-1),))})
    with pytest.raises(ValueError):
        Protocol(**{**kwargs, "claims": ()})
    with pytest.raises(ValueError):
        Protocol(**{**kwargs, "search_trials": 0, "final_epochs": 0})


def test_scales_cap_but_never_grow_a_protocol():
    p = get_protocol("wngd")
    assert FULL.apply(p) == {"search_trials": 15, "search_epochs": 20, "final_epochs": 100}
    q = QUICK.apply(p)
    assert q["search_trials"] <= 4 and q["search_epochs"] <= 5 and q["final_epochs"] <= 10
    assert QUICK.apply(get_protocol("meta_curvature"))["search_trials"] == 0
    with pytest.raises(ValueError):
        Scale("bad", max_trials=0)


# ---- verdict on constructed numbers ------------------------------------------------------

BETTER = Claim("final_val_loss", "better", "the method ends lower")
WORSE = Claim("final_val_loss", "worse", "the method ends higher")
BASE = [1.10, 1.05, 1.12, 1.08, 1.09]
CLEARLY_LOWER = [b - 0.05 + e for b, e in zip(BASE, [0.004, -0.003, 0.002, 0.0, -0.002])]
CLEARLY_HIGHER = [b + 0.05 + e for b, e in zip(BASE, [0.004, -0.003, 0.002, 0.0, -0.002])]
OVERLAPPING = [b + e for b, e in zip(BASE, [0.03, -0.04, 0.02, -0.03, 0.01])]


@pytest.mark.parametrize("claim, method, outcome, verdict", [
    (BETTER, CLEARLY_LOWER, REPRODUCED, REPRODUCED),
    (BETTER, CLEARLY_HIGHER, REVERSED, REVERSED),
    (BETTER, OVERLAPPING, NOT_DETECTED, NOT_DETECTED),
    (WORSE, CLEARLY_HIGHER, REPRODUCED, REPRODUCED),
    (WORSE, CLEARLY_LOWER, REVERSED, REVERSED),
    (WORSE, OVERLAPPING, NOT_DETECTED, NOT_DETECTED),
])
def test_verdict_on_constructed_numbers(claim, method, outcome, verdict):
    paired = paired_comparison(method, BASE)
    judged = judge_claim(claim, paired)
    assert judged.outcome == outcome
    v, reason = overall([judged])
    assert v == verdict
    assert claim.text in reason and paired.reason in reason


def test_one_seed_is_never_a_verdict_either_way():
    judged = judge_claim(BETTER, paired_comparison([0.5], [1.5]))
    assert overall([judged])[0] == NOT_DETECTED
    assert "one seed" in judged.text


def test_verdict_combines_claims():
    lower = judge_claim(BETTER, paired_comparison(CLEARLY_LOWER, BASE))
    noise = judge_claim(WORSE, paired_comparison(OVERLAPPING, BASE))
    against = judge_claim(WORSE, paired_comparison(CLEARLY_LOWER, BASE))
    missing = judge_claim(WORSE, None, "every seed diverged")
    assert overall([lower, lower])[0] == REPRODUCED
    assert overall([lower, noise])[0] == NOT_DETECTED
    assert overall([lower, against])[0] == REVERSED
    assert overall([noise, against])[0] == REVERSED
    assert missing.outcome == NOT_DETECTED and "every seed diverged" in missing.describe()
    assert "could detect >= " in noise.text
    # Equivalent only with a margin fixed beforehand that two one-sided tests support.
    close = [b + e for b, e in zip(BASE, [0.001, -0.001, 0.0005, 0.0, -0.0005])]
    same = judge_claim(BETTER, paired_comparison(close, BASE), margin=0.01)
    assert same.outcome == EQUIVALENT and same.text == "equivalent within +-0.01"
    assert overall([lower, same])[0] == EQUIVALENT
    with pytest.raises(ValueError):
        overall([])


def test_holm_adjusts_across_claims():
    # Three claims each just significant alone: with Holm, only as strong as the family allows.
    weak = [b - 0.013 + e for b, e in zip(BASE, [0.01, -0.012, 0.008, -0.006, 0.0])]
    one = judge_claim(BETTER, paired_comparison(weak, BASE))
    assert one.outcome == REPRODUCED and 0.05 / 3 < one.judged.p < 0.05
    strong = judge_claim(BETTER, paired_comparison(CLEARLY_LOWER, BASE))
    adjusted = holm_adjusted([one, one, strong], [None, None, None])
    assert [a.outcome for a in adjusted] == [NOT_DETECTED, NOT_DETECTED, REPRODUCED]
    assert adjusted[0].judged.p == pytest.approx(min(1.0, 2 * one.judged.p))


def _z(n, seed):
    import numpy as np
    z = np.random.default_rng(seed).normal(size=n)
    return (z - z.mean()) / z.std(ddof=1)


def _result(key, diffs_per_claim):
    """An ExperimentResult whose claims have the given per-seed differences (the rest empty)."""
    from core.experiments.result import ExperimentResult
    p = get_protocol(key)
    outcomes = tuple(judge_claim(c, paired_comparison(list(d), [0.0] * len(d),
                                                      margin=p.margin(c.quantity)),
                                 margin=p.margin(c.quantity))
                     for c, d in zip(p.claims, diffs_per_claim))
    verdict, reason = overall(list(outcomes))
    return ExperimentResult(key=key, scale="full", settings={}, seeds=(), as_written={},
                            repeats=(), summary={}, paired={}, outcomes=outcomes,
                            verdict=verdict, reason=reason, as_written_note="", duration_s=0.0)


def test_a_two_claim_record_headline_is_adjusted():
    from core.cli.reproduce import adjust_record
    from core.experiments.verdict import adjusted_result
    # 002's two claims, each "reproduced" alone at p ~ 0.03 and far outside its margin.
    diffs = [list(0.1 + 0.0684 * _z(5, k)) for k in (1, 2)]
    raw = _result("meta_curvature", diffs)
    assert [o.outcome for o in raw.outcomes] == [REPRODUCED, REPRODUCED]
    assert all(0.025 < o.judged.p < 0.05 for o in raw.outcomes)
    alone = adjusted_result(raw)
    assert alone.verdict == REPRODUCED and alone.adjusted_verdict == NOT_DETECTED
    assert alone.family == "its own 2 claim(s) only"
    assert alone.headline().startswith("002 meta_curvature: NOT DETECTED (Holm over its own 2 "
                                       "claim(s) only; unadjusted: reproduced)")
    # In a record with another write-up, the family is all the record's claims.
    other = _result("wngd", [list(0.3 + 0.01 * _z(5, 3))])
    record = adjust_record([alone, adjusted_result(other)])
    assert {r.family for r in record} == {"all 3 claims of the record's 2 write-ups"}
    assert record[0].adjusted_verdict == NOT_DETECTED and record[1].adjusted_verdict == \
        REPRODUCED
    d = record[0].to_dict(curves=False)
    assert d["adjusted_verdict"] == NOT_DETECTED and d["verdict"] == REPRODUCED
    assert d["claims"][0]["adjusted_verdict"].startswith("not detected (could detect >= ")
    assert d["claims"][0]["measures"] == "test loss after the last epoch"


def test_002s_numbers_are_negligible_under_the_old_margin():
    # The record's +0.0164 [0.0140, 0.0188] over 20 seeds against +-0.02, TOST p = 0.0026.
    diffs = list(0.0164 + 0.00512 * _z(20, 2))
    out = judge_claim(get_protocol("meta_curvature").claims[0],
                      paired_comparison(diffs, [0.0] * 20), margin=0.02)
    assert out.outcome == "negligible"
    assert out.text == "significant but within +-0.02: negligible (worse)"
    assert overall([out])[0] == "negligible"


def test_each_metric_has_its_own_margin_set_before_the_record():
    from core.experiments import pinned_margins as margins
    for key, p in PROTOCOLS.items():
        for c in p.claims:
            assert p.margin(c.quantity) is not None and p.margin(c.quantity) > 0
    assert get_protocol("meta_curvature").margin("final_val_loss") != \
        get_protocol("meta_curvature").margin("final_train_loss")
    assert "after 002's earlier numbers were known" in margins.HISTORY
    assert "calibration seeds" in margins.RATIONALE and "2026-12-03" in margins.SET_BY
    # Calibration seeds are used by nothing else.
    assert not set(margins.CALIBRATION_SEEDS) & {*range(100), *range(CONFIRM_SEED,
                                                                     CONFIRM_SEED + 100)}


def test_a_diverged_seed_ranks_last_in_the_reproduction():
    p = get_protocol("gnw_adam")
    inf = math.inf

    def rep(method, baseline):
        def side(name, v):
            return run_module.SideRun(name, p.side(name).method, 0, "honest", {"lr": 1e-3}, (),
                                      (), {"final_val_loss": v, "final_val_acc": math.nan
                                           if v == inf else 0.5, "lr": 1e-3})
        return {"method": side("method", method), "baseline": side("baseline", baseline)}

    repeats = [rep(1.0, 1.1), rep(inf, 1.2), rep(1.02, 1.15)]
    summary, paired, notes = run_module._summarise(p, repeats)
    pc = paired["final_val_loss"]
    # The diverged seed stays paired at the comparison's worst value (1.2): it ranks last.
    assert pc.difference.n == 3 and pc.differences[1] == pytest.approx(0.0)
    assert pc.diverged == (1, 0) and notes["final_val_loss"] == "diverged on 1 of 3 seeds"
    out = judge_claim(p.claims[0], pc, notes["final_val_loss"], margin=p.margin("final_val_loss"))
    assert "diverged on 1 of 3 seeds" in out.text
    # The honest mean of the side itself is over the seeds that gave a number.
    assert summary["final_val_loss"]["method"].n == 2


# ---- measuring a curve --------------------------------------------------------------------

def _curve(vals, test=None, diverged=False):
    ms = [EpochMetrics(epoch=i + 1, train_loss=v + 0.1, val_loss=v, val_acc=0.5, elapsed=0.0,
                       lrs=(0.01,)) for i, v in enumerate(vals)]
    last = ms[-1]
    ms[-1] = EpochMetrics(**{**last.__dict__, "test_loss": test, "diverged": diverged})
    return ms


def _fake_protocol(quantities_claims):
    p = get_protocol("hessian_lr")
    kwargs = {f: getattr(p, f) for f in p.__dataclass_fields__}
    return Protocol(**{**kwargs, "claims": tuple(Claim(q, "better", q)
                                                 for q in quantities_claims)})


def _with_tests(curve, tests):
    return [EpochMetrics(**{**m.__dict__, "test_loss": t}) for m, t in zip(curve, tests)]


def test_measure_reads_the_writeup_split_off_the_validation_curve():
    p = _fake_protocol(["best_val_loss", "final_val_loss", "early_val_loss", "final_train_loss"])
    vals = [2.0, 1.5, 1.2, 1.3, 1.1, 1.4, 1.6]
    got = measure(p, _curve(vals), {"lr": 0.01}, "writeup")
    assert got["best_val_loss"] == 1.1
    assert got["final_val_loss"] == 1.6
    assert got["early_val_loss"] == pytest.approx(sum(vals[:EARLY_EPOCHS]) / EARLY_EPOCHS)
    assert got["final_train_loss"] == pytest.approx(1.7)
    assert got["lr"] == 0.01


def test_measure_honest_split_reads_the_test_set_at_the_chosen_epoch():
    p = _fake_protocol(["best_val_loss", "final_val_loss"])
    # The epoch is chosen by validation alone (epoch 2), whatever the test losses say.
    curve = _with_tests(_curve([2.0, 1.0, 1.5]), [0.5, 0.777, 1.9])
    got = measure(p, curve, {"lr": 0.01}, "honest")
    assert got["best_val_loss"] == 0.777
    assert got["final_val_loss"] == 1.9          # the test loss after the last epoch
    got = measure(p, _with_tests(_curve([2.0, 1.5, 1.0]), [0.1, 0.2, 1.1]), {"lr": 0.01},
                  "honest")
    assert got["best_val_loss"] == 1.1
    # "Faster early" on the honest split is read on the test curve, not the validation set
    # that chose the lr.
    early = _fake_protocol(["early_val_loss"])
    vals = [2.0, 1.5, 1.2, 1.3, 1.1, 1.4]
    tests = [3.0, 2.0, 1.0, 1.0, 1.0, 9.0]
    got = measure(early, _with_tests(_curve(vals), tests), {"lr": 0.01}, "honest")
    assert got["early_val_loss"] == pytest.approx(sum(tests[:EARLY_EPOCHS]) / EARLY_EPOCHS)
    # A curve without a test report at the chosen epoch cannot be measured there.
    got = measure(p, _curve([2.0, 1.0, 1.5], test=1.9), {"lr": 0.01}, "honest")
    assert math.isnan(got["best_val_loss"]) and got["final_val_loss"] == 1.9


def test_a_diverged_run_measures_as_infinitely_bad():
    p = _fake_protocol(["final_val_loss", "final_train_loss", "best_val_loss"])
    got = measure(p, _curve([2.0, float("nan")], diverged=True), {"lr": 5.0}, "writeup")
    assert got["final_val_loss"] == math.inf and got["final_train_loss"] == math.inf
    assert got["best_val_loss"] == 2.0
    # Honest: the best epoch before the divergence still has its test loss to read.
    curve = _with_tests(_curve([2.0, 1.5, float("nan")], diverged=True), [1.8, 1.4, None])
    got = measure(p, curve, {"lr": 5.0}, "honest")
    assert got["final_val_loss"] == math.inf and got["best_val_loss"] == 1.4
    got = measure(p, _curve([float("nan")], diverged=True), {"lr": 5.0}, "honest")
    assert got["best_val_loss"] == math.inf


def test_reading_an_epoch_on_the_way_equals_retraining_to_it():
    # measure() reads epoch k's test loss off the full run instead of retraining k epochs.
    config = RunConfig(method="gnw_adam", lr=0.01, epochs=3, split="honest", device="cpu")
    full = list(train(config, test_every_epoch=True))
    short = list(train(config.replace(epochs=2)))
    assert short[-1].val_loss == full[1].val_loss
    assert short[-1].test_loss == full[1].test_loss is not None


# ---- running ------------------------------------------------------------------------------

def _run(key, seeds=2):
    events = list(reproduce(key, seeds=seeds, scale=TINY))
    return events, events[-1].result


@pytest.mark.timeout(120)
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_a_tiny_reproduction_fills_every_field(key):
    p = get_protocol(key)
    events, r = _run(key)
    assert events[-1].kind == "result" and r is not None
    assert [e.kind for e in events].count("result") == 1
    assert [e.stage for e in events if e.kind == "stage"] == [0, 1, 2]
    diverged = any(run.curve and run.curve[-1].diverged or run.note
                   for runs in (r.as_written, *r.repeats) for run in runs.values())
    assert len(events) <= planned_events(p, 2, TINY)
    assert diverged or len(events) == planned_events(p, 2, TINY)
    s = TINY.apply(p)
    for stage in (0, 1, 2):
        for side in ("baseline", "method"):
            mine = [e for e in events if e.stage == stage and e.side == side]
            assert sum(e.kind == "trial" for e in mine) == s["search_trials"]
            # Epoch events draw the live figure: each side's measured training. As written, 000
            # measures the best trial's own run, so it trains nothing more.
            trained = s["final_epochs"] if stage == 0 else s["final_epochs"] or s["search_epochs"]
            assert sum(e.kind == "epoch" for e in mine) == trained
    # Every side of every stage measured every quantity of the protocol.
    for runs in (r.as_written, *r.repeats):
        for side in ("baseline", "method"):
            run = runs[side]
            assert set(run.measured) >= {q for q in p.quantities
                                         if q not in ("lr", "beta") or q in run.params}
            assert all(isinstance(v, float) for v in run.measured.values())
            assert run.curve
    assert r.as_written["baseline"].split == "writeup"
    assert {runs["method"].split for runs in r.repeats} == {"honest"}
    assert [runs["method"].seed for runs in r.repeats] == [0, 1]
    # Confirmations on fresh seeds: the measured runs never reuse a seed a search saw.
    for side in ("baseline", "method"):
        measured = {runs[side].measure_seed for runs in r.repeats}
        assert measured == {CONFIRM_SEED, CONFIRM_SEED + 1}
        assert measured.isdisjoint(runs[side].seed for runs in r.repeats)
    # The record names the machine: bit-for-bit equality holds only on one CPU and torch build.
    assert {"cpu", "torch build", "torch_threads"} <= set(r.environment)
    assert r.environment["torch build"].startswith("git ")
    # Test accuracy next to every claimed loss.
    for runs in r.repeats:
        assert any(q.endswith("_acc") for q in runs["method"].measured)
    assert r.verdict in VERDICTS and r.reason
    assert len(r.outcomes) == len(p.claims)
    for c in p.claims:
        assert r.paired[c.quantity] is not None and r.paired[c.quantity].difference.n == 2
    rows = r.rows()
    paired_rows = [row for row in rows if row["side"] == "method - Adam (paired)"]
    assert len(paired_rows) == len([q for q in p.quantities if q.endswith(("_loss", "_acc"))])
    assert all(row["verdict"] for row in paired_rows)
    for rep in p.reported:
        assert any(row["reported"] == rep.value for row in rows)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["quick"] is True and d["verdict"] == r.verdict and d["table"]
    assert r.csv().count("\n") == len(rows) + 1
    assert "TEST RUN" in r.headline()


def _spy_populations(monkeypatch):
    populations = []
    original = run_module.train_population

    def spy(configs, *args, **kwargs):
        populations.append(list(configs))
        return original(configs, *args, **kwargs)
    monkeypatch.setattr(run_module, "train_population", spy)
    return populations


@pytest.mark.timeout(120)
@pytest.mark.parametrize("key", ["gnw_adam", "meta_curvature", "weight_trajectory"])
def test_seeds_trained_together_equal_their_solo_runs(key, monkeypatch):
    # Float64 makes a population member match its solo run to ~1e-15 (tests/test_population.py),
    # so a member trained with another member's seed, values or split would stand out.
    p = get_protocol(key)
    populations = _spy_populations(monkeypatch)
    events = list(reproduce(key, seeds=3, scale=TINY, dtype=torch.float64))
    r = events[-1].result
    # One population per side over every honest seed; stage 0 (one run a side) trains alone.
    fresh = [CONFIRM_SEED + i for i in range(3)]
    assert [[c.seed for c in members] for members in populations] == [fresh, fresh]
    epochs = run_module.measured_epochs(TINY.apply(p))
    for members, side in zip(populations, ("baseline", "method")):
        for config, runs in zip(members, r.repeats):
            run = runs[side]
            params = dict(run.params)
            assert config == RunConfig(method=run.method, lr=params.pop("lr"), hparams=params,
                                       epochs=epochs, batch_size=p.batch_size, hidden=p.hidden,
                                       seed=run.measure_seed, split="honest", device="cpu")
            solo = list(train(config, dtype=torch.float64, test_every_epoch=True))
            assert len(solo) == len(run.curve) == epochs
            for a, b in zip(solo, run.curve):
                for name in ("train_loss", "val_loss", "test_loss"):
                    assert getattr(b, name) == pytest.approx(getattr(a, name), abs=1e-9)
            assert measure(p, solo, run.params, "honest") == pytest.approx(run.measured,
                                                                           abs=1e-9)
    # Every member's epochs came as events of its own stage and side, labelled as trained together.
    for stage in (1, 2, 3):
        for side in ("baseline", "method"):
            mine = [e for e in events if e.kind == "epoch" and e.stage == stage
                    and e.side == side]
            assert [e.epoch for e in mine] == list(r.repeats[stage - 1][side].curve)
            assert all("trained together" in e.label for e in mine)
    sides = [(e.stage, e.side) for e in events if e.kind == "side"]
    assert sides == [(0, "baseline"), (0, "method"),
                     *[(s, "baseline") for s in (1, 2, 3)], *[(s, "method") for s in (1, 2, 3)]]


@pytest.mark.timeout(60)
def test_one_honest_seed_trains_alone(monkeypatch):
    populations = _spy_populations(monkeypatch)
    events = list(reproduce("meta_curvature", seeds=1, scale=TINY))
    assert populations == []
    assert len(events) == planned_events(get_protocol("meta_curvature"), 1, TINY)
    assert events[-1].result.repeats[0]["method"].measured


@pytest.mark.timeout(60)
def test_closing_the_generator_stops_the_reproduction():
    gen = reproduce("gnw_adam", seeds=3, scale=TINY)
    kinds = []
    for ev in gen:
        kinds.append(ev.kind)
        if ev.kind == "trial":
            break
    gen.close()
    assert "result" not in kinds


@pytest.mark.timeout(60)
def test_closing_during_a_population_stops_it(monkeypatch):
    running = []
    original = run_module.train_population

    def keep(configs, *args, **kwargs):
        running.append(original(configs, *args, **kwargs))
        return running[-1]
    monkeypatch.setattr(run_module, "train_population", keep)
    gen = reproduce("meta_curvature", seeds=2, scale=TINY)
    for ev in gen:
        if ev.kind == "epoch" and ev.stage == 2:
            break
    gen.close()
    (population,) = running
    assert population.gi_frame is None      # closed, not left holding its stacked weights


def test_bad_seed_counts_are_rejected():
    with pytest.raises(ValueError):
        next(reproduce("wngd", seeds=0))
    with pytest.raises(ValueError):
        next(reproduce("nope"))


@pytest.mark.timeout(300)
def test_cli_reproduce_quick(tmp_path, monkeypatch, capsys):
    import core.cli.reproduce as cli_reproduce
    from core.cli import main
    monkeypatch.setattr(cli_reproduce, "QUICK", TINY)
    out = tmp_path / "r.json"
    md = tmp_path / "r.md"
    assert main(["reproduce", "meta_curvature", "--seeds", "2", "--quick", "--json", str(out),
                 "--markdown", str(md)]) == 0
    printed = capsys.readouterr().out
    assert "QUICK RUN" in printed and "meta_curvature" in printed
    record = json.loads(out.read_text())
    assert record["quick"] is True and record["seeds"] == 2
    (exp,) = record["experiments"]
    assert exp["key"] == "meta_curvature" and exp["verdict"] in VERDICTS
    # The variants ran, each claim has a robustness line, and Holm sits next to the raw verdicts.
    assert len(exp["variants"]) == len(get_protocol("meta_curvature").variants)
    assert len(exp["robustness"]) == 2
    assert [h["raw"] for h in record["holm"]] == [c["verdict"] for c in exp["claims"]]
    assert record["thread_check"] is None
    text = md.read_text()
    assert "Holm-adjusted" in text and exp["robustness"][0] in text and "*lr sensitivity*" in text
    assert "QUICK RUN" in text and "002" in text and exp["verdict"] in text
    # The Markdown record can be rebuilt from the JSON alone.
    from core.experiments.report import main as rebuild
    again = tmp_path / "again.md"
    assert rebuild([str(out), str(again)]) == 0
    assert again.read_text() == text


@pytest.mark.timeout(300)
def test_cli_thread_check_reruns_one_writeup_at_another_thread_count(tmp_path, monkeypatch):
    import core.cli.reproduce as cli_reproduce
    from core.cli import main
    monkeypatch.setattr(cli_reproduce, "QUICK", TINY)
    out = tmp_path / "r.json"
    before = torch.get_num_threads()
    assert main(["reproduce", "meta_curvature", "--seeds", "2", "--quick", "--no-variants",
                 "--no-sensitivity", "--thread-check", "meta_curvature", "--json",
                 str(out)]) == 0
    assert torch.get_num_threads() == 1
    torch.set_num_threads(before)
    check = json.loads(out.read_text())["thread_check"]
    assert check["threads"] == [1, 2] and check["key"] == "meta_curvature"
    assert check["max_abs_change"] >= 0 and len(check["verdicts"]) == 2
    with pytest.raises(SystemExit):
        main(["reproduce", "meta_curvature", "--thread-check", "wngd"])


def _mlp_variants_only(p):
    """``p`` without its cross-model variants (tests/test_reproduce_variants.py runs those; a
    GRU epoch costs several MLP ones)."""
    from dataclasses import replace
    return replace(p, variants=tuple(v for v in p.variants if not v.model))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("key", ["gnw_adam", "meta_curvature"])
def test_sensitivity_variants_run_in_quick_mode(key):
    p = _mlp_variants_only(get_protocol(key))
    events = list(reproduce_all_settings(p, seeds=2, scale=TINY))
    r = events[-1].result
    assert len(events) == planned_events_all(p, 2, TINY)
    assert [v.variant for v in r.variants][:2] == [v.name for v in p.variants][:2]
    assert {e.variant for e in events[:-1]} == {"", *(v.variant for v in r.variants)}
    for v in r.variants:
        assert v.protocol.variant and len(v.outcomes) == len(p.claims)
    if key == "gnw_adam":
        assert [(v.protocol.hidden, v.protocol.batch_size) for v in r.variants][:3] == [
            ((32,), 100), ((100,), 256), ((32,), 256)]
    else:
        # The lr-matched control trains Adam at the method's mean effective lr.
        matched = next(v.protocol for v in r.variants
                       if v.protocol.baseline.fixed != p.baseline.fixed)
        assert matched.baseline.fixed == (("lr", variants_module.mean_effective_lr(r)),)
        assert matched.baseline.fixed[0][1] <= 1e-3
    assert len(r.robustness) == len(p.claims)
    assert all(("holds under all" in line) or ("depends on" in line) for line in r.robustness)
    # Both sides' lr-sensitivity curves, for the measured training's length, on seeds that no
    # search (0, 1), measured run (1000, 1001) or calibration uses; each best point confirmed
    # on fresh seeds again, and the two minima tested paired on those.
    from core.experiments.pinned_margins import CALIBRATION_SEEDS
    from core.experiments.sensitivity import CONFIRM_SEED_SENSITIVITY, SENSITIVITY_SEED
    assert set(r.sensitivity) == {"baseline", "method", "minima"}
    used = {0, 1, CONFIRM_SEED, CONFIRM_SEED + 1, *CALIBRATION_SEEDS}
    for side in ("baseline", "method"):
        curve = r.sensitivity[side]
        assert curve["method"] == p.side(side).method
        assert curve["seeds"] == [SENSITIVITY_SEED, SENSITIVITY_SEED + 1]
        assert not set(curve["seeds"]) & used
        assert len(curve["rows"]) == 3 and curve["epochs"] == r.settings["final_epochs"]
        assert sum(row["best"] for row in curve["rows"]) <= 1
        conf = curve["confirmation"]
        if conf is not None:
            assert conf["seeds"] == [CONFIRM_SEED_SENSITIVITY, CONFIRM_SEED_SENSITIVITY + 1]
            assert not set(conf["seeds"]) & (used | set(curve["seeds"]))
            best = next(row for row in curve["rows"] if row["best"])
            assert conf["lr"] == best["lr"] and conf["sweep"]["mean"] == best["mean"]
    minima = r.sensitivity["minima"]
    assert minima["verdict"].startswith("not tested") or minima["seeds"] == [
        CONFIRM_SEED_SENSITIVITY, CONFIRM_SEED_SENSITIVITY + 1]


@pytest.mark.timeout(240)
def test_a_range_is_widened_until_the_tuned_value_is_inside(monkeypatch):
    # Call every tuned value "at the edge": the range grows tenfold up to the registry's bound.
    monkeypatch.setattr(variants_module, "EDGE_FRACTION", 0.999)
    p = _mlp_variants_only(get_protocol("wngd"))
    r = list(reproduce_all_settings(p, seeds=2, scale=TINY))[-1].result
    capped, widened = r.variants
    assert capped.protocol.method.tuned == (("lr", 1e-3, 0.1),)
    bound = p.method.spec.hyperparam("lr").high
    assert widened.protocol.method.tuned == (("lr", 1e-3, bound),)
    assert any(n.startswith("WNGD lr: 2 of 2 seeds tuned to the top") for n in r.notes)


def test_cli_rejects_unknown_names():
    from core.cli import main
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "nope"])
    assert e.value.code == 2


def test_every_method_with_a_writeup_has_its_protocol():
    from core.experiments import by_writeup
    from core.optim import METHODS
    for spec in METHODS.values():
        protocol = by_writeup(spec.writeup)
        assert (protocol is None) == (spec.writeup is None)
        assert protocol is None or protocol.key == spec.key


def test_the_lr_matched_control_trains_at_the_lr_the_method_stepped_with():
    # MetaCurvatureLR reports the scheduled lr as lrs and the lr its base steps with as the
    # diagnostic "lr": the control must match the second, or it is Adam at the method's own lr.
    from types import SimpleNamespace
    from core.config import EpochMetrics
    from core.experiments import variants as variants_module

    def epoch(scaled):
        return EpochMetrics(epoch=1, train_loss=1.0, val_loss=1.0, val_acc=0.5, elapsed=0.0,
                            lrs=(1e-3,), diagnostics={"lr": scaled})

    result = SimpleNamespace(repeats=[{"method": SimpleNamespace(curve=[epoch(0.8e-3), epoch(0.9e-3)])},
                                      {"method": SimpleNamespace(curve=[epoch(1.0e-3)])}])
    assert variants_module.mean_effective_lr(result) == pytest.approx(0.9e-3, rel=1e-12)
    plain = SimpleNamespace(repeats=[{"method": SimpleNamespace(curve=[EpochMetrics(
        epoch=1, train_loss=1.0, val_loss=1.0, val_acc=0.5, elapsed=0.0, lrs=(2e-3,))])}])
    assert variants_module.mean_effective_lr(plain) == pytest.approx(2e-3)


def test_reproduce_warns_when_installed_versions_differ_from_the_record(tmp_path, capsys,
                                                                       monkeypatch):
    from core.experiments import constraints
    pinned = tmp_path / "reproduction-constraints.txt"
    pinned.write_text(constraints.constraints_text({"torch": "2.13.0+cpu", "numpy": "1.0.0",
                                                    "mnist1d": "not installed"}))
    assert constraints.read_constraints(pinned) == {"torch": "2.13.0+cpu", "numpy": "1.0.0"}
    now = {"torch": "2.13.0+cpu", "numpy": "2.4.6"}
    assert constraints.differences(pinned, now) == [
        "numpy 2.4.6 is installed; the record was made with 1.0.0"]
    assert constraints.differences(tmp_path / "missing.txt", now) == []
    assert constraints.constraints_path("results/reproduction.json").name == \
        "reproduction-constraints.txt"
    # The CLI says so before it runs anything.
    import core.cli.reproduce as cli_reproduce
    from core.cli import main
    monkeypatch.setattr(cli_reproduce, "differences", lambda: ["numpy 9 is installed; x"])
    monkeypatch.setattr(cli_reproduce, "reproduce_all_settings", lambda *a, **k: iter(()))
    assert main(["reproduce", "meta_curvature", "--no-variants", "--no-sensitivity"]) == 0
    assert "WARNING: numpy 9 is installed" in capsys.readouterr().out


def test_the_committed_record_names_its_versions():
    from core.experiments import constraints
    pinned = constraints.read_constraints(constraints.RECORD_CONSTRAINTS)
    assert {"torch", "optuna", "numpy", "mnist1d"} <= set(pinned)
