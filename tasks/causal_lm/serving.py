"""The causal-LM task's serving signatures: raw text in, text or scores out.

TF Serving runs the exported graph with nothing of ours around it, so everything a request needs
lives inside the signatures: the tokenizer (its tables are tracked by the export), the decoding
loop, and input checks that fail with InvalidArgument and a message a client can act on.

    serving_default  prompts string [b]
                     -> text string [b], token_ids int32 [b, N], lengths int32 [b]
    generate         prompts string [b], max_new_tokens int32 [b], temperature float32 [b],
                     top_k int32 [b], top_p float32 [b], seed int32 [b]
                     -> as serving_default
    score            texts string [b]
                     -> log_likelihood float32 [b], num_tokens int32 [b], perplexity float32 [b]
    logits           token_ids int32 [b, time] -> logits float32 [b, time, vocab]

Generation returns the continuation only (not the prompt). `token_ids` holds the new ids, right-
padded to the longest row; `lengths` says how many are real. `text` is that continuation decoded
and made valid UTF-8 (a byte-level model can stop mid-character; broken bytes become U+FFFD), so
REST writes it as a plain JSON string. A prompt longer than the model's context keeps its last
`context` tokens.

`score` predicts every token of a text but the first: `num_tokens` is the text's token count
minus one, `log_likelihood` the sum of their log-probabilities in nats, and `perplexity`
exp(-log_likelihood / num_tokens). With a `score_window` of L, a text is read as evaluation
reads a split (`LanguageModelingTask.eval_dataset`): non-overlapping windows, inputs
ids[kL:(k+1)L] predicting ids[kL+1:(k+1)L+1], each window from an empty context; without one
(a stateful recurrent run) the text is read in one pass. A text must have at least two tokens.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from tasks.decoding import MAX_NEW_TOKENS_CAP, SamplingConfig, generate
from tasks.request_checks import ServingLimits, after, batch_checks, byte_checks, token_checks

# Tokens fed to the model per forward pass when scoring; bounds the [windows, L, vocab] logits.
SCORE_TOKENS_PER_PASS = 8192
WARMUP_TEXT = "The quick brown fox"

_STRINGS = tf.TensorSpec([None], tf.string)
_INTS = tf.TensorSpec([None], tf.int32)
_FLOATS = tf.TensorSpec([None], tf.float32)
# The per-prompt inputs of `generate`, after `prompts`, as (name, dtype).
_PER_PROMPT = (
    ("max_new_tokens", tf.int32),
    ("temperature", tf.float32),
    ("top_k", tf.int32),
    ("top_p", tf.float32),
    ("seed", tf.int32),
)


def lm_signatures(
    model: Any,
    tokenizer: tf.Module,
    *,
    sampling: SamplingConfig,
    score_window: int | None,
    limits: ServingLimits | None = None,
) -> dict[str, tf.types.experimental.PolymorphicFunction]:
    """The four serving signatures, as traced tf.functions keyed by signature name.

    Args:
        model: a `tasks.protocols.LanguageModel`; `context_length`, when it has one, bounds T.
        tokenizer: a `tasks.data.Tokenizer` (`tf_tokenize`, `tf_detokenize`, `vocab_size`).
        sampling: the export's defaults: `serving_default` uses all of them, `generate` those
            its inputs do not override (beams, n-gram bans, stop tokens).
        score_window: tokens per scoring window (the run's sequence length), or None to read
            each text in one pass.
        limits: what one request may ask: texts, tokens sent, tokens generated.
    """
    signatures = _LanguageModelSignatures(model, tokenizer, sampling, score_window,
                                          limits or ServingLimits()).functions()
    for function in signatures.values():
        function.get_concrete_function()  # trace now: the export needs concrete functions
    return signatures


def warmup_requests() -> list[tuple[str, dict[str, np.ndarray]]]:
    """One small request per signature (TF Serving replays them before taking traffic)."""
    prompts = np.array([WARMUP_TEXT.encode()], dtype=object)
    one = {"max_new_tokens": 4, "temperature": 0.8, "top_k": 10, "top_p": 0.9, "seed": 1}
    generate_inputs = {
        name: np.array([one[name]], dtype.as_numpy_dtype) for name, dtype in _PER_PROMPT
    }
    return [
        ("serving_default", {"prompts": prompts}),
        ("generate", {"prompts": prompts, **generate_inputs}),
        ("score", {"texts": prompts}),
        ("logits", {"token_ids": np.zeros([1, 2], np.int32)}),
    ]


class _LanguageModelSignatures:
    """The signatures' bodies, and the input checks they share."""

    def __init__(self, model, tokenizer, sampling: SamplingConfig, score_window,
                 limits: ServingLimits):
        self.model = model
        self.tokenizer = tokenizer
        self.sampling = sampling
        self.score_window = score_window
        self.limits = limits
        self.max_tokens = limits.max_input_tokens
        self.context = getattr(model, "context_length", None)
        self.vocab_size = int(tokenizer.vocab_size)

    def functions(self) -> dict[str, Any]:
        generate_signature = tf.function(
            self.generate, input_signature=[_STRINGS] + [_INTS, _FLOATS, _INTS, _FLOATS, _INTS],
            autograph=False,
        )

        @tf.function(autograph=False, input_signature=[_STRINGS])
        def serving_default(prompts):
            batch = tf.shape(prompts)[:1]
            defaults = dataclasses.asdict(self.sampling)
            values = [tf.fill(batch, tf.constant(defaults[name], dtype)) for name, dtype in
                      _PER_PROMPT]
            # Calls the traced `generate`: one decoding graph in the SavedModel, not two.
            return generate_signature(prompts, *values)

        return {
            "serving_default": serving_default,
            "generate": generate_signature,
            "score": tf.function(self.score, input_signature=[_STRINGS], autograph=False),
            "logits": tf.function(
                self.logits, input_signature=[tf.TensorSpec([None, None], tf.int32)],
                autograph=False,
            ),
        }

    # ----------------------------------------------------------------------------- signatures

    def generate(self, prompts, max_new_tokens, temperature, top_k, top_p, seed):
        per_prompt = dict(zip([name for name, _ in _PER_PROMPT],
                              [max_new_tokens, temperature, top_k, top_p, seed]))
        with tf.control_dependencies(self._generate_checks(prompts, per_prompt)):
            ids = self._tokenize(prompts, "prompts", min_tokens=1)
        if self.context is not None:
            ids = ids[:, -self.context :]  # generate would drop these too; this bounds the padding
        fixed = {k: getattr(self.sampling, k)
                 for k in ("num_beams", "no_repeat_ngram_size", "stop_token_ids")}
        new_ids, new_lengths = generate(
            self.model, ids.to_tensor(), tf.cast(ids.row_lengths(), tf.int32),
            **per_prompt, **fixed,
        )
        new_ids, new_lengths = tf.cast(new_ids, tf.int32), tf.cast(new_lengths, tf.int32)
        text = self.tokenizer.tf_detokenize(
            tf.RaggedTensor.from_tensor(new_ids, lengths=new_lengths)
        )
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        return {"text": text, "token_ids": new_ids, "lengths": new_lengths}

    def score(self, texts):
        ids = self._tokenize(texts, "texts", min_tokens=2)
        log_likelihood = -_windowed_token_losses(self.model, ids, self.score_window)
        num_tokens = tf.cast(ids.row_lengths(), tf.int32) - 1
        perplexity = tf.exp(-log_likelihood / tf.cast(num_tokens, tf.float32))
        return {"log_likelihood": log_likelihood, "num_tokens": num_tokens,
                "perplexity": perplexity}

    def logits(self, token_ids):
        shape = tf.shape(token_ids)
        checks = [
            tf.debugging.assert_positive(shape[0], message="token_ids: the batch is empty"),
            tf.debugging.assert_positive(shape[1], message="token_ids: time must be >= 1"),
            tf.debugging.assert_non_negative(token_ids, message="token_ids must be >= 0"),
            tf.debugging.assert_less(
                token_ids, self.vocab_size,
                message=f"token_ids must be < the vocabulary, {self.vocab_size}",
            ),
        ]
        if self.context is not None:
            checks.append(tf.debugging.assert_less_equal(
                shape[1], self.context,
                message=f"token_ids: time must be <= the context, {self.context}",
            ))
        with tf.control_dependencies(checks):
            out = self.model(tf.identity(token_ids), training=False)
        return {"logits": tf.cast(out, tf.float32)}

    # ----------------------------------------------------------------------------- checks

    def _tokenize(self, texts: tf.Tensor, what: str, min_tokens: int) -> tf.RaggedTensor:
        """Tokenized `texts`, failing with InvalidArgument on an empty batch or a bad length."""
        first = [*batch_checks(texts, what), *byte_checks(texts, self.limits, what)]
        ids = self.tokenizer.tf_tokenize(after(first, texts))
        lengths = ids.row_lengths()
        checks = [
            tf.debugging.assert_greater_equal(
                lengths, tf.constant(min_tokens, lengths.dtype),
                message=f"{what}: every entry must tokenize to at least {min_tokens} token(s); "
                "an empty string has none",
            ),
            tf.debugging.assert_less_equal(
                lengths, tf.constant(self.max_tokens, lengths.dtype),
                message=f"{what}: an entry is longer than {self.max_tokens} tokens",
            ),
        ]
        checks += token_checks(lengths, self.limits, what)
        return after(checks, ids)

    def _generate_checks(self, prompts, per_prompt: dict) -> list:
        batch = tf.shape(prompts)[0]
        checks = [
            tf.debugging.assert_equal(
                tf.shape(value)[0], batch, message=f"generate: {name} needs one value per prompt"
            )
            for name, value in per_prompt.items()
        ]
        max_new, temperature = per_prompt["max_new_tokens"], per_prompt["temperature"]
        top_k, top_p = per_prompt["top_k"], per_prompt["top_p"]
        beams = self.sampling.num_beams
        most = self.limits.max_generate_tokens
        return checks + [
            tf.debugging.assert_less_equal(
                tf.reduce_sum(tf.cast(max_new, tf.int64)) * beams, tf.constant(most, tf.int64),
                message=f"generate: at most {most} new tokens per request (all prompts"
                        + (f" and {beams} beams" if beams > 1 else "") + " together)"),
            tf.debugging.assert_positive(max_new, message="max_new_tokens must be >= 1"),
            tf.debugging.assert_less_equal(
                max_new, MAX_NEW_TOKENS_CAP,
                message=f"max_new_tokens must be <= {MAX_NEW_TOKENS_CAP}",
            ),
            tf.debugging.assert_greater_equal(
                temperature, 0.0, message="temperature must be >= 0 (0 is greedy)"
            ),
            tf.debugging.assert_all_finite(temperature, message="temperature must be finite"),
            tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0 is off)"),
            tf.debugging.assert_positive(top_p, message="top_p must be in (0, 1]"),
            tf.debugging.assert_less_equal(top_p, 1.0, message="top_p must be in (0, 1]"),
        ]


