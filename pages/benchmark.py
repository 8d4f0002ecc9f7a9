"""Benchmark: every chosen method tuned the same way on every chosen workload, confirmed on
fresh paired seeds, ranked with intervals and verdicts; the grid fills in cell by cell.

The benchmark itself is core.benchmark's run_benchmark, run in the background by
core.training.runner; this page collects the settings, draws what the job has yielded so far,
and, before anything has run, the committed record ``results/benchmark.json``.
"""

import threading
from pathlib import Path

import streamlit as st

from core.benchmark.config import DEFAULT_MARGINS, _entry_text
from core.cli.benchmark import parse_entry
from core.benchmark import (BenchmarkConfig, BenchmarkDone, BenchmarkRecord, CellDone,
                            CellProgress, MethodEntry, Workload, plan, run_benchmark)
from core.config import RUN_SETTINGS
from core.models import MODELS
from core.optim.registry import BASELINE, METHODS
from core.schedules import KNOBS, SCHEDULES, parse_knob
from core.search.study import SAMPLERS
from core.training.compare import MAX_SEEDS
from ui.benchmark_storage import benchmark_storage, claim, visitor_benchmark_name
from ui.benchmark_view import TIE_NOTE, command, draw_grid, draw_results
from ui.entry import ensure_entry
from ui.live import LiveRun, StartButton
from ui.params import UrlField, one_of, whole
from ui.plugin_errors import shows_plugin_errors
from ui.share import keep_widgets_in_url
from ui.widgets import entry_settings

PREFIX = "bench"
K_RUN = "bench.run"           # the record: {"config", "stop" (its Event), "stored", "job"}
K_MESSAGE = "bench.message"   # why the last Start was refused
K_SETUP_NOTE = "bench.setup_note"   # what "Set up this benchmark" could not put in the settings
K_KNOBS = "bench.knobs"       # {method: its knob text} as the URL holds it (None: none)
K_KNOBS_SEEN = "bench.knobs_seen"   # what the widgets last wrote there: else a link changed it
RECORD = Path(__file__).resolve().parent.parent / "results" / "benchmark.json"
MAX_METHODS = 8               # a page's grid and its Compare links stay readable
MAX_TRIALS = 500              # as the Search page
MAX_PARALLEL = 32             # as the Search page
SAMPLER_LABELS = {"tpe": "TPE (seeded)", "random": "Random"}
SETTING = {s.name: s for s in RUN_SETTINGS}
DEFAULT_METHODS = [BASELINE] + [k for k in METHODS if k != BASELINE][:1]

STORAGE = benchmark_storage()

ensure_entry()
st.title("Benchmark")
# After a reload: the benchmark and its grid. Stop also sets the benchmark's own event, which
# ends the running cell between epochs.
live = LiveRun("benchmark", K_RUN, on_stop=lambda record: record["stop"].set())
st.caption("Every method gets the same search (the same number of Optuna trials on the same "
           "tuning seed, the same sampler) on every workload, then its best configuration is "
           "retrained on fresh seeds, paired across methods: the same initial weights and batch "
           "order per seed. Validation on held-out training data; scores are test accuracy and "
           "loss at the best validation epoch. A diverged run counts as a failure.")


# -- settings -----------------------------------------------------------------------------------
def _keys(choices):
    def parse(text: str) -> list[str]:
        picked = [one_of(list(choices))(k.strip()) for k in text.split(",") if k.strip()]
        if len(picked) > MAX_METHODS:
            raise ValueError(f"at most {MAX_METHODS}")
        return list(dict.fromkeys(picked))
    return parse


