"""``python -m core compare``: entries, the baseline, the page's table, and bad input."""

import json

import pytest

from core.cli import main


def test_compare_the_same_method_twice_json(capsys):
    assert main(["compare", "--entry", "adam:lr=0.01", "--entry", "adam:lr=0.001,label=slow",
                 "--entry", "weight_trajectory:lr=0.01,beta=0.3", "--seeds", "2",
                 "--epochs", "1", "--hidden", "16", "--batch-size", "500", "--baseline", "2",
                 "--device", "cpu", "--json"]) == 0
    # The honest split by default: verdicts rest on the test set at the validation's pick.
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["entries"] == ["adam:lr=0.01", "adam:lr=0.001,label=slow",
                                          "weight_trajectory:lr=0.01,beta=0.3"]
    assert doc["settings"]["baseline"] == 2
    rows = doc["table"]
    assert [r["entry"] for r in rows][1] == "2. slow"
    assert doc["settings"]["split"] == "honest"
    assert rows[1]["verdict (test loss @ best val, Holm)"] == "baseline"
    verdict = rows[0]["verdict (test loss @ best val, Holm)"]
    assert verdict.split(";")[0] in ("better", "worse") or verdict.startswith(
        ("not detected (could detect", "significant but", "equivalent"))
    assert "unadjusted (test acc @ best val)" in rows[0]
    assert "Holm-adjusted across this comparison's 4 paired tests" in doc["note"]
    assert len(doc["runs"]) == 3 * 2


def test_compare_prints_the_table(capsys):
    assert main(["compare", "--entry", "wngd", "--entry", "adam", "--seeds", "2", "--epochs",
                 "1", "--hidden", "16", "--batch-size", "500", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "baseline: 2. Adam" in out, "the first Adam entry is the default baseline"
    assert "verdict (test loss @ best val, Holm)" in out and "1. WNGD" in out
    assert "Holm-adjusted" in out and "ranks last" in out


@pytest.mark.parametrize("args, message", [
    (["--entry", "nope"], "unknown method 'nope'"),
    (["--entry", "adam:beta=0.3"], "no hyperparameter 'beta'"),
    (["--entry", "adam:lr=abc"], "lr must be a number"),
    (["--entry", "adam:lr"], "is not NAME=VALUE"),
    (["--entry", "adam", "--baseline", "2"], "baseline must be an entry from 1 to 1, got 2"),
    (["--entry", "adam"] * 9, "at most 8 entries"),
    (["--entry", "adam", "--seeds", "11"], "seeds"),
    (["--entry", "adam", "--seed", "2147483646"], "leave the range"),
    (["--entry", "adam", "--epochs", "0"], "epochs"),
])
def test_compare_bad_input_exits_2_naming_the_part(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
