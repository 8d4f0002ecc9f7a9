"""Home: what the lab is, its pages, its headline findings (read from the committed record, so
they stay exact when it is regenerated), MNIST-1D at a glance, and one card per method."""

import json
from pathlib import Path

import numpy as np
import streamlit as st

from core.experiments import by_writeup
from core.optim.registry import METHODS
from ui.charts import signals_chart
from ui.entry import ensure_entry
from ui.outcome import DEFAULTS_NOTE
from ui.session import dataset
from ui.share import keep_widgets_in_url

ensure_entry()
for warning in keep_widgets_in_url("home", []):    # Home has no settings: a bare URL
    st.warning(warning, icon=":material/link_off:")
st.title("mnist1d Optimizer Lab")
st.markdown(
    "Five short research write-ups each proposed an optimizer and compared it with a tuned Adam "
    "on **MNIST-1D**. This lab implements all five as drop-in `torch.optim` optimizers and "
    "compares them fairly: for a given seed every method starts from the same initial weights "
    "and sees the same batches, and claims are judged over several seeds.")

ROOT = Path(__file__).resolve().parent.parent
# (page file, what it is for). A page joins the list when its file exists, as in app.py's menu.
PAGE_INTROS = [
    ("pages/train.py", "Train", "one method, live: set its knobs, press Start, watch loss, "
     "accuracy and the optimizer's own diagnostics stream in; overlay earlier runs."),
    ("pages/compare.py", "Compare", "several methods over 1 to 10 paired seeds: mean curves with "
     "a band, and a verdict per method against Adam that says what the seeds can detect."),
    ("pages/sensitivity.py", "Sensitivity", "how a method's result changes as one knob sweeps its "
     "range: whether a default sits on a plateau or on a cliff."),
    ("pages/search.py", "Search", "an Optuna search over a method's knobs (or a duel against "
     "Adam on the same budget), trials drawn as they finish, the best confirmed over seeds."),
    ("pages/reproduce.py", "Reproduce", "each write-up's protocol as written, then over honest "
     "seeds, with a verdict on its own conclusion."),
    ("pages/benchmark.py", "Benchmark", "every chosen method tuned the same way on every "
     "workload, confirmed on fresh paired seeds, ranked with intervals; the grid fills in live, "
     "and the committed record is drawn at once."),
]
st.subheader("The pages")
for path, title, what in PAGE_INTROS:
    if (ROOT / path).exists():
        link, text = st.columns([1, 5], vertical_alignment="center")
        link.page_link(path, label=f"**{title}**")
        text.markdown(what)


@st.cache_data
def findings(path: Path, mtime: float) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def seeds_in_words(record: dict) -> str:
    """How many honest seeds the record's experiments used. The record's own ``seeds`` is the
    command's option, None when it ran with each protocol's default; the experiments say."""
    counts = sorted({len(e.get("seeds") or ()) for e in record.get("experiments", [])} - {0})
    if not counts:
        return str(record.get("seeds") or "several")
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"


RECORD = ROOT / "results" / "reproduction.json"
record = findings(RECORD, RECORD.stat().st_mtime if RECORD.exists() else 0.0)
if record is not None:
    st.subheader("What the lab found")
    st.markdown(
        f"From the committed record (`results/reproduction.json`, {record['date']}): each "
        f"write-up's protocol rerun over {seeds_in_words(record)} honest seeds (tuning and early "
        "stopping on a validation set carved from the training data, losses on the untouched "
        "test set), judged by the paired difference *method - Adam*.")
    for e in record["experiments"]:
        name = METHODS[e["key"]].display_name if e["key"] in METHODS else e["title"]
        st.markdown(f"- **{e['writeup']} {name}: {e['verdict']}.** The write-up concluded: "
                    f"{e['conclusion']} Over the seeds: {e['reason']}.")
    st.caption(f"Regenerate with `{record['command']}`; rerun any of them on **Reproduce**.")

# A long formula scrolls inside its own box rather than widening the page on a phone.
st.html("<style>.katex-display { overflow-x: auto; overflow-y: hidden; max-width: 100%; }"
        "</style>")

st.subheader("The dataset")
data = dataset()
st.markdown(
    f"MNIST-1D turns the ten digits into 1-D signals of {data.x.shape[1]} points, with random "
    f"shifts, scaling, noise and correlated noise: small enough to train an MLP in a second on "
    f"a CPU, hard enough that optimizers differ. {len(data.y)} training and {len(data.y_test)} "
    f"test signals. Two examples per class:")
picks = np.concatenate([np.flatnonzero(data.y == c)[:2] for c in range(10)])
st.altair_chart(signals_chart(data.t, data.x[picks], data.y[picks]), width="stretch")

st.subheader("The methods")
st.caption("Reported results are the write-ups' own single-seed claims; check them on Compare. "
           + DEFAULTS_NOTE)
for spec in METHODS.values():
    with st.container(border=True):
        title = spec.display_name + (f" · write-up {spec.writeup}" if spec.writeup else " · baseline")
        st.markdown(f"#### {title}")
        st.markdown(spec.description)
        st.latex(spec.formula)
        st.markdown("**Hyperparameters:** " + "; ".join(
            f"`{hp.name}` = {hp.default:g} in [{hp.low:g}, {hp.high:g}]"
            + (" (log scale)" if hp.log else "") for hp in spec.hyperparams))
        protocol = by_writeup(spec.writeup)
        if protocol is not None:
            st.markdown(f"**The write-up reported:** {protocol.conclusion}")
        st.page_link("pages/train.py", label=f"Train {spec.display_name}",
                      icon=":material/play_arrow:", query_params={"method": spec.key})
