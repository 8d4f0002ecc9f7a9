"""Search: tune a method with Optuna (or duel it against Adam) and watch the trials arrive.

The search itself is core.search.run_search / run_duel, run in the background by core.training.runner;
this page only collects settings and draws what the job has yielded so far.
"""

import threading
import time
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

import optuna

from core.budget import compare_plan, search_plan
from core.data import SPLITS
from core.optim.registry import METHODS
from core.search.access import StudyAccessError
from core.search.counting import counts
from core.search.duel import confirm_best, fresh_seeds, run_duel, side_study_names
from core.search.outcomes import SearchProgress, TrialResult, best_of, params_text
from core.search.storage import StorageError, open_storage
from core.search.study import (BASELINE, SAMPLERS, SearchConfig, attach, default_study_name,
                               open_study, resolve_study_name, run_search, study_results)
from core.schedules import KNOBS, SCHEDULES, parse_knob
from core.search.space import describe
from ui.entry import ensure_entry
from ui.params import UrlField, config_to_params, flag, one_of, show_flag, whole
from ui.live import LiveRun, StartButton
from ui.session import start_job
from ui.share import keep_widgets_in_url
from ui.studies import (JOB_FAILED, mark_owner, owned_studies, owner_key,
                        storage_failed, storage_url, stored_owner, study_access,
                        visitor_study_name)
from ui.charts import element_height
from ui.search_charts import (CURVES_HEIGHT, HISTORY_HEIGHT, LEGEND_LINES, SLICE_HEIGHT,
                              curves_chart, distribution_chart, history_chart, running_rows,
                              slice_chart, trials_frame)
from ui.search_confirmation import confirmations, seeds_text
from ui.search_knobs import knob_panels
from ui.widgets import SPLIT_HELP, knob_url_fields, model_settings, entry_settings
from ui.plugin_errors import shows_plugin_errors

K_JOB = "search.job"     # the search's record: {"config", "duel", "stop" (its Event), "job"}
K_WATCH = "search.watch"
K_CONFIRM = "search.confirm_job"
K_MESSAGE = "search.message"       # why the last Start was refused
K_AUTO_NAME = "search.study_auto"  # the default study name last shown
SAMPLER_LABELS = {"tpe": "TPE (seeded)", "random": "Random"}

ensure_entry()
st.title("Search")
# After a reload: the search, its trials and progress. Stop also sets the search's own event,
# which ends the running trial between epochs.
live = LiveRun("search", K_JOB, on_stop=lambda record: record["stop"].set())
st.caption("Optuna searches the method's knobs over the ranges from the registry. Every trial "
           "starts from the same weights and batch order (the seed), so trials differ only in "
           "their hyperparameters; the objective is the best validation loss over the epochs. "
           "A diverged trial is pruned with its reason, never recorded as a value.")


STORAGE = storage_url()   # server configuration only, never a browser field


# -- settings -----------------------------------------------------------------------------------
# The page's URL holds these widgets (ui.share); the search ranges stay at the registry's.
URL_FIELDS = [UrlField("method", "search.method", one_of(sorted(METHODS))),
              UrlField("duel", "search.duel", flag, show_flag),
              UrlField("trials", "search.trials", whole(1, 500)),
              UrlField("epochs", "search.epochs", whole(1, 200)),
              UrlField("seed", "search.seed", whole(0, 2**31 - 1)),
              UrlField("sampler", "search.sampler", one_of(SAMPLERS)),
              UrlField("pruning", "search.pruning", flag, show_flag),
              UrlField("split", "search.split", one_of(SPLITS)),
              UrlField("confirm", "search.confirm", whole(1, 20)),
              UrlField("parallel", "search.parallel", whole(1, 32)),
              # The lr schedule: fixed (schedule and its knobs), or tuned among ``schedules``.
              UrlField("schedule", "search.schedule", one_of(list(SCHEDULES))),
              *[UrlField(hp.name, f"search.schedule.{hp.name}",
                         lambda text, name=hp.name: parse_knob(name, text), repr)
                for hp in KNOBS.values()],
              UrlField("schedules", "search.schedules",
                       lambda text: [one_of(list(SCHEDULES))(k) for k in text.split(",") if k],
                       ",".join),
              *knob_url_fields("search"),
              # The study watched (a Benchmark cell's link); shown only if the visitor may.
              UrlField("watch", K_WATCH, str)]


