"""Untrusted text in CLI output (#16): control sequences and bidi overrides are shown escaped, JSON keeps the text."""

from __future__ import annotations

import json
from pathlib import Path

from qa_app.config import Settings
from qa_app.documents import make_document, normalize_text
from qa_app.library import Library
from qa_app.terminal import printable
from tests.inprocess_cli import run_cli

TITLE_SEQUENCE = "\x1b]0;pwned\x07"  # sets the terminal window's title
FILE_NAME = "evil\x1b[2Jname.txt"  # clears the screen


def test_printable_escapes_controls_bidi_and_lone_surrogates_only():
    assert (
        printable("plain text, tabs\tand\nnewlines — “quotes”, 5.3 %")
        == "plain text, tabs\tand\nnewlines — “quotes”, 5.3 %"
    )
    assert printable("a\x1b]0;x\x07b") == "a\\u001b]0;x\\u0007b"
    assert printable("\u202e5.3\u202c \x9b \ud83d \r") == "\\u202e5.3\\u202c \\u009b \\ud83d \\u000d"
    assert printable("\u05e9\u200f") == "\u05e9\u200f"  # right-to-left letters and marks are text
    assert json.loads(json.dumps(printable("\u202e5.3\x9b"))) == "\\u202e5.3\\u009b"
    assert json.loads(printable(json.dumps("\u202e5.3\x9b", ensure_ascii=False))) == "\u202e5.3\x9b"


def test_cli_output_never_carries_terminal_sequences(tmp_path: Path, model):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / FILE_NAME).write_text(
        f"Council {TITLE_SEQUENCE}votes on the harbor\nThe council voted \u202e5.3\u202c million for the harbor works."
    )
    code, out, err = run_cli("index", folder, "--index-dir", tmp_path / "index")
    assert code == 0 and "1 indexed" in err
    outputs = [out, err]
    for command in (["list"], ["search", "harbor council"], ["ask", "How much did the council vote for the harbor?"]):
        code, out, err = run_cli(*command, "--index-dir", tmp_path / "index")
        assert code == 0, out + err
        outputs += [out, err]
    doc_id = Library(Settings(index_dir=tmp_path / "index"), embedder=model).documents()[0].doc_id
    code, out, err = run_cli("show", doc_id, "--index-dir", tmp_path / "index")
    outputs += [out, err]
    for text in outputs:
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, text
    assert any("evil\\u001b[2Jname.txt" in text for text in outputs)  # the file name, shown escaped
    assert any("5.3 million" in text for text in outputs)
    listed = json.loads(run_cli("list", "--json", "--index-dir", tmp_path / "index")[1])["documents"][0]
    assert listed["source"] == FILE_NAME  # JSON decodes to the stored text


def test_bidi_controls_are_dropped_when_normalising_so_quotes_read_as_stored():
    text = "The council voted \u202e5.3\u202c million, \u2067an isolate\u2069 too."
    doc = make_document(title="Vote \u202e", text=normalize_text(text), source="vote.txt")
    assert doc.text == "The council voted 5.3 million, an isolate too." and doc.title == "Vote"
    assert "\u200f" in normalize_text("\u05e9\u05dc\u05d5\u05dd\u200f 5.3")  # a right-to-left mark is no override
