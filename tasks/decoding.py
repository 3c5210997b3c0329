"""Text generation over the zoo's decoding protocol: greedy, sampling and beam search in one loop.

Every zoo language model implements

    initial_decoding_state(batch_size, max_length) -> state
    decode(token_ids [B, t], state, index) -> (float32 logits [B, t, V], state)

A Transformer's state is its key/value cache, an LSTM's its recurrent state; `index` is the absolute
position of `token_ids[:, 0]`. `generate` drives that protocol in a `tf.while_loop` whose state
keeps its shape from step to step, so the same code runs eagerly and inside a plain (non-XLA)
`tf.function` with an unknown batch size: TF Serving runs it without XLA. In-process callers may
pass `jit_compile=True` to compile the loop after the prefill with XLA, which fuses each step's
hundreds of small ops; exports must not (the server cannot run XLA ops).

How it reads the prompts and the context window:

- Prompts are right-padded [B, P] with their lengths. One prefill pass reads every row's first
  `min(lengths)` tokens; then the loop steps one position at a time, forcing each row's own prompt
  tokens until they run out (as keras-hub's samplers do). All rows share absolute positions, so
  each row generates exactly what it would generate alone.
- Models with learned positions expose `context_length` C (their cache size). A longer prompt keeps
  its last C - 1 tokens, so that prompt and at least one new token fit. When the cache is full the
  window slides: the last C // 2 tokens are read again into positions 0.. and decoding continues,
  because the position table ends at C. Models without `context_length` (LSTMs) never slide.

Sampling and reproducibility: per-row temperature, top-k and top-p; temperature 0 is greedy. Each
row draws its Gumbel noise from a stateless RNG keyed by (its seed, its generation step), so its
sample never depends on the other rows of the batch. keras-hub's samplers take one temperature /
k / p for the whole batch and a batch-wide seed, so the sampling is written here instead.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tasks.sampling_config import MAX_NEW_TOKENS_CAP, SamplingConfig, check_loop_options

__all__ = ["MAX_NEW_TOKENS_CAP", "SamplingConfig", "context_length", "generate", "generate_tokens"]

_BEAM_FLOOR = -1e9  # the score of beams that do not exist yet: below any real one, yet finite


def context_length(model: keras.Model) -> int | None:
    """The longest sequence the model can attend over, or None when unbounded (recurrent)."""
    return getattr(model, "context_length", None)


def generate(
    model: keras.Model,
    prompt_ids,
    prompt_lengths,
    *,
    max_new_tokens,
    temperature=0.0,
    top_k=0,
    top_p=1.0,
    seed=0,
    min_new_tokens=0,
    num_beams: int = 1,
    no_repeat_ngram_size: int = 0,
    longest_ngram: int = 0,
    stop_token_ids: Sequence[int] = (),
    length_penalty: float = 0.0,
    return_scores: bool = False,
    jit_compile: bool = False,
) -> tuple[tf.Tensor, ...]:
    """Continues each prompt; returns (new_ids int32 [B, N], new_lengths int32 [B]).

    Args:
        model: a zoo language model (the decoding protocol above).
        prompt_ids: int [B, P], right-padded.
        prompt_lengths: int [B], each in 1..P.
        max_new_tokens, temperature, top_k, top_p, seed: a scalar, or a [B] tensor with one
            value per prompt (a serving request's own settings). temperature 0 is greedy,
            top_k 0 and top_p 1 are off.
        min_new_tokens: a scalar or [B]: no stop token before this many new tokens (a
            summary that must say something); at most max_new_tokens.
        num_beams: beam search width (a Python int). Beam search is deterministic: it ignores
            temperature, top_k, top_p and seed. Beams are ranked by their plain sum of token
            log-probabilities (no length normalisation); a beam that emits a stop token keeps
            its score and its place, so with stop tokens shorter finished beams are favoured.
            Inside a tf.function it may be a scalar int32 tensor (>= 1, checked by the
            caller): one graph then decodes with any width, 1 by beam search too (which picks
            what greedy decoding picks), so a serving signature need not hold a graph per
            width. Sampling needs a Python int.
        no_repeat_ngram_size: n > 0 bans any token that would repeat an n-gram already in the
            prompt or the generated text (unless that would ban every token). Inside a
            tf.function it may be a scalar int32 tensor in 0..`longest_ngram`.
        longest_ngram: the largest `no_repeat_ngram_size` a tensor may hold.
        stop_token_ids: Python ints; a row ends after emitting one (it is kept and counted).
        length_penalty: alpha of GNMT's length normalisation (Wu et al. 2016, as TF Model
            Garden's beam search): each row's best beam is the one with the highest
            score / ((5 + length) / 6) ** alpha. 0 ranks by the plain sum.
        return_scores: also return each row's score [B] float32: the sum of the log-probability
            of every new token (before any length normalisation).
        jit_compile: compile the decoding loop with XLA (in-process generation only: several
            times faster on CPU, but the graph then needs XLA, which TF Serving lacks). The
            first call for each new shape pays for the compilation. XLA draws other random
            numbers, so a seed's samples differ from the plain loop's (greedy and beams agree
            up to float rounding). Ignored with `no_repeat_ngram_size` (its ban has
            data-dependent shapes XLA cannot compile).

    N is the largest `max_new_tokens`; row b's ids past `new_lengths[b]` are 0. Bad values raise
    ValueError when they are known while tracing (eager calls, Python scalars), and otherwise
    fail the graph with InvalidArgumentError (what a SavedModel signature returns).
    """
    dynamic = tf.is_tensor(num_beams) or tf.is_tensor(no_repeat_ngram_size)
    if dynamic and tf.executing_eagerly():
        raise ValueError("num_beams and no_repeat_ngram_size may be tensors only inside a "
                         "tf.function (a serving signature); eagerly, give Python ints")
    options = check_loop_options(
        1 if tf.is_tensor(num_beams) else num_beams,
        longest_ngram if tf.is_tensor(no_repeat_ngram_size) else no_repeat_ngram_size,
        stop_token_ids, getattr(model, "vocab_size", None)
    )
    if tf.is_tensor(num_beams):
        options = (tf.cast(num_beams, tf.int32), *options[1:])
    if tf.is_tensor(no_repeat_ngram_size):
        options = (options[0], _Ngram(tf.cast(no_repeat_ngram_size, tf.int32), options[1]),
                   *options[2:])
    options = (*options, float(length_penalty), bool(return_scores),
               bool(jit_compile) and not options[1] and not dynamic)
    _ensure_built(model)
    inputs = _checked_inputs(
        model, prompt_ids, prompt_lengths, max_new_tokens, temperature, top_k, top_p, seed,
        min_new_tokens,
    )
    if tf.executing_eagerly():
        # One traced loop per model and options, reused by every eager call: stepping the loop
        # op by op in Python would be several times slower.
        return _compiled(model, options)(*inputs)
    return _generate(model, *inputs, *options)


def generate_tokens(
    model: keras.Model,
    prompt_ids: np.ndarray,
    max_new_tokens: int,
    sampling: SamplingConfig | None = None,
    jit_compile: bool = False,
) -> np.ndarray:
    """Appends `max_new_tokens` tokens to each row of `prompt_ids` [B, T]; returns them, [B, N].

    `sampling` defaults to greedy decoding; its `max_new_tokens` is ignored. Any length works:
    MAX_NEW_TOKENS_CAP tokens are asked for at a time, each chunk continuing from everything
    before it (chunk c samples with seed `sampling.seed + c`). `jit_compile` as in `generate`.
    """
    settings = dataclasses.asdict(sampling or SamplingConfig(temperature=0.0))
    prompt_ids = np.asarray(prompt_ids, dtype=np.int32)
    batch = prompt_ids.shape[0]
    pieces = [np.zeros((batch, 0), np.int32)]
    first_seed = settings["seed"]
    for chunk, start in enumerate(range(0, max_new_tokens, MAX_NEW_TOKENS_CAP)):
        settings.update(
            max_new_tokens=min(max_new_tokens - start, MAX_NEW_TOKENS_CAP), seed=first_seed + chunk
        )
        lengths = np.full([batch], prompt_ids.shape[1], np.int32)
        new_ids, _ = generate(model, prompt_ids, lengths, **settings, jit_compile=jit_compile)
        pieces.append(new_ids.numpy())
        prompt_ids = np.concatenate([prompt_ids, pieces[-1]], axis=1)
    return np.concatenate(pieces, axis=1)


# ------------------------------------------------------------------------------- validation


class _Checks:
    """Input checks: a ValueError when the answer is known now, else a graph assertion."""

    def __init__(self) -> None:
        self.assertions: list = []

    def require(self, condition, message: str) -> None:
        known = tf.get_static_value(condition)
        if known is not None:
            if not np.all(known):
                raise ValueError(message)
            return
        self.assertions.append(tf.debugging.Assert(condition, [message]))

    def scalars(self, max_new_tokens, temperature, top_k, top_p) -> None:
        """The range of each per-row parameter, scalar or [B]."""
        max_new_tokens = tf.convert_to_tensor(max_new_tokens, tf.int32)
        temperature = tf.convert_to_tensor(temperature, tf.float32)
        top_k = tf.convert_to_tensor(top_k, tf.int32)
        top_p = tf.convert_to_tensor(top_p, tf.float32)
        self.require(
            tf.reduce_all((max_new_tokens >= 1) & (max_new_tokens <= MAX_NEW_TOKENS_CAP)),
            f"max_new_tokens must be in 1..{MAX_NEW_TOKENS_CAP}",
        )
        # Written so that NaN fails too.
        self.require(tf.reduce_all(temperature >= 0), "temperature must be >= 0 (0 is greedy)")
        self.require(tf.reduce_all(top_k >= 0), "top_k must be >= 0 (0 is off)")
        self.require(
            tf.reduce_all((top_p > 0) & (top_p <= 1)), "top_p must be in (0, 1] (1 is off)"
        )


def _tensor(value, dtype: tf.DType, name: str) -> tf.Tensor:
    """`value` as a `dtype` tensor; integers may become floats, never the other way round."""
    value = tf.convert_to_tensor(value)
    if value.dtype != dtype:
        if not (value.dtype.is_integer or (value.dtype.is_floating and dtype.is_floating)):
            kind = "integers" if dtype.is_integer else "numbers"
            raise ValueError(f"{name} must hold {kind}, got {value.dtype.name}")
        value = tf.cast(value, dtype)
    return value


def _checked_inputs(model, prompt_ids, prompt_lengths, *per_row):
    """The inputs as int32/float32 tensors, [B, P] and six [B]; bad ones fail (see `generate`)."""
    ids = _tensor(prompt_ids, tf.int32, "prompt_ids")
    lengths = _tensor(prompt_lengths, tf.int32, "prompt_lengths")
    if ids.shape.rank != 2 or lengths.shape.rank != 1:
        raise ValueError(
            f"prompt_ids must be [batch, length] and prompt_lengths [batch], got shapes "
            f"{ids.shape} and {lengths.shape}"
        )
    names = ("max_new_tokens", "temperature", "top_k", "top_p", "seed", "min_new_tokens")
    dtypes = (tf.int32, tf.float32, tf.int32, tf.float32, tf.int32, tf.int32)
    values = [_tensor(v, dtype, name) for v, dtype, name in zip(per_row, dtypes, names)]
    batch, width = tf.shape(ids)[0], tf.shape(ids)[1]

    shapes = _Checks()
    shapes.require(batch > 0, "empty batch: give at least one prompt")
    shapes.require(
        tf.equal(tf.size(lengths), batch), "prompt_lengths must have one length per prompt"
    )
    for name, value in zip(names, values):
        if value.shape.rank is not None and value.shape.rank > 1:
            raise ValueError(f"{name} must be a scalar or one value per prompt")
        shapes.require(
            tf.logical_or(tf.equal(tf.rank(value), 0), tf.equal(tf.size(value), batch)),
            f"{name} must be a scalar or have one value per prompt",
        )
    with tf.control_dependencies(shapes.assertions):  # shapes first: the checks below need them
        ids, lengths = tf.identity(ids), tf.identity(lengths)
        values = [tf.broadcast_to(tf.identity(v), [batch]) for v in values]

    checks = _Checks()
    checks.require(
        tf.reduce_all((lengths >= 1) & (lengths <= width)),
        "prompt_lengths must be in 1..prompt width: every prompt needs at least one token",
    )
    vocab_size = getattr(model, "vocab_size", None)
    if vocab_size is not None:
        real = tf.range(width)[None, :] < lengths[:, None]
        checks.require(
            tf.reduce_all(~real | ((ids >= 0) & (ids < vocab_size))),
            f"prompt token ids must be in 0..{vocab_size - 1}",
        )
    checks.scalars(*values[:4])
    checks.require(tf.reduce_all((values[5] >= 0) & (values[5] <= values[0])),
                   "min_new_tokens must be in 0..max_new_tokens")
    with tf.control_dependencies(checks.assertions):
        return tuple(tf.identity(x) for x in (ids, lengths, *values))


# ------------------------------------------------------------------------------- the loop


def _ensure_built(model: keras.Model) -> None:
    """Creates the weights eagerly: a graph loop cannot create variables in its branches."""
    if not model.built:
        with tf.init_scope():
            model(tf.zeros([1, 1], tf.int32))


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled(model: keras.Model, options: tuple):
    """`_generate` as a tf.function of [B]-shaped inputs, traced once per model and options."""
    per_model = _COMPILED.setdefault(model, {})
    if options not in per_model:
        model_ref = weakref.ref(model)  # the cache must not keep the model alive
        ids = tf.TensorSpec([None, None], tf.int32)
        ints, floats = tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32)

        @tf.function(input_signature=[ids, ints, ints, floats, ints, floats, ints, ints],
                     autograph=False)
        def run(prompt_ids, lengths, max_new_tokens, temperature, top_k, top_p, seed,
                min_new_tokens):
            return _generate(
                model_ref(),
                prompt_ids,
                lengths,
                max_new_tokens,
                temperature,
                top_k,
                top_p,
                seed,
                min_new_tokens,
                *options,
            )

        per_model[options] = run
    return per_model[options]


class _Ngram(NamedTuple):
    """A no-repeat n-gram size known only when the graph runs, and its largest value."""

    size: tf.Tensor
    longest: int


class _Loop(NamedTuple):
    """What changes from one decoding step to the next (the tf.while_loop's variables)."""

    position: tf.Tensor  # the position whose token the next step chooses
    logits: tf.Tensor  # [rows, V]: the model's prediction for that position
    state: Any  # the model's decoding state
    cache_position: tf.Tensor  # where that position sits in the model's window
    tokens: tf.Tensor  # [rows, end]: prompts, then what was chosen
    counts: tf.Tensor  # [rows]: new tokens written so far
    stopped: tf.Tensor  # [rows]: emitted a stop token
    scores: tf.Tensor  # [rows]: beam scores (sum of log-probabilities)


def _generate(model, prompt_ids, lengths, max_new, temperature, top_k, top_p, seed, min_new,
              num_beams, ngram, stops, length_penalty=0.0, with_scores=False, jit_compile=False):
    """The decoding loop on validated inputs (all per-row values [B])."""
    decoding = _Decoding(model, prompt_ids, lengths, (max_new, min_new),
                         (temperature, top_k, top_p, seed), num_beams, ngram, stops,
                         length_penalty, with_scores)
    return decoding.run(jit_compile)


class _Decoding:
    """One call of `generate`: the fixed facts of the batch, and the steps of its loop."""

    def __init__(self, model, prompt_ids, lengths, new_range, sampling, num_beams, ngram,
                 stops, length_penalty=0.0, with_scores=False):
        self.model = model
        self.length_penalty, self.with_scores = length_penalty, with_scores
        self.window = context_length(model)
        if self.window is not None and self.window < 2:
            raise ValueError(f"a context_length of {self.window} leaves no room to generate")
        keep = None if self.window is None else self.window - 1
        prompt_ids, lengths = _last_tokens(prompt_ids, lengths, keep)
        self.batch = tf.shape(prompt_ids)[0]
        max_new, min_new = new_range
        self.new_width = tf.reduce_max(max_new)
        # Beam search when the width may be more than 1 (a tensor width always takes this path).
        self.beam_search = tf.is_tensor(num_beams) or num_beams > 1
        if self.beam_search:  # each row becomes num_beams consecutive rows
            prompt_ids, lengths, max_new, min_new = (
                tf.repeat(x, num_beams, axis=0) for x in (prompt_ids, lengths, max_new, min_new)
            )
        self.prompt_ids, self.lengths, self.max_new = prompt_ids, lengths, max_new
        self.min_new = min_new
        self.temperature, self.top_k, self.top_p, self.seed = sampling
        self.num_beams, self.ngram = num_beams, ngram
        self.stop_ids = tf.constant(stops, tf.int32, shape=[len(stops)])
        self.rows = tf.shape(prompt_ids)[0]
        self.end = tf.reduce_max(lengths + max_new)  # one past the last position any row writes
        self.limit = lengths + max_new
        self.columns = tf.range(self.end)[None, :]
        self.keep = None if self.window is None else self.window // 2
        if self.beam_search:
            self.batch_axes = _state_batch_axes(model)

    def run(self, jit_compile: bool):
        loop = self._prefill()
        steps = self._steps
        if jit_compile:
            steps = tf.function(steps, jit_compile=True)
        return self._result(steps(loop))

    # ----------------------------------------------------------------------------- the loop

    def _prefill(self) -> _Loop:
        """Reads every row's first min(lengths) prompt tokens in one pass."""
        longest = tf.reduce_max(self.lengths)
        tokens = tf.pad(self.prompt_ids[:, :longest], [[0, 0], [0, self.end - longest]])
        start = tf.reduce_min(self.lengths)
        if self.beam_search:
            first_beam = tf.one_hot(0, self.num_beams, on_value=0.0, off_value=_BEAM_FLOOR)
            scores = tf.tile(first_beam, [self.batch])  # identical beams: only the first grows
        else:
            scores = tf.zeros([self.rows])
        # The cache holds the positions this call writes, at most the window: a full-window
        # cache (1,024 for GPT-2) made each step of a short generation read ~20x what it needs
        # (measured on a 124M GPT-2 export at batch 8: 16 tokens/s, 68 with a 64-position cache).
        size = self.end if self.window is None else tf.minimum(self.window, self.end)
        initial = self.model.initial_decoding_state(self.rows, size)
        self._shapes = [x.shape for x in tf.nest.flatten(initial)]
        self._structure = initial
        logits, state = self.model.decode(tokens[:, :start], initial, tf.constant(0))
        return _Loop(start, logits[:, -1], self._settled(state), start, tokens,
                     tf.zeros([self.rows], tf.int32), tf.zeros([self.rows], tf.bool), scores)

    def _settled(self, new_state):
        """`decode`'s state in the initial structure and static shapes, as the loop needs."""
        flat = tf.nest.flatten(new_state)
        for tensor, shape in zip(flat, self._shapes):
            tensor.set_shape(shape)
        return tf.nest.pack_sequence_as(self._structure, flat)

    def _steps(self, loop: _Loop) -> _Loop:
        """Every step after the prefill: fixed shapes throughout, so XLA can compile it."""
        body = self._step if self.window is None else self._one_window
        return _Loop(*tf.while_loop(self._going, body, tuple(loop)))

    def _going(self, *loop) -> tf.Tensor:
        """Whether any row still has a token to write at `position` or after."""
        loop = _Loop(*loop)
        return tf.reduce_any(
            (loop.position < self.limit) & ~_whole_row(loop.stopped, self.num_beams)
        )

    def _one_window(self, *loop):
        """Steps until the cache is full, then slides once."""
        loop = tf.while_loop(
            lambda *v: self._going(*v) & (_Loop(*v).cache_position < self.window),
            self._step,
            loop,
        )
        return tf.cond(self._going(*loop), lambda: self._slide(*loop), lambda: tuple(loop))

    # The step after the last token is wasted work; skipping it would take a tf.cond around the
    # model, whose lowering costs a Switch per captured weight on every step.
    def _step(self, *loop):
        token, loop = self._choose(_Loop(*loop))
        out, state = self.model.decode(token[:, None], loop.state, loop.cache_position)
        return tuple(loop._replace(
            position=loop.position + 1,
            logits=out[:, -1],
            state=self._settled(state),
            cache_position=loop.cache_position + 1,
        ))

    def _slide(self, *loop):
        """The step that finds the cache full: reads the last `keep` tokens into 0..keep-1."""
        _, loop = self._choose(_Loop(*loop))
        keep = self.keep
        # A gather with clipped columns, not a slice: XLA compiles this branch even when the
        # token buffer is shorter than `keep` (it then never runs), and a slice would not fit.
        columns = tf.clip_by_value(
            loop.position + 1 - keep + tf.range(keep), 0, tf.shape(loop.tokens)[1] - 1
        )
        recent = tf.gather(loop.tokens, columns, axis=1)
        out, state = self.model.decode(recent, loop.state, tf.constant(0))
        # Cache entries past `keep` are stale but masked: a query at position p sees <= p,
        # and each later step overwrites its own position before attending to it.
        return tuple(loop._replace(
            position=loop.position + 1,
            logits=out[:, -1],
            state=self._settled(state),
            cache_position=tf.constant(keep),
        ))

    def _choose(self, loop: _Loop) -> tuple[tf.Tensor, _Loop]:
        """Picks and writes every row's token at `position`: its prompt's, a new one, or 0.

        Returns the tokens [rows] and the loop with them written (beams reordered).
        """
        step = loop.position - self.lengths  # each row's generation step; < 0 in its prompt
        generating = (step >= 0) & (step < self.max_new) & ~_whole_row(
            loop.stopped, self.num_beams
        )
        logits, tokens, counts, stopped = loop.logits, loop.tokens, loop.counts, loop.stopped
        state, scores = loop.state, loop.scores
        if isinstance(self.ngram, _Ngram) or self.ngram:
            ban = _repeat_ban(tokens, loop.position, self.ngram, tf.shape(logits)[-1])
            logits = tf.where(ban, float("-inf"), logits)
        if self.stop_ids.shape[0]:  # no stop token before min_new_tokens
            is_stop = tf.reduce_any(
                tf.range(tf.shape(logits)[-1])[:, None] == self.stop_ids[None, :], axis=1
            )
            early = (step < self.min_new)[:, None] & is_stop[None, :]
            logits = tf.where(early, float("-inf"), logits)
        if not self.beam_search:
            choice = _sample(logits, self.temperature, self.top_k, self.top_p, self.seed, step)
            if self.with_scores:  # the chosen tokens' log-probabilities, summed per row
                chosen = tf.gather(tf.nn.log_softmax(logits, axis=-1), choice, batch_dims=1)
                scores += tf.where(generating & ~stopped, chosen, 0.0)
        else:
            choice, parent, scores = _beam_select(
                logits, scores, stopped, generating, self.num_beams
            )
            tokens, counts, stopped = (tf.gather(x, parent) for x in (tokens, counts, stopped))
            state = _gather_state(state, parent, self.batch_axes)
        active = generating & ~stopped
        forced = tf.gather(tokens, loop.position, axis=1)
        token = tf.where(step < 0, forced, tf.where(active, choice, 0))
        tokens = tf.where(self.columns == loop.position, token[:, None], tokens)
        counts += tf.cast(active, tf.int32)
        stopped |= active & tf.reduce_any(token[:, None] == self.stop_ids[None, :], axis=1)
        return token, loop._replace(state=state, tokens=tokens, counts=counts, stopped=stopped,
                                    scores=scores)

    def _result(self, loop: _Loop):
        """Each row's new tokens [B, N] (its best beam's) and how many there are [B]."""
        tokens, counts, lengths, scores = loop.tokens, loop.counts, self.lengths, loop.scores
        if self.beam_search:  # keep each row's best beam
            ranked = scores
            if self.length_penalty:
                penalty = ((5.0 + tf.cast(counts, tf.float32)) / 6.0) ** self.length_penalty
                ranked = scores / penalty
            best = tf.argmax(
                tf.reshape(ranked, [self.batch, self.num_beams]), axis=1, output_type=tf.int32
            )
            best += tf.range(self.batch) * self.num_beams
            tokens, counts, lengths, scores = (
                tf.gather(x, best) for x in (tokens, counts, lengths, scores)
            )
        offsets = tf.range(self.new_width)
        index = tf.minimum(lengths[:, None] + offsets[None, :], self.end - 1)
        new_ids = tf.gather(tokens, index, batch_dims=1)
        new_ids = tf.where(offsets[None, :] < counts[:, None], new_ids, 0)
        return (new_ids, counts, scores) if self.with_scores else (new_ids, counts)


def _last_tokens(ids, lengths, keep):
    """Each row's last `keep` prompt tokens (all of them if None), left-aligned, zero-padded."""
    width = tf.shape(ids)[1]
    if keep is None:
        columns = tf.range(width)
        kept = ids
    else:
        lengths_kept = tf.minimum(lengths, keep)
        columns = tf.range(tf.minimum(width, keep))
        source = tf.minimum((lengths - lengths_kept)[:, None] + columns[None, :], width - 1)
        kept, lengths = tf.gather(ids, source, batch_dims=1), lengths_kept
    return tf.where(columns[None, :] < lengths[:, None], kept, 0), lengths


def _whole_row(flags, num_beams):
    """Per row (repeated over its beams): whether all of its beams have `flags` set."""
    if not tf.is_tensor(num_beams) and num_beams == 1:
        return flags
    whole = tf.reduce_all(tf.reshape(flags, [-1, num_beams]), axis=1)
    return tf.repeat(whole, num_beams)


# ------------------------------------------------------------------------------- choosing tokens


def _sample(logits, temperature, top_k, top_p, seed, step):
    """One token per row: argmax where temperature is 0, else a draw from the filtered softmax."""
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)

    def draw():
        vocab_size = tf.shape(logits)[-1]
        hot = temperature > 0
        scaled = logits / tf.where(hot, tf.maximum(temperature, 1e-6), 1.0)[:, None]
        ordered = tf.sort(scaled, axis=-1, direction="DESCENDING")
        rank = tf.range(vocab_size)[None, :]
        k = tf.where(top_k > 0, tf.minimum(top_k, vocab_size), vocab_size)
        in_top_k = rank < k[:, None]
        # Nucleus over what top-k left: the fewest tokens whose probability reaches top_p.
        probs = tf.nn.softmax(tf.where(in_top_k, ordered, float("-inf")), axis=-1)
        before = tf.math.cumsum(probs, axis=-1, exclusive=True)
        kept = in_top_k & ((before < top_p[:, None]) | (top_p[:, None] >= 1))
        count = tf.reduce_sum(tf.cast(kept, tf.int32), axis=-1)  # >= 1: the top token
        threshold = tf.gather(ordered, count - 1, batch_dims=1)
        candidates = tf.where(scaled >= threshold[:, None], scaled, float("-inf"))
        drawn = tf.argmax(candidates + _gumbel(seed, step, vocab_size), -1, output_type=tf.int32)
        return tf.where(hot, drawn, greedy)

    return tf.cond(tf.reduce_any(temperature > 0), draw, lambda: greedy)


def _gumbel(seed, step, vocab_size):
    """[B, V] Gumbel noise, row b's from a stateless RNG keyed by (seed[b], step[b]).

    Adding it to logits and taking the argmax samples from their softmax (the Gumbel-max trick).
    One RNG call per row, because TensorFlow's stateless ops take one key for a whole tensor.
    """
    keys = tf.stack([seed, step], axis=1)
    uniform = tf.map_fn(
        lambda key: tf.random.stateless_uniform(
            [vocab_size], seed=key, minval=np.finfo(np.float32).tiny, maxval=1.0
        ),
        keys,
        fn_output_signature=tf.float32,
    )
    return -tf.math.log(-tf.math.log(uniform))


def _repeat_ban(tokens, position, n, vocab_size):
    """[B, V] bool: tokens that would complete an n-gram already in tokens[:, :position].

    `n` is a Python int, or an `_Ngram` whose size is known only when the graph runs (0: no
    ban). Never bans every token of a row (a very long generation with n = 1 could).
    """
    longest = n.longest if isinstance(n, _Ngram) else n
    size = n.size if isinstance(n, _Ngram) else tf.constant(n, tf.int32)
    n = tf.maximum(size, 1)  # (the ban is dropped below when the size is 0)
    rows, width = tf.shape(tokens)[0], tf.shape(tokens)[1]
    starts = tf.maximum(width - n + 1, 0)
    # An earlier n-gram starting at j matches when its first n - 1 tokens equal the last n - 1.
    match = tf.broadcast_to(tf.range(starts)[None, :] + n - 1 < position, [rows, starts])
    match &= position >= n - 1
    padded = tf.pad(tokens, [[0, 0], [0, longest]])  # every window below has `starts` columns
    for k in range(longest - 1):
        column = tf.clip_by_value(position - (n - 1) + k, 0, width - 1)  # k >= n - 1: unused
        recent = tf.gather(tokens, column, axis=1)
        same = padded[:, k : k + starts] == recent[:, None]
        match &= same | (k >= n - 1)  # only the first n - 1 tokens are compared
    found = tf.where(match)  # [M, 2] (row, start)
    last = tf.stack([tf.constant(0, tf.int64), tf.cast(n - 1, tf.int64)])
    banned = tf.gather_nd(tokens, found + last)
    hits = tf.scatter_nd(
        tf.stack([found[:, 0], tf.cast(banned, tf.int64)], axis=1),
        tf.ones_like(banned),
        tf.cast(tf.stack([rows, vocab_size]), tf.int64),
    )
    ban = (hits > 0) & (size > 0)
    return ban & ~tf.reduce_all(ban, axis=-1, keepdims=True)


def _beam_select(logits, scores, stopped, generating, num_beams):
    """Beam search's step: the best `num_beams` (beam, token) extensions of each row.

    Returns the new tokens, each new beam's parent row and the new scores. Rows not generating
    (inside their prompt, or finished) keep their beams unchanged.
    """
    vocab_size = tf.shape(logits)[-1]
    rows = tf.shape(logits)[0]
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    # A stopped beam continues only with padding, at no cost: it keeps its score and its place.
    padding_only = tf.where(tf.range(vocab_size) == 0, 0.0, float("-inf"))
    log_probs = tf.where(stopped[:, None], padding_only[None, :], log_probs)
    totals = tf.reshape(scores[:, None] + log_probs, [-1, num_beams * vocab_size])
    best, index = tf.math.top_k(totals, k=num_beams)
    row_start = tf.range(tf.shape(totals)[0])[:, None] * num_beams
    parent = tf.reshape(index // vocab_size + row_start, [-1])
    token = tf.reshape(index % vocab_size, [-1])
    parent = tf.where(generating, parent, tf.range(rows))
    token = tf.where(generating, token, 0)
    return token, parent, tf.where(generating, tf.reshape(best, [-1]), scores)


def _state_batch_axes(model) -> list[int] | None:
    """For each tensor of the decoding state, its batch axis (the one that grows with B);
    None when the model says its state is batch-first throughout (`batch_first_state`)."""
    if getattr(model, "batch_first_state", False):
        return None
    with tf.init_scope():
        one = tf.nest.flatten(model.initial_decoding_state(1, 2))
        two = tf.nest.flatten(model.initial_decoding_state(2, 2))
    return [
        next(axis for axis, (a, b) in enumerate(zip(x.shape, y.shape)) if a != b)
        for x, y in zip(one, two)
    ]


def _gather_state(state, parent, batch_axes):
    flat = tf.nest.flatten(state)
    axes = batch_axes if batch_axes is not None else [0] * len(flat)
    flat = [tf.gather(x, parent, axis=axis) for x, axis in zip(flat, axes)]
    return tf.nest.pack_sequence_as(state, flat)
