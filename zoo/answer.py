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
    cli.check_utf8(FLAGS.question, "--question")
    cli.check_utf8([FLAGS.context], "--context")
    return [{"id": str(n), "question": q, "context": FLAGS.context}
            for n, q in enumerate(FLAGS.question, 1)]


def main(argv: list[str]) -> None:
    rows = questions_to_run(argv)
    path = cli.source_path(FLAGS.model_dir, FLAGS.saved_model)
    cli.start_tensorflow()
    from zoo.pipelines import load
    from zoo.pipelines.question_answerer import batches

    qa = load(path, task="question_answering")
    sizes = [len(r["question"].encode()) + len(r["context"].encode()) for r in rows]
    for batch in batches(sizes):  # printed as each batch is answered
        chunk = [rows[i] for i in batch]
        answers = qa.answer([r["question"] for r in chunk], [r["context"] for r in chunk])
        for row, answer in zip(chunk, answers):
            found = {"id": row["id"], "answer": answer.text, "start": answer.start,
                     "end": answer.end, "score": round(answer.score, 4)}
            if FLAGS.file:
                print(json.dumps(found, ensure_ascii=False), flush=True)
            else:
                print(f"{answer.text}\t{row['question']}\t(score {found['score']:.3f}, "
                      f"characters {answer.start}-{answer.end})", flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.answer")
