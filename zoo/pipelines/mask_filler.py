"""`MaskFiller`: a masked LM run or export that fills a text's [MASK]."""

from __future__ import annotations

from collections.abc import Sequence

from zoo.pipelines.pipeline import Pipeline, as_texts, in_batches


class MaskFiller(Pipeline):
    """The likeliest tokens for the first `[MASK]` of each text, with their probabilities.

        >>> filler = zoo.load("runs/bert_tiny-wikitext2-20261201-120000")
        >>> filler.fill_mask("The capital of France is [MASK].")[0]
        ('paris', 0.31...)
    """

    task_name = "masked_lm"
    signature = "fill_mask"

    def fill_mask(self, texts: str | Sequence[str]
                  ) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
        """Each text's candidates, likeliest first, as (token, probability); a string gives
        one list, a list of strings a list of them. Every text needs a `[MASK]`."""
        items, single = as_texts(texts)
        out = []
        for batch in in_batches(items, self.batch_size):
            filled = self.call_signature("fill_mask", texts=batch)
            out += [[(token.decode("utf-8", "replace"), float(score))
                     for token, score in zip(tokens, scores)]
                    for tokens, scores in zip(filled["tokens"], filled["scores"])]
        return out[0] if single else out