def settings() -> tuple[SearchConfig | None, bool, int, str | None, int]:
    for warning in keep_widgets_in_url("search", URL_FIELDS):
        st.warning(warning, icon=":material/link_off:")
    left, right = st.columns(2)
    with left:
        method = st.selectbox("Method", sorted(METHODS), key="search.method",
                              format_func=lambda k: METHODS[k].display_name,
                              index=sorted(METHODS).index(next(
                                  (k for k in METHODS if k != BASELINE), BASELINE)))
        duel = st.checkbox(f"Duel against {METHODS[BASELINE].display_name} (same budget, seed "
                           "and split), then confirm both over seeds", key="search.duel",
                           disabled=method == BASELINE)
        trials = st.number_input("Trials", 1, 500, 10, key="search.trials")
        epochs = st.number_input("Epochs per trial", 1, 200, 10, key="search.epochs")
        seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="search.seed")
        model, shape = model_settings("search")
    with right:
        sampler = st.radio("Sampler", SAMPLERS, horizontal=True, key="search.sampler",
                           format_func=lambda k: SAMPLER_LABELS.get(k, k))
        pruning = st.toggle("Prune with the median rule", key="search.pruning",
                            help="Stops a trial whose validation loss is worse than the median "
                                 "of earlier trials at the same epoch.")
        split = st.radio("Split", SPLITS, horizontal=True, key="search.split", help=SPLIT_HELP)
        confirm = st.number_input(
            "Confirmation seeds", 1, 20, 3, key="search.confirm",
            help="The best configuration is retrained on this many fresh seeds, ones the search "
                 "never trained on (a duel does it for both sides at the end; a single search "
                 "offers a button once it finishes).")
        parallel = st.number_input(
            "Trials trained together", 1, 32, 10, key="search.parallel",
            help="Asked from the sampler at once and trained as one population (stacked "
                 "weights): about 3x faster. TPE's constant liar keeps a batch spread out; "
                 "1 searches one trial at a time, as the write-ups did.")
    ranges = []
    with st.expander("Search ranges (from the registry)"):
        for hp in METHODS[method].hyperparams:
            if hp.search is None:
                st.caption(f"{hp.name} stays at {hp.default:g}")
                continue
            low, high = st.columns(2)
            # One number type per box (Streamlit refuses a mix): an integer knob's are whole.
            num, fmt = (int, "%d") if hp.integer else (float, "%g")
            lo = low.number_input(f"{hp.name} from", num(hp.low), num(hp.high),
                                  num(hp.search[0]), format=fmt,
                                  key=f"search.{method}.{hp.name}.low")
            hi = high.number_input(f"{hp.name} to", num(hp.low), num(hp.high),
                                   num(hp.search[1]), format=fmt,
                                   key=f"search.{method}.{hp.name}.high")
            if (lo, hi) != tuple(hp.search):
                ranges.append((hp.name, (lo, hi)))
    with st.expander("LR schedule"):
        schedule = entry_settings("search")
        tuned = st.multiselect("Tune the schedule among", list(SCHEDULES), key="search.schedules",
                               format_func=lambda k: SCHEDULES[k].display_name,
                               help="Two or more: the search picks the schedule per trial (a "
                                    "categorical knob), each with the settings above that it "
                                    "takes. Empty: every trial uses the schedule above.")
    try:
        config = SearchConfig(method=method, trials=int(trials), epochs=int(epochs),
                              seed=int(seed), split=split, sampler=sampler, pruning=pruning,
                              ranges=tuple(ranges), schedule=schedule["schedule"],
                              schedule_params=schedule["schedule_params"],
                              schedules=tuple(tuned), model=model, shape=shape())
    except ValueError as error:
        st.error(str(error))
        return None, duel, int(confirm), None, int(parallel)
    schedule_lines = [line for line in describe(config.space()) if line.startswith("schedule")]
    if schedule_lines:
        st.caption("LR " + "; ".join(schedule_lines))
    if config.guided_trials == 0:
        st.warning(f"Effectively a random search: {'the random sampler' if sampler == 'random' else f'TPE samples its first {config.startup_trials} trials at random'}, "
                   f"and there are {config.trials}.")
    else:
        st.caption(f"TPE: {config.startup_trials} random start-up trials, then "
                   f"{config.guided_trials} guided by the results so far.")
    study = None
    if STORAGE:   # a visitor's default names are their own (visitor_study_name), not squattable
        study = study_name_input(visitor_study_name(
            f"duel-{default_study_name(config)}" if duel and method != BASELINE
            else default_study_name(config)))
    return config, duel and method != BASELINE, int(confirm), study, int(parallel)


