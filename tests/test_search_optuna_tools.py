"""Lab studies open as they are in Optuna's own tools (issue 16, item 5): the storage forms
optuna-dashboard takes, the curve as intermediate values and short attrs, divergence and fixed
knobs visible, and a lab study served by optuna-dashboard's API on 127.0.0.1."""

import json
import math
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pytest

from core.cli import main
from core.search.storage import dashboard_command, open_storage
from core.search.study import SearchConfig, run_search
from tests.test_search import CHALLENGER, MULTI_KNOB, fake_trainer

optuna_dashboard = pytest.importorskip("optuna_dashboard")


def _lab_study(url: str, epochs: int = 20):
    """A search where large learning rates diverge, with one knob fixed when there is one."""
    from core.optim.registry import METHODS
    spec = METHODS[MULTI_KNOB]
    other = next(hp for hp in spec.hyperparams if hp.name != "lr" and hp.search)
    config = SearchConfig(MULTI_KNOB, trials=6, epochs=epochs, sampler="random",
                          ranges={"lr": (1e-4, 1.0)}, fixed={other.name: other.default})
    results = list(run_search(config, storage=url, study_name="lab",
                              trainer=fake_trainer(diverge_above=0.01)))
    return config, other.name, results


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def _serve(app):
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _get(server, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}{path}", timeout=30) as r:
        return json.loads(r.read())


@pytest.mark.timeout(120)
def test_optuna_dashboard_serves_a_lab_study_from_a_bare_journal_path(tmp_path):
    path = str(tmp_path / "studies.log")   # the form `optuna-dashboard PATH` takes
    config, fixed_name, results = _lab_study(path)
    assert any(r.state == "PRUNED" and r.reason.startswith("diverged") for r in results), \
        "the fake trainer makes lr > 0.01 diverge"
    server = _serve(optuna_dashboard.wsgi(path))
    try:
        studies = _get(server, "/api/studies")["study_summaries"]
        study_id = next(s["study_id"] for s in studies if s["study_name"] == "lab")
        detail = _get(server, f"/api/studies/{study_id}")
    finally:
        server.shutdown()
    trials = {t["number"]: t for t in detail["trials"]}
    assert len(trials) == config.trials
    for r in results:
        t = trials[r.number]
        attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
        # every attr arrives whole: short, and valid JSON where it is a list
        assert all(len(v) < 1024 for v in attrs.values()), attrs
        assert len(json.loads(attrs["train_loss"])) == len(r.curve)
        assert float(attrs[f"fixed_{fixed_name}"]) == dict(config.fixed)[fixed_name]
        steps = [v["step"] for v in t["intermediate_values"]]
        if r.state == "COMPLETE":
            assert steps == list(range(1, config.epochs + 1))
            assert t["values"] == [r.value]
        else:   # diverged: shown as inf at the epoch it diverged, never as a finite result
            assert t["state"] == "Pruned" and "diverged" in attrs
            assert t["intermediate_values"][-1]["value"] == "inf"
            assert t["values"] == ["inf"]


def test_bare_sqlite_path_and_journal_url_are_the_same_stores(tmp_path):
    db = tmp_path / "s.db"
    list(run_search(SearchConfig(CHALLENGER, trials=1, epochs=2), storage=f"sqlite:///{db}",
                    study_name="x", trainer=fake_trainer()))
    # a bare path to an SQLite file opens it as SQLite, as optuna-dashboard does
    assert optuna.get_all_study_names(open_storage(str(db))) == ["x"]
    log = tmp_path / "j.log"
    list(run_search(SearchConfig(CHALLENGER, trials=1, epochs=2), storage=f"journal:///{log}",
                    study_name="y", trainer=fake_trainer()))
    assert optuna.get_all_study_names(open_storage(str(log))) == ["y"]
    assert dashboard_command(f"journal:///{log}") == f"optuna-dashboard {log}"
    assert dashboard_command(f"sqlite:///{db}") == f"optuna-dashboard sqlite:///{db}"


@pytest.mark.timeout(120)
def test_the_cli_prints_the_dashboard_command_after_a_search(tmp_path, capsys):
    path = tmp_path / "cli.log"
    assert main(["search", "--method", CHALLENGER, "--trials", "1", "--epochs", "1",
                 "--device", "cpu", "--parallel", "1", "--storage", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"# watch it: optuna-dashboard {path}" in out


def test_a_curve_fits_the_dashboard_cell_for_long_runs(tmp_path):
    _, _, results = _lab_study(str(tmp_path / "long.log"), epochs=80)
    study = optuna.load_study(study_name="lab", storage=open_storage(str(tmp_path / "long.log")))
    for t in study.get_trials():
        for key in ("train_loss", "val_acc", "elapsed", "lr"):
            assert len(json.dumps(t.user_attrs[key])) < 1024, key
        assert all(math.isfinite(v) or v == math.inf for v in t.intermediate_values.values())
