"""Runs a published recipe end to end and prints our number beside the paper's.

    python tools/reproduce.py --list            # every experiment, its paper and expected runtime
    python tools/reproduce.py ptb_kn5           # Mikolov et al. 2011's KN5 on PTB, ~15 s
    python tools/reproduce.py ptb_lstm_small    # Zaremba et al. 2014's small LSTM

Each experiment trains with `python -m zoo.train` (or `zoo.train_ngram` for the n-gram model) into
`<runs_dir>/<experiment>-<timestamp>`, streaming its output, scores the paper's split with
`python -m zoo.evaluate`, and ends with one line

    <experiment> <metric> ours=<value> paper=<value>

which it also writes as JSON to `<runs_dir>/<experiment>.json`. A recipe may have stages (masked-LM
pretraining, then fine-tuning `--init_from` the pretrained run), a data step (the pretraining
text is made from the named corpora) and several seeds for its last stage (ours is then their
mean, each seed's figure and the spread printed beside it). Flags after the experiment name that
this script does not know are passed to every stage's trainer (`--train_steps=10` for a smoke
test); the JSON records them, since the number is then no longer the paper's recipe.

This script imports nothing from the zoo until it runs an experiment, so `--list` and bad names
answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

PROG = "reproduce"


@dataclasses.dataclass(frozen=True)
class Stage:
    """One training run of a recipe. In `flags`, "{data}" is the prepared data folder and
    "{previous}" the run directory of the stage before."""

    trainer: str
    flags: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A recipe and the number its paper reports (None where we have no trusted figure)."""

    name: str
    source: str
    metric: str  # "<split>_<key of eval_<split>.json>"
    paper: float | None
    trainer: str
    flags: tuple[str, ...]
    cpu: str
    gpu: str
    before: tuple[Stage, ...] = ()  # stages that run first (pretraining)
    data: str | None = None  # a data step of this script, its output passed as "{data}"
    time_to: float | None = None  # report the wall time from process start to this val loss
    baseline: str | None = None  # a baseline step of this script, its figures put beside ours
    # The last stage runs once per seed (--seed=0, 1, ...), after the stages before it ran once;
    # ours is the mean. SST-2's dev set has 872 sentences: one seed's 1 point is 9 of them.
    seeds: int = 1

    @property
    def split(self) -> str:
        return self.metric.split("_", 1)[0]

    @property
    def key(self) -> str:
        return self.metric.split("_", 1)[1]


_PTB = ("--dataset=ptb", "--tokenizer=word")
_SST2 = "Socher et al. 2013 SST-2 (GLUE), dev accuracy"
_NO_EXPORT = ("--export_dir=",)
# Masked-LM pretraining of BERT-Tiny on lowercased WikiText-2 and the SST-2 training sentences
# (the "mlm_corpus" data step): about 30 min on the 2-core CPU.
_PRETRAIN_BERT = Stage("zoo.train", (
    "--model=bert_tiny", "--data={data}", "--tokenizer=wordpiece", "--vocab_size=8000",
    "--train_steps=20000", *_NO_EXPORT,
))
# A causal GPT pretrained on the same text, word pieces, context 64.
_PRETRAIN_GPT = Stage("zoo.train", (
    "--model=transformer_lm_tiny", "--data={data}", "--tokenizer=wordpiece", "--vocab_size=8000",
    "--train_steps=10000", "--batch_size=32", "--set=sample_length=40", *_NO_EXPORT,
))
# Masked-LM pretraining of BERT-Tiny's shape with rotary positions instead of a learned table, on
# IMDB's unlabelled and training reviews (`imdb_unsup`, movie reviews as SST-2 is): 6,000 steps,
# about 35 min alone on a 2-core AVX2 CPU (0.35 s a step, measured). With a learned table the
# masked LM sits near unigram accuracy for thousands of steps; rotary attention sees relative
# order from its first step.
_PRETRAIN_BERT_IMDB = Stage("zoo.train", (
    "--model=bert_tiny", "--dataset=imdb_unsup", "--tokenizer=bert_wordpiece",
    "--vocab_size=8000", "--train_steps=6000", "--learning_rate=1e-3", "--warmup_steps=300",
    "--set=rotary=true", "--set=position=none", *_NO_EXPORT,
))
_FINE_TUNE = ("--task=text_classification", "--dataset=sst2", "--set=max_length=64")
_SQUAD = "Rajpurkar et al. 2016 SQuAD v1.1, dev F1 (official scoring)"
# Half the SST-2 recipe's pretraining, on WikiText-2 and the SQuAD training passages (cased, the
# "squad_mlm_corpus" data step), so that pretraining and fine-tuning fit about 1.5 h of CPU.
_PRETRAIN_BERT_SQUAD = Stage("zoo.train", (
    "--model=bert_tiny", "--data={data}", "--tokenizer=wordpiece", "--vocab_size=8000",
    "--train_steps=10000", *_NO_EXPORT,
))


