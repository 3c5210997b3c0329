"""The text-to-text core that `translation` and `summarization` configure (not a task itself):
the task machinery (task.py), how a pair is laid out for an encoder-decoder or a GPT
(layouts.py), length-bucketed batches (length_buckets.py), the encoder-decoder's task model
(model.py) and the decoding signatures (serving.py)."""

from tasks.text_to_text.model import Seq2SeqLM
from tasks.text_to_text.task import TextToTextOptions, TextToTextTask

__all__ = ["Seq2SeqLM", "TextToTextOptions", "TextToTextTask"]
