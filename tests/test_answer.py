"""Grounded answers with the real model: citations, abstention, filters, follow-ups, disagreements."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa_app.answer import NOT_ANSWERED
from qa_app.config import Settings
from qa_app.documents import make_document
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.library import Library
from qa_app.records import CONFLICT, SearchFilters
from qa_app.retrieval import is_follow_up
from tests.articles import write_articles
from tests.conftest import CORPUS, SEED_TITLE

STRIKE = (
    "Dockworkers walk off the job at Port of Carrow",
    "About 4,000 dockworkers at the Port of Carrow walked off the job on Monday, March 3, halting container "
    "traffic. The union said talks on a new contract had broken down.",
    "2025-03-05",
    "Harbor City Ledger",
)
STRIKE_OTHER = (
    "Carrow port strike strands cargo ships",
    "A strike by some 5,200 dockworkers at the Port of Carrow entered its third day with no settlement in sight. "
    "Dozens of cargo ships waited offshore.",
    "2025-03-06",
    "Eastbrook Courier",
)


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory, model: SentenceTransformerEmbedder) -> Library:
    root = tmp_path_factory.mktemp("answers")
    library = Library(Settings(index_dir=root / "index"), embedder=model)
    strikes = [
        make_document(title=t, text=body, source=f"{outlet.lower().replace(' ', '-')}.example/strike",
                      published_at=date, metadata={"outlet": outlet})
        for t, body, date, outlet in (STRIKE, STRIKE_OTHER)
    ]  # fmt: skip
    library.add([CORPUS, *write_articles(root / "articles"), *strikes])
    yield library
    library.close()


def _assert_grounded(library: Library, answer) -> None:
    for citation in answer.citations:
        assert library.document(citation.doc_id).text[citation.start : citation.end] == citation.quote
        assert f"[{citation.n}]" in answer.text
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_answerable_question_cites_the_seed_article(answers: Library):
    answer = answers.ask("Who rejected the proposal to send US troops into Mexico?")
    assert answer.answered
    assert "Sheinbaum" in answer.text
    assert answer.citations[0].title == SEED_TITLE
    assert answer.citations[0].published_at == "2025-05-03"
    _assert_grounded(answers, answer)
    # every sentence of the answer is a quote followed by its marker
    body = answer.text
    for c in answer.citations:
        body = body.replace(f"{c.quote} [{c.n}]", "")
    assert body.strip() == ""


@pytest.mark.parametrize(
    "question",
    ["What is the boiling point of tungsten?", "Who won the 1966 World Cup?", "Who is the mayor of Dunmore?"],
)
def test_unrelated_questions_are_not_answered(answers: Library, question: str):
    answer = answers.ask(question)
    assert not answer.answered
    assert answer.text == NOT_ANSWERED and answer.citations == ()
    assert answer.passages, "the closest passages are still shown"


def test_json_contract(answers: Library):
    data = answers.ask("Did Mexico accept American troops?").to_json()
    assert set(data) == {"question", "answer", "answered", "score", "searched_for", "mode", "sentences",
                         "citations", "passages"}  # fmt: skip
    assert set(data["citations"][0]) == {"n", "doc_id", "title", "source", "published_at", "start", "end",
                                         "quote", "page", "score"}  # fmt: skip
    assert 0.0 < data["score"] <= 1.0 and data["searched_for"] is None
    assert all(0.0 < c["score"] <= 1.0 for c in data["citations"])
    assert set(data["passages"][0]) == {"doc_id", "chunk_id", "title", "source", "published_at", "start", "end",
                                        "text", "score"}  # fmt: skip


SEED_TEXT = (CORPUS / "sheinbaum-rejects-us-troops.md").read_text(encoding="utf-8").split("---", 2)[2]
SEED_SENTENCES = [s for s in re.split(r"(?<=[.!?])\s+", SEED_TEXT) if len(s.split()) >= 6]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, len(SEED_SENTENCES) - 1), st.integers(0, 10_000))
def test_property_every_citation_is_verbatim(answers: Library, index: int, seed: int):
    words = SEED_SENTENCES[index].split()
    rng = random.Random(seed)
    start = rng.randrange(0, max(1, len(words) - 5))
    question = " ".join(words[start : start + rng.randint(4, 10)]) + "?"
    _assert_grounded(answers, answers.ask(question))


def test_date_filter_excludes_articles(answers: Library):
    question = "Did Mexico accept American troops?"
    everything = answers.search(question, k=5)
    assert everything[0].title == SEED_TITLE
    before = answers.search(question, k=5, filters=SearchFilters(published_before="2025-04-01"))
    assert before and all(p.published_at and p.published_at <= "2025-04-01" for p in before)
    after = answers.ask(question, filters=SearchFilters(published_after="2025-05-04"))
    assert all(c.title != SEED_TITLE for c in after.citations)


def test_source_filter_matches_outlet(answers: Library):
    passages = answers.search("dockworkers strike", k=5, filters=SearchFilters(sources=("eastbrook",)))
    assert {p.title for p in passages} == {STRIKE_OTHER[0]}


def test_follow_up_uses_the_previous_question(answers: Library):
    assert is_follow_up("What did she say about it?")
    assert not is_follow_up("How much will the Harbor Street bridge repairs cost?")
    mexico = "Who rejected the proposal to send US troops into Mexico?"
    chess = "Who won the national chess championship?"
    assert answers.search("How old is she?", k=3, history=[mexico])[0].title == SEED_TITLE
    chess_first = answers.search("How old is she?", k=3, history=[mexico, chess])[0]
    assert chess_first.title == "Teenager wins national chess title"
    # a self-contained question ignores the history
    bridge = answers.search("How much will the Harbor Street bridge repairs cost?", k=1, history=[chess])
    assert bridge[0].title == "Harbor bridge closes for repairs"


def test_disagreeing_sources_are_both_shown(answers: Library):
    answer = answers.ask("How many dockworkers went on strike at the Port of Carrow?")
    assert answer.answered
    assert "4,000" in answer.text and "5,200" in answer.text
    assert {c.title for c in answer.citations} >= {STRIKE[0], STRIKE_OTHER[0]}
    (note,) = answer.notes
    assert note.kind == CONFLICT and note.in_text and answer.text.endswith(note.text) and "differ" in note.text
    assert "4,000" in note.text and "5,200" in note.text
    assert STRIKE[0] in note.text and STRIKE_OTHER[0] in note.text
    _assert_grounded(answers, answer)


def test_timeline_questions_order_quotes_by_date(answers: Library):
    answer = answers.ask("When did the dockworkers strike at the Port of Carrow start?")
    assert "March 3" in answer.citations[0].quote, "the answer first"
    dates = [c.published_at for c in answer.citations]
    assert len(dates) >= 2 and dates[1:] == sorted(dates[1:]), "then the further quotes, oldest first"


def test_a_time_question_about_one_article_quotes_its_answer_before_its_lead(
    model: SentenceTransformerEmbedder, tmp_path: Path
):
    """Date order says nothing inside one article: its lead (offset 0), quoted too, must not go ahead of the
    sentence that gives the date (it did, joined with it into one quote that began with the lead)."""
    library = Library(Settings(index_dir=tmp_path / "index"), embedder=model)
    library.add([make_document(
        title="Harlow library closes reading room over roof leak",
        text="The Harlow Public Library closed its main reading room on Tuesday after staff found water stains on the "
        "ceiling that engineers traced to a leak in the roof. Librarian Dana Ortiz said the stains were first noticed "
        "during a routine check on June 14. Repairs to the roof are expected to take six weeks.",
        source="harlow-gazette.example/library", published_at="2025-06-20",
    )])  # fmt: skip
    answer = library.ask("When did the Harlow library first find water stains on its ceiling?")
    assert answer.answered and answer.citations[0].quote.startswith("Librarian Dana Ortiz said")
    assert "June 14" in answer.citations[0].quote
    library.close()


def test_diversity_caps_passages_per_article(answers: Library, tmp_path: Path):
    passages = answers.search("troops Mexico border sovereignty Sheinbaum Trump", k=8)
    per_doc = {}
    for p in passages:
        per_doc[p.doc_id] = per_doc.get(p.doc_id, 0) + 1
    assert max(per_doc.values()) <= answers.settings.max_per_doc and len(per_doc) >= 2


SEED_QUESTIONS = [
    ("Which newspaper first reported the troop offer?", "Wall Street Journal"),
    ("How many US troops were deployed to the southern border?", "10,000"),
    ("Who rejected the proposal to send US troops into Mexico?", "Sheinbaum"),
    ("What did the major say at the press conference?", "said Maj. Jaren Stafani"),  # the judges read "Major"
]


@pytest.mark.parametrize(("question", "expected"), SEED_QUESTIONS, ids=[q for q, _ in SEED_QUESTIONS])
def test_the_answering_sentence_is_quoted_first(answers: Library, question: str, expected: str):
    answer = answers.ask(question)
    assert answer.answered, answer.score
    assert expected in answer.citations[0].quote, answer.text


def test_a_photo_caption_is_never_quoted(answers: Library):
    caption = "speaks during her morning press conference"  # its credit "(AP Photo/…)" is the next sentence
    for question in ("What did the major say at the press conference?", "Where was Sheinbaum photographed?"):
        assert all(caption not in c.quote for c in answers.ask(question).citations)


def test_answers_are_short_distinct_and_without_notes_when_sources_agree(answers: Library):
    for question, _ in SEED_QUESTIONS:
        answer = answers.ask(question)
        spans = [(c.doc_id, c.start, c.end) for c in answer.citations]
        assert 1 <= len(spans) <= 3 and len(set(spans)) == len(spans)
        assert answer.notes == (), answer.notes


def test_abstains_when_the_answer_was_removed(answers: Library):
    others = tuple(d.doc_id for d in answers.documents() if d.title != SEED_TITLE)
    for question, _ in SEED_QUESTIONS[:2]:
        answer = answers.ask(question, filters=SearchFilters(doc_ids=others))
        assert not answer.answered, answer.text


def test_misspelled_question_is_corrected_and_says_so(answers: Library):
    answer = answers.ask("wat did sheinbaun say abuot amerrican trops?")
    assert answer.searched_for is not None and answer.searched_for.startswith("wat did Sheinbaum say ")
    assert answer.searched_for.endswith(" American troop?")  # "wat" is too short to correct
    assert answers.search("sheinbaun amerrican trops", k=1)[0].title == SEED_TITLE  # BM25 finds the right terms
    assert answers.ask("How many US troops were deployed?").searched_for is None


def test_asked_values_are_the_kind_of_thing_the_question_asks_for():
    from qa_app.claims import asked_values

    assert asked_values("How many dockworkers struck?", "About 4,000 dockworkers walked off on March 3.") == {"4,000"}
    assert asked_values("How many ships?", "5,200 workers struck, 12 ships waited in 2025.") == {"12"}  # what it counts
    assert asked_values("How many workers?", "It began on March 3 with 40 staff.") == {"40"}  # no date parts
    assert asked_values("When did the strike start?", "It began on March 3, 2025 at dawn.") == {"March 3", "2025"}
    assert asked_values("Who won the men's race?", "The race was won by Pavel Drozdov.") == {"Pavel Drozdov"}
    assert asked_values("Who won?", "Samuel Okafor won on Sunday, ahead of Kiprono.") == {"Samuel Okafor", "Kiprono"}
    assert asked_values("Why did the talks fail?", "Talks failed over pay in 2025.") == set()
    assert asked_values("What fine was imposed?", "A fine of $2.4 million, 7.5 percent of sales, in 2025.") == {
        "$2.4 million", "7.5 percent"}  # fmt: skip


def test_question_names_are_folded_words_after_the_first():
    from qa_app.claims import question_names

    assert question_names("When will the bridge at Wetherlow reopen, says Möngke on Monday?") == {"wetherlow", "mongke"}
    assert question_names("who won the lakeshore marathon") == set()
    assert question_names("Who is Glaskirk's police chief, and Carrow’s?") == {"glaskirk", "carrow"}  # possessive


def test_a_conflicting_answer_is_found_when_neither_article_was_quoted_for_it(answers: Library):
    answer = answers.ask("How many dockworkers took part in the Port of Carrow walkout?")
    assert len(answer.notes) <= 1
    if answer.notes:  # a note names values that its quotes hold
        quoted = " ".join(c.quote for c in answer.citations)
        assert all(value in quoted for value in ("4,000", "5,200") if value in answer.notes[0].text)


STORIES = [
    ("Warehouse fire in Dunmere destroys furniture stock",
     "Fire broke out on Tuesday night. About 60 firefighters fought the blaze at the furniture warehouse in Dunmere "
     "for six hours.\n\nNo one was hurt, the fire service said.", "2025-04-02"),
    ("Warehouse blaze in Pellham",
     "Fire broke out on Thursday. About 85 firefighters fought the blaze at the furniture warehouse in Pellham for "
     "four hours.\n\nTwo nearby homes were evacuated.", "2025-04-10"),
    ("Orvik museum to reopen after renovation",
     "The Orvik city museum will reopen on May 12 after a two-year renovation, its director said on Monday. The "
     "work added a new wing for the museum's maritime collection.", "2025-03-03"),
    ("Orvik museum sets a new date",
     "The renovation of the Orvik museum is running late. Doors open again to the public on May 19, the culture "
     "office said, once the last exhibits are installed in the new wing.", "2025-03-20"),
    ("Calloway re-elected in Harbury",
     "Harbury mayor Ines Calloway won a second term on Tuesday, beating her rival by 312 votes. Unofficial results "
     "showed Calloway with 8,946 votes, the county elections office said.", "2025-11-05"),
    ("Recount confirms Calloway win in Harbury",
     "Harbury mayor Ines Calloway received 9,120 votes in the election, according to the final count released on "
     "Friday.", "2025-11-08"),
    ("Hospital in Brenfield opens a stroke unit",
     "Brenfield General Hospital opened a dedicated stroke unit on Monday, giving patients across the valley faster "
     "access to specialist treatment that until now often required a transfer to a city hospital.\n\nThe 24-bed "
     "unit cost $16.5 million and occupies the renovated fourth floor of the hospital's east wing.", "2025-09-01"),
    ("Dead fish found in the Tollan",
     "Angler Tom Beresford spotted hundreds of dead fish in the Tollan on Sunday morning.", "2025-06-02"),
    ("Tollan fish kill blamed on a spill",
     "The dead fish in the Tollan were killed by a chemical spill, said Hannah Okafor of the Tollan river trust.",
     "2025-06-11"),
]  # fmt: skip


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory, model: SentenceTransformerEmbedder) -> Library:
    library = Library(Settings(index_dir=tmp_path_factory.mktemp("stories") / "index"), embedder=model)
    library.add([make_document(title=t, text=body, source=f"story-{n}", published_at=date)
                 for n, (t, body, date) in enumerate(STORIES)])  # fmt: skip
    yield library
    library.close()


def test_two_stories_of_the_same_kind_in_two_towns_are_no_conflict(stories: Library):
    answer = stories.ask("How many firefighters fought the warehouse fire in Dunmere?")
    assert answer.answered and "60" in answer.citations[0].quote
    assert answer.notes == ()


def test_two_reports_that_word_a_fact_differently_and_disagree_get_one_note(stories: Library):
    answer = stories.ask("When will the Orvik museum reopen?")
    (note,) = answer.notes
    assert note.kind == CONFLICT and "May 12" in note.text and "May 19" in note.text
    _assert_grounded(stories, answer)


def test_a_contradiction_is_a_value_of_the_same_scale_even_when_it_is_not_the_articles_top_sentence(stories: Library):
    answer = stories.ask("How many votes did Ines Calloway receive in the Harbury election?")
    (note,) = answer.notes
    assert "9,120" in note.text and "8,946" in note.text and "312" not in note.text  # a margin is another number
    _assert_grounded(stories, answer)


def test_the_speaker_of_a_quote_does_not_contradict_who_did_it(stories: Library):
    answer = stories.ask("Who spotted the dead fish in the Tollan?")
    assert answer.answered and "Tom Beresford" in answer.citations[0].quote
    assert answer.notes == ()


def test_values_differ_comparably_when_they_could_report_one_quantity():
    from qa_app.claims import differ_comparably, name_kind

    assert differ_comparably("How many votes?", {"9,120"}, {"8,946", "8,634"})
    assert not differ_comparably("How many votes?", {"9,120"}, {"312"})  # a margin, not a total
    assert not differ_comparably("What fine?", {"$2.4 million"}, {"$25,000"}) and differ_comparably(
        "What fine?", {"$2.4 million"}, {"$1.8 million"})  # fmt: skip
    assert not differ_comparably("How much?", {"7.5 percent"}, {"$7"})  # a share and a sum of money
    assert differ_comparably("When?", {"April 9"}, {"April 16"}) and not differ_comparably(
        "When?", {"April 9"}, {"2021"}
    )
    assert not differ_comparably("Who found it?", {"Tom Beresford"}, {"Mill Lane", "Mexican"})  # a place, one word
    assert not differ_comparably("Which newspaper?", {"Wall Street Journal"}, {"US State Department"})
    assert differ_comparably("Which newspaper?", {"Wall Street Journal"}, {"New York Times"}) and not differ_comparably(
        "Which newspaper?", {"Harbury Council"}, {"Riverton Council"})  # two bodies, no newspaper  # fmt: skip
    assert not differ_comparably("How many?", {"12,000"}, {"12,000"})
    assert [name_kind(n) for n in ("Mexico City", "Los Angeles Times", "Corbel Leather Works", "Ilya Berensky")] == [
        "place", "outlet", "organisation", "person"]  # fmt: skip


def test_a_quotes_speaker_is_no_answer_to_who_did_it_but_is_to_who_said_it():
    from qa_app.claims import asked_values

    sentence = "The fish were killed by a spill, said Hannah Okafor of the trust, as Peregrine Astley said."
    assert asked_values("Who killed the fish?", sentence) == set()
    assert asked_values("Who said the fish were killed by a spill?", sentence) == {"Hannah Okafor", "Peregrine Astley"}


def test_a_likely_sentence_giving_the_asked_value_comes_before_a_lead_that_gives_none(stories: Library):
    answer = stories.ask("How much did Brenfield General Hospital spend on its new stroke unit?")
    assert answer.answered and "$16.5 million" in answer.citations[0].quote
    _assert_grounded(stories, answer)
