"""Unsupported generated sentences can be left out by a setting (#16), instead of shown marked unsupported."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from qa_app import generative
from qa_app.config import Settings
from qa_app.library import Library
from tests.conftest import CORPUS
from tests.fake_llm_server import FakeLLM, Reply

QUESTION = "Who rejected the proposal to send US troops into Mexico?"


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    monkeypatch.setattr(generative, "BACKOFF_SECONDS", 0.01)
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
def library(tmp_path: Path, model) -> Iterator[Library]:
    lib = Library(Settings(index_dir=tmp_path / "index", llm_timeout=5.0), embedder=model)
    lib.add([CORPUS])
    yield lib
    lib.close()


def _script(library: Library, fake_llm: FakeLLM) -> None:
    a = next(n for n, p in enumerate(library.search(QUESTION), 1) if "announced on Saturday that she had" in p.text)
    fake_llm.script(Reply(text=f"Claudia Sheinbaum rejected the proposal from Donald Trump [{a}]. "
                               "She also rejected a second offer [42]."))  # fmt: skip


def test_unsupported_sentences_are_marked_by_default_and_left_out_when_asked(library: Library, fake_llm: FakeLLM):
    _script(library, fake_llm)
    marked = library.ask(QUESTION, llm_base_url=fake_llm.url)
    assert marked.text.endswith("second offer. [unsupported]") and len(marked.sentences) == 2

    dropping = Library(replace(library.settings, llm_drop_unsupported=True), embedder=library.embedder)
    _script(dropping, fake_llm)
    stream = dropping.ask_stream(QUESTION, llm_base_url=fake_llm.url)
    shown = list(stream)
    answer = stream.answer
    assert [s.supported for s in shown] == [True]  # the stream never shows the unsupported sentence
    assert "second offer" not in answer.text and answer.text.startswith("Claudia Sheinbaum rejected")
    assert [s.supported for s in answer.sentences] == [True] and answer.answered
    assert "1 of 2 generated sentences" in answer.notes[0].text and "left out" in answer.notes[0].text
    dropping.close()
