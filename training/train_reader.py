"""Train the answer reader: a cross-encoder that reads the question and one candidate sentence together.

The answer scorer (training/train_scorer.py) sees each sentence only through its vector and a few counts; it
cannot tell "the sentence that answers" from "a sentence about the same thing" (adversarial questions). The
reader is the packaged MiniLM (qa_app/embedder.py) fine-tuned as a cross-encoder with sentence-transformers'
CrossEncoderTrainer; at question time it reads only the scorer's top READ sentences.

Pairs come from the cached groups of training/build_dataset.py (the product's own retrieval over SQuAD
libraries, split by article): for an answerable question its scorer top READ sentences (the answering one
added when the scorer missed it) labelled 1 when they hold the answer; for the same question asked against the
library without its paragraph ("answer removed") the scorer's top REMOVED_READ, all labelled 0, trained with
binary cross-entropy (`--list-weight` adds a softmax over each group's sentences, training/reader_loss.py: tried,
not shipped, README "Answer reader"). Dev picks the blend of scorer and reader and the abstention threshold; val
is only reported. Seeds are fixed.

    python -m training.train_reader        # after build_dataset; ~40 min on 2 quiet cores (see the manifest)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import random
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from qa_app.config import DEFAULT_MODEL as EMBEDDING_MODEL
from qa_app.embedder import resolve_model_path
from qa_app.reader import DEFAULT_READER, READ, AnswerReader, reader_text
from qa_app.scorer import AnswerScorer, features, logit
from training.build_dataset import CACHE, cached_judge_files
from training.perturb import perturbed_negatives
from training.reader_loss import AnswerListLoss
from training.squad import SEED

REMOVED_READ = 2  # answer-removed negatives per question: the scorer's best wrong guesses
TRAIN_QUESTIONS = 7000  # answerable train questions used (each also gives its answer-removed negatives)
# what the manifest records of a training run
TRAINING_FACTS = ("pairs", "questions", "more", "perturbed_negatives", "init", "epochs", "list_weight", "train_seconds")
BATCH_PAIRS = 32  # pairs per training step
ANSWER_RATE = 0.95  # the threshold keeps this share of dev's answerable questions answered (README, "Abstention")


def load_groups(name: str) -> list[dict]:
    with (CACHE / f"{name}.pkl").open("rb") as f:
        return pickle.load(f)


def read_order(group: dict, scorer: AnswerScorer) -> tuple[np.ndarray, np.ndarray]:
    """The group's sentence indexes by scorer probability (labels -1 left out), and those probabilities."""
    p = scorer.probabilities(features(group["question"], group["vector"], group["views"]))
    keep = np.array([label >= 0 for label in group["labels"]])
    order = [i for i in np.argsort(-p, kind="stable") if keep[i]]
    return np.array(order, dtype=int), p


def train_lists(
    groups: list[dict], scorer: AnswerScorer, questions: int = TRAIN_QUESTIONS
) -> list[tuple[str, list[str], list[float]]]:
    """(question, sentence texts, labels) per group read for training, from a seeded sample of `questions`
    questions: an answerable group's READ sentences, its answer-removed group's REMOVED_READ."""
    by_qid: dict[str, list[dict]] = {}
    for g in groups:
        by_qid.setdefault(g["qid"], []).append(g)
    qids = sorted(q for q, gs in by_qid.items() if any(g["kind"] == "answerable" for g in gs))
    random.Random(SEED).shuffle(qids)
    lists = []
    for qid in qids[:questions]:
        for g in by_qid[qid]:
            order, _ = read_order(g, scorer)
            if g["kind"] == "answerable":
                chosen = list(order[:READ])
                positives = [i for i in order if g["labels"][i] == 1]
                if positives and not any(g["labels"][i] == 1 for i in chosen):
                    chosen[-1] = positives[0]
            else:
                chosen = list(order[:REMOVED_READ])
            if chosen:
                lists.append((g["question"], [reader_text(g["views"][i]) for i in chosen],
                              [float(g["labels"][i]) for i in chosen]))  # fmt: skip
    return lists


def train_pairs(lists: list[tuple[str, list[str], list[float]]]) -> list[tuple[str, str, float]]:
    """The (question, sentence text, label) pairs of `lists`, in a seeded order."""
    pairs = [(question, text, label) for question, texts, labels in lists
             for text, label in zip(texts, labels, strict=True)]  # fmt: skip
    random.Random(SEED).shuffle(pairs)
    return pairs


