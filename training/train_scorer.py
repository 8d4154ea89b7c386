"""Train the answer scorer on the rows of training/build_dataset.py, compare designs on dev, report val.

Designs compared (all on the same features the product computes at question time):
- `hand-weighted`: the composer before the scorer (cosine + 0.2 coverage + 0.1 answer type − 0.3 title
  similarity for ranking, the evidence without the title term for abstention); nothing learned.
- `logistic`: logistic regression on the scalar features.
- `mlp`: a small network (one hidden layer of 32 ReLU units) on the scalar features.
- `logistic+vectors`: logistic regression on the scalar features plus the question·sentence vector product
  and absolute difference (768 more inputs).
The design with the best dev top-1 is written (weights float16) with a manifest; the abstention threshold is
the highest probability that still answers >= 95% of dev's answerable questions. Validation figures are only
reported. Seeds are fixed.

    python -m training.train_scorer            # ~3 min on 2 cores after build_dataset
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from qa_app.scorer import FEATURES, AnswerScorer, logit, platt
from training.build_dataset import CACHE, cached_judge_files, featurize
from training.squad import SEED

ANSWER_RATE = 0.95  # the threshold keeps this share of dev's answerable questions answered (README, "Abstention")
_F = {name: i for i, name in enumerate(FEATURES)}


def load(name: str) -> dict:
    """A split's cached groups (training/build_dataset.py), as feature rows."""
    with (CACHE / f"{name}.pkl").open("rb") as f:
        return featurize(pickle.load(f))


def vector_inputs(split: dict) -> np.ndarray:
    q = split["qvec"][split["group"]].astype(np.float32)
    s = split["svec"].astype(np.float32)
    return np.hstack([split["X"], q * s, np.abs(q - s)])


def hand_weighted(split: dict) -> tuple[np.ndarray, np.ndarray]:
    """(ranking score, evidence) of the composer before the scorer."""
    X = split["X"]
    evidence = X[:, _F["cosine"]] + 0.2 * X[:, _F["coverage"]] + 0.1 * X[:, _F["type_match"]]
    return evidence - 0.3 * X[:, _F["title_cosine"]], evidence


def per_group(split: dict, score: np.ndarray, confidence: np.ndarray) -> dict[str, np.ndarray]:
    """Per question group: its kind, whether its top sentence holds the answer, its best confidence."""
    group, y = split["group"], split["y"]
    order = np.lexsort((-score, group))
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    best = np.full(group.max() + 1, -np.inf)
    np.maximum.at(best, group, confidence)
    has_positive = np.zeros(group.max() + 1, dtype=bool)
    np.logical_or.at(has_positive, group, y == 1)
    return {"kind": split["kind"], "top_hit": y[first] != 0, "best": best, "retrieved": has_positive}


def figures(groups: dict[str, np.ndarray], threshold: float | None) -> dict[str, float]:
    kind, best = groups["kind"], groups["best"]
    ans = kind == "answerable"
    out = {
        "top1_answer_in_first_quote": float(groups["top_hit"][ans].mean()),
        "top1_when_retrieved": float(groups["top_hit"][ans & groups["retrieved"]].mean()),
        "answer_retrieved": float(groups["retrieved"][ans].mean()),
    }
    for other in ("removed", "adversarial"):
        mask = ans | (kind == other)
        if (kind == other).any():
            out[f"auc_answerable_vs_{other}"] = float(roc_auc_score(ans[mask], best[mask]))
    if threshold is not None:
        out["answered_rate"] = float((best[ans] >= threshold).mean())
        for other in ("removed", "adversarial"):
            if (kind == other).any():
                out[f"abstains_{other}"] = float((best[kind == other] < threshold).mean())
    return out


def pick_threshold(groups: dict[str, np.ndarray]) -> float:
    """The highest confidence that keeps ANSWER_RATE of the answerable questions answered."""
    return float(np.quantile(groups["best"][groups["kind"] == "answerable"], 1 - ANSWER_RATE))


def curve(groups: dict[str, np.ndarray]) -> list[dict[str, float]]:
    """Answered rate and abstention rates at a range of thresholds (the operating curve)."""
    kind, best = groups["kind"], groups["best"]
    rows = []
    for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
        row = {"threshold": float(t), "answered": float((best[kind == "answerable"] >= t).mean())}
        for other in ("removed", "adversarial"):
            if (kind == other).any():
                row[f"abstains_{other}"] = float((best[kind == other] < t).mean())
        rows.append(row)
    return rows


def calibrate(groups: dict[str, np.ndarray]) -> tuple[float, float]:
    """Platt scaling on dev: the best sentence's logit -> P(the first quote holds the answer)."""
    right = (groups["kind"] == "answerable") & groups["top_hit"]
    model = LogisticRegression(C=100.0).fit(logit(groups["best"])[:, None], right)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def fit(design: str, train: dict) -> tuple[StandardScaler, object, bool]:
    keep = train["y"] >= 0
    vectors = design == "logistic+vectors"
    X = (vector_inputs(train) if vectors else train["X"])[keep]
    scaler = StandardScaler().fit(X)
    if design == "mlp":
        model = MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-3, batch_size=512, learning_rate_init=1e-3,
                              max_iter=40, early_stopping=True, n_iter_no_change=5, random_state=SEED)  # fmt: skip
    else:
        model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(scaler.transform(X), train["y"][keep])
    return scaler, model, vectors


def to_scorer(scaler: StandardScaler, model: object, calibration: tuple[float, float]) -> AnswerScorer:
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    if isinstance(model, MLPClassifier):
        layers = list(zip(model.coefs_, model.intercepts_, strict=True))
    else:
        layers = [(model.coef_.T, model.intercept_)]
    return AnswerScorer(scaler.mean_, scale, layers, calibration=calibration)


