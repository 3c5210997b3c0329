"""Tasks: what is learned and how it is judged. A task takes any model and imports no model code."""

from tasks.base import Task
from tasks.language_modeling import LanguageModelingTask

__all__ = ["LanguageModelingTask", "Task"]
