"""The Reproduce page under streamlit's AppTest: renders every write-up with the committed
record's verdict, runs one quick reproduction to a smoke-test result (grey, not evidence), and
Stop ends one without a verdict."""

import json
from pathlib import Path


import pytest
from streamlit.testing.v1 import AppTest

import core.experiments
from core.experiments import PROTOCOLS, VERDICTS, Scale
from apptest_support import run_until

APP = "../app.py"
pytestmark = pytest.mark.timeout(180)
# The page reads QUICK from core.experiments on every rerun; shrink it further for the tests.
TINY = Scale("quick", max_trials=2, max_search_epochs=2, max_final_epochs=2)


@pytest.fixture
def at(monkeypatch):
    monkeypatch.setattr(core.experiments, "QUICK", TINY)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/reproduce.py")
    return at.run()




def test_page_shows_every_writeup(at):
    assert not at.exception and not at.error
    assert len(at.tabs) == len(PROTOCOLS)
    assert len(at.latex) == len(PROTOCOLS)            # each method's formula
    for key in PROTOCOLS:
        assert at.button(key=f"repro.quick.{key}") is not None
        assert at.button(key=f"repro.full.{key}") is not None
    text = " ".join(m.value for m in at.markdown)
    for p in PROTOCOLS.values():
        assert p.hypothesis in text


RECORD = Path(__file__).resolve().parents[1] / "results" / "reproduction.json"


def test_every_writeup_shows_the_committed_verdict(at):
    record = {e["key"]: e for e in json.loads(RECORD.read_text())["experiments"]}
    text = " ".join(m.value for m in at.markdown)
    for key in PROTOCOLS:
        # The headline is the adjusted verdict over the record's family, the raw one beside it.
        e = record[key]
        assert f"**Committed record: {e['adjusted_verdict']}** (Holm over {e['family']}; " \
            f"unadjusted: {e['verdict']}" in text


def test_quick_reproduction_is_a_grey_smoke_test_with_figure_table_and_downloads(at):
    at.number_input(key="repro.seeds").set_value(2).run()
    at.button(key="repro.quick.gnw_adam").click().run()

    def finished(a):
        return any("SMOKE TEST: not evidence" in m.value for m in a.markdown)
    run_until(at, finished, "the quick reproduction's smoke-test result")
    # Never in a verdict's colours: no green, red or amber box for a quick run.
    assert not any(f"**{v.capitalize()}**" in e.value for v in VERDICTS
                   for e in (*at.success, *at.error, *at.warning))
    smoke = next(m.value for m in at.markdown if "SMOKE TEST" in m.value)
    assert smoke.startswith(":gray-background[") and "committed record" in smoke
    assert any("SMOKE TEST (quick)" in c.value and "fresh seeds 1000-1001" in c.value
               for c in at.caption)
    assert at.get("vega_lite_chart"), "the write-up's figure (validation curves)"
    labels = {b.label for b in at.get("download_button")}
    assert {"Table (CSV)", "Result (JSON)"} <= labels
    table = at.table[-1].value   # a plain table: it wraps, never clipped
    assert "method - Adam (paired)" in set(table["side"])
    assert {float(v) for v in table["reported"] if v != "-"} >= {0.00624, 0.00585, 1.0846,
                                                                  1.0533}


def test_stop_ends_a_reproduction_without_a_verdict(at):
    at.button(key="repro.full.wngd").click().run()
    at.button(key="repro.stop.wngd").click().run()
    run_until(at, lambda a: any("Stopped" in e.value for e in a.info), "the stopped state")
    assert not any(f"**{v.capitalize()}**" in e.value for v in VERDICTS
                   for e in (*at.success, *at.error, *at.warning))


def test_a_protocol_runs_on_another_model_of_the_registry(at):
    # The choice lists every model of the registry; "as written" keeps each write-up's own.
    choice = at.selectbox(key="repro.model")
    assert choice.value == "" and set(core.experiments.PROTOCOLS) and \
        set(choice.options) >= {"As written (each write-up's MLP)", "Linear (logistic regression)"}
    at.number_input(key="repro.seeds").set_value(2)
    choice.set_value("linear").run()
    assert not at.exception and at.query_params.get("model") in ("linear", ["linear"])
    # The protocol table names the model the run will train.
    tables = [t.value for t in at.table]
    assert any("Linear" in str(v) for t in tables for v in t.to_numpy().ravel())
    at.button(key="repro.quick.meta_curvature").click().run()
    run_until(at, lambda a: any("SMOKE TEST: not evidence" in m.value for m in a.markdown),
              "the quick reproduction on the linear model")
    assert any("SMOKE TEST (quick) on Linear" in c.value for c in at.caption)
    result = next(b for b in at.get("download_button") if b.label == "Result (JSON)")
    assert result is not None


def test_a_link_with_an_unknown_model_is_ignored_with_a_warning(monkeypatch):
    monkeypatch.setattr(core.experiments, "QUICK", TINY)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/reproduce.py")
    at.query_params["model"] = "nope"
    at.run()
    assert not at.exception
    assert at.selectbox(key="repro.model").value == ""
    assert any("model" in w.value for w in at.warning)