def evaluate(groups: list[dict], scorer: AnswerScorer, reader: AnswerReader) -> dict[str, np.ndarray]:
    """Per group: kind, scorer and reader probabilities of its READ candidates, and which hold the answer."""
    out: dict[str, list] = {"kind": [], "scorer": [], "reader": [], "hit": [], "retrieved": []}
    for g in groups:
        order, p = read_order(g, scorer)
        top = order[:READ]
        out["kind"].append(g["kind"])
        out["scorer"].append(np.pad(p[top], (0, READ - len(top)), constant_values=1e-6))
        r = reader.probabilities(g["question"], [g["views"][i] for i in top]) if len(top) else np.zeros(0)
        out["reader"].append(np.pad(r, (0, READ - len(top)), constant_values=1e-6))
        out["hit"].append(np.pad([g["labels"][i] == 1 for i in top], (0, READ - len(top))))
        out["retrieved"].append(any(label == 1 for label in g["labels"]))
    return {k: np.array(v) for k, v in out.items()}


def blended(ev: dict[str, np.ndarray], weight: float) -> np.ndarray:
    """Per candidate: the blend's logit (weight on the reader, 1 - weight on the scorer)."""
    return weight * logit(ev["reader"]) + (1 - weight) * logit(ev["scorer"])


def figures(ev: dict[str, np.ndarray], weight: float, threshold: float | None) -> dict[str, float]:
    score = blended(ev, weight)
    first = score.argmax(axis=1)
    top_hit = ev["hit"][np.arange(len(first)), first]
    best = score.max(axis=1)
    kind, ans = ev["kind"], ev["kind"] == "answerable"
    out = {"top1_answer_in_first_quote": float(top_hit[ans].mean()),
           "top1_when_retrieved": float(top_hit[ans & ev["retrieved"]].mean())}  # fmt: skip
    for other in ("removed", "adversarial"):
        if (kind == other).any():
            mask = ans | (kind == other)
            out[f"auc_answerable_vs_{other}"] = float(roc_auc_score(ans[mask], best[mask]))
            if threshold is not None:
                out[f"abstains_{other}"] = float((best[kind == other] < threshold).mean())
    if threshold is not None:
        out["answered_rate"] = float((best[ans] >= threshold).mean())
    return out


def choose(dev: dict[str, np.ndarray]) -> tuple[float, float, tuple[float, float], list[dict]]:
    """On dev only: the blend weight (best top-1 plus mean abstention AUC), the threshold, the calibration."""

    def merit(w: float) -> float:
        f = figures(dev, w, None)
        aucs = [v for k, v in f.items() if k.startswith("auc_")]
        return f["top1_answer_in_first_quote"] + float(np.mean(aucs))

    weight = max(np.round(np.arange(0.0, 1.01, 0.1), 1), key=merit)
    score = blended(dev, weight)
    best = score.max(axis=1)
    ans = dev["kind"] == "answerable"
    top_hit = dev["hit"][np.arange(len(best)), score.argmax(axis=1)]
    fit = LogisticRegression(C=100.0).fit(best[:, None], ans & top_hit)
    calibration = (float(fit.coef_[0, 0]), float(fit.intercept_[0]))
    probability = 1 / (1 + np.exp(-(calibration[0] * best + calibration[1])))
    threshold = float(np.quantile(probability[ans], 1 - ANSWER_RATE))
    curve = []
    for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
        row = {"threshold": float(t), "answered": float((probability[ans] >= t).mean())}
        for other in ("removed", "adversarial"):
            if (dev["kind"] == other).any():
                row[f"abstains_{other}"] = float((probability[dev["kind"] == other] < t).mean())
        curve.append(row)
    return float(weight), threshold, calibration, curve


