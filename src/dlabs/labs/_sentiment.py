"""The imdb lab's predict: every review scored in bulk, the first few explained word by word.

Scoring is one pass: the reviews tokenised, turned into one document-term matrix a chunk at a
time (so a file of 100,000 reviews never holds all its n-grams at once) and scored in batches.
The explanation of a review (occlusion: how far its logit falls when one of its terms is taken
out, exact for the linear head) scores one extra row per term, so it is made for the first
`explain` reviews only (the ``--explain`` option; all of them when asked).
"""

from __future__ import annotations

import numpy as np

from dlabs.data import text
from dlabs.errors import InputError

EXPLAIN = 10  # reviews explained by default; explaining costs a model call per term of the review
CHUNK = 5000  # reviews turned into n-grams at a time


def score_reviews(model, reviews: list[tuple[str, list[str]]], labels, form: str, explain="") -> list[dict]:
    """One prediction per ``(review, warnings)``: its probability and label, and for the first
    `explain` reviews the terms that pushed it most either way."""
    from dlabs.labs._export import bag_logits

    try:
        explain = EXPLAIN if str(explain).strip() == "" else int(explain)
    except ValueError:
        raise InputError(f"--explain {explain!r}: expected a whole number of reviews") from None
    if explain < 0:
        raise InputError(f"--explain {explain}: expected 0 or more reviews")
    vocab = text.NgramVocabulary.from_state(model.state)
    logits, known, evidence = [], [], {}
    for start in range(0, len(reviews), CHUNK):  # a chunk's matrix at a time, never the whole file's
        x = vocab.transform([text.tokenize(r) for r, _ in reviews[start:start + CHUNK]])
        logits.append(bag_logits(model, x, form))
        known.append(np.diff(x.indptr))
        evidence |= {i: _evidence(model, vocab, x[i - start], form) for i in range(start, min(explain, start + x.shape[0]))}
    prob, known = 1 / (1 + np.exp(-np.concatenate(logits))), np.concatenate(known)
    out = []
    for i, (review, warnings) in enumerate(reviews):
        if known[i] == 0:
            warnings.append("no word of this text is in the training vocabulary: the probability is the model's prior")
        p = round(float(prob[i]), 4)
        row = {"text": review[:80], "probability_positive": p, "label": labels[int(prob[i] >= 0.5)],
               "top": [{"label": "positive", "probability": p}, {"label": "negative", "probability": round(1 - p, 4)}]}
        if i in evidence:
            row["evidence"] = evidence[i]
        out.append(row | {"known_terms": int(known[i]), **({"warnings": warnings} if warnings else {})})
    return out


def _evidence(model, vocab, x, form: str) -> dict:
    """The (up to 8) terms of a one-row matrix whose removal lowers, and raises, its logit most."""
    from dlabs.labs._export import bag_logits

    terms, rows = text.occlusions(x, 2000)
    logits = bag_logits(model, rows, form)
    push = logits[0] - logits[1:]
    order = np.argsort(push)
    return {"positive": [[vocab.term(terms[i]), round(float(push[i]), 4)] for i in order[::-1][:8] if push[i] > 0],
            "negative": [[vocab.term(terms[i]), round(float(push[i]), 4)] for i in order[:8] if push[i] < 0]}
