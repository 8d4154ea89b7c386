"""Write access in the UI: with QA_APP_ADMIN_TOKEN set, uploading and deleting need the token."""

from __future__ import annotations

import hmac
import math
import os
import time
from collections.abc import MutableMapping
from typing import Any

import streamlit as st

TOKEN_NAME = "QA_APP_ADMIN_TOKEN"
_FAILURES = "admin_token_failures"  # (wrong tokens so far, monotonic time of the next allowed try)
_FREE_TRIES = 2  # typing mistakes cost nothing; from the third wrong token on, each doubles the wait
_MAX_WAIT = 60.0
clock = time.monotonic  # a test freezes it


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
            wait = seconds_to_wait(st.session_state, clock())
            if wait > 0:  # refused without comparing: guessing costs time
                st.error(f"Too many wrong tokens: try again in {math.ceil(wait)} s.")
            elif token_matches(given, token):
                st.session_state.admin_unlocked = True
                st.session_state.pop(_FAILURES, None)
                st.rerun()
            else:
                record_failure(st.session_state, clock())
                st.error("That token is not right.")
    return False


def seconds_to_wait(state: MutableMapping[str, Any], now: float) -> float:
    """How long this session must wait before its next token is even compared (0: it may try now)."""
    _, retry_at = state.get(_FAILURES, (0, 0.0))
    return max(0.0, retry_at - now)


def record_failure(state: MutableMapping[str, Any], now: float) -> None:
    """One more wrong token: the wait before the next try doubles from the third (1, 2, 4 … 60 s)."""
    failures, _ = state.get(_FAILURES, (0, 0.0))
    failures += 1
    delay = 0.0 if failures <= _FREE_TRIES else min(2.0 ** (failures - _FREE_TRIES - 1), _MAX_WAIT)
    state[_FAILURES] = (failures, now + delay)
