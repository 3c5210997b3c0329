"""`translation`: text pairs and sacreBLEU (task.py), length-bucketed batches
(length_buckets.py), the encoder-decoder with its output layer (model.py), and the translate
signatures (serving.py)."""

from tasks.translation.model import Seq2SeqLM
from tasks.translation.task import TranslationOptions, TranslationTask

__all__ = ["Seq2SeqLM", "TranslationOptions", "TranslationTask"]
