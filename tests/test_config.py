"""Settings: CLI flags over QA_APP_* environment variables over defaults, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_app.config import Settings, load_settings
from qa_app.errors import ConfigError


def test_defaults_environment_and_flags_in_that_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_APP_INDEX_DIR", raising=False)
    assert load_settings() == Settings()
    monkeypatch.setenv("QA_APP_TOP_K", "5")
    monkeypatch.setenv("QA_APP_INDEX_DIR", "/tmp/from-env")
    monkeypatch.setenv("QA_APP_MIN_ANSWER_SCORE", "0.2")
    settings = load_settings(top_k=3, index_dir=None)  # None: the flag was not given
    assert settings.top_k == 3 and settings.index_dir == Path("/tmp/from-env") and settings.min_answer_score == 0.2


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APP_TOP_K", "")
    assert load_settings().top_k == Settings().top_k


@pytest.mark.parametrize(("name", "value"), [("QA_APP_TOP_K", "eight"), ("QA_APP_MAX_FILE_MB", "big")])
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_chunk_sizes_are_checked() -> None:
    with pytest.raises(ConfigError, match="chunk_words"):
        load_settings(chunk_words=5)
    with pytest.raises(ConfigError, match="max_chunk_words"):
        load_settings(chunk_words=200, max_chunk_words=100)


def test_secrets_are_not_in_the_repr() -> None:
    assert "sk-secret" not in repr(Settings(llm_api_key="sk-secret"))
    assert Settings(max_file_mb=1.5).max_file_bytes == 1_572_864


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("yes", True), (" On ", True), ("0", False),
                                                 ("false", False), ("OFF", False)])  # fmt: skip
def test_switches_read_words_not_python_truth(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("QA_APP_FOLLOW_LINKS", value)
    assert load_settings().follow_links is expected  # bool("0") would be True


def test_a_switch_that_is_not_a_word_for_on_or_off_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APP_ANSWER_READER", "maybe")
    with pytest.raises(ConfigError, match="QA_APP_ANSWER_READER='maybe' is not a valid bool"):
        load_settings()