def _bow(examples: int | None, augment: bool) -> tuple[str, ...]:
    """The bag-of-words recipe, on a seeded subset of SST-2's training set, with or without EDA."""
    flags = ("--model=bag_of_words", "--dataset=sst2", *_NO_EXPORT)
    if examples:
        # Few examples: more passes over them, and evaluation per pass.
        flags += (f"--set=train_examples={examples}", "--epochs=30", "--eval_every=100")
    return flags + (("--set=augment=eda",) if augment else ())
_SHAKESPEARE = ("--dataset=tiny_shakespeare", "--tokenizer=char")
_ZAREMBA = "Zaremba et al. 2014, Recurrent Neural Network Regularization, Table 1"

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "ptb_kn5",
            "Mikolov et al. 2011, Empirical Evaluation and Combination of Advanced LM "
            "Techniques: KN5, no count cutoffs",
            "test_perplexity", 141.2, "zoo.train_ngram", (*_PTB, "--order=5"),
            "15 s", "15 s (counting runs on the CPU)",
        ),
        Experiment(
            "ptb_lstm_small", _ZAREMBA + " (non-regularized LSTM)", "test_perplexity", 114.5,
            "zoo.train", ("--model=lstm_lm_small", *_PTB), "35 min", "3 min",
        ),
        Experiment(
            "ptb_lstm_medium", _ZAREMBA + " (medium regularized LSTM)", "test_perplexity", 82.7,
            "zoo.train", ("--model=lstm_lm_medium", *_PTB), "17 h", "15 min",
        ),
        Experiment(
            "ptb_lstm_large", _ZAREMBA + " (large regularized LSTM)", "test_perplexity", 78.4,
            "zoo.train", ("--model=lstm_lm_large", *_PTB), "3 days", "45 min",
        ),
        Experiment(
            "shakespeare_char_tiny",
            "nanoGPT README (Karpathy 2022): shakespeare_char on a CPU, val loss 'about 1.88'",
            "validation_loss", 1.88, "zoo.train",
            ("--model=transformer_lm_tiny", *_SHAKESPEARE, "--batch_size=12",
             "--train_steps=2000"),
            "3 min", "1 min",
        ),
        Experiment(
            "shakespeare_char_speedrun",
            "nanoGPT's README CPU run reaches val loss 1.8857 (run it beside this one: "
            "../shared/bench/nanogpt_side_by_side.sh); ours: least wall time to 1.886",
            "validation_loss", 1.886, "zoo.train",
            ("--model=transformer_lm_tiny_speedrun", *_SHAKESPEARE, *_NO_EXPORT),
            "40 s", "40 s", time_to=1.886,
        ),
        Experiment(
            "shakespeare_char_small",
            "nanoGPT README (Karpathy 2022): shakespeare_char, best val loss 1.4697",
            "validation_loss", 1.4697, "zoo.train",
            ("--model=transformer_lm_small", *_SHAKESPEARE), "19 h", "5 min",
        ),
        Experiment(
            "sst2_bow", "Bag of words, the baseline keras.io reports at 80.4 (dev)",
            "validation_accuracy", 0.804, "zoo.train", _bow(None, False), "3 min", "1 min",
        ),
        Experiment(
            "sst2_bert_tiny_scratch", _SST2 + ": BERT-Tiny's shape, no pretraining, 3 seeds",
            "validation_accuracy", None, "zoo.train",
            ("--model=bert_tiny", *_FINE_TUNE, "--tokenizer=wordpiece", "--vocab_size=8000",
             *_NO_EXPORT),
            "20 min", "3 min", seeds=3,
        ),
        Experiment(
            "sst2_bert_tiny",
            _SST2 + ": BERT-Tiny (Turc et al. 2019) 83.2, pretrained on 3.3B words; keras.io's "
            "3-layer encoder 85.5. Ours: MLM on WikiText-2 + SST-2 text, then fine-tuned",
            "validation_accuracy", 0.832, "zoo.train",
            ("--model=bert_tiny", *_FINE_TUNE, "--init_from={previous}", *_NO_EXPORT),
            "40 min", "5 min", before=(_PRETRAIN_BERT,), data="mlm_corpus",
        ),
        Experiment(
            "sst2_bert_tiny_imdb",
            _SST2 + ": BERT-Tiny (Turc et al. 2019) 83.2, pretrained on 3.3B words; keras.io's "
            "3-layer encoder 85.5. Ours: rotary BERT-Tiny, masked LM on IMDB reviews (6k steps), "
            "1 epoch of fine-tuning, 3 seeds",
            "validation_accuracy", 0.832, "zoo.train",
            ("--model=bert_tiny", *_FINE_TUNE, "--init_from={previous}", "--epochs=1",
             *_NO_EXPORT),
            "45 min", "5 min", before=(_PRETRAIN_BERT_IMDB,), seeds=3,
        ),
        Experiment(
            "sst2_gpt_tiny",
            _SST2 + ": transformer_lm_tiny pretrained as a causal LM on WikiText-2 + SST-2 text, "
            "fine-tuned (last-token pooling)",
            "validation_accuracy", None, "zoo.train",
            ("--model=transformer_lm_tiny", *_FINE_TUNE, "--init_from={previous}", *_NO_EXPORT),
            "25 min", "4 min", before=(_PRETRAIN_GPT,), data="mlm_corpus",
        ),
        Experiment(
            "imdb_bow",
            "Maas et al. 2011, IMDB test accuracy 88.89; NBSVM with bigrams (Wang & Manning "
            "2012) 91.22. Ours: bag of words and hashed bigrams, 512 words (head and tail)",
            "test_accuracy", 0.9122, "zoo.train",
            ("--model=bag_of_words", "--dataset=imdb", "--set=sequence_length=512",
             "--set=truncation=head_tail", *_NO_EXPORT),
            "5 min", "2 min",
        ),
        *(
            Experiment(
                f"sst2_bow_{n}{'_eda' if eda else ''}",
                f"EDA (Wei & Zou 2019) on {n} SST-2 training examples, bag of words"
                + (", augmented" if eda else ", not augmented"),
                "validation_accuracy", None, "zoo.train", _bow(n, eda), "2 min", "1 min",
            )
            for n in (500, 2000) for eda in (False, True)
        ),
        Experiment(
            "squad_bert_tiny_scratch", _SQUAD + ": BERT-Tiny's shape, no pretraining, 2 epochs",
            "validation_f1", None, "zoo.train",
            ("--model=bert_tiny", "--task=question_answering", "--dataset=squad",
             "--learning_rate=1e-3", *_NO_EXPORT),
            "110 min", "10 min",
        ),
        Experiment(
            "squad_bert_tiny",
            _SQUAD + ": BERT-Tiny (Turc et al. 2019) 32.5, pretrained on 3.3B words. Ours: MLM "
            "on WikiText-2 + SQuAD training passages (10k steps), then 1 epoch of fine-tuning",
            "validation_f1", 32.5, "zoo.train",
            ("--model=bert_tiny", "--task=question_answering", "--dataset=squad",
             "--init_from={previous}", "--epochs=1", *_NO_EXPORT),
            "90 min", "10 min", before=(_PRETRAIN_BERT_SQUAD,), data="squad_mlm_corpus",
        ),
        Experiment(
            "spa_eng_transformer",
            "Tatoeba English-Spanish (our seeded 70/15/15 split), test sacreBLEU with 4 beams; "
            "for scale only: OPUS-MT reports 55.1 on Tatoeba-test, trained on far more data",
            "test_bleu", None, "zoo.train", ("--model=transformer_seq2seq_small",),
            "60 min", "5 min",
        ),
        Experiment(
            "spa_eng_lstm_attention",
            "The TensorFlow NMT tutorial's attention LSTM on the same split, test sacreBLEU",
            "test_bleu", None, "zoo.train", ("--model=lstm_seq2seq_attention",),
            "60 min", "5 min",
        ),
        Experiment(
            "aeslc_transformer",
            "Zhang & Tetreault 2019 AESLC email -> subject line, test ROUGE-L F against the "
            "three annotations (rouge-score, Porter stemmer); ours: transformer_summarizer_small "
            "from scratch, 4 beams, beside the lead-N-words baseline (N tuned on dev)",
            "test_rougeL", 23.44, "zoo.train", ("--model=transformer_summarizer_small",),
            "50 min", "5 min", baseline="aeslc_lead",
        ),
        Experiment(
            "aeslc_transformer_copy",
            "As aeslc_transformer, with a copy mechanism (See et al. 2017's pointer-generator: "
            "transformer_summarizer_copy)",
            "test_rougeL", 23.44, "zoo.train", ("--model=transformer_summarizer_copy",),
            "50 min", "5 min", baseline="aeslc_lead",
        ),
        Experiment(
            "wikitext2_lstm_medium",
            "Zaremba et al. 2014's medium LSTM on WikiText-2 (no figure we can vouch for)",
            "test_perplexity", None, "zoo.train",
            ("--model=lstm_lm_medium", "--dataset=wikitext2", "--tokenizer=word"),
            "3 days", "30 min",
        ),
    ]
}

