"""`summarization`: (text, summary) pairs and ROUGE on the text-to-text core: the task
(task.py), its data (summaries.py: AESLC and files) and its scores (rouge.py). Its signatures
are the core's (`tasks.text_to_text.serving`: `summarize`)."""

from tasks.summarization.task import SummarizationOptions, SummarizationTask

__all__ = ["SummarizationOptions", "SummarizationTask"]
