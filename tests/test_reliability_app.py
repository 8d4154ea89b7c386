"""The web app under hostile clients (#16): crafted widget ids, cache clears, token guessing, exposed binds."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from qa_app.app import access, state
from qa_app.cli import exposure_warning
from qa_app.library import Library
from tests.articles import write_articles

APP = Path(__file__).resolve().parent.parent / "qa_app" / "app" / "Chat.py"


def _crafted_widget_page() -> None:
    import streamlit as st
    from streamlit.proto.WidgetStates_pb2 import WidgetStates
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from qa_app.app.state import keep_chat_widgets

    # what a client can send: a widget state under an id no widget of the app has
    session = get_script_run_ctx().session_state._state
    for widget_id in ("feedback-evil", "k"):
        crafted = WidgetStates().widgets.add()
        crafted.id, crafted.int_value = widget_id, 1
        session._new_widget_state.set_widget_from_proto(crafted)
    keep_chat_widgets()
    st.write("page drawn")


def test_a_crafted_widget_id_does_not_crash_the_page():
    at = AppTest.from_function(_crafted_widget_page, default_timeout=60).run()
    assert not at.exception, at.exception
    assert [m.value for m in at.markdown] == ["page drawn"]


def _sqlite_handles(index_dir: Path) -> int:
    """Open file descriptors of this process on the index's database (other threads open and close fds)."""
    database = str(index_dir / "library.sqlite")
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed since the listing
            count += os.readlink(f"/proc/self/fd/{fd}") == database
    return count


def test_clearing_the_cache_reuses_the_shared_library_and_model(library: Library, tmp_path: Path, monkeypatch):
    library.add(write_articles(tmp_path / "articles"))
    monkeypatch.setenv("QA_APP_INDEX_DIR", str(library.index_dir))
    state.forget_shared()
    try:
        AppTest.from_file(str(APP), default_timeout=90).run()
        shared = state.get_library(state.settings())
        handles = _sqlite_handles(library.index_dir)
        for _ in range(5):  # what five clients' "clear_cache" messages do (app_session._handle_clear_cache_request)
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_file(str(APP), default_timeout=90).run()
            assert not at.exception, at.exception
        again = state.get_library(state.settings())
        assert again is shared and again.embedder is shared.embedder
        assert _sqlite_handles(library.index_dir) == handles
    finally:
        state.forget_shared()


def test_wrong_admin_tokens_slow_down_per_session():
    session: dict = {}
    now = 1000.0
    for _ in range(2):  # typing mistakes cost nothing
        assert access.seconds_to_wait(session, now) == 0
        access.record_failure(session, now)
    waits = []
    for _ in range(5):
        assert access.seconds_to_wait(session, now) == 0
        access.record_failure(session, now)
        waits.append(access.seconds_to_wait(session, now))
        now += waits[-1]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert access.seconds_to_wait({}, now) == 0  # another session is not slowed by this one


def _unlock_page() -> None:
    from qa_app.app import access

    access.can_edit()


def test_the_unlock_form_refuses_even_the_right_token_while_a_session_must_wait(monkeypatch):
    monkeypatch.setenv(access.TOKEN_NAME, "right-token")
    monkeypatch.setattr(access, "clock", lambda: 1000.0)  # the page's runs take time: stop the clock
    at = AppTest.from_function(_unlock_page, default_timeout=60).run()
    for _ in range(3):
        at.text_input(key="admin_token_input").set_value("guess")
        at.button[0].click().run()
    assert "Too many wrong tokens" not in " ".join(e.value for e in at.error)
    at.text_input(key="admin_token_input").set_value("right-token")
    at.button[0].click().run()
    assert any("Too many wrong tokens" in e.value for e in at.error), [e.value for e in at.error]
    assert "admin_unlocked" not in at.session_state
    monkeypatch.setattr(access, "clock", lambda: 1001.5)  # the wait is over: the right token unlocks
    at.text_input(key="admin_token_input").set_value("right-token")
    at.button[0].click().run()
    assert at.session_state["admin_unlocked"]


@pytest.mark.parametrize(
    ("host", "token", "warned"),
    [("0.0.0.0", "", True), ("192.168.1.5", "", True), ("example.org", "", True), ("::", "", True),
     ("0.0.0.0", "secret", False), ("127.0.0.1", "", False), ("localhost", "", False), ("::1", "", False)],
)  # fmt: skip
def test_serving_beyond_loopback_without_a_token_warns(host: str, token: str, warned: bool):
    warning = exposure_warning(host, token)
    assert (warning is not None) == warned
    if warned:
        assert host in warning and "QA_APP_ADMIN_TOKEN" in warning
