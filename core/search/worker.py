"""``python -m core worker``: one of several processes that share a study in a storage.

A worker is the search loop (:func:`.study.run_search`) on a study someone made with this lab,
with an unseeded sampler (seeded workers would all propose alike), one trial at a time. It ends
when the study counts ``trials`` finished trials, also after waiting for other workers' last
trials (a dead worker's trial is failed after the grace period and its retry may run here).
"""

import threading
from typing import Callable

from .counting import counts
from .outcomes import trial_line
from .study import attach, make_pruner, make_sampler, run_search


def run_worker(storage: str, study_name: str, trials: int, *, device: str = "auto",
               heartbeat_interval: int | None = None, grace_period: int | None = None,
               log: Callable[[str], None] = print, stop: threading.Event | None = None
               ) -> tuple[int, bool]:
    """Pull trials of a shared study until it counts ``trials`` finished trials.

    Returns (trials this worker finished, whether the study is complete).
    """
    kwargs = {k: v for k, v in (("heartbeat_interval", heartbeat_interval),
                                ("grace_period", grace_period)) if v is not None}
    study, config = attach(storage, study_name, trials=trials, device=device, **kwargs)
    study.sampler = make_sampler(config, None)
    study.pruner = make_pruner(config)
    done = 0
    for result in run_search(config, stop=stop, _study=study):
        done += 1
        log(trial_line(result))
    return done, counts(study.get_trials(deepcopy=False)).finished >= trials
