"""Summarization: the text-to-text core (`tasks.text_to_text`) on (text, summary) pairs, judged
by ROUGE against every reference (AESLC: three annotated subject lines an email).

Sources are long and summaries short: a summary is cut to `max_target_tokens` and batches pad
the target side to that cap, bucketing by the source alone; a source longer than the model reads
is cut, also at serving time (an email's first tokens carry its subject). `describe_data` says
how many training sources are cut at this `--sequence_length`. Decoding takes a length range
(`min_new_tokens`, `max_new_tokens`) and `no_repeat_ngram_size`; each evaluation writes its
summaries, with their references, to `predictions.jsonl` (`predictions_test.jsonl`...) in the
run directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tasks import run_files
from tasks.catalog import BUILT_IN_TASKS
from tasks.data import Examples
from tasks.summarization.rouge import STEMMER_NOTE, rouge_scores
from tasks.summarization.summaries import References, load_references, load_summaries
from tasks.text_to_text import TextToTextOptions, TextToTextTask
from tasks.text_to_text.layouts import DecoderOnly

PREDICTIONS = "predictions.jsonl"


@dataclasses.dataclass(frozen=True)
class SummarizationOptions(TextToTextOptions):
    """The summarization task's settings (`--set key=value`): the text-to-text ones, with
    summaries capped at 32 tokens (AESLC's subject lines: 99% under 13 words), and:

    Attributes:
        rouge_examples: summarize at most this many texts for ROUGE (None: the whole split).
    """

    max_target_tokens: int | None = 32
    rouge_examples: int | None = None


class SummarizationTask(TextToTextTask):
    """Summaries of texts with an encoder-decoder backbone or a GPT."""

    name = "summarization"
    description = BUILT_IN_TASKS["summarization"].description
    Options = SummarizationOptions
    output_name = "summaries"
    verb = "summarize"
    warmup_text = "Please send me the signed contract by Friday. Thanks, John"
    max_beams = 4
    ngram_sizes = (0, 1, 2, 3)
    refuse_long_sources = False
    examples_option = "rouge_examples"
    recipe = BUILT_IN_TASKS["summarization"].recipe  # RunConfig defaults (tasks.catalog)
    greedy_keys = ("rougeL",)

    def __init__(self, pairs, tokenizer, sequence_length: int, **options: Any):
        super().__init__(pairs, tokenizer, sequence_length, **options)
        self._references: dict[str, References] = {}

    @classmethod
    def load_examples(cls, dataset: str, options: SummarizationOptions) -> Examples:
        return load_summaries(dataset, options.source_column, options.target_column)

    def references(self, split: str) -> References:
        if split not in self._references:
            self._references[split] = load_references(self._pairs.name, self.pairs, split)
        return self._references[split]

    def describe_data(self) -> str:
        counts = ", ".join(f"{s} {len(v[0]):,}" for s, v in self.pairs.splits.items())
        return f"{self.pairs.name} ({counts}; {self.pairs.split_note}); {self.cut_sources()}"

    def cut_sources(self) -> str:
        """How long the training sources are in tokens, and what share this model cuts."""
        budget = self._layout().lengths.source
        lengths = np.array([len(s) for s in self.train_ids()[0]])
        p50, p90, p99 = np.percentile(lengths, [50, 90, 99]).round().astype(int)
        share = float(np.mean(lengths > budget))
        return (f"source tokens p50 {p50}, p90 {p90}, p99 {p99}: {share:.1%} are cut to "
                f"{budget}")

    def score(self, outputs: Sequence[str], split: str, count: int, *,
              write: bool = True) -> dict[str, Any]:
        """ROUGE against the references (the mean over them, and the best as `_max`), and,
        where a dataset has both, against the original summary as `_original`."""
        refs = self.references(split)
        scores: dict[str, Any] = rouge_scores(outputs, refs.references[:count])
        if refs.originals is not None:
            originals = [(o,) for o in refs.originals[:count]]
            scores.update(rouge_scores(outputs, originals, prefix="original_"))
        scores["rouge"] = STEMMER_NOTE
        if write and self.run_dir:
            name = PREDICTIONS if split == "validation" else f"predictions_{split}.jsonl"
            self._write_predictions(os.path.join(self.run_dir, name), outputs, refs)
        return scores

    @staticmethod
    def _write_predictions(path: str, outputs: Sequence[str], refs: References) -> None:
        lines = [{"id": i, "prediction": p, "references": list(r)}
                 for i, p, r in zip(refs.ids, outputs, refs.references)]
        run_files.write_atomically(path, "".join(json.dumps(line, ensure_ascii=False) + "\n"
                                                 for line in lines))

    def summarize(self, model, texts: Sequence[str], *, num_beams: int | None = None,
                  batch_size: int = 32) -> list[str]:
        """`texts` summarized, in batches."""
        beams = self.options.num_beams if num_beams is None else num_beams
        return self.decode(model, texts, num_beams=beams, batch_size=batch_size)

    @property
    def decoder_only(self) -> bool:
        return isinstance(self._layout(), DecoderOnly)

