"""SQuAD v1.1's exact match and token F1, computed as the official `evaluate-v1.1.py` does.

Both compare normalized text: lower-cased, punctuation removed, the articles a/an/the removed,
whitespace collapsed. A question's score is the best over its reference answers; the reported
figure is the mean over questions, in percent, a question without a prediction counting 0.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence

_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the official normalization)."""
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """The harmonic mean of token precision and recall (tokens counted with multiplicity)."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = collections.Counter(predicted) & collections.Counter(expected)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Mapping[str, str],
                 references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent over every question in `references` (id -> answers)."""
    if not references:
        return {"exact_match": 0.0, "f1": 0.0}
    em = f1 = 0.0
    for question_id, answers in references.items():
        if question_id not in predictions:
            continue
        predicted = predictions[question_id]
        em += max(exact_match(predicted, a) for a in answers)
        f1 += max(token_f1(predicted, a) for a in answers)
    return {"exact_match": 100.0 * em / len(references), "f1": 100.0 * f1 / len(references)}