def margin(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not (0 < value < 1e9):
        raise ValueError("must be a positive number")
    return value


def knob_text(method: str) -> str:
    """The widget's key of ``method``'s fixed knobs and own schedule, in the CLI's syntax."""
    return f"bench.knobs.{method}"


def entry(method: str, text: str) -> MethodEntry:
    """``method`` with the knobs ``text`` (``lr=0.001,schedule=cosine,warmup=2``) fixes, as the
    CLI's ``--method method:text`` reads it; a bad one: ValueError in words."""
    try:
        return parse_entry(f"{method}:{text.strip()}")
    except ValueError as error:
        message = str(error).replace(f"--method {method + ':' + text.strip()!r}: ", "")
        raise ValueError(f"{METHODS[method].display_name}'s knobs {text.strip()!r}: "
                         f"{message}") from None


def parse_knobs(text: str) -> dict[str, str]:
    """The URL's ``knobs=lion:lr=0.001;adam:schedule=cosine,warmup=2``."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        method, _, rest = part.partition(":")
        one_of(list(METHODS))(method.strip())
        entry(method.strip(), rest)
        out[method.strip()] = rest.strip()
    return out


URL_FIELDS = [UrlField("methods", "bench.methods", _keys(METHODS), ",".join),
              UrlField("knobs", K_KNOBS, parse_knobs,
                       lambda d: ";".join(f"{m}:{t}" for m, t in d.items())),
              UrlField("models", "bench.models", _keys(MODELS), ",".join),
              UrlField("baseline", "bench.baseline", one_of(list(METHODS))),
              UrlField("trials", "bench.trials", whole(1, MAX_TRIALS)),
              UrlField("seeds", "bench.seeds", whole(1, MAX_SEEDS)),
              UrlField("epochs", "bench.epochs", whole(SETTING["epochs"].low,
                                                        SETTING["epochs"].high)),
              UrlField("batch_size", "bench.batch_size",
                       whole(SETTING["batch_size"].low, SETTING["batch_size"].high)),
              UrlField("seed", "bench.seed", whole(0, 2**31 - 1)),
              UrlField("sampler", "bench.sampler", one_of(SAMPLERS)),
              UrlField("parallel", "bench.parallel", whole(1, MAX_PARALLEL)),
              # every workload's lr schedule and its knobs, as on Search
              UrlField("schedule", "bench.schedule", one_of(list(SCHEDULES))),
              *[UrlField(hp.name, f"bench.schedule.{hp.name}",
                         lambda text, name=hp.name: parse_knob(name, text), repr)
                for hp in KNOBS.values()],
              *[UrlField(f"margin_{m}", f"bench.margin.{m}", margin, repr)
                for m in DEFAULT_MARGINS]]


def method_entries(methods: list[str]) -> dict[str, str]:
    """Per chosen method, a text of the knobs it fixes and the schedule of its own it takes
    (empty: searched over its registry space, on the workload's schedule)."""
    given = st.session_state.get(K_KNOBS)
    link = given != st.session_state.get(K_KNOBS_SEEN)   # a link (or Set up) changed them
    given = given or {}
    texts = {}
    with st.expander("Fix knobs / own schedule", expanded=bool(given)):
        st.caption("Per method, as the CLI's `--method name:...`: `knob=value,...` pins knobs "
                   "(the rest are searched), `schedule=NAME,knob=value` gives it an lr schedule "
                   f"of its own. Schedules: {', '.join(SCHEDULES)}; their knobs: "
                   f"{', '.join(KNOBS)}.")
        for m in methods:
            key = knob_text(m)
            if link or key not in st.session_state:
                st.session_state[key] = given.get(m, "")
            spec = METHODS[m]
            texts[m] = st.text_input(
                spec.display_name, key=key, placeholder="searched over its registry space",
                help="Knobs: " + "; ".join(
                    f"{hp.name} (default {hp.default:g}, {hp.low:g} to {hp.high:g})"
                    for hp in spec.hyperparams))
    kept = {m: t.strip() for m, t in texts.items() if t.strip()} or None
    st.session_state[K_KNOBS] = st.session_state[K_KNOBS_SEEN] = kept
    return texts


def settings() -> BenchmarkConfig | None:
    for warning in keep_widgets_in_url(PREFIX, URL_FIELDS):
        st.warning(warning, icon=":material/link_off:")
    st.session_state.setdefault("bench.methods", DEFAULT_METHODS)
    st.session_state.setdefault("bench.models", [next(iter(MODELS))])
    left, right = st.columns(2)
    with left:
        methods = st.multiselect(
            "Methods", list(METHODS), key="bench.methods", max_selections=MAX_METHODS,
            format_func=lambda k: METHODS[k].display_name,
            help=f"Up to {MAX_METHODS}; each is searched over its registry ranges.")
        models = st.multiselect("Workloads (models)", list(MODELS), key="bench.models",
                                format_func=lambda k: MODELS[k].display_name,
                                help="Each at its registry shape, with the epochs, batch size "
                                     "and constant lr below.")
        choices = methods or [BASELINE]
        if st.session_state.get("bench.baseline") not in choices:
            st.session_state["bench.baseline"] = BASELINE if BASELINE in choices else choices[0]
        baseline = st.selectbox("Baseline", choices, key="bench.baseline",
                                format_func=lambda k: METHODS[k].display_name,
                                help="Every other method is judged against it, seed by seed; "
                                     "its tuned runs also set each workload's target accuracy.")
    with right:
        c1, c2 = st.columns(2)
        trials = c1.number_input("Trials per cell", 1, MAX_TRIALS, 8, key="bench.trials")
        seeds = c2.number_input("Fresh seeds", 1, MAX_SEEDS, 3, key="bench.seeds",
                                help="The best configuration of each cell is retrained on this "
                                     "many seeds the search never saw.")
        epochs = c1.number_input("Epochs", SETTING["epochs"].low, SETTING["epochs"].high, 5,
                                 key="bench.epochs")
        batch = c2.number_input("Batch size", SETTING["batch_size"].low,
                                SETTING["batch_size"].high, SETTING["batch_size"].default,
                                key="bench.batch_size")
        seed = c1.number_input("Tuning seed", 0, 2**31 - 1, 0, key="bench.seed")
        sampler = c2.radio("Sampler", SAMPLERS, horizontal=True, key="bench.sampler",
                           format_func=lambda k: SAMPLER_LABELS.get(k, k))
    entries = method_entries(methods)
    with st.expander("Protocol details"):
        c1, c2, c3 = st.columns(3)
        parallel = c1.number_input(
            "Trials trained together", 1, MAX_PARALLEL, 10, key="bench.parallel",
            help="Asked from the sampler at once and trained as one population (stacked "
                 "weights): faster, the same trials. A property of the run, not the protocol.")
        margins = {}
        for column, (metric, default) in zip((c2, c3), DEFAULT_MARGINS.items()):
            margins[metric] = column.number_input(
                f"Margin, {metric.replace('_', ' ')}", value=float(default), format="%g",
                step=default / 2, key=f"bench.margin.{metric}",
                help="The difference that matters: a paired interval inside ±margin is "
                     "'equivalent'.")
        schedule = entry_settings(PREFIX)   # the workloads' lr schedule
    # knobs at their defaults left out: a workload's name (and its studies') stays short
    schedule_params = {k: v for k, v in schedule["schedule_params"].items()
                       if v != KNOBS[k].default}
    try:
        if not methods:
            raise ValueError("pick at least one method")
        if not models:
            raise ValueError("pick at least one workload (a model)")
        return BenchmarkConfig(
            methods=tuple(entry(m, t) if t.strip() else MethodEntry(m)
                          for m, t in entries.items()),
            workloads=tuple(Workload(m, epochs=int(epochs), batch_size=int(batch),
                                     schedule=schedule["schedule"],
                                     schedule_params=schedule_params)
                            for m in models),
            trials=int(trials), seeds=int(seeds), seed=int(seed), sampler=sampler,
            baseline=baseline, reference=baseline, parallel=int(parallel),
            margins={m: float(v) for m, v in margins.items()})
    except ValueError as error:
        st.error(f"Invalid setting, nothing was started: {error}", icon=":material/error:")
        return None


config = settings()
if config is not None:
    cells = len(config.methods) * len(config.workloads)
    startup = config.search_config(*config.cells()[0]).startup_trials
    sampling = (f"TPE: {startup} random start-up trials, then {config.trials - startup} guided"
                if config.sampler == "tpe" else "random search")
    st.caption(f"{cells} cell(s) of {config.trials} trials ({sampling}) + {config.seeds} fresh "
               f"seeds. The page's URL holds these settings. Locally: `{command(config)}`")


@shows_plugin_errors   # a plug-in raising for these values: an error, no crash
def start() -> None:
    st.session_state.pop(K_MESSAGE, None)
    stop = threading.Event()
    cfg, url, name = config, STORAGE, None
    if url:   # each cell a study of this visitor's: the same settings again resume them
        name = visitor_benchmark_name(cfg)
        problem = claim(cfg, url, name)
        if problem:
            st.session_state[K_MESSAGE] = problem
            return
    total = sum((cfg.trials + cfg.seeds) * w.epochs for _, w in cfg.cells())
    live.start(plan(cfg), lambda: run_benchmark(cfg, storage=url, name=name, stop=stop),
               total=total, label=f"benchmark {len(cfg.methods)} x {len(cfg.workloads)}",
               meta={"config": cfg, "stop": stop, "stored": bool(url)})


live.buttons(StartButton("Start", "bench.start", start), stop_key="bench.stop",
             ready=config is not None, stop_help="Finished cells are kept on screen.",
             widths=[1, 1, 4])
if st.session_state.get(K_MESSAGE):
    st.error(st.session_state[K_MESSAGE], icon=":material/block:")
if st.session_state.get(K_SETUP_NOTE):
    st.info(st.session_state[K_SETUP_NOTE], icon=":material/info:")
st.caption("Storage: persistent (server-configured); each cell is a study of yours, and the "
           "same settings again resume them" if STORAGE else
           "Storage: in memory, this run only (the CLI's --storage resumes and shares)")


# -- drawing --------------------------------------------------------------------------------------
def partial(cfg: BenchmarkConfig, items: list) -> BenchmarkRecord | None:
    """The finished cells as a record, judged as they stand (the Holm family grows with them)."""
    cells = tuple(i.cell for i in items if isinstance(i, CellDone))
    return BenchmarkRecord(name="partial", config=cfg, cells=cells) if cells else None


def panel(record) -> None:
    job, cfg = record["job"], record["config"]
    items = job.items()
    done = [i for i in items if isinstance(i, CellDone)]
    n_cells = len(cfg.methods) * len(cfg.workloads)
    final = next((i.record for i in items if isinstance(i, BenchmarkDone)), None)
    if job.status == "queued":
        st.info(f"Waiting for a free training slot: position {job.queue_position() or 1}.",
                icon=":material/hourglass_top:")
    elif job.status == "running":
        last = next((i for i in reversed(items) if isinstance(i, CellProgress)), None)
        if last is None:
            st.progress(0.0, text="Starting the first cell")
        else:
            eta = last.eta_s
            method = next(m.label for m in cfg.methods if m.key == last.method)
            workload = next(w.label for w in cfg.workloads if w.key == last.workload)
            st.progress(min(1.0, last.fraction),
                        text=f"{len(done)} of {n_cells} cells done; cell {last.cell + 1}: "
                             f"{method} on {workload}, {last.phase} "
                             f"(epoch {last.epochs_done} of {last.epochs_planned})"
                             + (f", about {eta:.0f} s left" if eta is not None else ""))
    elif job.status == "failed":
        # With the server's storage the error may name the database; the server log has it.
        st.error("The benchmark failed. If the study storage is at fault, the server log has "
                 "the details; finished cells are kept in their studies."
                 if record.get("stored") else f"The benchmark failed: {job.error}",
                 icon=":material/error:")
    elif job.status == "stopped":
        st.info(f"Stopped after {len(done)} of {n_cells} cells; the grid and tables show the "
                "finished cells, judged among themselves.", icon=":material/stop_circle:")
    else:
        st.success(f"Finished: {n_cells} cells in {final.wall_s:.0f} s." if final else
                   "Finished.", icon=":material/check:")
    if final is not None and not live.running():
        draw_results(final, "bench.result", stored=record.get("stored", False))
        return
    if job.done() and done:   # stopped or failed: the finished cells, judged among themselves
        draw_results(partial(cfg, items), "bench.partial", stored=record.get("stored", False))
        return
    draw_grid(cfg, items, partial(cfg, items), "bench.grid")
    st.caption("Cells fill in as they finish, coloured by their verdict against the baseline "
               "among the cells finished so far (final once every cell is done). " + TIE_NOTE)


@st.cache_data(show_spinner=False)
def committed(path: str, mtime: float) -> tuple[BenchmarkRecord | None, str | None]:
    try:
        return BenchmarkRecord.from_json(Path(path).read_text()), None
    except (OSError, ValueError, KeyError, TypeError) as error:
        return None, str(error)


def committed_panel() -> None:
    mtime = RECORD.stat().st_mtime if RECORD.exists() else 0.0
    record, error = committed(str(RECORD), mtime)
    if record is None:
        st.info("Set up a benchmark and press **Start**. (No committed record to show: "
                f"{error})", icon=":material/info:")
        return
    c = record.config
    st.subheader("The committed record")
    st.markdown(f"`results/benchmark.json` ({record.started or 'undated'}, {len(c.methods)} "
                f"methods x {len(c.workloads)} workloads, wall time {record.wall_s:.0f} s on "
                f"{record.environment.get('threads', '?')} thread(s)), drawn without training. "
                "Set up your own benchmark above and press **Start**.")
    st.caption(f"Regenerate with `{command(c)} --json results/benchmark.json --markdown "
               "results/benchmark.md`")
    st.button("Set up this benchmark", icon=":material/settings_backup_restore:",
              key="bench.load_record", on_click=load_settings, args=(c,),
              help="Puts the record's methods (with their fixed knobs and schedules), "
                   f"workloads and protocol into the settings above (up to {MAX_METHODS} "
                   "methods; a method entered twice: its first entry; a note names the rest).")
    draw_results(record, "bench.committed")


def load_settings(c: BenchmarkConfig) -> None:
    """The widgets take a record's settings (what the page can express of them); a note says
    which entries did not fit and the command that reruns the whole record."""
    first = {}
    for m in c.methods:   # the page holds one entry per method
        first.setdefault(m.method, m)
    first = dict(list(first.items())[:MAX_METHODS])
    left_out = [m.label for m in c.methods if first.get(m.method) is not m]
    st.session_state[K_SETUP_NOTE] = left_out and (
        f"Set up {len(first)} of the record's {len(c.methods)} method entries: the page holds "
        f"up to {MAX_METHODS}, one per method. Left out: {', '.join(left_out)}. The whole "
        f"record reruns with `{command(c)}`.")
    knobs = {k: _entry_text(m).partition(":")[2] for k, m in first.items()
             if m.fixed or m.schedule is not None}
    w = c.workloads[0]
    st.session_state.update({
        "bench.methods": list(first), K_KNOBS: knobs or None,
        "bench.models": list(dict.fromkeys(x.model for x in c.workloads)),
        "bench.baseline": c.baseline, "bench.trials": min(c.trials, MAX_TRIALS),
        "bench.seeds": min(c.seeds, MAX_SEEDS), "bench.epochs": w.epochs,
        "bench.batch_size": w.batch_size, "bench.seed": c.seed, "bench.sampler": c.sampler,
        "bench.parallel": min(c.parallel, MAX_PARALLEL),
        **{f"bench.margin.{m}": float(v) for m, v in c.margins}})


if live.area(panel) is None and live.record is None:
    committed_panel()
