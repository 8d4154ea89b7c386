"""What the pages share: the Library (one per process), per-session chat state, small lookups."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import streamlit as st

from qa_app.app.cards import Card
from qa_app.app.page_assets import CHART_SCRIPT, CSS
from qa_app.app.render import escape_markdown
from qa_app.config import Settings, load_settings
from qa_app.errors import NotFoundError, QAError
from qa_app.library import Embedder, Library, embedding_model
from qa_app.records import Answer, Document, SearchFilters

T = TypeVar("T")

CHAT_PAGE = "Chat.py"
LIBRARY_PAGE = "pages/1_Library.py"
ARTICLE_PAGE = "pages/2_Article.py"


# The shared heavy objects live in this process-wide registry, not only in st.cache_resource: any client can send
# Streamlit's "clear_cache" message, and each clear used to open another Library (a SQLite handle, its indexes)
# and load another model (~57 MB) while the dropped ones, perhaps still answering, could not be closed safely.
_SHARED: dict[tuple, object] = {}
_SHARED_LOCK = threading.RLock()  # reentrant: get_library's make() asks for the embedder under it


def shared(key: tuple, make: Callable[[], T]) -> T:
    """The one object of this process under `key`, made on first use (`make` may ask for other shared objects)."""
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = make()
        return _SHARED[key]  # type: ignore[return-value]


@st.cache_resource(show_spinner=False)
def get_embedder(model: str, backend: str = "torch", precision: str = "auto") -> Embedder:
    """One model per process, backend and precision, whatever index it serves (it loads lazily, when first used)."""
    return shared(("embedder", model, backend, precision), lambda: embedding_model(model, backend, precision))


@st.cache_resource(show_spinner="Opening the index…")
def get_library(settings: Settings) -> Library:
    """One Library per process and index; it is thread-safe and follows other writers by generation.

    The model and the indexes load in the background at once, while the reader reads the page and types,
    instead of on the first question (importing the model alone takes ~6 s).
    """

    def make() -> Library:
        library = Library(settings, embedder=get_embedder(settings.embedding_model, settings.embedding_backend,
                                                         settings.embedding_precision))  # fmt: skip
        threading.Thread(target=library.warm_up, name="qa-app-warm-up", daemon=True).start()
        return library

    return shared(("library", settings), make)


def forget_shared() -> None:
    """Close and drop the shared Libraries and what uses them, models kept (tests only: a server keeps them)."""
    with _SHARED_LOCK:
        for kind in ("feeds", "library"):  # the users of a Library first
            for key, value in list(_SHARED.items()):
                if key[0] == kind:
                    value.close()  # type: ignore[attr-defined]
                    del _SHARED[key]
    st.cache_resource.clear()


def settings() -> Settings:
    """Settings from the environment (`qa-app serve` sets QA_APP_INDEX_DIR)."""
    loaded = load_settings()
    return replace(loaded, index_dir=Path(loaded.index_dir).resolve())


def open_library() -> Library:
    """The shared Library, or an error box and the end of this run when it cannot be opened."""
    try:
        return get_library(settings())
    except QAError as exc:
        st.error(f"The index cannot be opened: {escape_markdown(str(exc))}")
        st.stop()
        raise  # st.stop raises; this keeps type checkers happy


def document_or_none(library: Library, doc_id: str) -> Document | None:
    """The document, or None when it is not (or no longer) in the library."""
    try:
        return library.document(doc_id)
    except NotFoundError:
        return None


def source_options(library: Library) -> list[str]:
    """Outlets (or sources, when no outlet is known) of the indexed articles, for the filter list."""
    found = {(info.outlet or "").strip() or info.source for info in library.documents()}
    return sorted(found, key=str.lower)


# the chat's sidebar: filters, k, the passages toggle and the generative-answers section
_KEPT_WIDGETS = ("after", "before", "sources", "k", "show_passages", "llm_on", "llm_base_url", "llm_model")


def start_page(title: str | None = None) -> Library:
    """What every page does first: page config, styles, kept widget state; returns the Library."""
    st.set_page_config(page_title=f"{title} · Newsdesk Q&A" if title else "Newsdesk Q&A", page_icon="📰", layout="wide")
    keep_chat_widgets()
    st.html(CSS)
    st.html(CHART_SCRIPT, unsafe_allow_javascript=True)  # our own constant script: chart toolbars off the Tab order
    return open_library()


def keep_chat_widgets() -> None:
    """Keep the chat's filters and ratings while another page is shown.

    Streamlit forgets the state of widgets a run does not draw; writing a value back under its key
    at the top of every page keeps it (the documented way to preserve widget state across pages).
    Only our own keys are visited (the sidebar's, and a rating's per turn): listing the session state would read
    every widget id a client sent, and one that no widget of ours has raises KeyError.
    """
    for key in (*_KEPT_WIDGETS, *(f"feedback-{turn.id}" for turn in turns())):
        try:
            value = st.session_state[key]
        except KeyError:  # not drawn yet, or sent by a client without a widget behind it
            continue
        st.session_state[key] = value


@dataclass
class Turn:
    """One answered question as the chat shows it again on every rerun."""

    id: int
    question: str
    answer: Answer | None
    cards: tuple[Card, ...] = ()
    passages: tuple[Card, ...] = ()
    filters: SearchFilters = field(default_factory=SearchFilters)
    error: str | None = None
    rating: int | None = None
    k: int | None = None  # passages retrieved for it

    @property
    def outlets(self) -> dict[str, str]:
        return {card.doc_id: card.outlet for card in self.cards + self.passages}


def init_chat() -> None:
    """Per-session chat state (each browser tab has its own)."""
    if "messages" not in st.session_state:
        st.session_state.messages = []  # {"role": "user"|"assistant", "content": str, "turn": Turn}
        st.session_state.next_turn = 0


def turns() -> list[Turn]:
    """The assistant turns of this session's conversation, oldest first."""
    return [m["turn"] for m in st.session_state.get("messages", []) if m["role"] == "assistant"]


def previous_questions() -> list[str]:
    """The user's questions so far, oldest first (the `history` of a follow-up)."""
    return [m["content"] for m in st.session_state.get("messages", []) if m["role"] == "user"]