def study_name_input(default: str) -> str:
    """The study name box follows the settings until the visitor types a name of their own.
    Returns the name as typed; :func:`start` resolves it once."""
    key = "search.study"
    if st.session_state.get(key) in (None, st.session_state.get(K_AUTO_NAME)):
        st.session_state[key] = default
    st.session_state[K_AUTO_NAME] = default
    return st.text_input("Study name (resumes when it exists and is yours)", key=key)


config, duel, confirm_seeds, study_name, parallel = settings()
st.caption(f"Storage: {'persistent (server-configured)' if STORAGE else 'in memory, this session only'}")


def claim_studies(studies: list[tuple[SearchConfig, str]]) -> bool:
    """Check that this session may write to these (config, study name) pairs, and create or
    open each, so a refusal is said here in words rather than as a failed job. A study this
    browser created is its own, after a reload too (its owner mark, ui.studies)."""
    try:
        storage = open_storage(STORAGE)
        existing = set(optuna.get_all_study_names(storage))
        for _, name in studies:
            study_access().check_write(name, owned_studies(), name in existing,
                                       owner=owner_key(), stored_owner=stored_owner(storage, name)
                                       if name in existing else None)
        for cfg, name in studies:
            study = open_study(cfg, storage, name)   # refuses a study made for other settings
            if name not in existing:
                mark_owner(study)
    except StudyAccessError as error:
        st.session_state[K_MESSAGE] = str(error)
        return False
    except Exception as error:   # the visitor sees no host, port or driver
        ours = isinstance(error, ValueError) and not isinstance(error, StorageError)
        st.session_state[K_MESSAGE] = (str(error) if ours
                                       else storage_failed("opening the studies"))
        return False
    owned_studies().update(name for _, name in studies)
    return True


@shows_plugin_errors   # a plug-in raising for these values: an error, no crash
def start() -> None:
    st.session_state.pop(K_MESSAGE, None)
    stop = threading.Event()
    cfg, url = config, STORAGE
    sides = [cfg, cfg.for_method(BASELINE)] if duel else [cfg]
    name = None   # in memory: the default, in this session's own storage
    if url:
        # Resolved once: the names checked are the names written to (an empty box is refused,
        # never replaced by a default that may be someone else's study).
        name = (study_name or "").strip()
        try:
            names = side_study_names(cfg, name) if duel \
                else [resolve_study_name(name, default_study_name(cfg))]
        except ValueError as error:
            st.session_state[K_MESSAGE] = str(error)
            return
        if not claim_studies(list(zip(sides, names))):
            return
    if duel:
        make = lambda: run_duel(cfg, confirm_seeds=confirm_seeds, storage=url,  # noqa: E731
                                study_prefix=name, stop=stop, batch=parallel)
        total = 2 * cfg.trials + 2 * confirm_seeds + 1
    else:
        make = lambda: run_search(cfg, storage=url, study_name=name, stop=stop,  # noqa
                                  batch=parallel, progress=True)
        total = cfg.trials
    if live.start(search_plan(cfg, parallel=parallel, duel=duel, confirm_seeds=confirm_seeds),
                  make, total=total, label=f"search {cfg.method}",
                  meta={"config": cfg, "duel": duel, "stop": stop}) is not None:
        st.session_state.pop(K_CONFIRM, None)


