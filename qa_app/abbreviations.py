"""Titles as the answer judges read them: "Maj. Jaren Stafani" reads as "Major Jaren Stafani", so that a question
about "the major" or "the doctor" finds its words in the sentence. Quotes are never changed, only what the scorer
counts and the reader reads."""

from __future__ import annotations

import re

TITLES = {
    "Adm": "Admiral", "Capt": "Captain", "Cmdr": "Commander", "Col": "Colonel", "Cpl": "Corporal",
    "Det": "Detective", "Dr": "Doctor", "Gen": "General", "Gov": "Governor", "Insp": "Inspector",
    "Lt": "Lieutenant", "Maj": "Major", "Pres": "President", "Prof": "Professor", "Rep": "Representative",
    "Rev": "Reverend", "Sen": "Senator", "Sgt": "Sergeant", "Supt": "Superintendent",
}  # fmt: skip
_TITLE = re.compile(r"\b(" + "|".join(TITLES) + r")\.(?= [A-Z])")


def spelled_titles(text: str) -> str:
    """`text` with each abbreviated title before a name written out ("Dr. Imran Chaudry" -> "Doctor Imran
    Chaudry"); the same text when it holds none."""
    return _TITLE.sub(lambda m: TITLES[m.group(1)], text) if "." in text else text
