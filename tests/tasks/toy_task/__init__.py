"""A toy task defined outside `tasks/`, in this folder alone: "does the word start with a vowel?".

It shows what a new task is: a Task (task.py), its head on a backbone (model.py), its serving
signature (serving.py), and one `tasks.register` call; nothing in the zoo is edited for it.
"""

from tests.tasks.toy_task.task import VowelStartTask

__all__ = ["VowelStartTask"]
