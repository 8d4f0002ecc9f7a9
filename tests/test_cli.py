import json
import subprocess
import sys

import pytest

from conftest import ROOT
from core.cli import build_parser, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_train_prints_a_line_per_epoch():
    out = run_cli("train", "--method", "weight_trajectory", "--beta", "0.3", "--epochs", "2")
    assert out.returncode == 0, out.stderr
    lines = [l for l in out.stdout.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2 and "beta=0.3" in out.stdout


def test_train_json(capsys):
    assert main(["train", "--method", "meta_curvature", "--alpha", "0.01", "--update-freq", "5",
                 "--epochs", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"]["hparams"]["update_freq"] == 5
    assert len(doc["epochs"]) == 1 and "hessian_trace" in doc["epochs"][0]["diagnostics"]


@pytest.mark.parametrize("args,message", [
    (["train", "--method", "nope"], "invalid choice"),
    (["train", "--lr", "abc"], "invalid float"),
    (["train", "--lr", "-1"], "lr=-1"),
    (["train", "--method", "adam", "--beta", "0.1"], "does not apply"),
    (["train", "--epochs", "0"], "epochs=0"),
    (["train", "--method", "hessian_lr", "--rho", "1"], "rho=1"),
])
def test_bad_flags_exit_2_with_a_message(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_flags_come_from_the_registry():
    from core.optim import METHODS
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for spec in METHODS.values():
        for hp in spec.hyperparams:
            assert hp.cli_flag in help_text
