"""The claims module on its own: the values a sentence states, and citations held to the article text."""

from __future__ import annotations

import pytest

from qa_app.claims import cite, facts, known
from qa_app.errors import QAError
from qa_app.records import Passage

TEXT = "Harbor Bridge repairs will cost $4,200,000, the U.S. Department of Transportation said on March 3."
PASSAGE = Passage(7, "doc1", "Bridge repairs", "harbor.txt", "2025-03-03", 100, 100 + len(TEXT), TEXT, 0.5,
                  page_starts=(0, 140))  # fmt: skip


def test_facts_are_numbers_and_names_past_the_first_word() -> None:
    assert facts("The repairs cost 4,200,000 dollars, said Mayor Ortiz-Lane of the U.S.") == {
        "#4200000", "mayor", "ortiz", "lane", "us"}  # fmt: skip
    assert facts("However, it rained.") == set()  # the first word and common capitalised words are not names


def test_known_holds_a_sentences_facts_written_differently() -> None:
    assert facts("It costs 4200000 and the US pays.") <= known(TEXT)
    assert "#4300000" not in known(TEXT)


def test_cite_builds_a_checked_citation_with_its_page() -> None:
    start = 100 + TEXT.index("the U.S.")
    quote = TEXT[start - 100 :]
    citation = cite(2, PASSAGE, start, PASSAGE.end, quote, check=lambda c: True, score=0.75)
    assert (citation.n, citation.doc_id, citation.title, citation.source) == (2, "doc1", "Bridge repairs", "harbor.txt")
    assert (citation.start, citation.end, citation.quote, citation.score) == (start, PASSAGE.end, quote, 0.75)
    assert citation.page == 2 and citation.published_at == "2025-03-03"
    with pytest.raises(QAError, match=r"citation \[2\] does not match its article text"):
        cite(2, PASSAGE, start, PASSAGE.end, quote, check=lambda c: False)
