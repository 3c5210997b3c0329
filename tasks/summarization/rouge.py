"""ROUGE-1, ROUGE-2 and ROUGE-L F-measure, as Google's `rouge-score` package computes them (the
implementation PEGASUS and most summarization papers since report), with its Porter stemmer on.

Each summary is scored against each of its references; a corpus figure is the mean over
summaries of the per-summary mean over references (and, labelled `_max`, of the best
reference), in percent. A summary with one reference has mean = max, so only the mean is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
STEMMER_NOTE = "ROUGE F-measure by rouge-score, Porter stemmer on"


def rouge_scores(summaries: Sequence[str], references: Sequence[Sequence[str]], *,
                 prefix: str = "") -> dict[str, float]:
    """{`prefix`rouge1, ..., and `prefix`rouge1_max... when any summary has several references}."""
    from rouge_score import rouge_scorer

    if len(summaries) != len(references):
        raise ValueError(f"{len(summaries)} summaries for {len(references)} reference sets")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = {f"{kind}{suffix}": 0.0 for kind in ROUGE_TYPES for suffix in ("", "_max")}
    for summary, refs in zip(summaries, references):
        each = [scorer.score(reference, summary) for reference in refs]
        for kind in ROUGE_TYPES:
            values = [score[kind].fmeasure for score in each]
            totals[kind] += sum(values) / len(values)
            totals[f"{kind}_max"] += max(values)
    count = max(len(summaries), 1)
    several = any(len(refs) > 1 for refs in references)
    return {f"{prefix}{name}": 100 * total / count for name, total in totals.items()
            if several or not name.endswith("_max")}


def lead_summaries(texts: Sequence[str], words: int) -> list[str]:
    """Each text's first `words` words: the lead baseline (its N is tuned on dev)."""
    return [" ".join(text.split()[:words]) for text in texts]
