"""The benchmark (issue 24): a tiny one end to end, its statistics against hand computations,
divergence as failure, the record both ways, and bad input refused before anything trains."""

import json
import math

import pytest
from scipy import stats as st

from core.benchmark import (BenchmarkConfig, BenchmarkDone, BenchmarkRecord, CellDone,
                            CellProgress, CellResult, MethodEntry, SeedRun, Workload, frames,
                            plan, run_benchmark, summarize, to_markdown)
from core.cli.main import main
from core.config import RunConfig
from core.training.train import train

TINY = dict(shape={"hidden": (8,)}, epochs=2)
# sgd at lr=10 diverges on the MLP whatever its momentum: a method made to fail.
CONFIG = BenchmarkConfig(methods=("adam", MethodEntry("sgd", fixed={"lr": 10.0})),
                         workloads=(Workload("mlp", **TINY), Workload("linear", epochs=2)),
                         trials=2, seeds=2, parallel=2, device="cpu")


@pytest.fixture(scope="module")
def events():
    return list(run_benchmark(CONFIG))


@pytest.fixture(scope="module")
def record(events):
    return events[-1].record


def test_a_tiny_benchmark_yields_progress_cells_and_a_record(events, record):
    progress = [e for e in events if isinstance(e, CellProgress)]
    done = [e for e in events if isinstance(e, CellDone)]
    assert isinstance(events[-1], BenchmarkDone)
    assert [(d.cell.method, d.cell.workload) for d in done] == [
        (m.key, w.key) for m, w in CONFIG.cells()]
    assert {p.phase for p in progress} == {"search", "confirm"}
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1
    assert all(p.epochs_done <= p.epochs_planned == (2 + 2) * 2 for p in progress)
    for cell in record.cells:
        assert [r.seed for r in cell.runs] == [1, 2]      # fresh seeds, never the tuning seed 0
        assert cell.trials == 2 and cell.grads_per_step == 1 and cell.hvps_per_step == 0
        assert cell.steps_per_epoch == 40


def test_a_confirmation_score_is_the_solo_runs_test_score_at_its_best_validation_epoch(record):
    cell = record.cell("adam", CONFIG.workloads[0].key)
    search = CONFIG.search_config(CONFIG.methods[0], CONFIG.workloads[0])
    for run in cell.runs:
        curve = list(train(search.run_config(cell.best_params, seed=run.seed),
                           test_every_epoch=True))
        best = min(curve, key=lambda m: m.val_loss)
        assert run.best_epoch == best.epoch
        assert run.test_acc == pytest.approx(best.test_acc, abs=1e-6)
        assert run.test_loss == pytest.approx(best.test_loss, rel=1e-5)


def test_a_diverging_method_ranks_last_is_shown_diverged_and_takes_the_worst_score(record):
    s = summarize(record)
    mlp = [r for r in s.table if r["workload"] == CONFIG.workloads[0].key]
    sgd = next(r for r in mlp if r["method"] == "sgd-lr10")
    assert sgd["rank"] == len(mlp) and sgd["failed"] and sgd["diverged"] == 2
    worst = min(x.test_acc for c in record.cells if c.workload == sgd["workload"]
                for x in c.runs if not x.diverged)
    assert sgd["test_acc_mean"] == pytest.approx(worst)   # the worst score, never dropped
    assert "diverged on 2 of 2 seeds" in sgd["test_acc_verdict"]
    ratio = next(r["ratio"] for r in s.ratios if r["method"] == "sgd-lr10"
                 and r["workload"] == sgd["workload"])
    assert math.isinf(ratio)                               # a failed cell, in the profile
    assert "diverged on 2 of 2 seeds" in to_markdown(record)


def test_the_record_round_trips_through_json(record):
    text = record.to_json()
    back = BenchmarkRecord.from_json(text)
    assert back == record
    assert summarize(back) == summarize(record)
    data = json.loads(text)
    assert data["format"] == "mnist1d-lab-benchmark" and data["version"] == 1
    assert data["protocol"]["split"] == "honest" and data["protocol"]["seeds"] == [1, 2]
    with pytest.raises(ValueError, match="not a benchmark record"):
        BenchmarkRecord.from_json(json.dumps({"format": "x"}))
    f = frames(record)
    assert f["heatmap_grid"].shape == (2, 2) and len(f["table"]) == 4


# -- the statistics, on records made by hand -----------------------------------------------
def _cell(method, workload, accs, losses=None):
    losses = losses or [1 - a for a in accs]
    runs = tuple(SeedRun(s, a, lo, 1, (a,), a is None, None if a is not None else "nan")
                 for s, a, lo in zip((1, 2, 3), accs, losses))
    return CellResult(method, workload, {"lr": 0.01}, 0.5, 2, {"COMPLETE": 2}, runs)


def _record(cells, methods=("adam", "lion", "sgd"), workloads=("mlp", "linear")):
    config = BenchmarkConfig(methods=methods, workloads=tuple(Workload(w, epochs=2)
                                                                for w in workloads),
                             trials=2, seeds=3)
    keys = {w: Workload(w, epochs=2).key for w in workloads}
    return BenchmarkRecord("b", config, tuple(_cell(m, keys[w], *v) for m, w, *v in cells))


