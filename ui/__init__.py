"""Streamlit-side helpers shared by the pages: widgets built from the registry, altair charts,
URL sharing, session glue. Logic that does not need streamlit lives in ``core``; the modules
here that import streamlit do so only for drawing."""
