"""`summarization`: (text, summary) pairs and ROUGE on the text-to-text core: the task
(task.py), its data (summaries.py: AESLC and files) and its scores (rouge.py). Its signatures
are the core's (`tasks.text_to_text.serving`: `summarize`)."""

from tasks.lazy_exports import lazy_exports

_EXPORTS = {
    "SummarizationOptions": "tasks.summarization.task",
    "SummarizationTask": "tasks.summarization.task",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)  # imported on first use: no TensorFlow before
__all__ = list(_EXPORTS)
