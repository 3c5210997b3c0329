"""The text-to-text core that `translation` and `summarization` configure (not a task itself):
the task machinery (task.py), how a pair is laid out for an encoder-decoder or a GPT
(layouts.py), length-bucketed batches (length_buckets.py), the encoder-decoder's task model
(model.py) and the decoding signatures (serving.py)."""

from tasks.lazy_exports import lazy_exports

_EXPORTS = {
    "Seq2SeqLM": "tasks.text_to_text.model",
    "TextToTextOptions": "tasks.text_to_text.task",
    "TextToTextTask": "tasks.text_to_text.task",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)  # imported on first use: no TensorFlow before
__all__ = list(_EXPORTS)
