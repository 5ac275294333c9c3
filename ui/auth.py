"""Access control, enforced when configured in ``.streamlit/secrets.toml``:

- ``[auth]`` (an OpenID Connect provider): Streamlit's built-in ``st.login``; only signed-in people pass.
- ``password = "..."``: a shared team password, compared in constant time.
- neither: no gate (the default binds to 127.0.0.1, so only this machine can reach it).
"""

from __future__ import annotations

import hmac

import streamlit as st


def _secret(name: str):
    try:
        return st.secrets.get(name)
    except FileNotFoundError:  # no secrets.toml at all
        return None


def require_access() -> None:
    """Stop the script run unless this person may see the dashboard."""
    if _secret("auth"):
        if not st.user.is_logged_in:
            st.title("Voice to Image")
            st.button("Sign in", on_click=st.login, type="primary")
            st.stop()
        return
    password = _secret("password")
    if not password or st.session_state.get("authenticated"):
        return
    st.title("Voice to Image")
    with st.form("sign-in"):
        typed = st.text_input("Team password", type="password")
        if st.form_submit_button("Sign in"):
            if hmac.compare_digest(typed.encode(), str(password).encode()):
                st.session_state["authenticated"] = True
                st.rerun()
            st.error("That password is not right.")
    st.stop()