def test_holm_across_the_whole_table_matches_a_hand_computation():
    rec = _record([("adam", "mlp", [0.80, 0.82, 0.79]), ("lion", "mlp", [0.70, 0.75, 0.71]),
                   ("sgd", "mlp", [0.81, 0.80, 0.83]),
                   ("adam", "linear", [0.50, 0.55, 0.52]), ("lion", "linear", [0.60, 0.61, 0.66]),
                   ("sgd", "linear", [0.51, 0.57, 0.50])])
    s = summarize(rec)
    rows = [r for r in s.table if not r["baseline"]]
    raw = []
    for r in rows:
        for metric in ("test_acc", "test_loss"):
            mine = next(c for c in rec.cells if (c.method, c.workload) == (r["method"],
                                                                           r["workload"]))
            base = rec.cell("adam", r["workload"])
            a = [getattr(x, metric) for x in mine.runs]
            b = [getattr(x, metric) for x in base.runs]
            raw.append(((r["method"], r["workload"], metric), st.ttest_rel(a, b).pvalue))
    # Holm by hand: sort, multiply by (m - rank), carry the running maximum, cap at 1.
    m = len(raw)
    order = sorted(raw, key=lambda kv: kv[1])
    expected, running = {}, 0.0
    for rank, (key, p) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        expected[key] = running
    assert s.family == m == 8
    for r in rows:
        for metric in ("test_acc", "test_loss"):
            assert r[f"{metric}_p"] == pytest.approx(expected[(r["method"], r["workload"],
                                                               metric)], rel=1e-9)
    lion_mlp = next(r for r in rows if r["method"] == "lion" and r["workload"].startswith("mlp"))
    assert lion_mlp["test_acc_label"] in ("worse", "not detected")
    counts = {c["method"]: c for c in s.counts}
    assert counts["lion"]["wins"] + counts["lion"]["ties"] + counts["lion"]["losses"] == 2


def test_the_performance_profile_matches_a_hand_computed_example():
    # errors: mlp adam .2, lion .25 (ratio 1.25); linear adam .4 (ratio 4/3), lion .3
    rec = _record([("adam", "mlp", [0.8] * 3), ("lion", "mlp", [0.75] * 3),
                   ("adam", "linear", [0.6] * 3), ("lion", "linear", [0.7] * 3)],
                  methods=("adam", "lion"))
    s = summarize(rec)
    ratios = {(r["method"], r["workload"][:3]): r["ratio"] for r in s.ratios}
    assert ratios[("adam", "mlp")] == pytest.approx(1.0)
    assert ratios[("lion", "mlp")] == pytest.approx(1.25)
    assert ratios[("adam", "lin")] == pytest.approx(4 / 3)
    assert ratios[("lion", "lin")] == pytest.approx(1.0)
    rho = {(r["method"], r["tau"]): r["fraction"] for r in s.profile}
    assert rho[("adam", 1.0)] == rho[("lion", 1.0)] == 0.5
    assert rho[("adam", 1.2)] == rho[("lion", 1.2)] == 0.5
    assert rho[("adam", 1.5)] == rho[("lion", 1.5)] == 1.0


def test_time_to_target_uses_the_reference_median_of_best_validation_accuracy():
    config = BenchmarkConfig(methods=("adam", "lion"), workloads=(Workload("mlp", epochs=3),),
                             trials=2, seeds=3)
    w = config.workloads[0].key

    def cell(method, curves):
        runs = tuple(SeedRun(s, 0.5, 1.0, 1, tuple(c)) for s, c in zip((1, 2, 3), curves))
        return CellResult(method, w, {}, 0.1, 2, {}, runs)
    rec = BenchmarkRecord("b", config, (
        cell("adam", [(0.5, 0.6, 0.7), (0.4, 0.6, 0.65), (0.6, 0.8, 0.75)]),   # best .7,.65,.8
        cell("lion", [(0.7, 0.7, 0.7), (0.1, 0.2, 0.3), (0.5, 0.69, 0.72)])))
    s = summarize(rec)
    assert s.targets[w] == pytest.approx(0.7)
    lion = next(r for r in s.table if r["method"] == "lion")
    adam = next(r for r in s.table if r["method"] == "adam")
    assert (lion["reached_target"], lion["epochs_to_target"]) == (2, 3.0)   # 1, never, 3
    assert (adam["reached_target"], adam["epochs_to_target"]) == (2, 3.0)   # 3, never, 2


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, words", [
    (dict(methods=("adam", "nope")), "unknown method 'nope'"),
    (dict(workloads=lambda: (Workload("mlp"), Workload("resnet"))), "unknown model 'resnet'"),
    (dict(methods=lambda: ("adam", MethodEntry("lion", fixed={"lr": 5.0}))), "lr=5.0 is outside"),
    (dict(methods=lambda: ("adam", MethodEntry("lion", fixed={"bogus": 1}))),
     "no hyperparameter"),
    (dict(trials=0), "trials must be"), (dict(seeds=0), "seeds must be"),
    (dict(methods=("lion",)), "baseline method 'adam' is not among"),
])
def test_bad_configs_are_refused_in_words(kwargs, words):
    base = dict(methods=("adam",), workloads=(Workload("mlp"),))
    with pytest.raises(ValueError, match=words):
        BenchmarkConfig(**{**base, **{k: v() if callable(v) else v for k, v in kwargs.items()}})


