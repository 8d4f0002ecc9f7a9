"""Home: what the lab is, MNIST-1D at a glance, and one card per method from the registry."""

import numpy as np
import streamlit as st

from core.experiments import by_writeup
from core.optim.registry import METHODS
from ui.charts import signals_chart
from ui.entry import ensure_entry
from ui.session import dataset
from ui.share import keep_widgets_in_url

ensure_entry()
for warning in keep_widgets_in_url("home", []):    # Home has no settings: a bare URL
    st.warning(warning, icon=":material/link_off:")
st.title("mnist1d Optimizer Lab")
st.markdown(
    "Five short research write-ups each proposed an optimizer and compared it with a tuned Adam "
    "on **MNIST-1D**. This lab implements all five as drop-in `torch.optim` optimizers so you can "
    "train them live (**Train**), and compare them fairly over several seeds with paired "
    "statistics (**Compare**): every method starts from the same initial weights and sees the "
    "same batches for a given seed.")

st.subheader("The dataset")
data = dataset()
st.markdown(
    f"MNIST-1D turns the ten digits into 1-D signals of {data.x.shape[1]} points, with random "
    f"shifts, scaling, noise and correlated noise: small enough to train an MLP in a second on "
    f"a CPU, hard enough that optimizers differ. {len(data.y)} training and {len(data.y_test)} "
    f"test signals. Two examples per class:")
picks = np.concatenate([np.flatnonzero(data.y == c)[:2] for c in range(10)])
st.altair_chart(signals_chart(data.t, data.x[picks], data.y[picks]))

st.subheader("The methods")
st.caption("Reported results are the write-ups' own single-seed claims; check them on Compare.")
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
