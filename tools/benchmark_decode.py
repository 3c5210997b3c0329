"""Greedy decoding speed: the key/value cache against recomputing the whole window every step.

    python tools/benchmark_decode.py                       # transformer_lm_tiny, batch 1 and 8
    python tools/benchmark_decode.py --batch_sizes=4 --new_tokens=512
    python tools/benchmark_decode.py --jit_compile                # both methods under XLA

Both run greedy decoding of `--new_tokens` tokens on a randomly initialised preset, by default
inside a plain tf.function (no XLA, as TF Serving runs it). "cached" is `tasks.decoding.generate`:
one prefill, then one token per step against the cache. "recompute" runs the full forward pass
over the visible window at every step. Both see the same window (generate's rule: past the
context, restart from its last half), so they must pick identical tokens; the script checks that.
Prints ms per step (one token for every row of the batch) and the speedup.

With a translation preset (`--model=transformer_seq2seq_small`) it times sentences per second at
each batch size, greedy and with 4 beams, for the decoder reading the source's cross-attention
keys and values computed once per sentence (what the export does) against recomputing them from
the encoder outputs at every step; every sentence decodes `--new_tokens` tokens (no early stop).
`--saved_model=saved_models/<translation>/<version>` also times the export's `translate`
signature on real sentences (`--text`, stopping at </s> as served).

With --jit_compile both loops are compiled with XLA (in-process generation only: TF Serving
cannot run it). XLA needs fixed shapes, so recompute then runs the whole context-sized window
from the window's start every step and reads the logits at the last real position (causal
attention makes them those of the shorter window): while a window fills it does up to
C / (average window length) more work than the plain version.
"""

from __future__ import annotations

import os
import time

import numpy as np
from absl import app, flags

flags.DEFINE_string("model", "transformer_lm_tiny", "Zoo preset (a Transformer).")
flags.DEFINE_integer("vocab_size", 65, "Vocabulary size (65: Tiny Shakespeare's characters).")
flags.DEFINE_list("batch_sizes", ["1", "8"], "Batch sizes to time.")
flags.DEFINE_integer("new_tokens", 256, "Tokens generated per row.")
flags.DEFINE_integer("prompt_length", 8, "Tokens in each (random) prompt.")
flags.DEFINE_integer("repeats", 3, "Timed runs per method after one untimed (tracing) run.")
flags.DEFINE_integer(
    "threads",
    1,
    "TensorFlow inter- and intra-op threads (0: TensorFlow's default). A decoding step is "
    "hundreds of tiny ops run one after another, which extra threads only hand around.",
)
flags.DEFINE_float(
    "initializer_range",
    0.5,
    "Weight scale. GPT-2's 0.02 gives near-flat random logits whose argmax ties break "
    "differently under different summation orders; wider weights make the check meaningful.",
)
flags.DEFINE_bool("jit_compile", False, "Compile both decoding loops with XLA.")
flags.DEFINE_string("saved_model", None, "A translation export to time (with its tokenizer).")
flags.DEFINE_string("text", "Where is the train station? I would like to buy a ticket.",
                    "The sentence --saved_model translates.")
FLAGS = flags.FLAGS


