"""Wall time of a job at this server's measured pace (core.pace), and the refusal of a job that
would run past MAX_JOB_SECONDS (issue 20: batch size 1 x 10,000 epochs is 0.06 TFLOP, far
under the compute cap, and hours of wall time)."""

import pytest

from core import budget, pace
from core.config import RunConfig
from core.server_settings import ServerSettings

ISSUE = RunConfig(batch_size=1, epochs=10000, hidden=(1,))   # 0.06 TFLOP


class FakePace:
    """A millisecond per optimizer step, nothing per operation."""

    def seconds(self, work):
        return work.steps / 1000


def test_seconds_are_start_up_plus_each_count_at_its_measured_rate():
    p = pace.ServerPace(step_s=1e-3, flop_s=1e-10, member_step_s=1e-5, sample_s=1e-6)
    work = budget.Work(0, flops=1e12, steps=1e6, member_steps=3e6, samples=2e7)
    assert p.seconds(work) == pytest.approx(pace.START_S + 1e3 + 1e2 + 30 + 20)
    p.correction = 2.0
    assert p.seconds(budget.Work(0, 0, 10)) == pytest.approx(pace.START_S + 2 * 10 * 1e-3)


def test_a_finished_job_moves_the_correction_halfway_within_its_range():
    p = pace.ServerPace(step_s=1e-3, flop_s=0.0)
    estimated = pace.START_S + 10
    p.record(estimated, pace.START_S + 40)       # 4x slower than estimated
    assert p.correction == pytest.approx(2.0)
    p.record(estimated, pace.START_S + 40)
    assert p.correction == pytest.approx(4.0)
    p.record(pace.START_S / 2, 1e6)              # all start-up: says nothing
    assert p.correction == pytest.approx(4.0)
    for _ in range(40):
        p.record(estimated, 1e9)
    assert p.correction == pace.CORRECTION_RANGE[1]


def test_the_runner_report_reaches_every_measured_pace(monkeypatch):
    p = pace.ServerPace(step_s=1e-3, flop_s=0.0)
    monkeypatch.setattr(pace, "_server", {3: p})
    pace.record_finished(pace.START_S + 10, pace.START_S + 40)
    pace.record_finished(None, 5.0)              # a job without an estimate
    assert p.correction == pytest.approx(2.0)


def test_the_issues_run_is_refused_for_its_wall_time_with_the_command_that_runs_it():
    settings = ServerSettings()
    plan = budget.train_plan(ISSUE)
    assert plan.work.flops < 0.07e12, "the compute cap lets it through"
    assert budget.refusal(plan, settings) is None, "without a pace there is no time check"
    message = budget.refusal(plan, settings, FakePace())
    assert message.startswith("Not started") and "present pace" in message
    assert "stops a job after 30 min" in message and "about 11.1 hours" in message
    assert plan.cli in message and "--batch-size 1 " in plan.cli


def test_the_wall_time_limit_is_inclusive():
    plan = budget.train_plan(RunConfig(epochs=500))      # 20,000 steps: 20 s
    assert budget.refusal(plan, ServerSettings(max_job_s=20), FakePace()) is None
    assert "about 20 s" in budget.refusal(plan, ServerSettings(max_job_s=19.9), FakePace())


def test_the_measured_pace_is_positive_and_refuses_the_issues_run():
    import torch
    threads = torch.get_num_threads()
    measured = pace.measure(threads=1)
    assert measured.step_s > 0 and measured.flop_s > 0
    assert measured.member_step_s >= 0 and measured.sample_s >= 0
    assert torch.get_num_threads() == threads, "the probe leaves the caller's threads alone"
    # 40 million steps: refused by any CPU whose step takes more than 45 us (this lab's take
    # 300 us to 1 ms)
    assert budget.refusal(budget.train_plan(ISSUE), ServerSettings(), measured) is not None
    assert budget.refusal(budget.train_plan(RunConfig()), ServerSettings(), measured) is None


def test_a_works_flops_are_timed_at_their_models_factor_for_their_population_size():
    # The MLP-based rates with measured per-model ratios (here set by hand): solo at the solo
    # ratio, 16 members at the stacked one, 4 members at their geometric mean (halfway in log).
    p = pace.ServerPace(step_s=0.0, flop_s=1e-9)
    p._ratios = {"cnn": (2.0, 8.0)}
    assert p.model_factor("mlp", 32) == 1.0, "the default MLP is what the rates measure"
    assert p.model_factor("cnn", 1) == pytest.approx(2.0)
    assert p.model_factor("cnn", pace.FACTOR_MEMBERS) == pytest.approx(8.0)
    assert p.model_factor("cnn", 64) == pytest.approx(8.0), "no extrapolation past the probe"
    assert p.model_factor("cnn", 4) == pytest.approx(4.0)
    work = budget.Work(0, flops=3e9, mix=(("cnn", 1, 1e9), ("mlp", 1, 2e9)))
    assert p.seconds(work) == pytest.approx(pace.START_S + 3 * (2 * 1 + 1 * 2) / 3)
    assert p.seconds(budget.Work(0, flops=3e9)) == pytest.approx(pace.START_S + 3), \
        "a work without a mix is the MLP's"


def test_works_record_their_models_and_how_many_members_train_together():
    cnn = RunConfig(model="cnn", epochs=2)
    seeds = [cnn.replace(seed=s) for s in range(8)]
    stacked = budget.estimate(seeds, populations=[seeds])
    assert stacked.mix == (("cnn", 8, pytest.approx(stacked.flops)),)
    solo = budget.estimate(seeds)
    assert solo.mix == (("cnn", 1, pytest.approx(solo.flops)),)
    both = stacked + budget.run_work(RunConfig(epochs=2))
    assert [m[:2] for m in both.mix] == [("cnn", 8), ("mlp", 1)]
    from core.optim.registry import METHODS
    from core.training.population import supports_population
    lonely = next(m for m in METHODS if not supports_population(m))
    runs = [cnn.replace(method=lonely, seed=s) for s in range(4)]
    assert budget.estimate(runs, populations=[runs]).mix[0][1] == 1, \
        "a method without a stacked form trains its seeds solo"


def test_the_model_probe_measures_a_finite_ratio_for_every_model():
    from core.models import MODELS
    p = pace.measure(1)
    for model in MODELS:
        for members in (1, pace.FACTOR_MEMBERS):
            factor = p.model_factor(model, members)
            assert pace.FACTOR_RANGE[0] <= factor <= pace.FACTOR_RANGE[1], (model, factor)
