"""The learned answer scorer: committed weights load offline, reload identically and rank answers first."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.scorer import DATE, DEFAULT_MODEL, FEATURES, AnswerScorer, SentenceView, expected_shape, features, fold

# (question, sentences of one passage, index of the sentence that answers)
FIXED = [
    ("How many troops were sent to the border?",
     ["The deployment was announced on Monday.", "About 10,000 troops were sent to the southern border.",
      "Officials said the move was temporary."], 1),
    ("Who won the men's race?",
     ["The race started at dawn in cold weather.", "Pavel Drozdov won the men's race in 2:08:31.",
      "Organisers praised the volunteers."], 1),
    ("When did the bridge close?",
     ["The Kettering Road bridge closed on April 15 after inspectors found cracks.",
      "The bridge carries traffic over the river.", "A new bridge will cost $11 million."], 0),
    ("Why was the mower recalled?",
     ["Brightwell sells mowers in garden centres.", "Owners can get a free repair.",
      "The mower was recalled because a software fault keeps the blades spinning when it is lifted."], 2),
    ("What did the mayor promise voters?",
     ["The mayor was first elected in 2021.", "The mayor promised voters new road repairs and lower water rates.",
      "Turnout was 41 percent."], 1),
]  # fmt: skip


def _views(model: SentenceTransformerEmbedder, sentences: list[str]) -> list[SentenceView]:
    vectors = model.embed([*sentences, "Local news"])
    starts = np.cumsum([0] + [len(s) + 1 for s in sentences])
    return [SentenceView(s, vectors[i], vectors[-1], "Local news", int(starts[i]), 0,
                         tuple(j for j in (i - 1, i + 1) if 0 <= j < len(sentences)))
            for i, s in enumerate(sentences)]  # fmt: skip


def test_packaged_weights_and_manifest_load_offline() -> None:
    scorer = AnswerScorer.load(DEFAULT_MODEL)
    manifest = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    assert manifest["features"] == list(FEATURES)
    assert set(manifest["training_data"]) == {"squad-train-v1.1-from-explorer.json",
                                              "squad-train-v2.0-first10articles.json"}  # fmt: skip
    assert 0.0 < manifest["threshold"] < 1.0 and manifest["figures"][manifest["design"]]["val"]
    assert scorer.layers[0][0].shape[0] == len(FEATURES)
    assert DEFAULT_MODEL.stat().st_size < 64 * 1024


def test_same_scores_after_a_save_and_reload(tmp_path, model: SentenceTransformerEmbedder) -> None:
    question, sentences, _ = FIXED[0]
    rows = features(question, model.embed([question])[0], _views(model, sentences))
    scorer = AnswerScorer.load(DEFAULT_MODEL)
    scorer.save(tmp_path / "copy.npz", {"copy": True})
    again = AnswerScorer.load(tmp_path / "copy.npz")
    assert np.array_equal(scorer.probabilities(rows), again.probabilities(rows))
    assert again.manifest == {"copy": True}


@pytest.mark.parametrize(("question", "sentences", "answer"), FIXED, ids=[q for q, _, _ in FIXED])
def test_the_answering_sentence_ranks_first(model: SentenceTransformerEmbedder, question, sentences, answer) -> None:
    rows = features(question, model.embed([question])[0], _views(model, sentences))
    probabilities = AnswerScorer.load(DEFAULT_MODEL).probabilities(rows)
    assert int(np.argmax(probabilities)) == answer, probabilities


def test_features_are_finite_and_shaped(model: SentenceTransformerEmbedder) -> None:
    question, sentences, _ = FIXED[1]
    rows = features(question, model.embed([question])[0], _views(model, sentences))
    assert rows.shape == (3, len(FEATURES)) and np.isfinite(rows).all()
    assert rows[1, FEATURES.index("type_match")] == 1.0  # "Pavel Drozdov" is a name the question lacks
    assert features(question, model.embed([question])[0], []).shape == (0, len(FEATURES))


def test_answer_types_and_accent_folding() -> None:
    assert expected_shape("How many people?") is not None and expected_shape("Why did she go?") is None
    assert expected_shape("What was the date of the newspaper report?") is DATE
    assert expected_shape("What was the report about?") is None
    assert fold("Möngke Khan, Frédéric") == "Mongke Khan, Frederic"