def recompute_generate(model, new_tokens: int, jit_compile: bool = False):
    """Greedy decoding without a cache, as a tf.function of the prompt ids [B, P]."""
    import tensorflow as tf

    window = model.context_length
    room = window if jit_compile else 0  # a full window from any start stays inside `tokens`

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)], jit_compile=jit_compile)
    def run(prompt_ids):
        prompt_ids = prompt_ids[:, -(window - 1) :]  # generate's prompt rule
        length = tf.shape(prompt_ids)[1]
        tokens = tf.pad(prompt_ids, [[0, 0], [0, new_tokens + room]])
        columns = tf.range(length + new_tokens + room)[None, :]

        def body(position, start, tokens):
            if jit_compile:  # fixed shapes: the whole window, read at position - 1
                visible = tf.slice(tokens, [0, start], [-1, window])
                logits = tf.gather(model(visible, training=False), position - 1 - start, axis=1)
            else:
                logits = model(tokens[:, start:position], training=False)[:, -1]
            token = tf.argmax(logits, axis=-1, output_type=tf.int32)
            tokens = tf.where(columns == position, token[:, None], tokens)
            # The window now ends at position + 1; past the context it restarts from its half.
            start = tf.where(position + 1 - start > window, position + 1 - window // 2, start)
            return position + 1, start, tokens

        _, _, tokens = tf.while_loop(
            lambda position, *_: position < length + new_tokens,
            body,
            (length, tf.constant(0), tokens),
        )
        return tokens[:, length : length + new_tokens]

    return run


def cached_generate(model, new_tokens: int, jit_compile: bool = False):
    import tensorflow as tf

    from tasks.decoding import generate

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def run(prompt_ids):
        lengths = tf.fill(tf.shape(prompt_ids)[:1], tf.shape(prompt_ids)[1])
        new_ids, _ = generate(
            model, prompt_ids, lengths, max_new_tokens=new_tokens, jit_compile=jit_compile
        )
        return new_ids

    return run


def best_time(function, prompt_ids, repeats: int) -> tuple[float, np.ndarray]:
    out = function(prompt_ids).numpy()  # traces
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        out = function(prompt_ids).numpy()
        times.append(time.perf_counter() - began)
    return min(times), out


def translation_speeds(model, batch_sizes, new_tokens: int, repeats: int) -> None:
    """Sentences/s: cross-attention keys and values once per source vs at every step."""
    import tensorflow as tf

    from tasks.decoding import generate
    from tasks.text_to_text.model import SourceConditioned

    class Recomputing(SourceConditioned):
        """The decoder recomputing every layer's cross-attention keys and values each step."""

        def initial_decoding_state(self, batch_size, max_length):
            state = super().initial_decoding_state(batch_size, max_length)
            return {"self": state["self"], "encoded": tf.repeat(
                self.encoded, batch_size // tf.shape(self.encoded)[0], axis=0),
                "source_mask": state["source_mask"]}

        def decode(self, token_ids, state, index):
            blocks = self.model.backbone.decoder.blocks
            full = {"self": state["self"], "source_mask": state["source_mask"],
                    "cross": tuple(b.cross_attention_cache(state["encoded"]) for b in blocks)}
            logits, full = super().decode(token_ids, full, index)
            return logits, {**state, "self": full["self"]}

    def timed(kind, beams):
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
        def run(source):
            mask = tf.ones_like(source)
            lm = kind(model, model.encode(source, mask), mask)
            batch = tf.shape(source)[0]
            return generate(lm, tf.ones([batch, 1], tf.int32), tf.ones([batch], tf.int32),
                            max_new_tokens=new_tokens, num_beams=beams)[0]
        return run

    rng = np.random.default_rng(0)
    for beams in (1, 4):
        once, every = timed(SourceConditioned, beams), timed(Recomputing, beams)
        for batch in batch_sizes:
            source = rng.integers(3, model.vocab_size, (batch, 12)).astype(np.int32)
            fast, fast_ids = best_time(once, source, repeats)
            slow, slow_ids = best_time(every, source, repeats)
            print(f"  {beams} beam(s), batch {batch}: {batch / fast:,.1f} sentences/s with the "
                  f"source's keys/values computed once, {batch / slow:,.1f} recomputed each "
                  f"step: {slow / fast:.2f}x; identical: "
                  f"{'yes' if np.array_equal(fast_ids, slow_ids) else 'NO'}")


def export_speeds(path: str, text: str, batch_sizes, repeats: int) -> None:
    """Sentences/s of a translation export's `translate` signature, greedy and 4 beams."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    translate = tf.saved_model.load(path).signatures["translate"]
    for beams in (1, 4):
        for batch in batch_sizes:
            inputs = dict(texts=tf.constant([text] * batch), num_beams=tf.fill([batch], beams),
                          max_new_tokens=tf.zeros([batch], tf.int32))
            translate(**inputs)
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                out = translate(**inputs)["translations"].numpy()
                times.append(time.perf_counter() - began)
            print(f"  export, {beams} beam(s), batch {batch}: {batch / min(times):,.1f} "
                  f"sentences/s ({out[0].decode()[:40]!r})")


def main(argv: list[str]) -> None:
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    if FLAGS.threads:
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    from zoo.builders import build

    keras.utils.set_random_seed(0)
    batch_sizes = [int(b) for b in FLAGS.batch_sizes]
    if FLAGS.saved_model:
        print(f"{FLAGS.saved_model}: the translate signature, threads={FLAGS.threads or 'default'}")
        export_speeds(FLAGS.saved_model, FLAGS.text, batch_sizes, FLAGS.repeats)
        return
    from zoo.registry import get_preset

    if get_preset(FLAGS.model).task == "translation":
        model = build(FLAGS.model, FLAGS.vocab_size)
        print(f"{FLAGS.model}: {model.count_params():,} parameters, vocab {FLAGS.vocab_size}, "
              f"{FLAGS.new_tokens} new tokens per 12-token source, plain tf.function, "
              f"threads={FLAGS.threads or 'default'}")
        translation_speeds(model, batch_sizes, FLAGS.new_tokens, FLAGS.repeats)
        return
    model = build(FLAGS.model, FLAGS.vocab_size, initializer_range=FLAGS.initializer_range)
    print(
        f"{FLAGS.model}: {model.count_params():,} parameters, context {model.context_length}, "
        f"vocab {FLAGS.vocab_size}, {FLAGS.new_tokens} new tokens after a "
        f"{FLAGS.prompt_length}-token prompt, greedy, tf.function "
        f"{'with XLA (jit_compile)' if FLAGS.jit_compile else 'without XLA'}, "
        f"threads={FLAGS.threads or 'default'}"
    )
    cached = cached_generate(model, FLAGS.new_tokens, FLAGS.jit_compile)
    recompute = recompute_generate(model, FLAGS.new_tokens, FLAGS.jit_compile)
    rng = np.random.default_rng(0)
    identical = True
    for batch in (int(b) for b in FLAGS.batch_sizes):
        prompt = rng.integers(0, FLAGS.vocab_size, (batch, FLAGS.prompt_length)).astype(np.int32)
        fast, fast_ids = best_time(cached, prompt, FLAGS.repeats)
        slow, slow_ids = best_time(recompute, prompt, FLAGS.repeats)
        same = np.array_equal(fast_ids, slow_ids)
        identical &= same
        per_step = 1000 / FLAGS.new_tokens
        print(
            f"  batch {batch}: cached {fast * per_step:.2f} ms/token, "
            f"recompute {slow * per_step:.2f} ms/token, speedup {slow / fast:.1f}x, "
            f"identical tokens: {'yes' if same else 'NO'}"
        )
    if not identical:
        raise SystemExit("cached and recomputed decoding disagree")


if __name__ == "__main__":
    app.run(main)
