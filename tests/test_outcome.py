"""A finished run that learned nothing is named as such, with its likely cause (ui.outcome)."""

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import run_until
from core.config import EpochMetrics, RunConfig
from ui.outcome import chance_ceiling, learned_nothing


def epochs(*rows: tuple[float, float]) -> list[EpochMetrics]:
    """(train loss, validation accuracy) per epoch."""
    return [EpochMetrics(epoch=i + 1, train_loss=loss, val_loss=loss, val_acc=acc, elapsed=i,
                         lrs=(0.01,)) for i, (loss, acc) in enumerate(rows)]


def test_chance_ceiling_is_chance_plus_three_binomial_deviations():
    assert chance_ceiling(10, 800) == pytest.approx(0.1 + 3 * (0.09 / 800) ** 0.5)
    assert chance_ceiling(2, 100) == pytest.approx(0.5 + 3 * 0.05)


def test_a_run_that_learned_is_fine():
    assert learned_nothing(epochs((2.0, 0.3), (1.2, 0.6)), RunConfig(method="adam")) is None


def test_accuracy_at_chance_with_a_high_lr_blames_the_lr():
    text = learned_nothing(epochs((2.3, 0.1), (2.3, 0.11)), RunConfig(method="adam", lr=0.5))
    assert "at chance" in text and "too high" in text and "0.5" in text


def test_accuracy_at_chance_with_a_low_lr_says_too_low():
    text = learned_nothing(epochs((2.3, 0.1), (2.29, 0.12)), RunConfig(method="adam", lr=1e-5))
    assert "at chance" in text and "too low" in text


def test_a_loss_that_rose_is_named_even_above_chance():
    text = learned_nothing(epochs((1.5, 0.4), (1.9, 0.3)), RunConfig(method="adam", lr=1e-4))
    assert "above its first epoch's" in text and "too high" in text
    assert "at chance" not in text


def test_just_above_the_ceiling_is_not_flagged():
    ceiling = chance_ceiling()
    assert learned_nothing(epochs((2.3, ceiling + 0.001)), RunConfig()) is None
    assert learned_nothing(epochs((2.3, ceiling)), RunConfig()) is not None


@pytest.mark.timeout(180)
def test_train_warns_instead_of_a_green_finish_at_the_top_of_the_lr_range():
    at = AppTest.from_file("../app.py", default_timeout=60)
    for key, value in {"method": "adam", "lr": "1.0", "epochs": "3", "hidden": "100,100"}.items():
        at.query_params[key] = value
    at.switch_page("pages/train.py")
    at.run()
    at.button(key="train.start").click()
    run_until(at, lambda a: a.warning or a.success or a.error, "the run to finish")
    assert not at.success, at.success[0].value
    text = at.warning[0].value if at.warning else at.error[0].value
    assert "learned nothing" in text or "Diverged" in text, text
