"""Write access in the UI: with QA_APP_ADMIN_TOKEN set, uploading and deleting need the token."""

from __future__ import annotations

import hmac
import os

import streamlit as st

TOKEN_NAME = "QA_APP_ADMIN_TOKEN"


def admin_token() -> str | None:
    """The token from the environment, else from Streamlit secrets; None when editing is open to all."""
    token = os.environ.get(TOKEN_NAME)
    if not token:
        try:
            token = st.secrets.get(TOKEN_NAME)
        except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
            token = None
    return str(token) if token else None


def token_matches(given: str, token: str) -> bool:
    """Constant-time comparison, so the token cannot be guessed from response times."""
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def can_edit() -> bool:
    """Whether this browser session may upload and delete; draws the unlock form when it may not."""
    token = admin_token()
    if token is None or st.session_state.get("admin_unlocked"):
        return True
    st.info("Adding and deleting articles needs the admin token (QA_APP_ADMIN_TOKEN). Asking questions stays open.")
    with st.form("unlock"):
        given = st.text_input("Admin token", type="password", key="admin_token_input")
        if st.form_submit_button("Unlock editing", icon=":material/lock_open:"):
            if token_matches(given, token):
                st.session_state.admin_unlocked = True
                st.rerun()
            st.error("That token is not right.")
    return False
