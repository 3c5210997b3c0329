"""The built-in tasks and tokenizers by name: what `--list_tasks` says of each task, the
datasets it knows by name, its training recipe, and where its class lives. Importable without
TensorFlow (it reads only the dataset tables), so a command line checks its flags before
loading anything heavy; the task classes take their `description`, `recipe` and
`named_datasets` from here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any


def _corpora() -> list[str]:
    from tasks.data.corpora import list_datasets

    return list_datasets()


def _labelled() -> list[str]:
    from tasks.data.examples import LABELLED

    return list(LABELLED)


def _pairs() -> list[str]:
    from tasks.data.examples import PAIRS

    return list(PAIRS)


def _squad() -> list[str]:
    from tasks.question_answering.squad import NAMED

    return list(NAMED)


# Fine-tuning defaults (Devlin et al. 2019; Sun et al. 2019): AdamW at 1e-4 with 10%
# warmup, 3 epochs of batch 32; used when a preset's own task is another one.
_TEXT_CLASSIFICATION_RECIPE = dict(
    dataset="sst2",
    batch_size=32,
    train_steps=None,
    epochs=3.0,
    optimizer="adamw",
    learning_rate=1e-4,
    min_learning_rate=0.0,
    warmup_steps=0,
    warmup_fraction=0.1,
    weight_decay=0.01,
    beta_2=0.999,
    eval_every=500,
    checkpoint_every=500,
    eval_batches=None,
)

# Masked-LM pretraining on the CPU (the BERT presets' recipe): WordPiece, 128-token rows, AdamW
# at 5e-4 with warmup, batch 32.
MASKED_LM_PRETRAINING = dict(
    dataset="wikitext2",
    tokenizer="wordpiece",
    vocab_size=8000,
    batch_size=32,
    train_steps=20000,
    learning_rate=5e-4,
    warmup_steps=1000,
    min_learning_rate=5e-5,
    weight_decay=0.01,
    beta_2=0.98,
    eval_every=1000,
    checkpoint_every=1000,
    eval_batches=20,
)

# ELECTRA-Small's pretraining (Clark et al. 2020: AdamW at 5e-4 with warmup, 128-token rows)
# at CPU scale is the masked-LM recipe, its step count and schedule fixed whatever the preset.
_REPLACED_TOKEN_DETECTION_RECIPE = dict(
    MASKED_LM_PRETRAINING, epochs=None, optimizer="adamw", warmup_fraction=None,
)

# Fine-tuning defaults: AdamW with 10% warmup, 2 epochs of batch 32 (Devlin et al. 2019
# fine-tune SQuAD for 2-3 epochs), used when a preset's own task is another one.
_QUESTION_ANSWERING_RECIPE = dict(
    dataset="squad",
    tokenizer="wordpiece",
    vocab_size=8000,
    batch_size=32,
    train_steps=None,
    epochs=2.0,
    optimizer="adamw",
    learning_rate=2e-4,
    min_learning_rate=0.0,
    warmup_steps=0,
    warmup_fraction=0.1,
    weight_decay=0.01,
    beta_2=0.999,
    eval_every=1000,
    checkpoint_every=1000,
    eval_batches=40,
)

# AESLC on the CPU, for transformer_summarizer_small and for presets made for another task
# (a GPT: `--model=transformer_lm_small --task=summarization`). The run's last evaluation
# scores ROUGE on the whole dev split.
_SUMMARIZATION_RECIPE = dict(
    dataset="aeslc",
    tokenizer="sentencepiece",
    vocab_size=8000,
    batch_size=32,
    train_steps=2000,
    learning_rate=1e-3,
    warmup_steps=300,
    min_learning_rate=5e-5,
    weight_decay=0.01,
    beta_2=0.98,
    eval_every=500,
    checkpoint_every=500,
    eval_batches=10,
)


@dataclasses.dataclass(frozen=True)
class TaskEntry:
    name: str
    description: str
    where: str  # "module:Class", imported when the task is first used
    datasets: Callable[[], list[str]]
    # RunConfig defaults when a preset made for another task is trained for this one.
    recipe: Mapping[str, Any] = dataclasses.field(default_factory=dict)


# In the order `--list_tasks` shows them.
BUILT_IN_TASKS: dict[str, TaskEntry] = {
    entry.name: entry
    for entry in (
        TaskEntry("causal_lm", "next-token prediction: loss, perplexity, bits per character; "
                  "generate and score text",
                  "tasks.causal_lm.task:LanguageModelingTask", _corpora),
        TaskEntry("masked_lm", "masked-token prediction (BERT pretraining, optional NSP); fill "
                  "[MASK] in text",
                  "tasks.masked_lm.task:MaskedLanguageModelingTask", _corpora),
        TaskEntry("replaced_token_detection", "ELECTRA pretraining: a small generator "
                  "replaces masked tokens, the encoder spots them; detect replaced tokens",
                  "tasks.replaced_token_detection.task:ReplacedTokenDetectionTask", _corpora,
                  _REPLACED_TOKEN_DETECTION_RECIPE),
        TaskEntry("text_classification", "one label per text: accuracy, macro-F1, confusion "
                  "matrix; predict and classify",
                  "tasks.text_classification.task:TextClassificationTask", _labelled,
                  _TEXT_CLASSIFICATION_RECIPE),
        TaskEntry("translation", "sequence to sequence: token accuracy, sacreBLEU and chrF; "
                  "translate text",
                  "tasks.translation.task:TranslationTask", _pairs),
        TaskEntry("question_answering", "extractive QA (SQuAD v1.1): answer spans in a "
                  "passage; exact match and F1",
                  "tasks.question_answering.task:QuestionAnsweringTask", _squad,
                  _QUESTION_ANSWERING_RECIPE),
        TaskEntry("summarization", "text to summary: token accuracy and ROUGE-1/2/L; "
                  "summarize text",
                  "tasks.summarization.task:SummarizationTask", lambda: ["aeslc"],
                  _SUMMARIZATION_RECIPE),
    )
}

# `--tokenizer` values; tasks.data.tokenizers.TOKENIZERS maps each to its class.
TOKENIZER_KINDS = ("char", "byte", "word", "wordpiece", "sentencepiece", "bpe",
                   "bert_wordpiece")
