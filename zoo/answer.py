"""`python -m zoo.answer`: answer questions from a passage with a question-answering run or export.

    python -m zoo.answer --model_dir=runs/<run> --context="The ships sail at dawn." \\
        --question="When do the ships sail?"
    python -m zoo.answer --saved_model=saved_models/bert_tiny/1 --file=questions.jsonl

With --question (repeatable) and one --context, prints each answer, its probability and where it
is in the passage. With --file, a JSON-lines file of {"question", "context"} (and an optional
"id"), prints one JSON line per question: id, answer, start, end (code points) and score.
--model_dir rebuilds the run (`zoo.runs.load_run`); --saved_model calls the export's `answer`
signature, as a TF Serving client would, with only TensorFlow loaded.
"""

from __future__ import annotations

import json

from absl import flags

from zoo import cli
from zoo.config import ConfigError

flags.DEFINE_string("model_dir", None, "A question_answering run directory.")
flags.DEFINE_string("saved_model", None, "An exported version: saved_models/<name>/<version>.")
flags.DEFINE_multi_string("question", None, "A question about --context (repeatable).")
flags.DEFINE_string("context", None, "The passage the --question answers are in.")
flags.DEFINE_string("file", None, 'JSON lines of {"question", "context", "id" (optional)}.')
FLAGS = flags.FLAGS
BATCH = 64  # questions per call, at most
# Bytes of questions and contexts per call, at most: the export's default request cap
# (`ServingLimits.max_input_tokens`, which its signature checks against bytes).
BATCH_BYTES = 1 << 16


def read_questions(path: str) -> list[dict]:
    """The rows of a JSON-lines question file; a bad row is a one-line ConfigError."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [(n, line) for n, line in enumerate(f, 1) if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--file: cannot read {path}: {e}") from None
    rows = []
    for number, line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{number}: not JSON ({e.msg})") from None
        if not isinstance(row, dict) or not all(
                isinstance(row.get(k), str) and row[k].strip() for k in ("question", "context")):
            raise ConfigError(f'{path}:{number}: give a non-empty "question" and "context"')
        rows.append({"id": str(row.get("id", number)), **row})
    if not rows:
        raise ConfigError(f"--file: {path} holds no questions")
    return rows


def questions_to_run(argv: list[str]) -> list[dict]:
    """The questions of the command line: --file, or --question(s) about one --context."""
    cli.check_source(argv, FLAGS.model_dir, FLAGS.saved_model)
    if FLAGS.file:
        if FLAGS.question or FLAGS.context:
            raise ConfigError("give either --file or --question with --context, not both")
        return read_questions(FLAGS.file)
    if not FLAGS.question or any(not q.strip() for q in FLAGS.question):
        raise ConfigError("--question: give one or more non-empty questions (or --file)")
    if not (FLAGS.context or "").strip():
        raise ConfigError("--context: give the passage the answers are in")
    return [{"id": str(n), "question": q, "context": FLAGS.context}
            for n, q in enumerate(FLAGS.question, 1)]


def answerer(model_dir: str | None, saved_model: str | None):
    """A function (questions, contexts) -> the `answer` signature's outputs, as numpy."""
    import tensorflow as tf

    if model_dir:
        from zoo.runs import load_run

        run = load_run(model_dir)
        if not hasattr(run.task, "answer_graph"):
            raise ConfigError(f"{model_dir} is a {run.task.name} run, not a question_answering "
                              "one")
        call = tf.function(lambda questions, contexts: run.task.answer_graph(
            run.model, questions, contexts))
    else:
        call = cli.load_export_signatures(saved_model, "answer", "question-answering")["answer"]

    def answer(questions: list[str], contexts: list[str]) -> dict:
        try:
            outputs = call(questions=tf.constant(questions), contexts=tf.constant(contexts))
        except tf.errors.InvalidArgumentError as e:  # the signature's own input checks
            raise ConfigError(cli.op_error_message(e)) from None
        return {k: v.numpy() for k, v in outputs.items()}

    return answer


def batches(rows: list[dict]) -> list[list[dict]]:
    """Consecutive rows in calls of at most BATCH questions and BATCH_BYTES bytes (a row over
    the bytes alone goes by itself, for the signature to refuse in one line)."""
    out: list[list[dict]] = [[]]
    size = 0
    for row in rows:
        nbytes = len(row["question"].encode()) + len(row["context"].encode())
        if out[-1] and (len(out[-1]) == BATCH or size + nbytes > BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(row)
        size += nbytes
    return out


def main(argv: list[str]) -> None:
    rows = questions_to_run(argv)
    answer = answerer(FLAGS.model_dir, FLAGS.saved_model)
    for batch in batches(rows):
        out = answer([r["question"] for r in batch], [r["context"] for r in batch])
        for i, row in enumerate(batch):
            text = out["answers"][i].decode("utf-8", "replace")
            found = {"id": row["id"], "answer": text, "start": int(out["start"][i]),
                     "end": int(out["end"][i]), "score": round(float(out["scores"][i]), 4)}
            if FLAGS.file:
                print(json.dumps(found, ensure_ascii=False), flush=True)
            else:
                print(f"{text}\t{row['question']}\t(score {found['score']:.3f}, characters "
                      f"{found['start']}-{found['end']})", flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.answer")