live.buttons(StartButton("Start", "search.start", start), stop_key="search.stop_button",
             ready=config is not None, stop_help="Finished trials are kept.", widths=[1, 1, 4])
if st.session_state.get(K_MESSAGE):
    st.error(st.session_state[K_MESSAGE])


# -- drawing ----------------------------------------------------------------------------------
def train_link(cfg: SearchConfig, trial: TrialResult) -> str:
    run = cfg.for_method(trial.side).run_config(trial.params) if trial.side != cfg.method \
        else cfg.run_config(trial.params)
    return "train?" + urlencode(config_to_params(run))


TABLE_HEADERS = {"side": "method", "number": "trial", "state": "state",
                 "value": "best val loss", "epochs": "epochs trained", "duration": "time (s)",
                 "reason": "note"}


def in_words(df: pd.DataFrame) -> pd.DataFrame:
    """Column headers in words and "-" or blank where a trial has no value (no "None")."""
    shown = df.rename(columns={**TABLE_HEADERS, **{c: c[len("params_"):] for c in df.columns
                                                   if c.startswith("params_")}})
    shown["note"] = shown["note"].fillna("") if "note" in shown else ""
    return shown.astype(object).where(shown.notna(), "-")


def draw(items: list, cfg: SearchConfig) -> None:
    trials = [i for i in items if isinstance(i, TrialResult)]
    df = trials_frame(trials)
    # The batch training now is listed from its first epoch (a population batch yields its
    # results only at its end).
    training = running_rows(items, {(t.side, t.number) for t in trials}) if jobs_running() else []
    table = pd.concat([df, pd.DataFrame(training)], ignore_index=True) if training else df
    if not len(table):
        st.info("No trial has trained an epoch yet.")
        return
    marked = table.assign(state=table["state"].map(
        {"COMPLETE": "COMPLETE", "PRUNED": "⚠ PRUNED", "FAIL": "✖ FAIL",
         "RUNNING": "▶ training"}).fillna(table["state"]))
    st.dataframe(in_words(marked.sort_values(["side", "number"])), hide_index=True,
                 width="stretch", key="search.table")
    if not trials:
        st.caption("The charts appear when the first trial finishes.")
        return
    st.download_button("Download trials (CSV)", df.to_csv(index=False).encode(),
                       file_name=f"search-{cfg.method}.csv", mime="text/csv",
                       key="search.csv")
    left, right = st.columns(2)
    # Explicit element heights: measured from their content, charts with a legend below were
    # drawn squashed or cut.
    left.altair_chart(history_chart(df), width="stretch",
                      height=element_height(HISTORY_HEIGHT, LEGEND_LINES))
    right.altair_chart(distribution_chart(df), width="stretch",
                       height=element_height(HISTORY_HEIGHT, LEGEND_LINES))
    names = [c[len("params_"):] for c in df.columns if c.startswith("params_")]
    cols = st.columns(max(1, min(3, len(names))))
    for i, name in enumerate(names):
        hp = next((h for s in {t.side for t in trials} for h in METHODS[s].hyperparams
                   if h.name == name), None)
        cols[i % len(cols)].altair_chart(slice_chart(df, name, bool(hp and hp.log)),
                                         width="stretch",
                                         height=element_height(SLICE_HEIGHT, LEGEND_LINES))
    st.altair_chart(curves_chart(trials), width="stretch",
                    height=element_height(CURVES_HEIGHT, LEGEND_LINES))
    if not jobs_running():   # a forest per side: once, on the finished search, not per poll
        knob_panels(trials, cfg)
    for side in dict.fromkeys(t.side for t in trials):
        best = best_of(t for t in trials if t.side == side)
        if best is None:
            st.warning(f"{METHODS[side].display_name}: no completed trial yet")
            continue
        params = params_text(best.params, ", ")
        c1, c2 = st.columns([3, 1])
        c1.success(f"{METHODS[side].display_name}: best trial #{best.number}, "
                   f"val loss {best.value:.4f} with {params}")
        c2.link_button("Open on the Train page", train_link(cfg, best))
    solo_best = best_of(trials) if not (live.record or {}).get("duel") else None
    if solo_best is not None and job_finished():
        seeds = fresh_seeds(cfg.seed, int(st.session_state.get("search.confirm", 3)))
        st.button(f"Confirm the best on fresh seeds {seeds_text(seeds)}",
                  key="search.confirm_button",
                  on_click=start_confirmation, args=(cfg, solo_best.params, seeds),
                  help="A search's best value is picked on one seed, so it is optimistic: "
                       "retrain that configuration on fresh seeds to see how it really does.")
    confirmations(items, st.session_state.get(K_CONFIRM), cfg.seed)


