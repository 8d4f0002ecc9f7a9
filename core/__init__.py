"""mnist1d Optimizer Lab core: optimizers, data, model, training, search. Never imports streamlit."""
