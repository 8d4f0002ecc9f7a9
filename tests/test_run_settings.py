"""Run settings are described once (core/config.py RUN_SETTINGS): every RunConfig field is
described, and every description reaches the CLI, the links, the budget's commands, the shared
fields and the search's settings, so a new setting is one entry there."""

import shlex
from dataclasses import fields

import pytest

from core import budget
from core.cli.main import build_parser, config_from_args
from core.config import (COMPARISON_SHARED, KNOB_FIELDS, POPULATION_SHARED, RUN_SETTINGS,
                         SETTINGS, RunConfig)
from core.search.study import SearchConfig
from ui.params import config_from_params, config_to_params

METHOD_FIELDS = {"method", "lr", "hparams"}


def test_every_runconfig_field_is_described_once():
    described = [s.name for s in RUN_SETTINGS]
    assert len(described) == len(set(described))
    # a registry choice's knobs (the model's shape, the schedule's) have a field of their own
    assert set(KNOB_FIELDS) == {"shape", "schedule_params"}
    assert set(described) == {f.name for f in fields(RunConfig)} - METHOD_FIELDS - set(KNOB_FIELDS)


def test_every_setting_has_a_flag_a_url_key_and_a_default_that_checks():
    for s in RUN_SETTINGS:
        assert s.cli_flag == "--" + s.name.replace("_", "-") and s.url_key == s.name
        assert s.check(s.default) == s.default == getattr(RunConfig(), s.name)


@pytest.mark.parametrize("command", ["train", "compare", "sweep", "search", "worker"])
def test_every_training_command_has_every_setting(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    dests = {a.dest for a in sub._actions}
    assert set(SETTINGS) <= dests and {"hidden", "channels", "hidden_size"} <= dests
    assert {"warmup", "lr_floor", "step_every", "step_gamma"} <= dests


@pytest.mark.parametrize("schedule", [{}, {"schedule": "cosine",
                                          "schedule_params": {"warmup": 2, "lr_floor": 0.05}}])
def test_links_and_commands_carry_every_setting_both_ways(schedule):
    config = RunConfig(method="adam", model="gru", shape={"hidden_size": 3}, epochs=7,
                       batch_size=50, seed=4, split="honest", device="cpu", **schedule)
    params = config_to_params(config)
    assert set(SETTINGS) <= set(params)
    assert config_from_params(params)[0] == config
    cli = budget.train_plan(config).cli
    args = build_parser().parse_args(shlex.split(cli)[3:])
    # the device is the machine's own business: the command leaves it at auto
    assert config_from_args(args.parser, args) == config.replace(device="auto")


def test_shared_fields_and_the_search_follow_the_descriptions():
    assert set(POPULATION_SHARED) == {"method", "shape"} | {s.name for s in RUN_SETTINGS
                                                              if s.population}
    assert set(COMPARISON_SHARED) == {"shape"} | {s.name for s in RUN_SETTINGS if s.comparison}
    search = SearchConfig(method="adam", model="cnn", shape={"channels": 5}, epochs=3)
    assert set(search.run_settings()) == set(SETTINGS) | set(KNOB_FIELDS)
    assert search.run_config({"lr": 0.01}).shape == (("channels", 5),)
    again = SearchConfig.from_attrs(search.to_attrs())
    assert again.run_config({"lr": 0.01}) == search.run_config({"lr": 0.01})
    # A study made before models were a choice still attaches: its attrs are the MLP's.
    mlp = SearchConfig(method="adam", hidden=(30,))
    assert "model" not in mlp.to_attrs() and mlp.to_attrs()["hidden"] == [30]
    assert SearchConfig.from_attrs(mlp.to_attrs()) == mlp
