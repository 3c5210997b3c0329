"""Tasks: what is learned and how it is judged. A task takes any backbone and imports no model code.

One folder a task, named as `--task` names it: `task.py` (the Task), `model.py` (its head on a
backbone), `serving.py` (its signatures and warmup requests), and what only it uses. Shared
pieces live here: `task.py` (the contract), `task_model.py` (backbone serialization, the
vocabulary head), `request_checks.py` (serving limits and input checks), `replicas.py`,
`text_batches.py`, `decoding.py`, `run_files.py`, `data/`, and `text_to_text/`, the core that
translation and summarization share.

    >>> import tasks
    >>> sorted(tasks.TASKS)
    ['causal_lm', 'masked_lm', 'question_answering', 'summarization', 'text_classification',
     'translation']

A task defined elsewhere joins with `tasks.register(MyTask)`.
"""

from tasks.causal_lm import CausalLM, LanguageModelingTask
from tasks.data import DataError
from tasks.masked_lm import MaskedLanguageModelingTask
from tasks.question_answering import QuestionAnsweringTask
from tasks.request_checks import ServingLimits
from tasks.summarization import SummarizationTask
from tasks.task import DataSpec, Task
from tasks.text_classification import TextClassificationTask
from tasks.translation import TranslationTask

# Every task by its name (`--task`), in the order `--list_tasks` shows them.
TASKS: dict[str, type[Task]] = {}


def register(task: type[Task]) -> type[Task]:
    """Adds `task` to TASKS under `task.name` (usable as a class decorator); a second task of
    the same name is a ValueError."""
    if TASKS.get(task.name, task) is not task:
        raise ValueError(f"a task called {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


for _task in (LanguageModelingTask, MaskedLanguageModelingTask, TextClassificationTask,
              TranslationTask, QuestionAnsweringTask, SummarizationTask):
    register(_task)


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
    "QuestionAnsweringTask",
    "ServingLimits",
    "SummarizationTask",
    "Task",
    "TextClassificationTask",
    "TranslationTask",
    "get_task",
    "register",
]
