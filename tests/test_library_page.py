"""The Library page through AppTest (#12): fresh counts after an upload, file and outlet columns, plurals."""

from __future__ import annotations

from pathlib import Path

from qa_app.library import Library
from tests import test_app
from tests.test_app import run_app, unescape

seed_index, index_dir, reader = test_app.seed_index, test_app.index_dir, test_app.reader  # the app tests' fixtures

FERRY = b"---\ntitle: Ferry strike stops Hvar line\nsource: Adriatic Wire\npublished_at: 2025-05-09\n---\n" + (
    b"The ferry line between Split and Hvar stopped on Friday after a strike by the crews.\n"
)


def test_counts_and_table_follow_an_upload_in_the_same_run(index_dir: Path, reader: Library) -> None:
    at = run_app("pages/1_Library.py")
    before = [m.value for m in at.metric][:2]
    at.file_uploader[0].set_value([("ferry.md", FERRY, "text/markdown")])
    at.button[0].click().run()
    assert not at.exception, at.exception
    documents, chunks = reader.counts()
    assert [m.value for m in at.metric][:2] == [f"{documents:,}", f"{chunks:,}"] != before
    assert at.dataframe[0].value.shape[0] == documents

    rows = {unescape(file): row for file, row in at.table[0].value.iterrows()}  # cells are escaped Markdown
    assert list(rows) == ["ferry.md"]  # the uploaded file's name, not the outlet it names
    assert unescape(rows["ferry.md"]["outlet"]) == "Adriatic Wire"
    assert "Adriatic Wire" in list(at.dataframe[0].value["outlet"])


def test_filter_box_matches_outlets_and_one_chunk_is_singular(index_dir: Path, reader: Library) -> None:
    at = run_app("pages/1_Library.py")
    at.file_uploader[0].set_value([("ferry.md", FERRY, "text/markdown")])
    at.button[0].click().run()
    at.text_input(key="doc_filter").set_value("adriatic").run()
    assert list(at.dataframe[0].value["title"]) == ["Ferry strike stops Hvar line"]

    ferry = next(d for d in reader.documents() if d.title == "Ferry strike stops Hvar line")
    assert ferry.chunks == 1
    at.selectbox(key="delete_pick_0").set_value(ferry.doc_id).run()
    label = at.checkbox(key="delete_confirm_0").label
    assert "its 1 chunk from the index" in label


def test_counts_follow_a_delete(index_dir: Path, reader: Library) -> None:
    at = run_app("pages/1_Library.py")
    doc_id = reader.documents()[0].doc_id
    at.selectbox(key="delete_pick_0").set_value(doc_id).run()
    at.checkbox(key="delete_confirm_0").check().run()
    at.button(key="delete_button_0").click().run()
    assert not at.exception, at.exception
    documents, chunks = reader.counts()
    assert [m.value for m in at.metric][:2] == [f"{documents:,}", f"{chunks:,}"]
