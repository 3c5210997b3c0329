"""Translation: the text-to-text core (`tasks.text_to_text`) on text pairs, judged by sacreBLEU.

Pairs come from `tasks.data.load_pairs` (`spa_eng`, or any TSV/CSV/JSONL of pairs): the
dataset's own split, or a seeded split by hashing the source sentence (70/15/15), so that the
several translations Tatoeba has of one sentence never straddle train and test. A source and
its target share one length budget (Tatoeba's sentences are short on both sides), and a source
longer than the model reads is refused at serving time rather than cut.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from tasks.catalog import BUILT_IN_TASKS
from tasks.data import DataError, Examples, load_pairs
from tasks.data.examples import PAIR_LANGUAGES
from tasks.text_to_text import TextToTextOptions, TextToTextTask


@dataclasses.dataclass(frozen=True)
class TranslationOptions(TextToTextOptions):
    """The translation task's settings (`--set key=value`), the text-to-text ones and:

    Attributes:
        source_lang, target_lang: the direction, for datasets whose languages are known
            (`spa_eng`: "en" and "es"; English to Spanish by default, as keras.io).
        bleu_examples: translate at most this many sentences for BLEU (None: the whole split).
    """

    source_lang: str | None = None
    target_lang: str | None = None
    bleu_examples: int | None = None


class TranslationTask(TextToTextTask):
    """Translation of text pairs with an encoder-decoder backbone (or a GPT)."""

    name = "translation"
    description = BUILT_IN_TASKS["translation"].description
    Options = TranslationOptions
    output_name = "translations"
    verb = "translate"
    warmup_text = "Where is the station?"
    examples_option = "bleu_examples"
    greedy_keys = ("bleu",)

    def __init__(self, pairs, tokenizer, sequence_length: int, **options: Any):
        super().__init__(pairs, tokenizer, sequence_length, **options)
        self._direction = _direction(self._pairs.name, self.options)

    @classmethod
    def load_examples(cls, dataset: str, options: TranslationOptions) -> Examples:
        return load_pairs(dataset, source_column=options.source_column,
                          target_column=options.target_column)

    def split(self, split: str) -> tuple[list[str], list[str]]:
        """(sources, targets) of a split, in the task's direction."""
        first, second = self.pairs.split(split)
        return (second, first) if self._direction == "reversed" else (first, second)

    def describe_data(self) -> str:
        languages = PAIR_LANGUAGES.get(self.pairs.name)
        direction = ""
        if languages:
            source, target = languages[::-1] if self._direction == "reversed" else languages
            direction = f"{source} to {target}; "
        counts = ", ".join(f"{s} {len(v[0]):,}" for s, v in self.pairs.splits.items())
        return f"{self.pairs.name} ({direction}{counts}; {self.pairs.split_note})"

    def translate(self, model, texts: Sequence[str], *, num_beams: int = 1,
                  batch_size: int = 64) -> list[str]:
        """`texts` translated, in batches."""
        return self.decode(model, texts, num_beams=num_beams, batch_size=batch_size)

    def score(self, outputs: Sequence[str], split: str, count: int, *,
              write: bool = True) -> dict[str, float]:
        return translation_scores(outputs, self.split(split)[1][:count])


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """sacreBLEU (13a tokenization, as sacrebleu reports by default) and chrF, in percent."""
    import sacrebleu

    return {"bleu": sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score,
            "chrf": sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score}


def _direction(dataset: str, options: TranslationOptions) -> str:
    """"forward" (the dataset's column order) or "reversed"; unknown codes are a DataError."""
    wanted = (options.source_lang, options.target_lang)
    if wanted == (None, None):
        return "forward"
    languages = PAIR_LANGUAGES.get(dataset)
    if languages is None:
        raise DataError(f"{dataset}: its languages are not known; choose the direction with "
                        "--set source_column=... --set target_column=... instead")
    for code in wanted:
        if code is not None and code not in languages:
            raise DataError(f"unknown language code {code!r} for {dataset}; it has "
                            f"{', '.join(languages)}")
    if wanted in (languages, (languages[0], None), (None, languages[1])):
        return "forward"
    if wanted in (languages[::-1], (languages[1], None), (None, languages[0])):
        return "reversed"
    raise DataError(f"source_lang and target_lang must differ, got {wanted}")
