"""Titles written out for the answer judges (the quote itself never changes)."""

from __future__ import annotations

import numpy as np

from qa_app.abbreviations import spelled_titles
from qa_app.reader import reader_text
from qa_app.scorer import FEATURES, SentenceView, features


def test_titles_before_a_name_are_written_out() -> None:
    assert spelled_titles("said Maj. Jaren Stafani") == "said Major Jaren Stafani"
    assert (
        spelled_titles("Lt. Col. Marcus Hale and Dr. Imran Chaudry")
        == "Lieutenant Colonel Marcus Hale and Doctor Imran Chaudry"
    )
    assert spelled_titles("the Dr. at 5 p.m.") == "the Dr. at 5 p.m."  # no name follows
    assert spelled_titles("No title here.") == "No title here."


def _view(text: str) -> SentenceView:
    return SentenceView(text, np.ones(3) / np.sqrt(3), None, "Border deployment", 400, 0, ())


def test_the_reader_and_the_scorer_read_the_title_written_out() -> None:
    sentence = "“We will not be on patrols,” said Maj. Jaren Stafani at a press conference."
    assert "said Major Jaren Stafani" in reader_text(_view(sentence))
    question = "What did the major say?"
    rows = features(question, np.ones(3) / np.sqrt(3), [_view(sentence), _view(sentence.replace("Maj.", "Cpl."))])
    coverage = FEATURES.index("coverage")
    assert rows[0, coverage] > rows[1, coverage]  # "major" is one of the question's words in the first only
