"""The Streamlit pages through AppTest, against a real index built with the real model."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from qa_app.app import state
from qa_app.config import Settings
from qa_app.library import Library
from tests.articles import ARTICLES, write_articles
from tests.conftest import CORPUS, SEED_TITLE
from tests.e2e import IMG, SCRIPT, XSS_QUESTION, XSS_RECORD, write_xss_article

APP = Path(__file__).resolve().parent.parent / "qa_app" / "app" / "Chat.py"
SEED_QUESTION = "Who rejected the proposal to send US troops into Mexico?"
TIMEOUT = 90  # the first run in a process loads the model


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, model) -> Path:
    """The shipped corpus, three small articles and a hostile one, indexed once per module."""
    folder = tmp_path_factory.mktemp("app")
    library = Library(Settings(index_dir=folder / "index"), embedder=model)
    results = library.add([CORPUS, *write_articles(folder / "articles"), write_xss_article(folder / "articles")])
    assert {r.status for r in results} == {"indexed"}
    library.close()
    return folder / "index"


@pytest.fixture
def index_dir(seed_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the seed index, which the app opens through QA_APP_INDEX_DIR."""
    target = tmp_path / "index"
    shutil.copytree(seed_index, target, ignore=shutil.ignore_patterns("*.lock"))
    monkeypatch.setenv("QA_APP_INDEX_DIR", str(target))
    # cache_resource outlives an AppTest run: start from a fresh Library (the model itself may stay)
    state.get_library.clear()
    st.cache_data.clear()
    yield target
    state.get_library.clear()
    st.cache_data.clear()


@pytest.fixture
def reader(index_dir: Path, model) -> Library:
    """A second Library on the app's index, to check what the app wrote."""
    library = Library(Settings(index_dir=index_dir), embedder=model)
    yield library
    library.close()