def train(
    pairs: list[tuple[str, str, float]], lists: list[tuple[str, list[str], list[float]]], out_dir: Path,
    epochs: float, init: Path | None = None, list_weight: float = 0.0,
) -> None:  # fmt: skip
    """Fine-tune the cross-encoder from `init` (by default the packaged MiniLM) on `pairs` with binary
    cross-entropy, or with `list_weight` > 0 on `lists` with `AnswerListLoss`; float16 weights go to `out_dir`."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    start = str(init) if init is not None else resolve_model_path(EMBEDDING_MODEL)
    model = CrossEncoder(start, num_labels=1, max_length=AnswerReader.MAX_LENGTH)
    model.model.float()  # weights saved as float16 train in float32
    positives = sum(p[2] for p in pairs)
    pos_weight = torch.tensor((len(pairs) - positives) / positives)
    if list_weight > 0:
        shuffled = list(lists)
        random.Random(SEED).shuffle(shuffled)
        data = Dataset.from_dict({"question": [q for q, _, _ in shuffled], "sentences": [t for _, t, _ in shuffled],
                                  "labels": [y for _, _, y in shuffled]})  # fmt: skip
        loss: torch.nn.Module = AnswerListLoss(model, pos_weight, list_weight)
        batch = round(BATCH_PAIRS * len(lists) / len(pairs))  # about as many pairs a step as the pairwise recipe
    else:
        data = Dataset.from_dict({"question": [p[0] for p in pairs], "sentence": [p[1] for p in pairs],
                                  "label": [p[2] for p in pairs]})  # fmt: skip
        loss, batch = BinaryCrossEntropyLoss(model, pos_weight=pos_weight), BATCH_PAIRS
    args = CrossEncoderTrainingArguments(
        output_dir=str(CACHE / "reader-run"), num_train_epochs=epochs, per_device_train_batch_size=batch,
        learning_rate=5e-5, warmup_steps=0.1, weight_decay=0.01, seed=SEED, data_seed=SEED, logging_steps=50,
        save_strategy="no", report_to="none", dataloader_num_workers=0, use_cpu=not torch.cuda.is_available(),
    )  # fmt: skip
    CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=loss).train()
    model.model.half()
    model.save_pretrained(str(out_dir))
    (out_dir / "README.md").unlink(missing_ok=True)  # the generated model card: the manifest says what matters


def export_int8(weights: Path, out_dir: Path) -> None:
    """The trained cross-encoder as ONNX with int8 weights (onnxruntime dynamic quantisation), its tokenizer
    beside it: what the app runs, and what dev and val are measured with."""
    import shutil
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(weights), dtype=torch.float32).eval()
    names = ("input_ids", "attention_mask", "token_type_ids")
    example = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
    axes = {name: {0: "batch", 1: "tokens"} for name in names} | {"logits": {0: "batch"}}
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(model, example, str(fp32), input_names=list(names), output_names=["logits"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)  # fmt: skip
        quantize_dynamic(str(fp32), str(out_dir / AnswerReader.ONNX_FILE), weight_type=QuantType.QInt8)
    shutil.copy(weights / "tokenizer.json", out_dir / "tokenizer.json")


def _trained(weights: Path) -> dict:
    """The manifest of the run that trained the weights in `weights` (kept beside them; empty if none)."""
    manifest = weights / "manifest.json"
    return json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}


def train_and_export(args: argparse.Namespace, scorer: AnswerScorer, started: float) -> dict:
    """Train on the cached lists or their pairs (unless --evaluate-only) and export the int8 ONNX reader to --out;
    what the manifest records of the run (`TRAINING_FACTS`)."""
    names = ("train", "train-more") if args.more else ("train",)
    cached = CACHE / f"reader-lists-{args.questions}{'-more' if args.more else ''}.json"
    if not cached.exists():  # a few minutes; the groups take 1.6 GB a file to load
        groups = [g for name in names for g in load_groups(name)]
        cached.write_text(json.dumps(train_lists(groups, scorer, args.questions)), encoding="utf-8")
        del groups
    lists = [tuple(x) for x in json.loads(cached.read_text(encoding="utf-8"))]
    pairs = train_pairs(lists)
    negatives = perturbed_negatives(pairs, args.perturbed, SEED) if args.perturbed else []
    if args.replay is not None:
        pairs = random.Random(SEED).sample(pairs, args.replay)
    pairs += negatives
    random.Random(SEED).shuffle(pairs)
    print(f"{len(pairs)} pairs, {sum(p[2] for p in pairs):.0f} positive, {time.perf_counter() - started:.0f} s",
          flush=True)  # fmt: skip
    if args.evaluate_only:  # the cached weights, as their own manifest says they were trained
        train_seconds = _trained(args.weights).get("train_seconds")
    else:  # the trained float16 weights stay in the cache; the int8 export is shipped
        t0 = time.perf_counter()
        train(pairs, lists, args.weights, args.epochs, args.init, args.list_weight)
        train_seconds = round(time.perf_counter() - t0)
    export_int8(args.weights, args.out)
    return {
        "pairs": len(pairs),
        "questions": args.questions,
        "more": args.more,
        "perturbed_negatives": len(negatives),
        "init": str(args.init) if args.init else "packaged MiniLM",
        "epochs": args.epochs,
        "list_weight": args.list_weight,
        "train_seconds": train_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_READER)
    scorer_file, blend_file = cached_judge_files()  # the packaged scorer for the cache's sentence vectors
    parser.add_argument("--scorer", type=Path, default=scorer_file, help="the answer scorer it is blended with")
    parser.add_argument(
        "--blend",
        default=blend_file.name,
        help="the manifest file (in --out) with the blend's weight, calibration and threshold",
    )
    parser.add_argument("--evaluate-only", action="store_true", help="export and measure the cached weights")
    parser.add_argument("--shipped", action="store_true",
                        help="no training, no export: measure the reader already in --out and choose its blend and "
                        "threshold again (for a new cache or scorer)")  # fmt: skip
    parser.add_argument("--questions", type=int, default=TRAIN_QUESTIONS, help="answerable train questions used")
    parser.add_argument("--more", action="store_true",
                        help="draw the questions from the train-more groups too (build_dataset --splits "
                        "train-more: each train article's next 60; tried, README 'Answer reader')")  # fmt: skip
    parser.add_argument("--init", type=Path, help="fine-tune these weights further (default: the packaged MiniLM)")
    parser.add_argument("--weights", type=Path, default=CACHE / "reader-fp16", help="where the float16 weights go")
    parser.add_argument("--replay", type=int, help="train on this many of the pairs (seeded sample; default all)")
    parser.add_argument("--perturbed", type=int, default=0,
                        help="add up to this many changed-question negatives (training/perturb.py)")  # fmt: skip
    parser.add_argument("--list-weight", type=float, default=0.0,
                        help="train on each question's read sentences together: binary cross-entropy plus this "
                             "weight times a softmax over the list (training/reader_loss.py; 0: pairs)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads (1 is faster when other processes keep the cores busy)")  # fmt: skip
    args = parser.parse_args()
    if args.list_weight and (args.perturbed or args.replay is not None):
        parser.error("--list-weight trains on whole lists: it takes neither --perturbed nor --replay")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged weights only; nothing is downloaded
    started = time.perf_counter()
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    scorer = AnswerScorer.load(args.scorer)
    if args.shipped:  # the ONNX reader in --out as it is: how it was trained, as its own manifest says
        trained = _trained(args.out)
        run = {key: trained.get(key) for key in TRAINING_FACTS}
    else:
        run = train_and_export(args, scorer, started)
    reader = AnswerReader.load(args.out)
    dev = evaluate(load_groups("dev"), scorer, reader)
    weight, threshold, calibration, curve = choose(dev)
    val = evaluate(load_groups("val"), scorer, reader)
    report = {}
    for name, ev in (("dev", dev), ("val", val)):
        best = blended(ev, weight).max(axis=1)
        t_logit = (np.log(threshold / (1 - threshold)) - calibration[1]) / calibration[0]
        report[name] = {"scorer_only": figures(ev, 0.0, None), "blend": figures(ev, weight, t_logit),
                        "mean_best_logit": float(best.mean())}  # fmt: skip
    splits_info = json.loads((CACHE / "splits.json").read_text(encoding="utf-8"))
    manifest = {
        "design": "cross-encoder (packaged MiniLM-L6 fine-tuned; ONNX, int8 weights) over the scorer's top sentences",
        "read": READ,
        "weight": weight,
        "calibration": list(calibration),
        "threshold": round(threshold, 4),
        "threshold_rule": f"highest answer probability keeping {ANSWER_RATE:.0%} of dev answerable questions answered",
        "answer_probability": "P(the first quote holds the answer): the best blended logit, Platt-scaled on dev",
        **run,
        "total_seconds": round(time.perf_counter() - started),
        "training_data": splits_info["data"],
        "seed": SEED,
        "splits": splits_info["splits"],
        "retrieval": splits_info.get("retrieval", {}),
        "figures": report,
        "dev_curve": curve,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {torch.get_num_threads()} threads, "
        f"cuda {torch.cuda.is_available()}, python {platform.python_version()}",
        "packages": {p: version(p) for p in ("sentence-transformers", "transformers", "torch", "datasets")},
        "licence": "fine-tuned from all-MiniLM-L6-v2 (Apache 2.0) on SQuAD (CC BY-SA 4.0)",
    }
    (args.out / args.blend).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    if not (args.evaluate_only or args.shipped):
        (args.weights / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    print(json.dumps({k: manifest[k] for k in ("weight", "threshold", "figures", "train_seconds")}, indent=1))


if __name__ == "__main__":
    main()
