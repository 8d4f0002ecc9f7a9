"""The Benchmark page under streamlit's AppTest: it draws the committed record at once, runs a
tiny benchmark to the end, refuses bad input and what the server cannot carry, and restores a
link."""

import json
from pathlib import Path

import pytest

from apptest_support import open_page, run_until
from core.benchmark import BenchmarkRecord
from core.models import MODELS
from core.optim.registry import BASELINE, METHODS
from ui.benchmark_view import command

pytestmark = pytest.mark.timeout(300)
RECORD = Path(__file__).resolve().parents[1] / "results" / "benchmark.json"
OTHER = next(k for k in METHODS if k != BASELINE)
TWO_MODELS = list(MODELS)[:2]
TINY = {"methods": f"{BASELINE},{OTHER}", "models": ",".join(TWO_MODELS), "trials": "2",
        "seeds": "2", "epochs": "1", "batch_size": "500"}


@pytest.fixture(autouse=True)
def no_storage(monkeypatch):
    monkeypatch.delenv("MNIST1D_LAB_STORAGE", raising=False)


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def tables(at) -> list:
    return [d.value for d in at.dataframe]


def test_the_committed_record_is_drawn_at_once_without_training():
    record = BenchmarkRecord.from_json(RECORD.read_text())
    at = open_page("benchmark")
    assert not at.exception
    assert "results/benchmark.json" in texts(at.markdown)
    # One table per workload with every method of the record, then the counts.
    frames = tables(at)
    per_workload = [f for f in frames if "test acc [95%]" in f.columns]
    assert len(per_workload) == len(record.config.workloads)
    for frame in per_workload:
        assert len(frame) == len(record.config.methods)
        assert set(frame["rank"]) == set(range(1, len(frame) + 1))
        assert frame["Compare"].dropna().str.startswith("compare?e1=").all()
        assert frame["Search"].str.startswith("search?method=").all()
        others = frame[frame["vs baseline (acc)"] != "baseline"]
        assert all(v.split(" ")[0].rstrip(";:") in ("better", "worse", "equivalent", "not", "no")
                   for v in others["vs baseline (acc)"])
    counts = next(f for f in frames if "wins" in f.columns)
    assert len(counts) == len(record.config.methods) - 1
    assert len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) >= 2
    downloads = at.get("download_button")
    assert len(downloads) == 3
    # Nothing ran: no job in the sidebar's count.
    assert "Your active jobs: 0" in texts(at.caption)


def test_a_compare_link_carries_the_confirmed_configurations_on_the_fresh_seeds():
    record = BenchmarkRecord.from_json(RECORD.read_text())
    at = open_page("benchmark")
    frame = next(f for f in tables(at) if "test acc [95%]" in f.columns)
    link = frame[frame["vs baseline (acc)"] != "baseline"]["Compare"].dropna().iloc[0]
    from urllib.parse import parse_qs, urlparse
    q = {k: v[0] for k, v in parse_qs(urlparse(link).query).items()}
    assert q["seeds"] == str(record.config.seeds)
    assert q["seed"] == str(record.config.confirm_seeds[0])
    assert q["split"] == "honest" and q["baseline"] == "1"
    assert q["e1"].startswith(record.config.baseline + ":")
    # the baseline's confirmed lr, exactly
    base = record.cell(record.config.entry("baseline").key, record.config.workloads[0].key)
    assert f"lr={base.best_params['lr']!r}" in q["e1"]


def test_a_tiny_benchmark_runs_to_the_end_and_draws_its_results():
    at = open_page("benchmark", TINY)
    assert not at.exception and not at.error, texts(at.error)
    at.button(key="bench.start").click().run()
    run_until(at, lambda a: "Finished: 4 cells" in texts(a.success), "the benchmark to finish",
              limit_s=240)
    frames = [f for f in tables(at) if "test acc [95%]" in f.columns]
    assert len(frames) == 2 and all(len(f) == 2 for f in frames)
    for frame in frames:
        assert not frame["test acc [95%]"].eq("-").any()
        judged = frame[frame["vs baseline (acc)"] != "baseline"]["vs baseline (acc)"]
        assert len(judged) == 1 and judged.iloc[0] != "-"
    json_button = next(d for d in at.get("download_button") if "JSON" in d.proto.label)
    assert json_button is not None
    assert "results/benchmark.json" not in texts(at.markdown)   # the run, not the record