def run_app(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(page)
        at.query_params.update(query)
        at.run()
    assert not at.exception, at.exception
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def html_bodies(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html")]


def cards(at: AppTest) -> list[str]:
    return [body for body in html_bodies(at) if 'class="qa-card"' in body]


def article_links(at: AppTest) -> list[str]:
    return [link.proto.query_string for link in at.get("page_link") if link.proto.page == "Article"]


def every_text(at: AppTest) -> list[str]:
    """Everything drawn as markdown or HTML (captions, alerts and titles are markdown too)."""
    texts = html_bodies(at)
    for kind in ("markdown", "caption", "info", "warning", "success", "error", "title", "header", "subheader"):
        texts += [element.value for element in getattr(at, kind)]
    return texts


def unescape(markdown: str) -> str:
    """The text a reader sees for Markdown made of backslash-escaped characters."""
    return re.sub(r"\\(.)", r"\1", markdown)


def seed_id(library: Library) -> str:
    return next(d.doc_id for d in library.documents() if d.title == SEED_TITLE)


def test_chat_answers_with_cited_quote_cards(index_dir: Path, reader: Library) -> None:
    at = ask(run_app(), SEED_QUESTION)

    answers = [body for body in html_bodies(at) if 'class="qa-answer"' in body]
    assert len(answers) == 1 and "Sheinbaum" in answers[0]
    assert '<a class="qa-marker" href="#qa-cite-0-1"' in answers[0]  # a link to its source card (#12)
    card = cards(at)[0]
    assert SEED_TITLE in card and "[1]" in card and "3 May 2025" in card
    assert '<div class="qa-card" id="qa-cite-0-1"' in card  # the target of the answer's [1] link
    quote = card.split('<mark class="qa-quote">')[1].split("</mark>")[0]
    assert "Sheinbaum" in quote
    link = article_links(at)[0]
    params = dict(part.split("=") for part in link.split("&"))
    assert params["doc"] == seed_id(reader)
    assert reader.document(params["doc"]).text[int(params["start"]) : int(params["end"])] == quote
    dated = {c.doc_id for c in at.session_state["messages"][-1]["turn"].cards if c.published_at}
    assert bool(at.get("vega_lite_chart")) == (len(dated) >= 2), "a timeline only for two or more dated articles"
    assert "Sources:" in at.code[0].value and "[1] Mexican pres." in at.code[0].value
    assert not at.sidebar.button[0].disabled  # "Clear conversation" once there is one


def test_follow_up_sends_earlier_questions_as_history(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, list[str]]] = []
    real_ask = Library.ask

    def spy(self, question, history=(), **kwargs):
        calls.append((question, list(history)))
        return real_ask(self, question, history, **kwargs)

    monkeypatch.setattr(Library, "ask", spy)
    at = ask(ask(run_app(), SEED_QUESTION), "What did she say about sovereignty?")

    assert calls == [(SEED_QUESTION, []), ("What did she say about sovereignty?", [SEED_QUESTION])]
    assert len(at.chat_message) == 4
    assert "sovereignty" in [body for body in html_bodies(at) if 'class="qa-answer"' in body][-1]


def test_abstains_and_keeps_the_closest_passages_collapsed(index_dir: Path) -> None:
    at = ask(run_app(), "What is the boiling point of tungsten?")

    assert "do not answer" in at.info[0].value
    closest = [e for e in at.expander if e.label.startswith("Closest passages")]
    assert len(closest) == 1 and not closest[0].proto.expanded
    assert cards(at) and not [b for b in html_bodies(at) if 'class="qa-answer"' in b]
    assert len(at.feedback) == 1  # an abstention can be rated too


def test_date_filter_excludes_the_seed_article(index_dir: Path, reader: Library) -> None:
    at = run_app()
    at.date_input(key="after").set_value(date(2025, 6, 1))
    ask(at.run(), SEED_QUESTION)

    assert seed_id(reader) not in " ".join(article_links(at))
    assert "do not answer" in at.info[0].value
    assert any("from 2025-06-01" in c.value.replace("\\", "") for c in at.caption)


def test_source_filter_limits_the_answer(index_dir: Path, reader: Library) -> None:
    at = run_app()
    assert "harbor-bridge.txt" in at.multiselect(key="sources").options
    at.multiselect(key="sources").set_value(["harbor-bridge.txt"])
    ask(at.run(), SEED_QUESTION)

    assert seed_id(reader) not in " ".join(article_links(at))


def test_passages_toggle_shows_scores(index_dir: Path) -> None:
    at = run_app()
    at.toggle(key="show_passages").set_value(True)
    ask(at.run(), SEED_QUESTION)

    table = at.dataframe[0].value
    assert {"rank", "score", "dense", "bm25", "article", "passage"} <= set(table.columns)
    assert table["score"].is_monotonic_decreasing


def test_feedback_is_stored(index_dir: Path, reader: Library) -> None:
    at = ask(run_app(), SEED_QUESTION)
    at.feedback[0].set_value(0).run()  # thumbs down

    stored = reader.feedback()
    assert len(stored) == 1 and stored[0].rating == -1 and stored[0].question == SEED_QUESTION
    assert any("feedback was saved" in toast.proto.body for toast in at.get("toast"))


def test_article_view_highlights_the_cited_span(index_dir: Path, reader: Library) -> None:
    doc_id = seed_id(reader)
    text = reader.document(doc_id).text
    start = text.index("Sheinbaum made it clear")
    end = text.index("on our territory.", start) + len("on our territory.")
    at = run_app("pages/2_Article.py", doc=doc_id, start=str(start), end=str(end))

    article = next(body for body in html_bodies(at) if 'class="qa-article"' in body)
    assert f'<mark id="cited-span" class="qa-quote">{text[start:end]}</mark>' in article.replace("&#x27;", "'")
    assert any("cited-span" in body and "scrollIntoView" in body for body in html_bodies(at))
    assert any(SEED_TITLE in body and "qa-title" in body for body in html_bodies(at))


def test_article_view_without_a_valid_document_offers_a_choice(index_dir: Path, reader: Library) -> None:
    at = run_app("pages/2_Article.py", doc="no-such-id")
    assert "not in the library" in at.warning[0].value
    picker = at.selectbox[0]
    picker.set_value(seed_id(reader)).run()
    assert any("qa-article" in body for body in html_bodies(at))
    assert not any("<mark" in body for body in html_bodies(at))

    at = run_app("pages/2_Article.py", doc=seed_id(reader), start="5", end="999999")
    assert "not inside this article" in at.warning[0].value


def test_library_upload_reports_each_file(index_dir: Path, reader: Library) -> None:
    at = run_app("pages/1_Library.py")
    good = b"Lighthouse keeper retires\nThe last keeper of the Cape Morrow lighthouse, Ada Finch, retired on Friday."
    hostile = f"[click](javascript:alert(1)) {IMG}\nA story with a hostile title about owls.".encode()
    at.file_uploader[0].set_value(
        [
            ("lighthouse.txt", good, "text/plain"),
            ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "application/pdf"),
            ("empty.md", b"", "text/markdown"),
            ("harbor-bridge.txt", ARTICLES["harbor-bridge.txt"].encode(), "text/plain"),
            ("owls.txt", hostile, "text/plain"),
        ]
    )
    at.button[0].click().run()  # the form's "Add to library"
    assert not at.exception, at.exception

    table = at.table[0].value  # st.table renders Markdown: the app escapes every cell
    rows = {unescape(file): {k: unescape(str(v)) for k, v in row.items()} for file, row in table.iterrows()}
    assert {file: row["result"] for file, row in rows.items()} == {
        "lighthouse.txt": "indexed",
        "broken.pdf": "failed",
        "empty.md": "failed",
        "harbor-bridge.txt": "already indexed",
        "owls.txt": "indexed",
    }
    assert "empty" in rows["empty.md"]["reason"] and "PDF" in rows["broken.pdf"]["reason"]
    assert "/tmp" not in " ".join(row["reason"] for row in rows.values())
    assert rows["owls.txt"]["title"] == f"[click](javascript:alert(1)) {IMG}"
    assert not re.search(r"(?<!\\)[\[\]<>()]", " ".join(table["title"]))
    assert {"Lighthouse keeper retires", f"[click](javascript:alert(1)) {IMG}"} <= {d.title for d in reader.documents()}
    assert "2 indexed" in at.warning[0].value and "2 failed" in at.warning[0].value


