"""Small test articles on unrelated subjects, so searches have something to tell apart."""

from __future__ import annotations

from pathlib import Path

from qa_app.documents import make_document
from qa_app.records import Document, text_doc_id

ARTICLES = {
    "harbor-bridge.txt": (
        "Harbor bridge closes for repairs\n"
        "The Harbor Street bridge in Port Ellis will close for eight weeks from June 2 while engineers replace "
        "corroded steel cables. City engineer Dana Whitlock said the repairs will cost 4.2 million dollars. "
        "Ferries will run every twenty minutes during the closure."
    ),
    "wheat-harvest.txt": (
        "Record wheat harvest lifts farm incomes\n"
        "Farmers in the Valley region harvested 3.1 million tonnes of wheat this season, a record. "
        "Agriculture minister Paolo Ferri credited a wet spring and new drought-resistant seed varieties. "
        "Grain prices fell by 6 percent after the harvest figures were published."
    ),
    "chess-final.txt": (
        "Teenager wins national chess title\n"
        "Sixteen-year-old Mira Okafor won the national chess championship on Sunday, beating the defending "
        "champion in a tense final game that lasted six hours. Okafor is the youngest champion in the "
        "tournament's ninety-year history."
    ),
}


def write_articles(folder: Path) -> list[Path]:
    """Write the test articles as .txt files into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in ARTICLES.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def titled_document(title: str, text: str) -> Document:
    """A document made in memory, known by its text as a loaded file is; its source is `<title>.txt`."""
    return Document(doc_id=text_doc_id(text), title=title, text=text, source=f"{title}.txt")


# one short article whose second sentence answers a cost question (pooled and bfloat16 vector tests)
BRIDGE_ARTICLE = make_document(
    title="Harbor bridge closes for repairs",
    text=(
        "The harbor bridge will close on Monday for eight weeks of repairs. "
        "City engineer Dana Whitlock said the work will cost 4.2 million dollars. "
        "Ferries will run every twenty minutes while the bridge is closed. "
        "The council approved the contract by a vote of seven to two."
    ),
    source="bridge.txt",
)


# texts an encoder must embed alike: sentences, a question, an empty string, Unicode, one past the 256-token window
ENCODER_TEXTS = [
    "Mexico's president rejected the proposal to deploy American troops.",
    "The Harbor Street bridge will close for eight weeks of repairs.",
    "Who won the national chess championship?",
    "",
    "Ünïcödé, emoji 🙂 and «quotes» — in one line",
    " ".join(["A long paragraph that runs past the model's window of 256 tokens."] * 40),
]
