"""`question_answering`: SQuAD v1.1 questions (squad.py), windows over long passages and the
span search (windows.py), the span head on an encoder (model.py), the official exact match and
F1 (scoring.py), the task (task.py) and its `answer` signature (serving.py)."""

from tasks.question_answering.model import SpanExtractor
from tasks.question_answering.task import QuestionAnsweringOptions, QuestionAnsweringTask

__all__ = ["QuestionAnsweringOptions", "QuestionAnsweringTask", "SpanExtractor"]