def test_stop_stops_and_keeps_the_finished_cells():
    at = open_page("benchmark", {**TINY, "trials": "200", "epochs": "5"})
    at.button(key="bench.start").click().run()
    run_until(at, lambda a: any(p.proto.value > 0 for p in a.get("progress")),
              "the benchmark to start training")
    at.button(key="bench.stop").click().run()
    run_until(at, lambda a: "Stopped after" in texts(a.info), "the stop")
    assert "Finished" not in texts(at.success)


def test_bad_input_is_refused_with_a_clear_message():
    at = open_page("benchmark", {"methods": "no_such_method", "trials": "0",
                                 "margin_test_loss": "-1"})
    warnings = texts(at.warning)
    assert "margin_test_loss=-1" in warnings and "positive" in warnings
    assert "no_such_method" in warnings and "choose one of" in warnings
    assert "trials=0" in warnings and "between 1 and" in warnings
    at.multiselect(key="bench.methods").set_value([]).run()
    assert "pick at least one method" in texts(at.error)
    assert at.button(key="bench.start").disabled
    at.multiselect(key="bench.methods").set_value([OTHER]).run()
    at.multiselect(key="bench.models").set_value([]).run()
    assert "pick at least one workload" in texts(at.error)
    assert at.button(key="bench.start").disabled
    at.multiselect(key="bench.models").set_value(TWO_MODELS).run()
    at.number_input(key="bench.margin.test_acc").set_value(0.0).run()
    assert "margin" in texts(at.error) and at.button(key="bench.start").disabled


def test_a_benchmark_too_big_for_the_server_is_refused_with_the_command_to_run_it_locally():
    big = {"methods": ",".join(list(METHODS)[:8]), "models": ",".join(MODELS),
           "trials": "500", "seeds": "10", "epochs": "1000",
           "knobs": f"{list(METHODS)[1]}:schedule=cosine,warmup=1"}
    at = open_page("benchmark", big)
    assert not at.error
    at.button(key="bench.start").click().run()
    refusal = texts(at.error)
    assert "Not started" in refusal and "python -m core benchmark" in refusal
    assert "--trials 500" in refusal
    assert f"--method {list(METHODS)[1]}:schedule=cosine,warmup=1" in refusal   # its own schedule
    assert "bench.run" not in at.session_state   # nothing started


def test_a_link_restores_the_benchmark():
    at = open_page("benchmark", {**TINY, "baseline": OTHER, "seed": "7", "sampler": "random",
                                 "parallel": "3", "margin_test_acc": "0.05",
                                 "schedule": "cosine", "warmup": "1", "epochs": "2"})
    assert not at.warning, texts(at.warning)
    assert at.multiselect(key="bench.methods").value == [BASELINE, OTHER]
    assert at.multiselect(key="bench.models").value == TWO_MODELS
    assert at.selectbox(key="bench.baseline").value == OTHER
    assert at.number_input(key="bench.trials").value == 2
    assert at.number_input(key="bench.seed").value == 7
    assert at.radio(key="bench.sampler").value == "random"
    assert at.number_input(key="bench.parallel").value == 3
    assert at.number_input(key="bench.margin.test_acc").value == 0.05
    shown = texts(at.caption)
    assert f"--baseline {OTHER}" in shown and "--sampler random" in shown
    assert "--parallel 3" in shown and "--margin-acc 0.05" in shown
    assert "--schedule cosine" in shown and "--warmup 1" in shown
    # ... and the page writes its settings back into its URL
    assert dict(at.query_params).get("trials") in ("2", ["2"])
    json.dumps(dict(at.query_params))


