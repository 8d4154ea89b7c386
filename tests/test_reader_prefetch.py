"""A question starts loading the answer reader in a thread before its own embedding, and a reader that cannot load
still says so at the answer, not in a thread's traceback."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from qa_app.config import Settings
from qa_app.errors import ConfigError
from qa_app.library import Library
from qa_app.reader import DEFAULT_READER, AnswerJudge, AnswerReader
from qa_app.scorer import packaged_scorer
from tests.conftest import CORPUS
from tests.fakes import HashingEmbedder

THREAD = "answer-reader-load"


def _loader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD]


def test_ask_starts_the_reader_load_before_embedding_the_question(tmp_path: Path) -> None:
    library = Library(Settings(index_dir=tmp_path / "index"), embedder=HashingEmbedder())
    library.add([CORPUS])
    reader = AnswerReader(DEFAULT_READER)  # not the process-wide one, which earlier tests may have loaded
    library.composer._judge = AnswerJudge(packaged_scorer(), reader)
    seen: list[bool] = []
    embed = library._questions.embed

    def embed_and_look(texts, *args, **kwargs) -> np.ndarray:
        seen.append(bool(_loader_threads()) or reader._session is not None)
        return embed(texts, *args, **kwargs)

    library._questions.embed = embed_and_look  # type: ignore[method-assign]
    answer = library.ask("Who rejected the proposal to send US troops into Mexico?")
    assert seen and seen[0]  # the load had started when the question was embedded
    assert answer.question and reader._session is not None
    for thread in _loader_threads():
        thread.join(timeout=60)
    library._questions.embed = embed  # type: ignore[method-assign]
    library.ask("Who rejected the proposal?")  # loaded: no second load thread
    assert not _loader_threads()
    library.close()


def test_a_reader_that_cannot_load_reports_it_at_the_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failures: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    reader = AnswerReader(tmp_path / "no-reader-here")
    reader.load_in_background()
    for thread in _loader_threads():
        thread.join(timeout=60)
    assert failures == [] and reader._session is None
    with pytest.raises(ConfigError, match="cannot load the answer reader"):
        reader.load_now()
