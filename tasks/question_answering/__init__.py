"""`question_answering`: SQuAD v1.1 questions (squad.py), windows over long passages and the
span search (windows.py), the span head on an encoder (model.py), the official exact match and
F1 (scoring.py), the task (task.py) and its `answer` signature (serving.py)."""

from tasks.lazy_exports import lazy_exports

_EXPORTS = {
    "SpanExtractor": "tasks.question_answering.model",
    "QuestionAnsweringOptions": "tasks.question_answering.task",
    "QuestionAnsweringTask": "tasks.question_answering.task",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)  # imported on first use: no TensorFlow before
__all__ = list(_EXPORTS)
