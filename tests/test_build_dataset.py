"""Which SQuAD questions each training split asks (training/build_dataset.py): the reader's extra questions
never repeat the scorer's."""

import random

from training.build_dataset import QUESTIONS_PER_ARTICLE, chosen_questions
from training.squad import SEED, Question


def article(answerable: int, adversarial: int) -> list[Question]:
    def question(i: int, kind: str) -> Question:
        return Question(f"{kind}-{i}", f"question {i}?", "Title", (0, 10), ("a",) if kind == "answerable" else (), kind)

    return [question(i, "answerable") for i in range(answerable)] + [
        question(i, "adversarial") for i in range(adversarial)
    ]


def asked(name: str, articles: list[list[Question]]) -> list[list[str]]:
    rng = random.Random(SEED)  # one generator per split, as build() makes it
    return [[q.qid for q in chosen_questions(questions, name, rng)] for questions in articles]


def test_train_more_asks_each_articles_next_questions_never_the_scorers() -> None:
    articles = [article(150, 0), article(90, 0), article(40, 0)]
    train, more = asked("train", articles), asked("train-more", articles)
    first, last = QUESTIONS_PER_ARTICLE["train"]
    assert [len(t) for t in train] == [last - first, last - first, 40]
    assert [len(m) for m in more] == [60, 30, 0]  # what is left after train's 60, up to 60 more
    for t, m in zip(train, more, strict=True):
        assert not set(t) & set(m)


def test_adversarial_questions_are_asked_once_by_the_split_that_starts_the_shuffle() -> None:
    articles = [article(100, 5)]
    dev = asked("dev", articles)[0]
    assert sum(q.startswith("adversarial") for q in dev) == 5 and len(dev) == 85
    assert not any(q.startswith("adversarial") for q in asked("train-more", articles)[0])
