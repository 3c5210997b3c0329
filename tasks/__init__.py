"""Tasks: what is learned and how it is judged. A task takes any backbone and imports no model code.

    >>> import tasks
    >>> sorted(tasks.TASKS)
    ['causal_lm', 'masked_lm', 'text_classification', 'translation']
"""

from tasks.base import DataSpec, Task
from tasks.causal_lm import CausalLM
from tasks.data import DataError
from tasks.language_modeling import LanguageModelingTask
from tasks.masked_lm import MaskedLanguageModelingTask
from tasks.text_classification import TextClassificationTask
from tasks.translation import TranslationTask

# Every task by its name (`--task`), in the order `--list_tasks` shows them.
TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        LanguageModelingTask, MaskedLanguageModelingTask, TextClassificationTask, TranslationTask
    )
}


def get_task(name: str) -> type[Task]:
    """The task class called `name`; an unknown name is a DataError listing the known ones."""
    if name not in TASKS:
        raise DataError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]


__all__ = [
    "TASKS",
    "CausalLM",
    "DataSpec",
    "LanguageModelingTask",
    "MaskedLanguageModelingTask",
    "Task",
    "TextClassificationTask",
    "TranslationTask",
    "get_task",
]