RUNTIME_NOTE = (
    "Runtimes are estimates: CPU from tools/benchmark_train.py throughput on the 2-core "
    "reference machine times the recipe's tokens; GPU guessed for one modern datacenter GPU, "
    "not measured."
)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def print_list() -> None:
    name = max(len(e.name) for e in EXPERIMENTS.values()) + 2
    metric = max(len(e.metric) for e in EXPERIMENTS.values()) + 2
    print(f"{'experiment':<{name}}{'metric':<{metric}}{'paper':>8}  {'CPU':>8}  {'GPU':<10}  "
          "source")
    for e in EXPERIMENTS.values():
        paper = "n/a" if e.paper is None else f"{e.paper:g}"
        gpu = e.gpu.split(" (")[0]
        print(f"{e.name:<{name}}{e.metric:<{metric}}{paper:>8}  {e.cpu:>8}  {gpu:<10}  {e.source}")
    print(RUNTIME_NOTE)


def run(command: list[str]) -> None:
    """Runs `command`, its output going straight to ours; a failure is a one-line error."""
    print("$ " + " ".join(command), flush=True)
    status = subprocess.run(command).returncode
    if status:
        raise RuntimeError(f"{' '.join(command[1:4])} ... failed with exit status {status}")


def mlm_corpus(runs_dir: str) -> str:
    """Pretraining text: WikiText-2 and the SST-2 training sentences, lowercased (SST-2 is),
    one folder with train.txt and valid.txt (WikiText-2's validation split)."""
    from zoo.startup import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tasks.data import load_corpus, load_labelled

    folder = os.path.join(runs_dir, "data", "mlm_corpus")
    if not os.path.isfile(os.path.join(folder, "valid.txt")):
        os.makedirs(folder, exist_ok=True)
        wiki = load_corpus("wikitext2")
        sentences = load_labelled("sst2").split("train")[0]
        text = wiki.split("train").lower() + "\n" + "\n".join(sentences) + "\n"
        with open(os.path.join(folder, "train.txt"), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(folder, "valid.txt"), "w", encoding="utf-8") as f:
            f.write(wiki.split("validation").lower())
    return folder


