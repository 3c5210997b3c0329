"""tasks.decoding: cached decoding equals recomputation; sampling, beams, limits, graphs, errors."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks import CausalLM
from tasks.decoding import MAX_NEW_TOKENS_CAP, SamplingConfig, generate, generate_tokens
from zoo.models import LSTMBackbone, TransformerDecoder

VOCAB, CONTEXT = 30, 8


@pytest.fixture(scope="module")
def transformer():
    # A wide initializer gives O(1) logits: no near-ties for argmax to break differently.
    keras.utils.set_random_seed(0)
    backbone = TransformerDecoder(
        vocab_size=VOCAB,
        sequence_length=CONTEXT,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        initializer_range=0.5,
    )
    model = CausalLM(backbone, VOCAB)
    model(np.zeros((1, 1), np.int32))
    return model


@pytest.fixture(scope="module")
def lstm():
    keras.utils.set_random_seed(0)
    backbone = LSTMBackbone(vocab_size=VOCAB, hidden_dim=32, num_layers=1, init_scale=0.5)
    model = CausalLM(backbone, VOCAB, tie_embeddings=False, head_bias=True)
    model(np.zeros((1, 1), np.int32))
    return model


@pytest.fixture(params=["transformer", "lstm"])
def model(request):
    return request.getfixturevalue(request.param)


def prompts(*lengths, seed=0):
    """Random prompts, right-padded with a nonzero junk id (padding must be ignored)."""
    rng = np.random.default_rng(seed)
    rows = [rng.integers(0, VOCAB, size=n).astype(np.int32) for n in lengths]
    ids = np.full((len(rows), max(lengths)), VOCAB - 1, np.int32)
    for row, prompt in zip(ids, rows):
        row[: len(prompt)] = prompt
    return rows, ids, np.array(lengths, np.int32)


class Reference:
    """Decoding the slow way: a full forward pass over the visible window for every token.

    The window follows generate's documented rule: a prompt keeps its last C - 1 tokens, and a
    window that would grow past C tokens restarts from its last C // 2.
    """

    def __init__(self, model, prompt):
        self.model = model
        self.window = getattr(model, "context_length", None)
        self.history = list(prompt[-(self.window - 1) :] if self.window else prompt)
        self.start = 0

    def log_probs(self) -> np.ndarray:
        logits = np.asarray(self.model(np.array([self.history[self.start :]], np.int32)))[0, -1]
        logits = logits.astype(np.float64)
        return logits - np.logaddexp.reduce(logits)

    def append(self, token: int) -> Reference:
        self.history.append(int(token))
        if self.window and len(self.history) - self.start > self.window:
            self.start = len(self.history) - self.window // 2
        return self

    def copy(self) -> Reference:
        twin = Reference(self.model, [])
        twin.history, twin.start = list(self.history), self.start
        return twin


def reference_greedy(model, prompt, new_tokens):
    reference = Reference(model, prompt)
    out = []
    for _ in range(new_tokens):
        out.append(int(np.argmax(reference.log_probs())))
        reference.append(out[-1])
    return out


def reference_beam_search(model, prompt, new_tokens, beams):
    """Plain log-probability sums, `beams` best kept each step; the best final sequence."""
    alive = [(0.0, [], Reference(model, prompt))]
    for _ in range(new_tokens):
        candidates = []
        for score, tokens, reference in alive:
            log_probs = reference.log_probs()
            candidates += [(score + log_probs[t], tokens, reference, t) for t in range(VOCAB)]
        candidates.sort(key=lambda c: -c[0])
        alive = [(s, [*ts, t], r.copy().append(t)) for s, ts, r, t in candidates[:beams]]
    return alive[0][1]


def rows_of(new_ids, new_lengths):
    return [row[:n].tolist() for row, n in zip(np.asarray(new_ids), np.asarray(new_lengths))]


@pytest.mark.parametrize("length", [3, 11])  # 11 > the context: the prompt keeps its last 7
def test_cached_greedy_equals_recomputation_past_the_window(model, length):
    (prompt,), ids, lengths = prompts(length)
    new_ids, new_lengths = generate(model, ids, lengths, max_new_tokens=20)  # slides 3 times
    assert new_ids.shape == (1, 20) and new_ids.dtype == tf.int32
    assert new_lengths.numpy().tolist() == [20]
    assert new_ids[0].numpy().tolist() == reference_greedy(model, prompt, 20)


def test_ragged_batch_rows_generate_as_if_alone(model):
    rows, ids, lengths = prompts(2, 7, 5, 11, seed=1)
    batched = rows_of(*generate(model, ids, lengths, max_new_tokens=12))
    for prompt, row in zip(rows, batched):
        alone = generate(model, prompt[None], [len(prompt)], max_new_tokens=12)
        assert row == rows_of(*alone)[0]
        assert row == reference_greedy(model, prompt, 12)


def test_beam_search_matches_a_reference_beam_search(model):
    rows, ids, lengths = prompts(2, 5, seed=2)
    found = rows_of(*generate(model, ids, lengths, max_new_tokens=9, num_beams=3))
    for prompt, row in zip(rows, found):  # 2 + 9 > 8: the transformer's beams slide too
        assert row == reference_beam_search(model, prompt, 9, beams=3)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_xla_loop_decodes_what_the_plain_loop_does(model, num_beams):
    """jit_compile=True (in-process only) changes the speed, not the tokens: ragged prompts,
    per-row limits, stop tokens, sliding windows (2 + 20 > 8) and beams."""
    rows, ids, lengths = prompts(2, 7, 11, seed=3)
    settings = dict(max_new_tokens=[20, 9, 14], num_beams=num_beams, stop_token_ids=[5])
    plain = rows_of(*generate(model, ids, lengths, **settings))
    compiled = rows_of(*generate(model, ids, lengths, jit_compile=True, **settings))
    assert compiled == plain
    if num_beams == 1:
        assert plain[0][:5] == reference_greedy(model, rows[0], 20)[:5]


def test_xla_loop_is_never_part_of_a_plain_graph(transformer):
    """Without jit_compile a traced generate holds no XLA op or must-compile function."""
    function = tf.function(
        lambda ids: generate(transformer, ids, tf.fill(tf.shape(ids)[:1], 3), max_new_tokens=4)
    )
    graph = function.get_concrete_function(tf.TensorSpec([None, 3], tf.int32)).graph.as_graph_def()
    nodes = [*graph.node, *(n for f in graph.library.function for n in f.node_def)]
    assert not [n.op for n in nodes if n.op.startswith("Xla")]
    assert not [n.name for n in nodes if n.attr["_XlaMustCompile"].b]


def test_one_beam_top_k_1_and_tiny_top_p_are_greedy(transformer):
    _, ids, lengths = prompts(3, 6, seed=3)
    greedy = rows_of(*generate(transformer, ids, lengths, max_new_tokens=10))
    sampled = dict(temperature=1.0, seed=[7, 8])
    assert rows_of(*generate(transformer, ids, lengths, max_new_tokens=10, num_beams=1)) == greedy
    top_k = generate(transformer, ids, lengths, max_new_tokens=10, top_k=1, **sampled)
    assert rows_of(*top_k) == greedy
    top_p = generate(transformer, ids, lengths, max_new_tokens=10, top_p=1e-6, **sampled)
    assert rows_of(*top_p) == greedy


def test_a_seed_reproduces_its_row_whatever_the_batch(transformer):
    rows, ids, lengths = prompts(4, 2, 6, seed=4)
    hot = dict(max_new_tokens=16, temperature=2.0)
    first = rows_of(*generate(transformer, ids, lengths, seed=[1, 2, 3], **hot))
    assert rows_of(*generate(transformer, ids, lengths, seed=[1, 2, 3], **hot)) == first
    other = rows_of(*generate(transformer, ids, lengths, seed=[4, 5, 6], **hot))
    assert all(a != b for a, b in zip(first, other))
    greedy = rows_of(*generate(transformer, ids, lengths, max_new_tokens=16))
    assert all(a != b for a, b in zip(first, greedy))
    # Row 1 alone, and beside rows with other seeds and settings, draws the same sample.
    alone = generate(transformer, rows[1][None], [2], seed=2, **hot)
    assert rows_of(*alone)[0] == first[1]
    mixed = generate(
        transformer,
        ids,
        lengths,
        max_new_tokens=[3, 16, 9],
        temperature=[0.0, 2.0, 0.5],
        top_k=[0, 0, 4],
        seed=[9, 2, 9],
    )
    assert rows_of(*mixed)[1] == first[1]


def test_top_k_and_top_p_sample_only_inside_their_sets(lstm):
    (prompt,), ids, lengths = prompts(3, seed=5)
    temperature = 5.0  # flattens the distribution: without the filters, anything goes
    for filters in (dict(top_k=3), dict(top_p=0.5)):
        new_ids, _ = generate(
            lstm, ids, lengths, max_new_tokens=12, temperature=temperature, **filters
        )
        reference = Reference(lstm, prompt)
        for token in new_ids[0].numpy():
            tempered = reference.log_probs() / temperature  # top-p applies after temperature
            order = np.argsort(-tempered)
            probs = np.exp(tempered[order] - np.logaddexp.reduce(tempered))
            size = 3 if "top_k" in filters else np.searchsorted(np.cumsum(probs), 0.5) + 1
            assert token in order[:size], filters
            reference.append(token)


def test_per_row_limits_and_stop_tokens(model):
    _, ids, lengths = prompts(3, 5, 2, seed=6)
    greedy = generate(model, ids, lengths, max_new_tokens=10)[0].numpy()
    stop = int(greedy[0, 4])
    max_new = [10, 3, 7]
    new_ids, new_lengths = generate(
        model, ids, lengths, max_new_tokens=max_new, stop_token_ids=[stop]
    )
    new_ids, new_lengths = new_ids.numpy(), new_lengths.numpy()
    assert new_ids.shape == (3, 10)
    for row, limit, out, length in zip(greedy, max_new, new_ids, new_lengths):
        stops = np.flatnonzero(row[:limit] == stop)
        expected = stops[0] + 1 if len(stops) else limit  # the stop token is kept and counted
        assert length == expected
        np.testing.assert_array_equal(out[:length], row[:length])
        assert not out[length:].any()


def test_beams_end_at_per_row_limits_and_stop_tokens(transformer):
    _, ids, lengths = prompts(5, 2, 3, seed=9)
    max_new = [12, 4, 9]
    beams = generate(transformer, ids, lengths, max_new_tokens=max_new, num_beams=3)[0].numpy()
    stops = [int(beams[0, 2]), int(beams[2, 4])]
    new_ids, new_lengths = generate(
        transformer, ids, lengths, max_new_tokens=max_new, num_beams=3, stop_token_ids=stops
    )
    for out, length, limit in zip(new_ids.numpy(), new_lengths.numpy(), max_new):
        assert 1 <= length <= limit and not out[length:].any()
        ended = [i for i, token in enumerate(out[:length]) if token in stops]
        assert ended in ([], [length - 1])  # only the last token may be a stop token
        assert ended or length == limit
    # Row 0's best beam without stops has a stop token third: that beam, finished, keeps its
    # score while longer ones only lose (plain log-probability sums favour the short).
    assert new_lengths[0] <= 3


@pytest.mark.parametrize("num_beams", [1, 3])
def test_min_new_tokens_holds_stop_tokens_back(transformer, num_beams):
    _, ids, lengths = prompts(3, 2, seed=4)
    free = generate(transformer, ids, lengths, max_new_tokens=8, num_beams=num_beams)[0].numpy()
    stop = int(free[0, 0])  # row 0 would stop at once
    kwargs = dict(max_new_tokens=8, num_beams=num_beams, stop_token_ids=[stop])
    stopped = generate(transformer, ids, lengths, **kwargs)[1].numpy()
    assert stopped[0] == 1
    new_ids, held = generate(transformer, ids, lengths, min_new_tokens=[4, 0], **kwargs)
    new_ids, held = new_ids.numpy(), held.numpy()
    assert held[0] >= 4 and stop not in new_ids[0, :4]
    assert held[1] == stopped[1]  # min_new_tokens 0: as without it
    with pytest.raises(ValueError, match="min_new_tokens"):
        generate(transformer, ids, lengths, max_new_tokens=3, min_new_tokens=4)


@pytest.mark.parametrize(
    "mode, sizes",
    [({}, (1, 2, 3)), (dict(temperature=1.0, seed=3), (2,)), (dict(num_beams=2), (2,))],
    ids=["greedy", "sampled", "beams"],
)
def test_no_repeat_ngram_size_prevents_repeats(transformer, mode, sizes):
    (prompt,), ids, lengths = prompts(5, seed=7)

    def repeats(new_ids, n):
        text = [*prompt.tolist(), *new_ids[0].numpy().tolist()]
        grams = [tuple(text[i : i + n]) for i in range(len(text) - n + 1)]
        return len(grams) - len(set(grams))

    plain = generate(transformer, ids, lengths, max_new_tokens=24, **mode)[0]
    assert repeats(plain, 2) > 0  # otherwise this test proves nothing
    for n in sizes:  # 5 + 24 tokens of 30: even n = 1 can avoid every repeat
        new_ids, _ = generate(
            transformer, ids, lengths, max_new_tokens=24, no_repeat_ngram_size=n, **mode
        )
        assert repeats(new_ids, n) == 0, n


def serving_function(model, **fixed):
    """`generate` as the export's `generate` signature calls it: a plain tf.function over
    [batch]-shaped per-row parameters and an unknown batch size."""
    ints, floats = tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None], tf.int32), ints, ints, floats, ints, floats,
                         ints]
    )
    def serve(ids, lengths, max_new_tokens, temperature, top_k, top_p, seed):
        return generate(model, ids, lengths, max_new_tokens=max_new_tokens,
                        temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, **fixed)

    return serve


def test_generate_runs_in_a_plain_tf_function_with_unknown_batch(model):
    serve = serving_function(model, stop_token_ids=(3,))

    _, ids, lengths = prompts(4, 1, 6, seed=8)
    settings = dict(
        max_new_tokens=np.array([5, 9, 7], np.int32),
        temperature=np.array([0.0, 1.0, 0.5], np.float32),
        top_k=np.array([0, 5, 0], np.int32),
        top_p=np.array([1.0, 0.9, 0.8], np.float32),
        seed=np.array([1, 2, 3], np.int32),
    )
    in_graph = serve(ids, lengths, *settings.values())
    eager = generate(model, ids, lengths, stop_token_ids=(3,), **settings)
    assert rows_of(*in_graph) == rows_of(*eager)
    assert in_graph[0].shape == (3, 9)
    one = serve(ids[:1], lengths[:1], *(v[:1] for v in settings.values()))  # no retrace
    assert rows_of(*one) == rows_of(*eager)[:1]
    assert serve.experimental_get_tracing_count() == 1


def test_one_graph_decodes_every_beam_width_and_ngram_size(model):
    """Widths and n-gram sizes as tensors (a serving request's): one traced loop gives what
    each Python-int setting gives, width 1 included (beam search of one beam is greedy)."""

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32),
                                  tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    def decode(ids, lengths, num_beams, ngram):
        return generate(model, ids, lengths, max_new_tokens=10, num_beams=num_beams,
                        no_repeat_ngram_size=ngram, longest_ngram=3, stop_token_ids=(3,),
                        return_scores=True)

    _, ids, lengths = prompts(4, 1, 6, seed=9)
    for beams in (1, 2, 3):
        for n in (0, 1, 2, 3):
            fixed = generate(model, ids, lengths, max_new_tokens=10, num_beams=beams,
                             no_repeat_ngram_size=n, stop_token_ids=(3,), return_scores=True)
            dynamic = decode(ids, lengths, beams, n)
            assert rows_of(*dynamic[:2]) == rows_of(*fixed[:2]), (beams, n)
            np.testing.assert_allclose(dynamic[2], fixed[2], atol=1e-4)
    assert decode.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="only inside a tf.function"):
        generate(model, ids, lengths, max_new_tokens=2, num_beams=tf.constant(2))


BAD_VALUES = [
    (dict(ids=np.zeros((0, 3), np.int32), lengths=np.zeros([0], np.int32)), "empty batch"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_new_tokens=MAX_NEW_TOKENS_CAP + 1), "max_new_tokens"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(temperature=-0.5), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=-1), "top_k"),
    (dict(lengths=np.array([0, 2], np.int32)), "prompt_lengths"),
]


def bad_call(overrides):
    _, ids, lengths = prompts(3, 2)
    values = dict(
        ids=ids, lengths=lengths, max_new_tokens=4, temperature=0.0, top_k=0, top_p=1.0, seed=0
    )
    values.update(overrides)
    batch = len(values["ids"])
    for name, dtype in [
        ("max_new_tokens", np.int32),
        ("temperature", np.float32),
        ("top_k", np.int32),
        ("top_p", np.float32),
        ("seed", np.int32),
    ]:
        values[name] = np.full([batch], values[name], dtype)
    return values


@pytest.mark.parametrize("overrides, message", BAD_VALUES)
def test_bad_values_raise_value_error_eagerly(transformer, overrides, message):
    values = bad_call(overrides)
    ids, lengths = values.pop("ids"), values.pop("lengths")
    with pytest.raises(ValueError, match=message):
        generate(transformer, ids, lengths, **values)


def test_bad_values_fail_the_graph_with_invalid_argument(transformer):
    serve = serving_function(transformer)

    serve(*bad_call({}).values())  # good values pass
    for overrides, message in BAD_VALUES:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            serve(*bad_call(overrides).values())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_beams=0), "num_beams"),
        (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"),
        (dict(stop_token_ids=[VOCAB]), "stop_token_ids"),
        (dict(seed=[1, 2, 3]), "one value per prompt"),
        (dict(prompt_ids=np.zeros([2], np.int32)), "prompt_ids"),
        (dict(prompt_ids=np.full((2, 3), VOCAB, np.int32)), "prompt token ids"),
    ],
)
def test_bad_options_raise_value_error(transformer, kwargs, message):
    _, ids, lengths = prompts(3, 2)
    arguments = {**dict(prompt_ids=ids, prompt_lengths=lengths, max_new_tokens=4), **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(transformer, **arguments)


def test_sampling_config_is_json_data_and_generate_keywords(lstm):
    config = SamplingConfig(max_new_tokens=5, temperature=0.7, top_k=4, stop_token_ids=[2, 3])
    data = json.loads(json.dumps(dataclasses.asdict(config)))
    assert SamplingConfig(**data) == config
    _, ids, lengths = prompts(3, 2)
    new_ids, _ = generate(lstm, ids, lengths, **dataclasses.asdict(config))
    assert new_ids.shape == (2, 5)
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=0.0)


def test_generate_tokens_returns_numpy_tokens(transformer):
    _, ids, lengths = prompts(4, 4)
    out = generate_tokens(transformer, ids, 6)
    assert isinstance(out, np.ndarray) and out.shape == (2, 6)
    np.testing.assert_array_equal(out, generate(transformer, ids, lengths, max_new_tokens=6)[0])
    assert generate_tokens(transformer, ids, 0).shape == (2, 0)


def test_xla_generation_shorter_than_half_the_context():
    # Regression: XLA compiles the sliding branch even when it can never run.
    import zoo

    model = zoo.build("transformer_lm_tiny", vocab_size=65, num_layers=1)
    prompt = np.zeros((1, 1), np.int32)
    np.testing.assert_array_equal(
        generate_tokens(model, prompt, 20, jit_compile=True), generate_tokens(model, prompt, 20)
    )
