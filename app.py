"""The server: ``streamlit run app.py``. It serves the dashboard (``dashboard.py``) and, beside it, the routes a
page cannot answer: History's exports, streamed from disk behind short-lived links (``ui/serving.py``)."""

import streamlit as st

from ui import serving

app = st.App("dashboard.py", routes=serving.routes())
