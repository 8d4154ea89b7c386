"""The reader's training loss (training/reader_loss.py) on the packaged MiniLM as a cross-encoder."""

from __future__ import annotations

import pytest
import torch

from qa_app.config import DEFAULT_MODEL
from qa_app.embedder import resolve_model_path
from training.reader_loss import AnswerListLoss

QUESTIONS = ["How many beds will the wing have?", "Who won the prize?"]
LISTS = [
    ["The new wing will have 148 beds.", "The hospital opened in 1962.", "Staff welcomed the plan."],
    ["The prize is awarded every year.", "The jury met in March."],  # asked without its paragraph: no answer
]
LABELS = [torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0])]


@pytest.fixture(scope="module")
def cross_encoder():
    from sentence_transformers.cross_encoder import CrossEncoder

    torch.manual_seed(0)
    return CrossEncoder(resolve_model_path(DEFAULT_MODEL), num_labels=1, max_length=96)


def _logits(model) -> torch.Tensor:
    pairs = [(q, s) for q, sentences in zip(QUESTIONS, LISTS, strict=True) for s in sentences]
    model.model.eval()
    with torch.no_grad():
        return torch.tensor(model.predict(pairs, activation_fn=torch.nn.Identity(), convert_to_numpy=True))


def test_list_term_is_the_softmax_cross_entropy_of_answered_lists(cross_encoder) -> None:
    cross_encoder.model.eval()
    pos_weight = torch.tensor(2.0)
    with torch.no_grad():
        pairwise = AnswerListLoss(cross_encoder, pos_weight, 0.0)([QUESTIONS, LISTS], LABELS)
        both = AnswerListLoss(cross_encoder, pos_weight, 0.5)([QUESTIONS, LISTS], LABELS)
    logits = _logits(cross_encoder)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.cat(LABELS), pos_weight=pos_weight)
    assert float(pairwise) == pytest.approx(float(bce), abs=1e-4)
    # only the first list has an answer: its term is -log softmax at the answer; the second adds nothing
    listwise = -torch.log_softmax(logits[:3], dim=0)[0]
    assert float(both - pairwise) == pytest.approx(0.5 * float(listwise), abs=1e-4)


def test_the_loss_trains_the_model(cross_encoder) -> None:
    cross_encoder.model.train()
    cross_encoder.model.zero_grad()
    AnswerListLoss(cross_encoder, torch.tensor(2.0), 1.0)([QUESTIONS, LISTS], LABELS).backward()
    grads = [p.grad for p in cross_encoder.model.parameters() if p.requires_grad]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
    cross_encoder.model.zero_grad()
    cross_encoder.model.eval()