def _windowed_token_losses(model: Any, ids: tf.RaggedTensor, window: int | None) -> tf.Tensor:
    """[batch] summed next-token losses (nats) of each row of `ids`, read in windows of `window`.

    Every window of every text becomes one row of a [windows, window + 1] id matrix (right-padded,
    which a causal model ignores); rows go through the model a few at a time.
    """
    lengths = tf.cast(ids.row_lengths(), tf.int32)
    predicted = lengths - 1
    size = tf.constant(window, tf.int32) if window else tf.reduce_max(predicted)
    per_text = (predicted + size - 1) // size
    owner = tf.repeat(tf.range(tf.size(lengths)), per_text)  # text of each window
    index = tf.ragged.range(per_text).flat_values  # window number within its text
    positions = index[:, None] * size + tf.range(size + 1)[None, :]  # [windows, size + 1]
    length = tf.gather(lengths, owner)[:, None]
    valid = positions < length
    starts = tf.cast(tf.gather(ids.row_starts(), owner), tf.int32)[:, None]
    rows = tf.gather(ids.flat_values, starts + tf.minimum(positions, length - 1))
    rows = tf.where(valid, rows, tf.zeros_like(rows))
    weights = tf.cast(valid[:, 1:], tf.float32)

    # Batches of windows, so a long text or a large batch does not build its logits at once.
    per_pass = tf.maximum(1, SCORE_TOKENS_PER_PASS // size)
    count = tf.shape(rows)[0]
    passes = (count + per_pass - 1) // per_pass
    padding = passes * per_pass - count
    rows = tf.pad(rows, [[0, padding], [0, 0]])
    weights = tf.pad(weights, [[0, padding], [0, 0]])

    def window_losses(chunk):
        chunk_rows, chunk_weights = chunk
        out = tf.cast(model(chunk_rows[:, :-1], training=False), tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(chunk_rows[:, 1:], out)
        return tf.reduce_sum(losses * chunk_weights, axis=1)

    chunked = (
        tf.reshape(rows, [passes, per_pass, size + 1]),
        tf.reshape(weights, [passes, per_pass, size]),
    )
    losses = tf.map_fn(
        window_losses, chunked, fn_output_signature=tf.TensorSpec([None], tf.float32)
    )
    losses = tf.reshape(losses, [-1])[:count]
    return tf.math.unsorted_segment_sum(losses, owner, tf.size(lengths))
