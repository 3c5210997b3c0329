"""`python -m zoo.answer` on a trained run and its export (bad command lines: see
test_bad_command_lines.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import QA_CONTEXT as CONTEXT


@pytest.fixture(scope="module")
def trained(tiny_answerer) -> Path:
    """The shared tiny question answerer (tests/conftest.py): run/, export/, questions.jsonl."""
    return tiny_answerer


def test_a_file_larger_than_one_request_is_sent_in_several(run_module, trained):
    long_context = CONTEXT + " eel is 60 ." * 2500  # 30 kB: three of them pass the 64 kB cap
    (trained / "long.jsonl").write_text("".join(
        json.dumps({"question": f"what is {name} ?", "context": long_context}) + "\n"
        for name in ("ant", "cat", "Zoë")))
    result = run_module("zoo.answer", "--saved_model=export/bert_tiny/1", "--file=long.jsonl",
                        cwd=trained)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(rows) == 3
    assert all(long_context[r["start"]:r["end"]] == r["answer"] for r in rows)


@pytest.mark.parametrize("source", ["--model_dir=run", "--saved_model=export/bert_tiny/1"])
def test_answer_a_file_prints_json_lines_that_point_into_the_passage(run_module, trained,
                                                                     source):
    result = run_module("zoo.answer", source, "--file=questions.jsonl", cwd=trained)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [row["id"] for row in rows] == ["q1", "2"]
    for row in rows:
        assert CONTEXT[row["start"]:row["end"]] == row["answer"] and 0 < row["score"] <= 1


def test_answer_questions_about_one_context(run_module, trained):
    result = run_module("zoo.answer", "--model_dir=run", f"--context={CONTEXT}",
                        "--question=what is ant ?", "--question=what is bee ?", cwd=trained)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[1] for line in lines] == ["what is ant ?", "what is bee ?"]
    assert all(line.split("\t")[0] in CONTEXT for line in lines)


def test_evaluate_scores_the_split_and_writes_official_predictions(run_module, trained):
    (trained / "run" / "predictions.json").unlink()
    result = run_module("zoo.evaluate", "--model_dir=run", "--split=validation", cwd=trained)
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads((trained / "run" / "eval_validation.json").read_text())
    assert 0 <= scores["exact_match"] <= scores["f1"] <= 100
    predictions = json.loads((trained / "run" / "predictions.json").read_text())
    dev = json.loads((trained / "dev-v1.1.json").read_text())
    ids = [qa["id"] for a in dev["data"] for p in a["paragraphs"] for qa in p["qas"]]
    assert sorted(predictions) == sorted(ids)  # {question id: answer text}, every question


@pytest.mark.parametrize("source", ["run", "export/bert_tiny/1"])
def test_python_api_answers_as_the_command_does(run_module, trained, source):
    import zoo

    flag = "--model_dir" if source == "run" else "--saved_model"
    printed = run_module("zoo.answer", f"{flag}={source}", "--file=questions.jsonl",
                         cwd=trained)
    rows = [json.loads(line) for line in printed.stdout.strip().splitlines()]
    qa = zoo.load(trained / source, task="question_answering")
    answers = qa.answer(["what is cat ?", "what is Zoë ?"], [CONTEXT, CONTEXT])
    assert [(a.text, a.start, a.end, round(a.score, 4)) for a in answers] == \
        [(r["answer"], r["start"], r["end"], r["score"]) for r in rows]
    with pytest.raises(ValueError, match="one context per question"):
        qa.answer(["what is cat ?"], [CONTEXT, CONTEXT])


def test_keras_fit_learns_spans_from_questions_contexts_and_answers(trained):
    """Keras' own loop on the span extractor: (questions, contexts) and (text, start) answers,
    windowed as in training."""
    import zoo

    model = zoo.load(trained / "run").model
    model.compile()
    names = {"ant": "12", "bee": "31", "cat": "47", "Zoë": "55"}
    questions = [f"what is {name} ?" for name in names] * 8
    contexts = [CONTEXT] * len(questions)
    answers = [(number, CONTEXT.index(number)) for number in names.values()] * 8
    before = model.evaluate((questions, contexts), answers, return_dict=True, verbose=0)
    model.fit({"questions": questions, "contexts": contexts},
              [{"text": t, "answer_start": s} for t, s in answers], epochs=20, batch_size=8,
              verbose=0)
    after = model.evaluate((questions, contexts), answers, return_dict=True, verbose=0)
    assert after["loss"] < 0.7 * before["loss"], (before, after)
    start_logits, end_logits = model.predict((questions[:4], contexts[:4]), verbose=0)
    assert start_logits.shape == end_logits.shape and start_logits.shape[0] == 4
    with pytest.raises(ValueError, match="one answer per question"):
        model.fit((questions[:2], contexts[:2]), answers[:1], verbose=0)
