"""A task defined in one folder outside `tasks/` (tests/tasks/toy_task/) joins the zoo with one
`tasks.register` call and runs through the task harness: train, checkpoint, reload, evaluate,
export, and its signature in a fresh process."""

import pytest

import tasks
from tests.tasks.harness import run_task_test
from tests.tasks.toy_task import VowelStartTask
from zoo.config import RunConfig
from zoo.runs import RunSpec


@pytest.fixture
def registered():
    tasks.register(VowelStartTask)
    yield VowelStartTask
    del tasks.TASKS[VowelStartTask.name]


def _config(**changes) -> RunConfig:
    values = dict(
        model="transformer_lm_tiny", task="starts_with_vowel", dataset="random_words",
        tokenizer="char", batch_size=32, train_steps=120, eval_every=120, checkpoint_every=120,
        learning_rate=3e-3, warmup_steps=10,
        model_overrides={"num_layers": 1, "num_heads": 2, "hidden_dim": 32,
                         "intermediate_dim": 64},
    )
    return RunConfig(**{**values, **changes})


def test_a_task_from_one_folder_runs_through_the_harness(registered, tmp_path):
    result = run_task_test(_config(), tmp_path, learns_by=0.5)
    assert result.final["accuracy"] > 0.95  # 5 of 26 letters are vowels: chance is 0.81
    assert result.signatures == ["serving_default"]
    assert result.outputs["serving_default"]["vowel"] == [1, 0]  # "apple", "pear"


def test_registering_resolves_the_task_and_its_settings(registered):
    spec = RunSpec.of(_config(task_options={"word_length": 4}))
    assert spec.task_class is VowelStartTask
    assert spec.task_options == {"word_length": 4}
    with pytest.raises(ValueError, match="already registered"):
        tasks.register(type("Other", (VowelStartTask,), {}))
    with pytest.raises(tasks.DataError, match="unknown setting"):
        RunSpec.of(_config(task_options={"nope": 1}))
