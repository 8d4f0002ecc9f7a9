"""The work budget: estimates by hand, refusals with a command that rebuilds the same run."""

import shlex

import pytest

from core import budget
from core.config import RunConfig
from core.optim import METHODS
from core.server_settings import ServerSettings


def test_parameter_count_and_adam_state_by_hand():
    config = RunConfig(method="adam", hidden=(100, 100))
    assert budget.parameter_count(config) == 40 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
    # Adam keeps exp_avg and exp_avg_sq: two tensors the size of the parameters
    assert budget.state_multiplier("adam", config.hparams) == pytest.approx(2.0)


def test_run_work_formula_by_hand():
    config = RunConfig(method="adam", hidden=(8,), batch_size=1000, epochs=3)
    params = 40 * 8 + 8 + 8 * 10 + 10
    macs = 40 * 8 + 8 * 10
    work = budget.run_work(config)
    # the evaluation: its two widest layer outputs (10 > 8), argmax and accuracy temporaries
    floats = params * (3 + 2) + 3 * 1000 * (40 + 8 + 10) + 1000 * (2 * 10 + 4)
    # the epoch's order (4,000 int64) and a batch's labels; 4 KB of metrics per epoch
    memory = 4 * floats + 8 * (4000 + 1000) + 4096 * 3
    # no kernel in sequence beyond the default MLP's five: no launch floor
    flops = 3 * (6 * macs * 4000 + 2 * macs * 1000 + 20 * params * 4)
    samples = 3 * (4000 + 1000)   # training and validation samples, each epoch
    solo = (("mlp", 1, flops),)   # all of it a solo run of the MLP, for core.pace
    assert work == budget.Work(memory, flops, steps=3 * 4, member_steps=3 * 4, samples=samples,
                               mix=solo)
    assert budget.estimate([config]) == budget.Work(memory + budget.DATASET_BYTES, flops, 12,
                                                    12, samples, solo)


def test_every_model_is_estimated_from_its_spec_and_the_gru_pays_for_its_steps():
    for model in ("linear", "cnn", "gru"):
        config = RunConfig(model=model, epochs=2)
        assert budget.parameter_count(config) == config.model_spec.parameter_count(
            config.shape_dict())
        assert budget.state_multiplier("adam", (), model) == pytest.approx(2.0)
    cnn, gru = (budget.run_work(RunConfig(model=m)) for m in ("cnn", "gru"))
    # fewer multiply-adds, but 481 kernels one after another against the CNN's 7 (the MLP's 5
    # are in the measured pace)
    assert gru.flops > 2 * cnn.flops
    assert budget.refusal(budget.train_plan(RunConfig(model="gru", epochs=10000)),
                          ServerSettings()) is not None
    assert budget.refusal(budget.train_plan(RunConfig(model="cnn", epochs=200)),
                          ServerSettings()) is None


def test_runs_held_together_add_their_memory_and_all_add_their_compute():
    small, big = RunConfig(hidden=(10,)), RunConfig(hidden=(500,))
    ws, wb = budget.run_work(small), budget.run_work(big)
    data = budget.DATASET_BYTES   # one copy of the dataset per job
    assert budget.estimate([small, big]) == ws + wb + budget.Work(data, 0)
    assert budget.estimate([small, big], together=1).memory_bytes == data + wb.memory_bytes


def _parse_train(cli: str) -> RunConfig:
    from core.cli.main import build_parser, config_from_args
    argv = shlex.split(cli)
    assert argv[:4] == ["python", "-m", "core", "train"]
    parser = build_parser()
    args = parser.parse_args(argv[3:])
    return config_from_args(args.parser, args)


@pytest.mark.parametrize("config", [
    RunConfig(method="hessian_lr", epochs=10000, hidden=(4096,) * 8),
    RunConfig(method="weight_trajectory", lr=0.003, hparams={"beta": 0.25}, epochs=7, seed=3,
              hidden=(30, 20), split="honest", batch_size=50)])
def test_the_refusal_command_rebuilds_the_same_run(config):
    assert _parse_train(budget.train_plan(config).cli) == config


def test_the_issue_13_train_link_is_refused_and_the_default_run_is_not():
    caps = ServerSettings()
    huge = budget.train_plan(RunConfig(method="hessian_lr", epochs=10000, hidden=(4096,) * 8))
    message = budget.refusal(huge, caps)
    assert message is not None and "memory" in message and "TFLOP" in message
    assert huge.cli in message
    assert budget.refusal(budget.train_plan(RunConfig()), caps) is None
    assert budget.refusal(budget.train_plan(RunConfig(epochs=10000)), caps) is None, \
        "the largest epoch count at the default size still fits"


