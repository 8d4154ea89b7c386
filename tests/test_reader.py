"""The answer reader (a cross-encoder over the scorer's top sentences): committed weights load offline, score the
same on reload, read question and sentence together, and set the abstention operating point."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from qa_app.answer import Composer
from qa_app.config import Settings
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.reader import DEFAULT_READER, JUDGE_FILES, READ, AnswerJudge, AnswerReader, packaged_judge
from qa_app.scorer import AnswerScorer
from tests.test_scorer import FIXED, _views


@pytest.fixture(scope="module")
def reader() -> AnswerReader:
    return AnswerReader.load(DEFAULT_READER)


def test_committed_weights_and_manifest_load_offline(reader: AnswerReader) -> None:
    manifest = reader.manifest
    assert manifest["read"] == READ and 0.0 <= manifest["weight"] <= 1.0 and 0.0 < manifest["threshold"] < 1.0
    assert set(manifest["training_data"]) == {"squad-train-v1.1-from-explorer.json",
                                              "squad-train-v2.0-first10articles.json"}  # fmt: skip
    assert manifest["figures"]["val"]["blend"]["answered_rate"] > 0.5
    weights = DEFAULT_READER / AnswerReader.ONNX_FILE
    assert weights.stat().st_size < 30 * 1024 * 1024  # int8


def test_same_scores_after_a_reload(reader: AnswerReader, model: SentenceTransformerEmbedder) -> None:
    question, sentences, _ = FIXED[1]
    views = _views(model, sentences)
    again = AnswerReader.load(DEFAULT_READER)
    assert np.allclose(reader.probabilities(question, views), again.probabilities(question, views), atol=1e-6)


def test_a_sentences_score_does_not_depend_on_what_is_read_with_it(reader, model) -> None:
    question, sentences, _ = FIXED[1]
    views = _views(model, sentences)
    together = reader.probabilities(question, views)
    alone = np.array([reader.probabilities(question, [view])[0] for view in views])
    assert np.array_equal(together, alone)  # pairs run one by one, unpadded (dynamic int8 scales per run)


def test_questions_read_at_once_from_several_threads_get_their_own_scores(reader, model) -> None:
    """The pairs of one question run concurrently on the reader's pool; so do those of questions asked at once."""
    asked = [(question, _views(model, sentences)) for question, sentences, _ in FIXED]
    expected = [reader.probabilities(question, views) for question, views in asked]
    with ThreadPoolExecutor(len(asked)) as pool:
        got = list(pool.map(lambda item: reader.probabilities(*item), asked))
    for mine, theirs in zip(got, expected, strict=True):
        assert np.array_equal(mine, theirs)


@pytest.mark.parametrize(("question", "sentences", "answer"), FIXED, ids=[q for q, _, _ in FIXED])
def test_the_answering_sentence_is_read_as_the_answer(reader, model, question, sentences, answer) -> None:
    probabilities = reader.probabilities(question, _views(model, sentences))
    assert int(np.argmax(probabilities)) == answer, probabilities


def test_a_sentence_on_the_topic_that_does_not_answer_scores_low(reader, model) -> None:
    """What the vector scorer cannot tell apart: the same words, but not the fact asked for."""
    question = "Which newspaper first reported the troop offer?"
    views = _views(model, ["The troop offer was first discussed in a phone call between the two presidents.",
                           "The Wall Street Journal first reported the offer on Friday."])  # fmt: skip
    on_topic, answer = reader.probabilities(question, views)
    assert answer > on_topic + 0.2, (answer, on_topic)  # raw reader output: ranked, not calibrated


def test_the_judge_reads_only_the_scorers_best_and_keeps_the_rest_below(model) -> None:
    question, sentences, answer = FIXED[3]
    sentences = sentences + [f"Unrelated filler sentence number {i} about gardens." for i in range(6)]
    views = _views(model, sentences)
    judge = packaged_judge(True)
    p = judge.probabilities(question, model.embed([question])[0], views, np.zeros(len(views), dtype=bool), read=2)
    read = np.argsort(-p)[:2]
    assert int(np.argmax(p)) == answer
    assert all(p[i] < p[read].min() for i in range(len(p)) if i not in read)
    captions = np.zeros(len(views), dtype=bool)
    captions[answer] = True
    p = judge.probabilities(question, model.embed([question])[0], views, captions)
    assert p[answer] == 0.0 and int(np.argmax(p)) != answer


def test_groups_not_worth_reading_are_skipped_and_the_others_read_as_alone(model) -> None:
    judge = packaged_judge(True)
    groups = []
    for _, sentences, _ in FIXED[:3]:
        views = _views(model, sentences)
        groups.append((views, np.zeros(len(views), dtype=bool)))
    question, vector = FIXED[0][0], model.embed([FIXED[0][0]])[0]
    every = judge.probabilities_of_groups(question, vector, groups, 2)
    some = judge.probabilities_of_groups(question, vector, groups, 2, lambda views, top: views is not groups[1][0])
    assert some[1] is None and every[1] is not None
    # the same up to padding: a batch pads to its longest pair, and int8 kernels round a little differently
    assert np.allclose(some[0], every[0], atol=2e-3) and np.allclose(some[2], every[2], atol=2e-3)


def test_the_default_threshold_is_the_operating_point_of_the_model_in_use(model) -> None:
    assert Settings().min_answer_score < 0  # "the model's own"
    with_reader = Composer(model, reader=True)
    scorer_only = Composer(model, reader=False)
    scorer_file, blend_file = JUDGE_FILES[Settings().sentence_vectors_from]
    assert with_reader.min_score == pytest.approx(json.loads(blend_file.read_text())["threshold"])
    assert scorer_only.min_score == pytest.approx(AnswerScorer.load(scorer_file).manifest["threshold"])
    alone = Composer(model, reader=True, sentence_vectors_from="sentences")
    assert alone.min_score == pytest.approx(AnswerReader(DEFAULT_READER).manifest["threshold"])  # its own blend
    assert Composer(model, min_score=0.3).min_score == 0.3
    assert isinstance(with_reader.judge, AnswerJudge) and scorer_only.judge.reader is None
