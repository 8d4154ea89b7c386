"""Validate the Newsdesk Q&A benchmark data.

Checks benchmarks/data/articles.jsonl and benchmarks/data/questions.jsonl
(plus the seed article, whose first line is its title and the rest its body):

* every line is valid JSON with the expected fields and types;
* article titles and question ids are unique (seed title included);
* article bodies are 250-600 words, dates are YYYY-MM-DD;
* every gold title names a known article;
* every answer phrase occurs verbatim (case-sensitive) in the body of at
  least one of its gold articles;
* answerable / unanswerable questions are consistent and numerous enough,
  and every benchmark article is the gold of at least one question.

Run from the repository root:  python3 benchmarks/data/validate.py
Exits with status 1 if any problem is found.
"""

import json
import re
import sys
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parent
ROOT = DATA.parent.parent
SEED_NAME = "sheinbaum-rejects-us-troops.txt"
SEED_CANDIDATES = [Path("/work/shared/corpus") / SEED_NAME, ROOT / "corpus" / SEED_NAME]

ARTICLE_FIELDS = {"title": str, "body": str, "published_at": str, "source": str, "author": str, "category": str}
QUESTION_FIELDS = {"id", "question", "gold_titles", "answer", "answerable"}
N_ARTICLES = 30
MIN_WORDS, MAX_WORDS = 250, 600
MIN_SEED_Q, MIN_ARTICLE_Q, MIN_UNANSWERABLE = 8, 55, 18

problems = []


def problem(msg):
    problems.append(msg)


def load_jsonl(path):
    rows = []
    if not path.exists():
        problem(f"{path}: missing")
        return rows
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            problem(f"{path.name}:{n}: invalid JSON ({e})")
    return rows


def load_seed():
    for path in SEED_CANDIDATES:
        if path.exists():
            title, _, body = path.read_text(encoding="utf-8").partition("\n")
            return title.strip(), body.strip()
    problem(f"seed article not found in {[str(p) for p in SEED_CANDIDATES]}")
    return None, ""


def check_articles(articles):
    if len(articles) != N_ARTICLES:
        problem(f"expected {N_ARTICLES} articles, found {len(articles)}")
    for i, a in enumerate(articles, 1):
        for field, typ in ARTICLE_FIELDS.items():
            if not isinstance(a.get(field), typ) or not a.get(field):
                problem(f"article {i}: missing or bad field {field!r}")
        if set(a) - set(ARTICLE_FIELDS):
            problem(f"article {i}: unexpected fields {sorted(set(a) - set(ARTICLE_FIELDS))}")
        words = len(str(a.get("body", "")).split())
        if not MIN_WORDS <= words <= MAX_WORDS:
            problem(f"article {i} ({a.get('title')!r}): {words} words")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(a.get("published_at", ""))):
            problem(f"article {i}: bad published_at {a.get('published_at')!r}")
    for title, n in Counter(a.get("title") for a in articles).items():
        if n > 1:
            problem(f"duplicate article title {title!r}")


def check_questions(questions, bodies, article_titles, seed_title):
    for qid, n in Counter(q.get("id") for q in questions).items():
        if n > 1:
            problem(f"duplicate question id {qid!r}")
    covered = set()
    for q in questions:
        qid = q.get("id")
        if set(q) != QUESTION_FIELDS:
            problem(f"{qid}: fields {sorted(q)} != {sorted(QUESTION_FIELDS)}")
            continue
        if not isinstance(q["question"], str) or not q["question"].strip():
            problem(f"{qid}: empty question")
        gold, answer = q["gold_titles"], q["answer"]
        if q["answerable"] is False:
            if gold != [] or answer is not None:
                problem(f"{qid}: unanswerable but has gold titles or an answer")
            continue
        if q["answerable"] is not True or not gold or not isinstance(answer, str) or not answer:
            problem(f"{qid}: answerable question needs gold titles and an answer")
            continue
        unknown = [t for t in gold if t not in bodies]
        if unknown:
            problem(f"{qid}: unknown gold titles {unknown}")
        covered.update(gold)
        if not any(answer in bodies.get(t, "") for t in gold):
            problem(f"{qid}: answer {answer!r} not found verbatim in any gold body")
    missing = [t for t in article_titles if t not in covered]
    if missing:
        problem(f"articles with no question: {missing}")

    answerable = [q for q in questions if q.get("answerable") is True]
    seed_q = [q for q in answerable if seed_title in q.get("gold_titles", [])]
    unanswerable = [q for q in questions if q.get("answerable") is False]
    counts = {
        "questions": len(questions),
        "answerable": len(answerable),
        "seed": len(seed_q),
        "article": len(answerable) - len(seed_q),
        "unanswerable": len(unanswerable),
    }
    if counts["seed"] < MIN_SEED_Q:
        problem(f"only {counts['seed']} seed questions (< {MIN_SEED_Q})")
    if counts["article"] < MIN_ARTICLE_Q:
        problem(f"only {counts['article']} article questions (< {MIN_ARTICLE_Q})")
    if counts["unanswerable"] < MIN_UNANSWERABLE:
        problem(f"only {counts['unanswerable']} unanswerable questions (< {MIN_UNANSWERABLE})")
    return counts


def main():
    articles = load_jsonl(DATA / "articles.jsonl")
    questions = load_jsonl(DATA / "questions.jsonl")
    seed_title, seed_body = load_seed()
    check_articles(articles)
    bodies = {a.get("title"): a.get("body", "") for a in articles}
    if seed_title in bodies:
        problem("seed title collides with a benchmark article title")
    if seed_title:
        bodies[seed_title] = seed_body
    counts = check_questions(questions, bodies, [a.get("title") for a in articles], seed_title)

    print(f"articles: {len(articles)} (+ seed), " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print("  -", p)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