def test_compare_plan_holds_every_seed_of_every_entry_and_its_command_rebuilds_them():
    from core.cli.main import build_parser
    from core.training.compare_settings import parse_entry
    entries = [RunConfig(method="adam", epochs=5, hidden=(20,)),
               RunConfig(method="gnw_adam", lr=0.003, epochs=5, hidden=(20,))]
    plan = budget.compare_plan(entries, [3, 4, 5])
    runs = [e.replace(seed=s) for e in entries for s in (3, 4, 5)]
    assert plan.work.memory_bytes == budget.estimate(runs).memory_bytes
    assert plan.work.flops == budget.estimate(runs).flops
    # each entry's three seeds step together: 5 epochs x 40 batches per entry, not per seed;
    # each member still has its own share of every step and its own samples
    assert plan.work.steps == 2 * 5 * 40 and plan.work.member_steps == 6 * 5 * 40
    assert plan.work.samples == 6 * 5 * 5000
    args = build_parser().parse_args(shlex.split(plan.cli)[3:])
    assert (args.seeds, args.seed, args.epochs, args.hidden) == (3, 3, 5, [20])
    assert [parse_entry(e, base=entries[0].replace(seed=3))[0] for e in args.entry] == \
        [e.replace(seed=3) for e in entries]


def test_seeds_that_are_not_a_range_get_one_train_command_per_seed():
    entry = RunConfig(method="adam", epochs=5)
    lines = budget.compare_plan([entry], [7, 2]).cli.splitlines()
    assert lines[0] == "for seed in 7 2; do" and lines[-1] == "done"
    assert _parse_train(lines[1].strip().replace('"$seed"', "2")) == entry.replace(seed=2)


def test_search_and_reproduce_plans_fit_at_their_defaults():
    from core.experiments.protocols import PROTOCOLS
    from core.search.study import SearchConfig
    caps = ServerSettings()
    search = budget.search_plan(SearchConfig(method="gnw_adam"), parallel=10, duel=True,
                                confirm_seeds=5)
    assert budget.refusal(search, caps) is None
    assert "--duel" in search.cli and "--parallel 10" in search.cli
    for key in PROTOCOLS:
        assert budget.refusal(budget.reproduce_plan(key, 5, quick=False), caps) is None, key


def test_the_search_command_parses_back_to_the_same_search():
    from core.cli.main import build_parser
    from core.search.study import SearchConfig
    search = SearchConfig(method="weight_trajectory", trials=7, epochs=4, seed=2, split="honest",
                          sampler="random", pruning=True, ranges=(("lr", (1e-3, 1e-1)),),
                          fixed=(("beta", 0.5),), hidden=(30,), startup_trials=3)
    cli = budget.search_plan(search, parallel=4).cli
    args = build_parser().parse_args(shlex.split(cli)[3:])
    assert (args.method, args.trials, args.epochs, args.seed, args.split, args.sampler,
            args.pruning, args.hidden, args.parallel, args.startup_trials) == \
        ("weight_trajectory", 7, 4, 2, "honest", "random", True, [30], 4, 3)
    assert args.range == [["lr", "0.001", "0.1"]] and args.fix == [["beta", "0.5"]]


def test_sweep_plan_holds_one_entry_at_a_time_and_its_command_parses():
    from core.cli.main import build_parser
    from core.training.sweep import Axis, SweepConfig
    entries = (RunConfig(method="adam", epochs=4, hidden=(20,)),
               RunConfig(method="wngd", epochs=4, hidden=(20,)))
    sweep = SweepConfig(entries, Axis("lr", 3, (1e-3, 1e-1)), n_seeds=2)
    plan = budget.sweep_plan(sweep)
    first = budget.estimate(sweep.member_configs(0))
    second = budget.estimate(sweep.member_configs(1))
    assert plan.work.flops == pytest.approx(first.flops + second.flops)
    assert plan.work.memory_bytes == max(first.memory_bytes, second.memory_bytes)
    args = build_parser().parse_args(shlex.split(plan.cli)[3:])
    assert (args.knob, args.points, args.range, args.seeds, args.epochs, args.hidden) == \
        ("lr", 3, [1e-3, 1e-1], 2, 4, [20])
    assert [m.split(":")[0] for m in args.method] == ["adam", "wngd"]


def _deep_size(obj, seen=None) -> int:
    import sys
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        size += sum(_deep_size(v, seen) for v in obj)
    elif hasattr(obj, "__dict__"):
        size += _deep_size(vars(obj), seen)
    return size


@pytest.mark.parametrize("method", sorted(METHODS))
def test_an_epochs_metrics_as_a_job_keeps_them_fit_the_budgets_allowance(method, mnist1d):
    from core.config import MAX_HIDDEN_LAYERS
    from core.training.train import train
    config = RunConfig(method=method, epochs=1, hidden=(4,) * MAX_HIDDEN_LAYERS, batch_size=4000,
                       split="honest")   # the most parameter tensors, and the test report
    metrics = list(train(config, mnist1d))[-1]
    assert metrics.test_loss is not None
    assert 1000 < _deep_size(metrics) <= budget.METRICS_BYTES
