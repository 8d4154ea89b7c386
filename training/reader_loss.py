"""The reader's listwise training loss: binary cross-entropy on every pair plus a softmax over each question's
read sentences, so that the answering one is pushed above the others the reader reads beside it."""

from __future__ import annotations

import torch
from sentence_transformers.util import batch_to_device


class AnswerListLoss(torch.nn.Module):
    """BCE (weighted by `pos_weight`) on each (question, sentence) pair of a batch of lists, plus `list_weight`
    times the cross-entropy between the softmax of a list's logits and its labels (lists with an answer only).

    The BCE term keeps the logits usable for abstention (a list with no answer, the question asked without its
    paragraph, is pushed down as a whole); the list term is what the composer does with them: pick one of READ.
    """

    def __init__(self, model: torch.nn.Module, pos_weight: torch.Tensor, list_weight: float) -> None:
        super().__init__()
        self.model = model
        self.list_weight = list_weight
        self.bce = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    def forward(self, inputs: list[list], labels: list[torch.Tensor]) -> torch.Tensor:
        """`inputs`: the batch's questions and, per question, its sentences; `labels`: one tensor per list."""
        questions, lists = inputs
        pairs = [(question, sentence) for question, sentences in zip(questions, lists, strict=True)
                 for sentence in sentences]  # fmt: skip
        tokens = batch_to_device(self.model.preprocess(pairs), self.model.device)
        logits = self.model(tokens)["scores"].view(-1).float()
        loss = self.bce(logits, torch.cat(labels).float().to(logits.device))
        listwise, answered, at = logits.new_zeros(()), 0, 0
        for label in labels:
            if label.sum() > 0:
                target = (label.float() / label.sum()).to(logits.device)
                listwise = listwise - (target * torch.log_softmax(logits[at : at + len(label)], dim=0)).sum()
                answered += 1
            at += len(label)
        return loss + self.list_weight * listwise / max(answered, 1)
