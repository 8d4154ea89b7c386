"""The web app's process registry (qa_app/app/state.shared): made once, nested makes, kept through cache clears."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
import streamlit as st

from qa_app.app import state, web_sources
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.library import Library

MAKE_TIMEOUT_S = 60  # opening an empty index with a loaded model takes well under a second


def _sqlite_handles(index_dir: Path) -> int:
    database = str(index_dir / "library.sqlite")
    return sum(os.readlink(f"/proc/self/fd/{fd}") == database for fd in os.listdir("/proc/self/fd")
               if os.path.exists(f"/proc/self/fd/{fd}"))  # fmt: skip


@pytest.fixture
def app_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: SentenceTransformerEmbedder) -> Library:
    """The app's shared Library on a fresh index, opened in a thread so that a deadlock fails instead of hanging."""
    monkeypatch.setenv("QA_APP_INDEX_DIR", str(tmp_path / "index"))
    state.forget_shared()
    settings = state.settings()
    state.shared(
        ("embedder", settings.embedding_model, settings.embedding_backend, settings.embedding_precision), lambda: model
    )
    opened: list[Library] = []
    opener = threading.Thread(target=lambda: opened.append(state.get_library(settings)), daemon=True)
    opener.start()
    opener.join(MAKE_TIMEOUT_S)
    assert not opener.is_alive(), "get_library hung: making the Library asks for the embedder under the same lock"
    yield opened[0]
    state.forget_shared()


def test_the_library_is_made_once_with_the_shared_model(app_library: Library, model: SentenceTransformerEmbedder):
    settings = state.settings()
    shared_model = state.shared(
        ("embedder", settings.embedding_model, settings.embedding_backend, settings.embedding_precision), lambda: model
    )
    assert app_library.embedder is shared_model  # the process's one model (an earlier test may have made it)
    assert state.get_embedder(settings.embedding_model, settings.embedding_backend) is shared_model
    st.cache_resource.clear()  # what a client's "clear_cache" message does
    assert state.get_library(state.settings()) is app_library


def test_feeds_survive_cache_clears_and_are_closed_with_the_library(app_library: Library):
    feeds = web_sources.feeds_of(app_library)
    handles = _sqlite_handles(app_library.index_dir)
    for _ in range(3):
        st.cache_resource.clear()
        assert web_sources.feeds_of(app_library) is feeds
    assert _sqlite_handles(app_library.index_dir) == handles
    assert feeds.list() == []
    state.forget_shared()
    with pytest.raises(sqlite3.ProgrammingError):  # its connection was closed, not leaked
        feeds.list()
