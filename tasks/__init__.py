"""Tasks: what is learned and how it is judged. A task takes any backbone and imports no model code.

One folder a task, named as `--task` names it: `task.py` (the Task), `model.py` (its head on a
backbone), `serving.py` (its signatures and warmup requests), and what only it uses. Shared
pieces live here: `task.py` (the contract), `catalog.py` (the built-in tasks by name, light),
`task_model.py` (backbone serialization, the vocabulary head), `request_checks.py` (serving
limits and input checks), `replicas.py`, `text_batches.py`, `decoding.py`, `run_files.py`,
`data/`, and `text_to_text/`, the core that translation and summarization share.

    >>> import tasks
    >>> sorted(tasks.TASKS)
    ['causal_lm', 'masked_lm', 'question_answering', 'replaced_token_detection', 'summarization',
     'text_classification', 'translation']

Importing `tasks` loads no TensorFlow: a task's class (and TensorFlow) is imported when it is
first looked up (`TASKS[name]`, `get_task`), and so are the classes below. A task defined
elsewhere joins with `tasks.register(MyTask)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from tasks.catalog import BUILT_IN_TASKS, TaskEntry
from tasks.data.errors import DataError
from tasks.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from tasks.task import Task


class TaskTable(Mapping[str, "type[Task]"]):
    """Task classes by name: the built-in ones imported on first lookup, registered ones as
    given. `entry` answers from the catalog without importing a built-in."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Task]] = {}
        self._names = list(BUILT_IN_TASKS)

    def __getitem__(self, name: str) -> type[Task]:
        if name not in self._classes:
            if name not in BUILT_IN_TASKS:
                raise KeyError(name)
            module, _, class_name = BUILT_IN_TASKS[name].where.partition(":")
            self._classes[name] = getattr(importlib.import_module(module), class_name)
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def add(self, task: type[Task]) -> None:
        if task.name in self._names and self[task.name] is not task:
            raise ValueError(f"a task called {task.name!r} is already registered")
        self._classes[task.name] = task
        if task.name not in self._names:
            self._names.append(task.name)

    def __delitem__(self, name: str) -> None:
        """Forgets a registered task (a built-in one stays)."""
        if name in BUILT_IN_TASKS or name not in self._names:
            raise KeyError(name)
        self._names.remove(name)
        del self._classes[name]

    def entry(self, name: str) -> TaskEntry:
        """What the catalog knows of task `name` (its description, named datasets, recipe),
        without importing a built-in one; an unknown name is a KeyError."""
        if name in BUILT_IN_TASKS:
            return BUILT_IN_TASKS[name]
        task = self[name]
        return TaskEntry(name, task.description, f"{task.__module__}:{task.__qualname__}",
                         task.named_datasets, task.recipe)


# Every task by its name (`--task`), in the order `--list_tasks` shows them.
TASKS = TaskTable()


def register(task: type[Task]) -> type[Task]:
    """Adds `task` to TASKS under `task.name` (usable as a class decorator); a second task of
    the same name is a ValueError."""
    TASKS.add(task)
    return task


def get_task(name: str) -> type[Task]:
    """The task class called `name`; an unknown name is a DataError listing the known ones."""
    if name not in TASKS:
        raise DataError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]


_CLASSES = {
    "CausalLM": "tasks.causal_lm.model",
    "LanguageModelingTask": "tasks.causal_lm.task",
    "MaskedLanguageModelingTask": "tasks.masked_lm.task",
    "QuestionAnsweringTask": "tasks.question_answering.task",
    "ReplacedTokenDetectionTask": "tasks.replaced_token_detection.task",
    "ServingLimits": "tasks.serving_limits",
    "SummarizationTask": "tasks.summarization.task",
    "DataSpec": "tasks.task",
    "Task": "tasks.task",
    "TextClassificationTask": "tasks.text_classification.task",
    "TranslationTask": "tasks.translation.task",
}
__getattr__ = lazy_exports(__name__, _CLASSES)
__all__ = ["TASKS", "DataError", "TaskTable", "get_task", "register", *_CLASSES]


def __dir__() -> list[str]:
    return sorted(__all__)