def operating_point(splits: dict[str, dict], p: dict[str, np.ndarray]) -> dict:
    """From sentence probabilities `p` on dev and val: the calibration, threshold and operating curve chosen on
    dev, and both splits' figures at that threshold."""
    dev, val = (per_group(splits[name], p[name], p[name]) for name in ("dev", "val"))
    calibration = calibrate(dev)
    for groups in (dev, val):
        groups["best"] = platt(groups["best"], calibration)
    threshold = pick_threshold(dev)
    return {"calibration": list(calibration), "threshold": threshold, "dev_curve": curve(dev),
            "dev": figures(dev, threshold), "val": figures(val, threshold)}  # fmt: skip


def remeasure_shipped(path: Path) -> None:
    """The scorer in `path` as trained, its calibration and threshold chosen again on the cache's dev groups (the
    cache's retrieval settings may differ from those it was trained with); val is only reported."""
    scorer = AnswerScorer.load(path)
    splits = {name: load(name) for name in ("dev", "val")}
    manifest = scorer.manifest
    design = manifest["design"]
    chosen = operating_point(splits, {n: scorer.probabilities(splits[n]["X"]) for n in ("dev", "val")})
    manifest["figures"][design] |= chosen
    manifest["threshold"] = round(chosen["threshold"], 4)
    manifest["retrieval"] = json.loads((CACHE / "splits.json").read_text(encoding="utf-8")).get("retrieval", {})
    manifest["remeasured"] = (
        f"{design}'s calibration, threshold and figures chosen again with --shipped on groups "
        "made with the retrieval above; the other designs' figures are from their training"
    )
    scorer.calibration = tuple(chosen["calibration"])
    scorer.save(path, manifest)
    print(f"{design}: threshold {manifest['threshold']}", json.dumps({n: chosen[n] for n in ("dev", "val")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=cached_judge_files()[0],
                        help="where the weights go (.npz, manifest .json); by default the packaged scorer for the "
                             "cache's kind of sentence vectors")  # fmt: skip
    parser.add_argument("--shipped", action="store_true",
                        help="no training: choose the calibration and threshold of the scorer in --out again on "
                             "the cache's dev groups")  # fmt: skip
    args = parser.parse_args()
    out = args.out
    if args.shipped:
        remeasure_shipped(out)
        return
    started = time.perf_counter()
    splits = {name: load(name) for name in ("train", "dev", "val")}
    report: dict[str, dict] = {}
    score, evidence = hand_weighted(splits["dev"])
    dev_groups = per_group(splits["dev"], score, evidence)
    t_hand = 0.45  # its shipped threshold
    report["hand-weighted"] = {"dev": figures(dev_groups, t_hand)}
    score, evidence = hand_weighted(splits["val"])
    report["hand-weighted"]["val"] = figures(per_group(splits["val"], score, evidence), t_hand)
    fitted = {}
    for design in ("logistic", "mlp", "logistic+vectors"):
        t0 = time.perf_counter()
        scaler, model, vectors = fit(design, splits["train"])
        report[design] = {"train_seconds": round(time.perf_counter() - t0, 1)}
        p = {n: model.predict_proba(scaler.transform(vector_inputs(splits[n]) if vectors else splits[n]["X"]))[:, 1]
             for n in ("dev", "val")}  # fmt: skip
        report[design] |= operating_point(splits, p)
        fitted[design] = (scaler, model, tuple(report[design]["calibration"]))
        print(design, json.dumps(report[design]["dev"]), flush=True)
    chosen = max(("logistic", "mlp"), key=lambda d: report[d]["dev"]["top1_answer_in_first_quote"])
    scorer = to_scorer(*fitted[chosen])
    reloaded_check = scorer.probabilities(splits["val"]["X"][:1000])
    scaler, model, _ = fitted[chosen]
    sk = model.predict_proba(scaler.transform(splits["val"]["X"][:1000]))[:, 1]
    assert np.allclose(reloaded_check, sk, atol=1e-4), "numpy scorer disagrees with sklearn"
    splits_info = json.loads((CACHE / "splits.json").read_text(encoding="utf-8"))
    manifest = {
        "design": chosen,
        "features": list(FEATURES),
        "threshold": round(report[chosen]["threshold"], 4),
        "threshold_rule": f"highest answer probability keeping {ANSWER_RATE:.0%} of dev answerable questions answered",
        "answer_probability": "P(the first quote holds the answer): the best sentence's logit, Platt-scaled on dev",
        "training_data": splits_info["data"],
        "vectors": splits_info.get("vectors", {}),
        "retrieval": splits_info.get("retrieval", {}),
        "seed": SEED,
        "splits": splits_info["splits"],
        "rows": {name: int((s["y"] >= 0).sum()) for name, s in splits.items()},
        "figures": report,
        "training_seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "packages": {p: version(p) for p in ("numpy", "scikit-learn", "sentence-transformers", "torch", "bm25s")},
        "licence": "trained on SQuAD (CC BY-SA 4.0), Rajpurkar et al. 2016 and 2018",
    }
    scorer.save(out, manifest)
    again = AnswerScorer.load(out).probabilities(splits["val"]["X"][:1000])
    print(f"chosen: {chosen}, threshold {manifest['threshold']}, fp16 max diff {np.abs(again - sk).max():.5f}")
    print(json.dumps({d: {k: v for k, v in r.items() if k != "dev_curve"} for d, r in report.items()}, indent=1))


if __name__ == "__main__":
    main()