def squad_mlm_corpus(runs_dir: str) -> str:
    """Pretraining text for SQuAD: WikiText-2 and each distinct SQuAD training passage, cased
    (the dev passages stay unseen), with WikiText-2's validation split as valid.txt."""
    from zoo.startup import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tasks.data import load_corpus
    from tasks.question_answering.squad import load_questions

    folder = os.path.join(runs_dir, "data", "squad_mlm_corpus")
    if not os.path.isfile(os.path.join(folder, "valid.txt")):
        os.makedirs(folder, exist_ok=True)
        wiki = load_corpus("wikitext2")
        passages = dict.fromkeys(q.context for q in load_questions("squad").split("train"))
        with open(os.path.join(folder, "train.txt"), "w", encoding="utf-8") as f:
            f.write(wiki.split("train") + "\n" + "\n".join(passages) + "\n")
        with open(os.path.join(folder, "valid.txt"), "w", encoding="utf-8") as f:
            f.write(wiki.split("validation"))
    return folder


DATA_STEPS = {"mlm_corpus": mlm_corpus, "squad_mlm_corpus": squad_mlm_corpus}


def aeslc_lead(split: str) -> dict:
    """The lead baseline on AESLC: each email's first N words, N (1..20) best by dev ROUGE-L,
    scored on `split` against the annotations as our model is."""
    from zoo.startup import import_tensorflow_quietly

    import_tensorflow_quietly()
    from tasks.summarization.rouge import lead_summaries, rouge_scores
    from tasks.summarization.summaries import load_references, load_summaries

    examples = load_summaries("aeslc")

    def scores(part: str, words: int) -> dict:
        emails = examples.split(part)[0]
        refs = load_references("aeslc", examples, part).references
        return rouge_scores(lead_summaries(emails, words), refs)

    best = max(range(1, 21), key=lambda n: scores("validation", n)["rougeL"])
    found = scores(split, best)
    return {"lead_words": best, **{f"lead_{k}": found[k] for k in ("rouge1", "rouge2", "rougeL")}}


