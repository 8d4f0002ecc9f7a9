"""Train's demo controls: the log-scale lr grid, and (AppTest) the slider, pause / step /
resume, reset, auto-restart and the demo pace on the page."""

import pytest

from core.optim.registry import METHODS
from ui.demo_controls import log_grid, nearest


def test_the_lr_grid_is_one_two_three_five_per_decade_and_holds_every_default():
    assert log_grid(1e-3, 1.0) == [0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05,
                                   0.1, 0.2, 0.3, 0.5, 1.0]
    assert log_grid(0.0015, 0.04) == [0.002, 0.003, 0.005, 0.01, 0.02, 0.03]
    for spec in METHODS.values():
        hp = spec.hyperparam("lr")
        grid = log_grid(hp.low, hp.high)
        assert grid[0] >= hp.low and grid[-1] <= hp.high and grid == sorted(grid)
        assert hp.default in grid, spec.key
        # log-spaced: no step wider than a factor of 2 (1 -> 2, 3 -> 5 -> 10)
        assert max(b / a for a, b in zip(grid, grid[1:])) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        log_grid(0.0, 1.0)


def test_nearest_is_nearest_on_the_log_scale():
    grid = log_grid(1e-4, 1.0)
    assert nearest(grid, 0.0042) == 0.005       # log10: 0.0042 is nearer 0.005 than 0.003
    assert nearest(grid, 0.0037) == 0.003
    assert nearest(grid, 7e-5) == 1e-4 and nearest(grid, 50.0) == 1.0
    assert nearest(grid, -1.0) == grid[0] and nearest(grid, None) == grid[0]
    assert nearest(grid, 0.01) == 0.01
