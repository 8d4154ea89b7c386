"""Typo tolerance: unknown question words matched to close index terms (rapidfuzz OSA distance)."""

from __future__ import annotations

from qa_app.lexical import terms
from qa_app.records import Correction
from qa_app.spelling import Speller, corrected_text, english_words, spelled_out

VOCABULARY = {"sheinbaum": 12, "troop": 30, "trip": 2, "american": 9, "möngke": 4, "confucian": 3, "armi": 5}


def test_misspelled_words_become_the_closest_frequent_term() -> None:
    found = Speller(VOCABULARY).corrections("wat did sheinbaun say abuot amerrican trops?")
    assert {c.word: c.term for c in found} == {"sheinbaun": "sheinbaum", "amerrican": "american", "trops": "troop"}


def test_accents_and_plurals_are_variants_not_misses() -> None:
    speller = Speller(VOCABULARY)
    assert speller.corrections("What did Mongke decide?") == [Correction("Mongke", "möngke")]
    assert speller.corrections("What did the Confucians teach?") == []  # stems to a known term


def test_known_short_and_far_words_are_left_alone() -> None:
    speller = Speller(VOCABULARY)
    assert speller.corrections("Did the army leave?") == []  # known (stem "armi"); "did", "the" are short
    assert speller.corrections("What about quantum chromodynamics?") == []  # nothing within two edits


def test_real_english_words_are_not_typos_even_when_the_index_lacks_them() -> None:
    assert "went" in english_words() and "sheinbaun" not in english_words()
    assert Speller({"wet": 3, "trip": 2}).corrections("Who went on the trip?") == []  # not "went" -> "wet"


def test_corrected_and_spelled_out_questions() -> None:
    corrections = [Correction("trops", "troop")]
    assert terms(corrected_text("US trops?", corrections)) == ["us", "troop"]
    shown = spelled_out("US trops?", corrections, ["No foreign troops will enter."])
    assert shown == "US troops?"
    assert spelled_out("US troops?", [], ["No foreign troops will enter."]) is None


def test_words_with_digits_are_codes_not_typos() -> None:
    assert Speller({"zephyr4": 1, "rm40": 2}).corrections("Who chairs the zephyr20 committee? Is RM-41 safe?") == []
