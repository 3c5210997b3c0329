"""Extractive QA: official scoring, answers mapped to characters, windows, a model that learns
to point at the answer, and its export answering raw text (batches, bad requests)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from tasks import DataSpec, QuestionAnsweringTask
from tasks.data import DataError, build_tokenizer
from tasks.question_answering.scoring import exact_match, normalize_answer, squad_scores, token_f1
from tasks.question_answering.serving import WARMUP_CONTEXT
from tasks.question_answering.squad import Question, load_questions
from tasks.question_answering.task import SPECIALS, answer_tokens
from tasks.question_answering.windows import (
    WindowShape,
    assemble_windows,
    best_spans,
    plan_windows,
    window_targets,
)
from tests.tasks.harness import run_task_test
from tests.tasks.squad_facts import NAMES, write_facts
from zoo.config import RunConfig
from zoo.runs import make_trainer

ENCODER = {"num_layers": 2, "num_heads": 2, "hidden_dim": 64, "intermediate_dim": 128,
           "sequence_length": 32, "dropout": 0.0}


# --- scoring, as the official evaluate-v1.1.py scores -------------------------------------


def test_normalization_drops_case_punctuation_articles_and_spaces():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Theatre") == "theatre"  # "the" only as a word


def test_scores_take_the_best_reference_and_average_over_questions():
    assert exact_match("Denver Broncos", "the Denver Broncos.") == 1.0
    assert token_f1("Denver Broncos won", "Denver Broncos") == pytest.approx(0.8)
    assert token_f1("Carolina", "Denver Broncos") == 0.0
    references = {"q1": ["Denver Broncos", "Broncos"], "q2": ["Santa Clara, California"],
                  "q3": ["1990"]}
    predictions = {"q1": "Broncos", "q2": "Santa Clara"}  # q3 unanswered: counts 0
    scores = squad_scores(predictions, references)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    # q1 exact; q2 precision 1, recall 2/3 -> F1 0.8
    assert scores["f1"] == pytest.approx(100 * (1 + 0.8) / 3)


# --- answers as tokens, windows, the span search --------------------------------------------


def test_answer_tokens_cover_exactly_the_answer_characters():
    context = "Zoë saw the café. Later Zoë left the café at noon"
    questions = [Question("start", "who?", context, ("Zoë",), (0,)),
                 Question("second", "where?", context, ("café",), (context.rindex("café"),)),
                 Question("end", "when?", context, ("noon",), (len(context) - 4,)),
                 Question("none", "what?", context, (), ())]
    tokenizer = build_tokenizer("wordpiece", context * 5, vocab_size=100, special_tokens=SPECIALS)
    _, starts, ends = tokenizer.tf_tokenize_with_offsets(tf.constant([context]))
    first, last = answer_tokens(questions, np.zeros(4, np.int64), starts, ends)
    flat_starts, flat_ends = starts[0].numpy(), ends[0].numpy()
    for question, a, b in zip(questions[:3], first, last):
        assert context[flat_starts[a]:flat_ends[b]] == question.answers[0], question.id
    assert flat_starts[first[1]] == context.rindex("café")  # the second café, as answer_start says
    assert (first[3], last[3]) == (-1, -1)


def test_only_windows_holding_the_whole_answer_point_at_it():
    # Windows of 8: [CLS] q q [SEP] three passage tokens [SEP], a new one every 2 tokens.
    shape = WindowShape(8, 2, 2, cls_id=1, sep_id=2, pad_id=0)
    questions = tf.ragged.constant([[7, 8, 9]], dtype=tf.int64)  # cut to 2 tokens
    contexts = tf.ragged.constant([list(range(10, 20))], dtype=tf.int64)
    example, first, count = plan_windows(shape, questions.row_lengths(), contexts.row_lengths())
    assert first.numpy().tolist() == [0, 2, 4, 6, 8] and count.numpy().tolist() == [3] * 4 + [2]
    windows = assemble_windows(shape, questions, contexts, example, first, count)
    assert windows.token_ids.numpy()[1].tolist() == [1, 7, 8, 2, 12, 13, 14, 2]
    assert windows.segment_ids.numpy()[1].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert windows.context_mask.numpy()[4].tolist() == [0, 0, 0, 0, 1, 1, 0, 0]
    start, end = window_targets(windows, tf.constant([3]), tf.constant([4]))  # tokens 13, 14
    assert start.numpy().tolist() == [0, 5, 0, 0, 0] and end.numpy().tolist() == [0, 6, 0, 0, 0]


def test_the_best_span_is_ordered_short_and_in_the_passage():
    shape = WindowShape(8, 2, 2, cls_id=1, sep_id=2, pad_id=0)
    questions = tf.ragged.constant([[7, 8], [7, 8]], dtype=tf.int64)
    contexts = tf.ragged.constant([list(range(10, 16)), [10, 11, 12]], dtype=tf.int64)
    example, first, count = plan_windows(shape, questions.row_lengths(), contexts.row_lengths())
    windows = assemble_windows(shape, questions, contexts, example, first, count)
    start = np.zeros([4, 8], np.float32)
    end = np.zeros([4, 8], np.float32)
    start[:, 0] = end[:, 0] = 8.0  # [CLS] scores highest, yet is never an answer
    start[0, 6], end[0, 4] = 9.0, 9.0  # an end before its start: not a span
    start[1, 4], end[1, 6] = 5.0, 5.0  # window 1 = passage tokens 2..4: tokens 2..4, best
    start[3, 4], end[3, 5] = 3.0, 3.0  # question 2: tokens 0..1
    first_token, last_token, probability = best_spans(
        tf.constant(start), tf.constant(end), windows, tf.constant(2, tf.int64), 3)
    assert first_token.numpy().tolist() == [2, 0] and last_token.numpy().tolist() == [4, 1]
    assert np.all((probability.numpy() > 0) & (probability.numpy() < 1))
    # With answers of at most 2 tokens, the 3-token span is out of reach.
    first_token, last_token, _ = best_spans(
        tf.constant(start), tf.constant(end), windows, tf.constant(2, tf.int64), 2)
    assert last_token.numpy()[0] - first_token.numpy()[0] < 2


# --- a model that learns, and its export ----------------------------------------------------


@pytest.fixture(scope="module")
def squad_folder(tmp_path_factory):
    return write_facts(tmp_path_factory.mktemp("facts"))


def qa_config(folder, **changes) -> RunConfig:
    values = dict(
        model="bert_tiny", task="question_answering", data=str(folder), tokenizer="word",
        model_overrides=ENCODER, batch_size=32, train_steps=600, epochs=None, eval_every=600,
        checkpoint_every=600, learning_rate=1e-3, warmup_steps=30, weight_decay=0.0,
        task_options={"max_question_tokens": 6, "doc_stride": 12},
    )
    return RunConfig(**{**values, **changes})


@pytest.fixture(scope="module")
def trained(squad_folder, tmp_path_factory):
    return run_task_test(qa_config(squad_folder), tmp_path_factory.mktemp("qa"), learns_by=0.5)


def test_an_encoder_learns_to_point_at_the_answer(trained):
    # Chance: about one passage word in 16 starts an answer, and a span must also end right.
    assert trained.final["exact_match"] > 90 and trained.final["f1"] > 90, trained.final
    assert trained.final["span_accuracy"] > 0.9
    predictions = json.loads((trained.run_dir / "predictions.json").read_text())
    assert len(predictions) == 400 and all(isinstance(a, str) for a in predictions.values())
    assert set(trained.signatures) == {"serving_default", "answer"}
    answered = trained.outputs["answer"]  # the warmup request, in a fresh process
    assert len(answered["answers"]) == 1 and answered["answers"][0] in WARMUP_CONTEXT
    assert 0 < answered["scores"][0] <= 1


@pytest.fixture(scope="module")
def answer(trained):
    return tf.saved_model.load(str(trained.export)).signatures["answer"]


def test_the_export_answers_a_batch_as_one_at_a_time(answer):
    # 16 facts: 64 passage tokens, several windows; answers at the start, middle and end.
    context = " ".join(f"{n} is {10 + i} ." for i, n in enumerate(NAMES))
    questions = [f"what is {n} ?" for n in ("ant", "hen", "elk", "cow")]
    batch = answer(questions=tf.constant(questions), contexts=tf.constant([context] * 4))
    for i, question in enumerate(questions):
        one = answer(questions=tf.constant([question]), contexts=tf.constant([context]))
        for key in ("answers", "start", "end"):
            assert one[key].numpy()[0] == batch[key].numpy()[i], (question, key)
        assert one["scores"].numpy()[0] == pytest.approx(batch["scores"].numpy()[i], rel=1e-4)
    texts = [a.decode() for a in batch["answers"].numpy()]
    spans = zip(batch["start"].numpy(), batch["end"].numpy())
    assert [context[s:e] for s, e in spans] == texts
    assert texts == ["ant", "hen", "elk", "cow"]


@pytest.mark.parametrize(
    "questions, contexts, message",
    [
        ([], [], "at least one"),
        (["what is ant ?"], ["  "], "contexts"),
        ([""], ["ant is 3 ."], "questions"),
        (["what is ant ?"] * 2, ["ant is 3 ."], "one context per question"),
        (["what is ant ?"] * 65, ["ant is 3 ."] * 65, "64"),
        (["what is ant ?"], ["ant is 3 . " * 100_000], "at most 1048576 bytes"),
    ],
    ids=["empty", "blank context", "blank question", "sizes differ", "batch cap", "bytes cap"],
)
def test_bad_requests_are_invalid_argument(answer, questions, contexts, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        answer(questions=tf.constant(questions, tf.string),
               contexts=tf.constant(contexts, tf.string))


def test_a_causal_backbone_is_refused(squad_folder, tmp_path):
    config = qa_config(squad_folder, model="transformer_lm_tiny", model_overrides={
        "num_layers": 1, "hidden_dim": 32, "intermediate_dim": 64, "sequence_length": 32})
    with pytest.raises(DataError, match="encoder"):
        make_trainer(config, str(tmp_path / "run"))


def test_bad_squad_files_are_one_line_errors(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"rows": []}))
    (tmp_path / "bare.json").write_text(json.dumps({"data": [{"paragraphs": [{"qas": []}]}] * 2}))
    for name, message in (("broken", "not JSON"), ("other", "no \"data\" list"),
                          ("bare", "lacks 'context'"), ("missing", "unknown dataset")):
        with pytest.raises(DataError, match=message):
            load_questions(str(tmp_path / f"{name}.json"))


def test_bad_tokenizers_and_window_options_are_refused(squad_folder):
    with pytest.raises(DataError, match="has no .*cls"):
        QuestionAnsweringTask(str(squad_folder), build_tokenizer("char", "abc"), 32)
    data = DataSpec(str(squad_folder), "word", 32)
    with pytest.raises(DataError, match="doc_stride must be between 1 and 23"):
        QuestionAnsweringTask.create(data, {"max_question_tokens": 6})  # stride 64 > 23
    with pytest.raises(DataError, match="no room for the passage"):
        QuestionAnsweringTask.create(data, {"max_question_tokens": 29})
    task = QuestionAnsweringTask.create(data, {"max_question_tokens": 6, "doc_stride": 23})
    assert len(task.examples("validation")) == 400
