"""`python -m zoo.generate`: continue prompts with a trained run or an exported SavedModel.

    python -m zoo.generate --model_dir=runs/<run> --prompt="ROMEO:" --max_new_tokens=200
    python -m zoo.generate --model_dir=runs/<run> --prompt=a --prompt=b --num_samples=3 \\
        --temperature=0.8 --top_k=40 --stop=$'\\n\\n'
    python -m zoo.generate --saved_model=saved_models/<name>/<version> --prompt="ROMEO:"
    python -m zoo.generate --model_dir=runs/<run> --jit_compile --max_new_tokens=1000

--model_dir rebuilds the run from its config.json, tokenizer/ and latest checkpoint
(`zoo.runs.load_run`) and decodes with `tasks.decoding.generate`; --jit_compile compiles its loop
with XLA (faster for long generations after a few seconds of compiling; samples differ from the
plain loop's). --saved_model calls the export's `generate` signature, as a TF Serving client
would; beams, n-gram bans and stop tokens are fixed at export time there. Sample i of a prompt
uses seed --seed + i. Each sample prints as its prompt and its continuation; with several, a
`--- prompt p, sample i ---` line comes first. A --stop text ends a continuation after its first
occurrence; one that is a single token also stops decoding there.
"""

from __future__ import annotations

import numpy as np
from absl import flags

from tasks.sampling_config import SamplingConfig
from zoo import cli
from zoo.config import ConfigError
from zoo.sampling_flags import define_sampling_flags, sampling_config_from_flags

flags.DEFINE_string("model_dir", None, "Run directory written by zoo.train.")
flags.DEFINE_string("saved_model", None, "An exported version: saved_models/<name>/<version>.")
flags.DEFINE_multi_string("prompt", None, "Text to continue (repeatable; default: a newline).")
flags.DEFINE_integer("num_samples", 1, "Samples per prompt (sample i uses seed --seed + i).")
define_sampling_flags()
flags.DEFINE_multi_string("stop", [], "Text that ends a continuation (repeatable).")
flags.DEFINE_bool(
    "jit_compile", False, "--model_dir only: compile the decoding loop with XLA (not the export)."
)
FLAGS = flags.FLAGS


def sampling_config(stop_token_ids: tuple[int, ...] = ()) -> SamplingConfig:
    """The sampling flags, checked (a bad value is a ConfigError naming it)."""
    if FLAGS.num_samples < 1:
        raise ConfigError(f"--num_samples must be >= 1, got {FLAGS.num_samples}")
    return sampling_config_from_flags(stop_token_ids)


def generate(prompts: list[str]) -> list[str]:
    """Each prompt (already repeated per sample) with its continuation, from --model_dir's run
    or --saved_model's export (`zoo.pipelines.LanguageModel`)."""
    from zoo.pipelines import load

    sampling = check_flags()
    settings = dict(
        max_new_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
        top_k=sampling.top_k, top_p=sampling.top_p, seed=seeds(len(prompts)), stop=FLAGS.stop,
    )
    if not FLAGS.saved_model:
        settings.update(num_beams=sampling.num_beams,
                        no_repeat_ngram_size=sampling.no_repeat_ngram_size,
                        jit_compile=FLAGS.jit_compile)
    lm = load(cli.source_path(FLAGS.model_dir, FLAGS.saved_model), task="causal_lm")
    return lm.generate(prompts, **settings)


def check_flags() -> SamplingConfig:
    """The sampling flags, checked, and none that an export fixes given for one."""
    sampling = sampling_config()
    if FLAGS.saved_model:  # fixed at export time: a flag given for them is refused here
        for name in ("num_beams", "no_repeat_ngram_size"):
            if FLAGS[name].present:
                raise ConfigError(f"--{name} is fixed when a model is exported; drop it here")
        if FLAGS.jit_compile:
            raise ConfigError("--jit_compile applies to --model_dir; an export always runs "
                              "without XLA")
    return sampling


def seeds(batch: int) -> np.ndarray:
    """Sample i of each prompt draws with seed --seed + i."""
    return (FLAGS.seed + np.arange(batch) % FLAGS.num_samples).astype(np.int32)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
        raise ConfigError("give exactly one of --model_dir and --saved_model")
    check_flags()  # bad flags fail before anything loads
    prompts = cli.check_utf8(FLAGS.prompt or ["\n"], "--prompt")
    repeated = [p for p in prompts for _ in range(FLAGS.num_samples)]
    cli.source_path(FLAGS.model_dir, FLAGS.saved_model)  # it exists
    cli.start_tensorflow()
    texts = generate(repeated)
    for i, text in enumerate(texts):
        if len(repeated) > 1:
            prompt_number, sample = divmod(i, FLAGS.num_samples)
            print(f"--- prompt {prompt_number + 1}, sample {sample + 1} ---")
        print(text, flush=True)


if __name__ == "__main__":
    cli.run(main, prog="zoo.generate")