@pytest.fixture
def stored(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    monkeypatch.setenv("MNIST1D_LAB_STORAGE", url)
    monkeypatch.delenv("MNIST1D_LAB_SHARED_STUDIES", raising=False)
    return url


def test_with_the_servers_storage_each_cell_is_the_visitors_study_and_opens_on_search(stored):
    import optuna
    at = open_page("benchmark", TINY)
    assert "Storage: persistent" in texts(at.caption)
    at.button(key="bench.start").click().run()
    run_until(at, lambda a: "Finished: 4 cells" in texts(a.success), "the benchmark to finish",
              limit_s=240)
    frames = [f for f in tables(at) if "test acc [95%]" in f.columns]
    links = [link for f in frames for link in f["Search"]]
    assert len(links) == 4 and all(link.startswith("search?watch=") for link in links)
    names = set(optuna.get_all_study_names(optuna.storages.RDBStorage(stored)))
    from urllib.parse import parse_qs, urlparse
    watched = [parse_qs(urlparse(link).query)["watch"][0] for link in links]
    assert set(watched) <= names
    # The same settings again resume the stored cells: nothing is trained twice.
    at.button(key="bench.start").click().run()
    run_until(at, lambda a: "Finished: 4 cells" in texts(a.success) and not a.get("progress"),
              "the resumed benchmark to finish")
    from core.benchmark import CellProgress
    again = at.session_state["bench.run"]["job"].items()
    assert not any(isinstance(i, CellProgress) for i in again), "a cell was trained again"
    # The link opens the cell's study on Search, in this visitor's session.
    at.query_params["watch"] = watched[0]
    at.switch_page("pages/search.py").run()
    run_until(at, lambda a: any(f"Study {watched[0]!r}" in c.value for c in a.caption),
              "the study to be watched")
    assert "2 finished" in texts(at.caption)


def test_a_cell_whose_every_seed_diverged_is_shown_as_diverged_and_ranked_last():
    """On the committed record with one cell's confirmation runs made to diverge."""
    import dataclasses
    from core.benchmark import SeedRun, summarize
    from ui.benchmark_view import grid_frame, workload_table
    record = BenchmarkRecord.from_json(RECORD.read_text())
    workload = record.config.workloads[0]
    victim = next(m.key for m in record.config.methods if m.key != record.config.baseline)
    cells = tuple(dataclasses.replace(c, runs=tuple(
        SeedRun(r.seed, None, None, None, r.val_acc, True, "loss became nan") for r in c.runs))
        if c.key == (victim, workload.key) else c for c in record.cells)
    broken = dataclasses.replace(record, cells=cells)
    grid = grid_frame(broken.config, [], broken)
    label = next(m.label for m in broken.config.methods if m.key == victim)
    row = grid[(grid["method"] == label) & (grid["workload"] == workload.label)].iloc[0]
    assert row["state"] == "diverged" and row["text"] == "diverged"
    assert set(grid["state"]) - {"diverged"} and (grid["state"] == "diverged").sum() == 1
    table = workload_table(broken, summarize(broken), workload)
    last = table.sort_values("rank").iloc[-1]
    assert label in last["method"] and "diverged on" in last["method"]
    assert "diverged on" in last["vs baseline (acc)"]


def test_the_committed_records_settings_can_be_set_up_on_the_page():
    record = BenchmarkRecord.from_json(RECORD.read_text())
    at = open_page("benchmark")
    at.button(key="bench.load_record").click().run()
    assert not at.exception
    c = record.config
    methods = list(dict.fromkeys(m.method for m in c.methods))[:8]
    assert at.multiselect(key="bench.methods").value == methods
    # an entry with fixed knobs or a schedule of its own keeps them (the first of a method)
    first = {}
    for m in c.methods:
        first.setdefault(m.method, m)
    own = [m for k, m in first.items() if k in methods and (m.fixed or m.schedule)]
    for m in own:
        assert at.text_input(key=f"bench.knobs.{m.method}").value
        assert f"--method {m.method}:" in texts(at.caption)
    assert at.multiselect(key="bench.models").value == list(dict.fromkeys(
        w.model for w in c.workloads))
    assert at.number_input(key="bench.trials").value == c.trials
    assert at.number_input(key="bench.seeds").value == c.seeds
    assert f"--trials {c.trials} --seeds {c.seeds}" in texts(at.caption)
    # what did not fit is named, with the command that reruns the whole record
    left_out = [m for m in c.methods if first.get(m.method) is not m or m.method not in methods]
    note = " ".join(i.value for i in at.info)
    if left_out:
        assert f"of the record's {len(c.methods)} method entries" in note
        assert all(m.label in note for m in left_out)
        assert command(c) in note
    else:
        assert "method entries" not in note


# -- fixed knobs and a schedule of an entry's own ---------------------------------------------
KNOB = next(hp for hp in METHODS[OTHER].hyperparams if hp.high > hp.low)
KNOB_VALUE = KNOB.low if KNOB.low != KNOB.default else KNOB.high
OWN = f"{KNOB.name}={KNOB_VALUE!r},schedule=cosine,warmup=1"
TWO_EPOCHS = {**TINY, "epochs": "2"}   # a warmup must be shorter than the run


def test_fixed_knobs_and_an_own_schedule_reach_the_started_config(monkeypatch):
    import core.benchmark
    started = []
    monkeypatch.setattr(core.benchmark, "run_benchmark",
                        lambda cfg, **kw: started.append(cfg) or iter(()))
    at = open_page("benchmark", TWO_EPOCHS)
    at.text_input(key=f"bench.knobs.{OTHER}").set_value(OWN).run()
    assert not at.error, texts(at.error)
    at.button(key="bench.start").click().run()
    cfg = at.session_state["bench.run"]["config"]
    entry = next(m for m in cfg.methods if m.method == OTHER)
    assert dict(entry.fixed) == {KNOB.name: KNOB_VALUE}
    assert entry.schedule == "cosine" and dict(entry.schedule_params) == {"warmup": 1.0}
    assert next(m for m in cfg.methods if m.method == BASELINE).fixed == ()
    # the command line carries the entry, and the URL holds it
    assert f"--method {OTHER}:{KNOB.name}=" in texts(at.caption)
    assert dict(at.query_params)["knobs"] in (f"{OTHER}:{OWN}", [f"{OTHER}:{OWN}"])


def test_a_link_restores_fixed_knobs_and_a_bad_value_is_refused_in_words():
    at = open_page("benchmark", {**TWO_EPOCHS, "knobs": f"{OTHER}:{OWN}"})
    assert not at.warning, texts(at.warning)
    assert at.text_input(key=f"bench.knobs.{OTHER}").value == OWN
    assert f"schedule=cosine,warmup=1" in texts(at.caption)
    at.text_input(key=f"bench.knobs.{OTHER}").set_value(f"{KNOB.name}=abc").run()
    assert f"{KNOB.name} must be a number" in texts(at.error)
    assert at.button(key="bench.start").disabled
    at.text_input(key=f"bench.knobs.{OTHER}").set_value("no_such_knob=1").run()
    assert "no_such_knob" in texts(at.error) and at.button(key="bench.start").disabled
    bad = open_page("benchmark", {**TWO_EPOCHS, "knobs": f"{OTHER}:{KNOB.name}=abc"})
    assert "knobs=" in texts(bad.warning) and "must be a number" in texts(bad.warning)


def test_set_up_keeps_an_entrys_fixed_knobs_and_schedule(monkeypatch):
    """The committed record with one entry given fixed knobs and its own schedule."""
    import dataclasses
    import streamlit as st
    from core.benchmark import MethodEntry
    original = BenchmarkRecord.from_json.__func__
    record = BenchmarkRecord.from_json(RECORD.read_text())
    victim = next(m for m in record.config.methods if m.method != record.config.baseline)
    hp = next(h for h in METHODS[victim.method].hyperparams if h.high > h.low)
    own = MethodEntry(victim.method, fixed={hp.name: hp.high}, schedule="cosine",
                      schedule_params={"warmup": 1})
    config = dataclasses.replace(record.config, methods=tuple(
        own if m == victim else m for m in record.config.methods))

    def with_own(cls, text):
        r = original(cls, text)
        return dataclasses.replace(r, config=config)
    monkeypatch.setattr(BenchmarkRecord, "from_json", classmethod(with_own))
    st.cache_data.clear()
    try:
        at = open_page("benchmark")
        at.button(key="bench.load_record").click().run()
    finally:
        st.cache_data.clear()
    assert not at.exception
    text = at.text_input(key=f"bench.knobs.{victim.method}").value
    assert "schedule=cosine" in text and f"{hp.name}=" in text
    assert f"--method {victim.method}:{hp.name}=" in texts(at.caption)