def test_library_lists_filters_and_deletes(index_dir: Path, reader: Library) -> None:
    at = run_app("pages/1_Library.py")
    assert at.dataframe[0].value.shape[0] == 5
    assert [m.value for m in at.metric][:2] == [str(n) for n in reader.counts()]
    assert at.get("vega_lite_chart"), "the timeline of the library is drawn"

    at.text_input(key="doc_filter").set_value("harbor").run()
    assert list(at.dataframe[0].value["title"]) == ["Harbor bridge closes for repairs"]

    doc_id = seed_id(reader)
    at.selectbox(key="delete_pick_0").set_value(doc_id).run()
    delete = at.button(key="delete_button_0")
    assert delete.disabled  # nothing happens before the confirmation
    at.checkbox(key="delete_confirm_0").check().run()
    at.button(key="delete_button_0").click().run()
    assert not at.exception, at.exception

    assert doc_id not in [d.doc_id for d in reader.documents()]
    assert any("Deleted" in s.value for s in at.success)


def test_hostile_article_renders_as_text_everywhere(index_dir: Path, reader: Library) -> None:
    at = ask(run_app(), XSS_QUESTION)
    doc_id = next(d.doc_id for d in reader.documents() if d.title == XSS_RECORD["title"])
    assert doc_id in " ".join(article_links(at)), "the hostile article is cited"
    chat = every_text(at)
    answer = next(body for body in chat if 'class="qa-answer"' in body)
    assert "&lt;img src=x onerror=alert(1)&gt;" in answer
    card = next(body for body in cards(at) if "Springfield" in body)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card and "Gazette &lt;img" in card

    article = run_app("pages/2_Article.py", doc=doc_id, start="0", end="20")
    page = every_text(article)
    assert any("&lt;script&gt;" in body and "qa-article" in body for body in page)
    assert any("Author" in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body for body in page)

    for text in chat + page + every_text(run_app("pages/1_Library.py")):
        assert SCRIPT not in text and IMG not in text
        assert "<img" not in text.lower() and "<script>alert" not in text.lower()


def test_empty_library_points_to_the_library_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APP_INDEX_DIR", str(tmp_path / "empty-index"))
    state.get_library.clear()
    at = run_app()
    assert "library is empty" in at.info[0].value
    assert at.chat_input[0].proto.disabled
    assert [link.proto.page for link in at.get("page_link")] == ["Library"]


def test_an_index_built_by_another_model_is_an_error_not_a_crash(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_APP_EMBEDDING_MODEL", "some-other-model")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "cannot be opened" in at.error[0].value and not at.chat_input


def test_filters_and_ratings_survive_a_visit_to_another_page(index_dir: Path) -> None:
    at = run_app()
    at.date_input(key="before").set_value(date(2025, 12, 31))
    at.slider(key="k").set_value(5)
    ask(at.run(), SEED_QUESTION)
    at.feedback[0].set_value(1).run()

    at.switch_page("pages/2_Article.py").run()
    at.switch_page("Chat.py").run()
    assert not at.exception, at.exception
    assert at.date_input(key="before").value == date(2025, 12, 31) and at.slider(key="k").value == 5
    assert at.feedback[0].value == 1 and len(at.chat_message) == 2


def test_admin_token_guards_upload_and_delete_but_not_questions(
    index_dir: Path, reader: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_APP_ADMIN_TOKEN", "s3cret-token")
    at = run_app("pages/1_Library.py")
    assert not at.file_uploader and not at.selectbox, "no upload or delete before unlocking"
    assert at.dataframe[0].value.shape[0] == 5  # reading the library stays open

    at.text_input(key="admin_token_input").input("wrong")
    at.button[0].click().run()  # a form sends its fields with the submit click
    assert any("not right" in e.value for e in at.error) and not at.file_uploader

    at.text_input(key="admin_token_input").input("s3cret-token")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.file_uploader and at.selectbox(key="delete_pick_0")

    chat = run_app()
    ask(chat, SEED_QUESTION)
    assert cards(chat), "asking questions needs no token"


def test_streamlit_magic_is_off_for_the_server_and_for_apptest() -> None:
    """Magic parses each page with ast.parse, which CPython 3.11 can break when another thread builds ASTs too."""
    import tomllib

    config = tomllib.loads((APP.parents[2] / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["runner"]["magicEnabled"] is False
    assert st.config.get_option("runner.magicEnabled") is False