def job_finished() -> bool:
    return live.job is not None and live.job.status == "finished"


def start_confirmation(cfg: SearchConfig, params: dict, seeds: tuple) -> None:
    st.session_state[K_CONFIRM] = start_job(
        "search.confirm", compare_plan([cfg.run_config(params, seed=seeds[0])], list(seeds)),
        lambda: confirm_best(cfg, params, seeds), total=len(seeds), label=f"confirm {cfg.method}")


def jobs_running() -> bool:
    """The search, or the confirmation of its best, is still producing results."""
    return any(j is not None and not j.done()
               for j in (live.job, st.session_state.get(K_CONFIRM)))


def epochs_eta(steps: list[SearchProgress], elapsed: float) -> float | None:
    """Seconds left at this job's pace in epochs (a resumed study's earlier epochs excluded)."""
    trained = steps[-1].epochs_done - steps[0].epochs_done
    if trained <= 0:
        return None
    return elapsed * (steps[-1].epochs_planned - steps[-1].epochs_done) / trained


def panel(record) -> None:
    job, cfg = record["job"], record["config"]
    items = job.items()
    n = sum(isinstance(i, TrialResult) for i in items)
    if job.status == "queued":
        st.info(f"Queued: position {job.queue_position()} (the server runs a few jobs at once)")
    elif job.status == "running":
        steps = [i for i in items if isinstance(i, SearchProgress)]
        if steps:
            eta = epochs_eta(steps, time.time() - (job.started_at or time.time()))
            st.progress(steps[-1].fraction, text=steps[-1].line()
                        + (f", about {eta:.0f} s left" if eta else ""))
        else:   # a duel counts its trials
            eta = job.eta_seconds()
            st.progress(min(1.0, len(items) / max(1, job.total or 1)), text=f"{n} trial(s) "
                        "finished" + (f", about {eta:.0f} s left" if eta else ""))
    elif job.status == "failed":
        if STORAGE:   # the error may name the database; the server log gets it whole
            st.error(JOB_FAILED)
        else:
            st.error(f"The search failed: {job.error}")
    else:
        st.caption(f"Search {job.status}: {n} trial(s).")
    draw(items, cfg)


live.area(panel, live=jobs_running)


# -- watching a study run by workers -----------------------------------------------------------
if STORAGE:
    with st.expander("Watch a study run by workers (python -m core worker)"):
        choices = study_access().watchable(owned_studies())
        name = st.selectbox("Study", choices, index=None, key="search.watch_name",
                            placeholder="your studies and the ones this server shares",
                            help="Studies this browser session started, and the ones the "
                                 "server's operator shares.")
        if st.button("Watch", key="search.watch_button", disabled=not choices) and name:
            st.session_state[K_WATCH] = name

    @st.fragment(run_every=2.0)
    def watch() -> None:
        name = st.session_state.get(K_WATCH)
        if not name or name not in study_access().watchable(owned_studies()):
            return
        try:
            study, cfg = attach(STORAGE, name)
        except Exception as error:
            # "no such study" is in our own words; anything from the storage may name its host
            ours = isinstance(error, ValueError) and not isinstance(error, StorageError)
            st.error(str(error) if ours else storage_failed(f"watching {name!r}"))
            return
        trials = study.get_trials(deepcopy=False)
        c = counts(trials)
        st.caption(f"Study {name!r}: {c.finished} finished, {c.running} running, "
                   f"{c.waiting} waiting (as of {time.strftime('%H:%M:%S')})")
        draw([t for t in study_results(study) if t.state != "RUNNING"], cfg)

    watch()