@pytest.mark.parametrize("argv", [
    ["--method", "adam", "--method", "nope"], ["--method", "adam", "--model", "resnet"],
    ["--method", "adam", "--method", "lion:lr=5"], ["--method", "adam", "--trials", "0"],
    ["--method", "adam", "--seeds", "0"], ["--method", "lion"],
    ["--method", "adam", "--model", "linear", "--channels", "4"],
    ["--method", "adam", "--json", "/no/such/folder/x.json"],
    ["--method", "adam", "--storage", "mysql+nothing://x"], ["--method", "adam", "--threads", "0"],
])
def test_bad_cli_input_exits_2_before_training(argv, capsys, monkeypatch):
    import core.benchmark.runner as runner
    monkeypatch.setattr(runner, "run_cell", None)   # anything that trained would fail loudly
    with pytest.raises(SystemExit) as exit_:
        main(["benchmark", *argv])
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_the_plan_counts_every_cell_and_gives_the_command():
    p = plan(CONFIG)
    assert p.cli.startswith("python -m core benchmark --method adam --method sgd:lr=10")
    assert p.work.flops > 0 and "4 cells" in p.what
    one = plan(BenchmarkConfig(methods=("adam",), workloads=(Workload("mlp", **TINY),),
                               trials=2, seeds=2, parallel=2))
    assert 3.5 * one.work.flops < p.work.flops * 2   # four cells, two of them a smaller model


def test_a_method_that_pays_hessian_vector_products_declares_them():
    spec = RunConfig(method="meta_curvature").spec
    assert spec.evaluations_per_step({"update_freq": 10, "n_samples": 2}) == (1.0, 0.2)
    assert RunConfig(method="lion").spec.evaluations_per_step({}) == (1.0, 0.0)


def test_the_cli_runs_a_benchmark_and_writes_its_record(tmp_path, capsys):
    out, md = tmp_path / "b.json", tmp_path / "b.md"
    code = main(["benchmark", "--method", "adam", "--method", "sgd:lr=10", "--model", "mlp",
                 "--hidden", "8", "--epochs", "1", "--trials", "1", "--seeds", "2",
                 "--device", "cpu", "--json", str(out), "--markdown", str(md)])
    assert code == 0
    record = BenchmarkRecord.from_json(out.read_text())
    assert [c.method for c in record.cells] == ["adam", "sgd-lr10"]
    assert record.config.trials == 1 and record.config.seeds == 2
    assert "diverged on 2 of 2 seeds" in md.read_text()
    printed = capsys.readouterr().out
    assert "[2/2] sgd-lr10 on mlp-hidden8-e1-b100: no score, diverged on 2 of 2 seeds" in printed


def test_a_partial_record_summarizes_the_cells_so_far(record):
    """A page draws the grid as it fills: any subset of the cells judges what it can."""
    for n in range(len(record.cells) + 1):
        part = BenchmarkRecord(record.name, record.config, record.cells[:n])
        s = summarize(part)
        assert len(s.table) == n
        assert to_markdown(part) and frames(part)["table"].shape[0] == n
    only_sgd = BenchmarkRecord(record.name, record.config, record.cells[1:2])
    assert summarize(only_sgd).table[0]["test_acc_verdict"] is None   # no baseline yet


def test_the_plans_command_line_builds_the_same_benchmark(monkeypatch):
    # A refusal shows this command to run the benchmark locally: it must be the same protocol
    # (shape and schedule knobs, start-up trials and margins included), so the same study names.
    import core.cli.benchmark as cli
    from core.benchmark.config import cli_args
    config = BenchmarkConfig(
        methods=("adam", MethodEntry("lion", fixed={"lr": 0.001})),
        workloads=tuple(Workload(m, shape=s, epochs=2, batch_size=500, schedule="cosine",
                                 schedule_params={"warmup": 1})
                        for m, s in (("mlp", {"hidden": (16, 16)}), ("cnn", {"channels": 4}))),
        trials=2, seeds=2, startup_trials=1, margins={"test_acc": 0.02, "test_loss": 0.03})
    seen = []
    monkeypatch.setattr(cli, "_run", lambda parser, args: seen.append(cli._config(parser, args)))
    from core.cli.main import build_parser
    args = build_parser().parse_args(["benchmark", *cli_args(config)])
    args.handler = cli._run
    args.handler(args.parser, args)
    assert seen[0] == config


def test_a_knob_written_at_its_default_leaves_the_workloads_key_unchanged():
    # The key names the cell's studies: the same workload written two ways must resume one study.
    plain = Workload("mlp", epochs=3)
    assert Workload("mlp", epochs=3, shape={"hidden": [100, 100]},
                    schedule_params={"warmup": 0}).key == plain.key
    assert Workload("mlp", epochs=3, shape={"hidden": (16,)}).key != plain.key