BASELINES = {"aeslc_lead": aeslc_lead}


def reproduce(experiment: Experiment, runs_dir: str, extra: list[str]) -> dict:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    model_dir = os.path.join(runs_dir, f"{experiment.name}-{stamp}")
    began = time.time()
    commands, run_dirs = recipe_commands(experiment, model_dir, runs_dir, extra)
    for command in commands:
        run(command)
    figures = [read_figures(experiment, run_dir) for run_dir in run_dirs]
    values = [f[experiment.key] for f in figures]
    result = {
        "experiment": experiment.name,
        "metric": experiment.metric,
        "ours": sum(values) / len(values),
        "paper": experiment.paper,
        "source": experiment.source,
        "model_dir": run_dirs[0],
        "seconds": round(time.time() - began, 1),
        "commands": [" ".join(c[1:]) for c in commands],
        "extra_flags": extra,
    }
    if len(run_dirs) > 1:
        result.update(model_dirs=run_dirs, seed_values=values)
    if experiment.time_to is not None:
        result.update(time_to_loss(model_dir, experiment.time_to))
    # ROUGE-1 and -2 go beside ROUGE-L, exact match beside F1, as the papers give them.
    for key in ("rouge1", "rouge2", "exact_match"):
        if key in figures[0] and key != experiment.key:
            result[key] = sum(f[key] for f in figures) / len(figures)
    if experiment.baseline:
        result.update(BASELINES[experiment.baseline](experiment.split))
    with open(os.path.join(runs_dir, f"{experiment.name}.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return result


def recipe_commands(experiment: Experiment, model_dir: str, runs_dir: str,
                    extra: list[str]) -> tuple[list[list[str]], list[str]]:
    """The commands that run `experiment` (its data step runs now), and the run directories of
    its last stage, one per seed."""
    python = sys.executable
    values = {"data": DATA_STEPS[experiment.data](runs_dir) if experiment.data else ""}
    commands = []
    for number, stage in enumerate(experiment.before):
        stage_dir = f"{model_dir}-stage{number + 1}"
        flags = [flag.format(**values) for flag in stage.flags]
        commands.append([python, "-m", stage.trainer, *flags, f"--model_dir={stage_dir}", *extra])
        values["previous"] = stage_dir
    flags = [flag.format(**values) for flag in experiment.flags]
    if experiment.seeds == 1:
        runs = [(model_dir, [])]
    else:
        runs = [(f"{model_dir}-seed{seed}", [f"--seed={seed}"]) for seed in range(experiment.seeds)]
    for run_dir, seed in runs:
        commands.append([python, "-m", experiment.trainer, *flags, f"--model_dir={run_dir}",
                         *seed, *extra])
        if experiment.trainer == "zoo.train":
            commands.append([python, "-m", "zoo.evaluate", f"--model_dir={run_dir}",
                             f"--split={experiment.split}"])
    return commands, [run_dir for run_dir, _ in runs]


def read_figures(experiment: Experiment, run_dir: str) -> dict[str, float]:
    """The numbers `zoo.evaluate` (or the n-gram trainer) wrote for the experiment's split."""
    path = os.path.join(run_dir, f"eval_{experiment.split}.json")
    try:
        with open(path, encoding="utf-8") as f:
            figures = json.load(f)
        figures[experiment.key] = float(figures[experiment.key])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RuntimeError(f"cannot read {experiment.key} from {path}: {e!r}") from None
    return {k: v for k, v in figures.items() if isinstance(v, (int, float))}


def time_to_loss(model_dir: str, target: float) -> dict:
    """When the run's validation loss first reached `target`: seconds from the start of the
    training process (metrics.jsonl's process_seconds, written as each evaluation ends)."""
    with open(os.path.join(model_dir, "metrics.jsonl"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    for record in records:
        if record["validation"]["loss"] <= target:
            return {"target_loss": target, "seconds_to_target": record["process_seconds"],
                    "step_at_target": record["step"]}
    return {"target_loss": target, "seconds_to_target": None, "step_at_target": None}


def result_line(result: dict) -> str:
    digits = 2 if result["metric"].endswith(("perplexity", "bleu", "f1", "rougeL")) else 4
    if result["metric"].endswith("accuracy"):
        digits = 3
    paper = "n/a" if result["paper"] is None else f"{result['paper']:g}"
    ours = f"{result['ours']:.{digits}f}"
    line = f"{result['experiment']} {result['metric']} ours={ours} paper={paper}"
    if "seed_values" in result:
        values = result["seed_values"]
        line += (f" (mean of {len(values)} seeds: " + " ".join(f"{v:.{digits}f}" for v in values)
                 + f"; spread {max(values) - min(values):.{digits}f})")
    if "exact_match" in result:
        line += f" exact_match={result['exact_match']:.2f}"
    if "rouge1" in result:
        line += f" rouge1={result['rouge1']:.2f} rouge2={result['rouge2']:.2f}"
    if "lead_words" in result:
        line += (f" lead{result['lead_words']}: rouge1={result['lead_rouge1']:.2f} "
                 f"rouge2={result['lead_rouge2']:.2f} rougeL={result['lead_rougeL']:.2f}")
    if "target_loss" in result:
        reached = result["seconds_to_target"]
        line += (f" time_to_{result['target_loss']:g}=" +
                 ("not reached" if reached is None else
                  f"{reached:.1f}s (step {result['step_at_target']}, from process start)"))
    return line


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        epilog="Unknown flags after the experiment go to the trainer.",
    )
    parser.add_argument("experiment", nargs="?", help="one of: " + ", ".join(EXPERIMENTS))
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument("--runs_dir", default=os.path.join("runs", "reproduce"),
                        help="where run directories and <experiment>.json go")
    args, extra = parser.parse_known_args(argv)
    try:
        if args.list:
            print_list()
            return 0
        if args.experiment not in EXPERIMENTS:
            given = "no experiment given" if args.experiment is None else (
                f"unknown experiment {args.experiment!r}")
            raise UsageError(f"{given}; choose one of: {', '.join(EXPERIMENTS)} (see --list)")
        os.makedirs(args.runs_dir, exist_ok=True)
        result = reproduce(EXPERIMENTS[args.experiment], args.runs_dir, extra)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    print(result_line(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
