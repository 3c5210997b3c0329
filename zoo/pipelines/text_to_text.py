"""`Translator` and `Summarizer`: text-to-text runs or exports that decode texts.

A run decodes in this process with its task's decoder; an export is called through its
signatures, as a TF Serving client would: `serving_default` when no decoding setting is given,
else the task's full signature (`translate`, `summarize`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from zoo.config import ConfigError
from zoo.pipelines.pipeline import Pipeline, as_texts, check_int, in_batches


@dataclasses.dataclass(frozen=True)
class Decoding:
    """Decoding settings; None: the run's or the export's own."""

    num_beams: int | None = None
    max_new_tokens: int | None = None
    no_repeat_ngram_size: int | None = None

    def check(self, max_beams: int | None = None) -> None:
        """A TypeError or ValueError naming the first bad setting (num_beams up to
        `max_beams`, the task's, when given)."""
        if self.num_beams is not None:
            check_int(self.num_beams, "num_beams", 1, max_beams)
        if self.max_new_tokens is not None:
            check_int(self.max_new_tokens, "max_new_tokens", 1)
        if self.no_repeat_ngram_size is not None:
            check_int(self.no_repeat_ngram_size, "no_repeat_ngram_size", 0)


class TextToText(Pipeline):
    """What translators and summarizers share: texts in, texts out."""

    verb: ClassVar[str]  # the export's full signature, as `signature`
    output: ClassVar[str]  # its output of texts

    @classmethod
    def check_settings(cls, **settings: Any) -> None:
        """A TypeError or ValueError naming the first bad decoding setting, before anything
        loads (the task's own beam limit is checked when it decodes)."""
        Decoding(**settings).check()

    def decode(self, texts: str | Sequence[str], decoding: Decoding) -> str | list[str]:
        items, single = as_texts(texts)
        decoding.check(self.task_class().max_beams)
        decode = self._decode_with_export if self.is_export else self._decode_with_run
        out = [text for batch in in_batches(items, self.batch_size)
               for text in decode(batch, decoding)]
        return out[0] if single else out

    def _decode_with_run(self, texts: list[str], decoding: Decoding) -> list[str]:
        task = self.run.task
        if task.refuse_long_sources:
            too_long = [t for t in texts if len(task.tokenizer.encode(t)) > task.sequence_length]
            if too_long:
                raise ConfigError(f"texts: {too_long[0][:40]!r}... is longer than the model's "
                                  f"{task.sequence_length} tokens")
        settings: dict[str, Any] = {}
        if decoding.max_new_tokens is not None:
            settings["max_new_tokens"] = min(decoding.max_new_tokens, task.new_tokens_cap)
        if decoding.no_repeat_ngram_size is not None:
            settings["no_repeat_ngram_size"] = decoding.no_repeat_ngram_size
        beams = decoding.num_beams or task.options.num_beams
        return task.decode(model=self.run.model, texts=texts, num_beams=beams, **settings)

    def _decode_with_export(self, texts: list[str], decoding: Decoding) -> list[str]:
        """A setting not given is the export's default, except no_repeat_ngram_size, which is
        0 in the full signature unless given."""
        batch = len(texts)
        inputs: dict[str, Any] = {"texts": texts}
        name = "serving_default"
        if decoding != Decoding():
            name = self.verb
            takes = self.serving_signatures()[name].structured_input_signature[1]
            inputs["num_beams"] = np.full([batch], decoding.num_beams or 4, np.int32)
            inputs["max_new_tokens"] = np.full([batch], decoding.max_new_tokens or 0, np.int32)
            if "no_repeat_ngram_size" in takes:
                inputs["no_repeat_ngram_size"] = np.full(
                    [batch], decoding.no_repeat_ngram_size or 0, np.int32)
            elif decoding.no_repeat_ngram_size:
                raise ConfigError(f"{self.path}: this export has no no_repeat_ngram_size setting")
        out = self.call_signature(name, **inputs)[self.output]
        return [t.decode("utf-8", "replace") for t in out]


class Translator(TextToText):
    """Translates texts.

        >>> translator = zoo.load("runs/transformer_seq2seq_small-spa_eng-20261201-120000")
        >>> translator.translate("Where is the station?", num_beams=4)
        '¿Dónde está la estación?'
    """

    task_name = "translation"
    signature = verb = "translate"
    output = "translations"

    def translate(self, texts: str | Sequence[str], *, num_beams: int | None = None,
                  max_new_tokens: int | None = None) -> str | list[str]:
        """Each text's translation; `num_beams` 1 is greedy (default: the run's, 4)."""
        return self.decode(texts, Decoding(num_beams, max_new_tokens))


class Summarizer(TextToText):
    """Summarizes texts (an email into its subject line, say).

        >>> summarizer = zoo.load("saved_models/transformer_summarizer_small/1")
        >>> summarizer.summarize("Please send me the signed contract by Friday. Thanks, John")
        'signed contract'
    """

    task_name = "summarization"
    signature = verb = "summarize"
    output = "summaries"

    def summarize(self, texts: str | Sequence[str], *, num_beams: int | None = None,
                  max_new_tokens: int | None = None,
                  no_repeat_ngram_size: int | None = None) -> str | list[str]:
        """Each text's summary; a source longer than the model reads is cut to its first
        tokens. None: the run's (or export's) setting."""
        return self.decode(texts, Decoding(num_beams, max_new_tokens, no_repeat_ngram_size))
