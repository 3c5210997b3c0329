import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks import CausalLM
from zoo.models import LSTMBackbone, TransformerDecoder, TransformerEncoder

VOCAB, LENGTH, BATCH = 30, 12, 2


def transformer(tie_embeddings=True, **overrides):
    """A GPT language model: the decoder backbone with the causal-LM head."""
    config = dict(vocab_size=VOCAB, sequence_length=LENGTH, num_layers=2, num_heads=2, hidden_dim=8)
    backbone = TransformerDecoder(**{**config, **overrides})
    return CausalLM(backbone, VOCAB, tie_embeddings=tie_embeddings)


def lstm(tie_embeddings=False, **overrides):
    """Zaremba et al.'s language model: the LSTM backbone and a softmax layer with a bias."""
    backbone = LSTMBackbone(**{**dict(vocab_size=VOCAB, hidden_dim=8), **overrides})
    return CausalLM(backbone, VOCAB, tie_embeddings=tie_embeddings, head_bias=True)


BUILDERS = {"transformer": transformer, "lstm": lstm}


def token_ids(length=7, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, size=(BATCH, length))


@pytest.fixture(params=["float32", "mixed_float16"])
def policy(request):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield keras.config.dtype_policy()
    keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("kind", BUILDERS)
def test_logits_shape_and_float32_under_every_policy(policy, kind):
    model = BUILDERS[kind]()
    logits = model(token_ids())
    assert logits.shape == (BATCH, 7, VOCAB)
    assert logits.dtype == "float32"
    assert model.compute_dtype == policy.compute_dtype

    state = model.initial_decoding_state(BATCH, LENGTH)
    for tensor in tf.nest.flatten(state):
        assert keras.backend.standardize_dtype(tensor.dtype) == policy.compute_dtype
    logits, _ = model.decode(token_ids(1), state, 0)
    assert logits.shape == (BATCH, 1, VOCAB) and logits.dtype == "float32"


@pytest.mark.parametrize("kind", BUILDERS)
def test_causality(kind):
    model = BUILDERS[kind]()
    ids = token_ids()
    changed = ids.copy()
    changed[:, 4:] = (changed[:, 4:] + 1) % VOCAB
    np.testing.assert_allclose(model(changed)[:, :4], model(ids)[:, :4], atol=1e-6)
    assert not np.allclose(model(changed)[:, 4:], model(ids)[:, 4:])


@pytest.mark.parametrize(
    "position, rotary", [("learned", False), ("sinusoidal", False), ("none", True)]
)
def test_transformer_decode_reproduces_the_forward_pass(position, rotary):
    # A wide initializer so the logits are O(1) and the tolerance means something.
    model = transformer(position=position, rotary=rotary, initializer_range=0.5)
    ids = token_ids()
    full = model(ids)

    decode = tf.function(model.decode)  # as the generation loop runs it: plain, no XLA
    state = model.initial_decoding_state(BATCH, LENGTH)
    assert [tuple(t.shape) for t in tf.nest.flatten(state)] == [(BATCH, LENGTH, 2, 4)] * 4
    logits, state = decode(ids[:, :3], state, tf.constant(0))  # prefill the prompt
    steps = [logits]
    for i in range(3, ids.shape[1]):
        logits, state = decode(ids[:, i : i + 1], state, tf.constant(i))
        steps.append(logits)
    assert np.abs(full).max() > 0.1
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_lstm_carried_state_reproduces_the_forward_pass(cell):
    model = lstm(cell=cell, init_scale=0.5)
    ids = token_ids()
    full = model(ids)

    logits, states = model.call_with_state(ids[:, :4])  # truncated BPTT: two windows
    logits_next, _ = model.call_with_state(ids[:, 4:], states)
    np.testing.assert_allclose(np.concatenate([logits, logits_next], 1), full, atol=1e-5)

    state = model.initial_decoding_state(BATCH, LENGTH)
    steps = []
    for i in range(ids.shape[1]):
        logits, state = model.decode(ids[:, i : i + 1], state, i)
        steps.append(logits)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


@pytest.mark.parametrize(
    "kind, overrides",
    [
        ("transformer", dict(dropout=0.1, rotary=True, position="sinusoidal")),
        ("transformer", dict(tie_embeddings=False)),
        ("lstm", dict(dropout=0.1, cell="gru", tie_embeddings=True)),
        ("lstm", dict(init_scale=None)),
    ],
)
def test_save_and_load_round_trip(tmp_path, kind, overrides):
    model = BUILDERS[kind](**overrides)
    ids = token_ids()
    expected = model(ids)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert type(restored) is type(model)
    assert restored.get_config() == model.get_config()
    np.testing.assert_array_equal(restored(ids), expected)


@pytest.mark.parametrize(
    "kind, overrides",
    [("transformer", {}), ("transformer", dict(tie_embeddings=False)), ("lstm", {})],
)
def test_gradients_reach_all_weights(kind, overrides):
    model = BUILDERS[kind](**overrides)
    ids = token_ids()
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(
            ids[:, 1:], model(ids, training=True)[:, :-1], from_logits=True
        )
    weights = model.trainable_weights
    for weight, gradient in zip(weights, tape.gradient(loss, weights), strict=True):
        assert gradient is not None, weight.path
        assert np.any(np.asarray(gradient) != 0), weight.path


def test_tied_transformer_has_no_output_matrix():
    vocab, length, layers, width, mlp = VOCAB, LENGTH, 3, 8, 20
    model = transformer(num_layers=layers, hidden_dim=width, intermediate_dim=mlp)
    model(token_ids())
    per_block = 4 * width * width + 2 * width * mlp + 9 * width + mlp  # attention, MLP, norms
    expected = vocab * width + length * width + layers * per_block + 2 * width
    assert model.count_params() == expected
    assert not any("head" in w.path for w in model.weights)

    untied = transformer(
        num_layers=layers, hidden_dim=width, intermediate_dim=mlp, tie_embeddings=False
    )
    untied(token_ids())
    assert untied.count_params() == expected + width * vocab


def test_transformer_uses_gpt2_initialization():
    model = transformer(num_layers=4, hidden_dim=32, num_heads=4)
    model(token_ids())
    block = model.backbone.blocks[0]
    qkv = np.asarray(block.self_attention.qkv_dense.kernel)
    projection = np.asarray(block.self_attention.output_dense.kernel)
    assert np.std(qkv) == pytest.approx(0.02, rel=0.1)
    assert np.std(projection) == pytest.approx(0.02 / math.sqrt(2 * 4), rel=0.1)
    # Every block draws its own weights.
    other = np.asarray(model.backbone.blocks[1].self_attention.qkv_dense.kernel)
    assert not np.allclose(qkv, other)


def test_lstm_weights_start_uniform_in_init_scale():
    model = lstm(init_scale=0.05)
    model(token_ids())
    for weight in model.weights:
        values = np.asarray(weight)
        assert np.abs(values).max() <= 0.05, weight.path
        assert np.abs(values).max() > 0.04, weight.path  # not the Keras defaults


@pytest.mark.parametrize("kind", BUILDERS)
def test_decoding_protocol_runs_in_a_graph_loop(kind):
    """Greedy decoding in a tf.while_loop inside a plain tf.function, batch size unknown."""
    wide_init = {"transformer": dict(initializer_range=0.5), "lstm": dict(init_scale=0.5)}
    model = BUILDERS[kind](**wide_init[kind])  # O(1) logits: no near-ties for argmax
    prompt, new_tokens = token_ids(3), 4

    @tf.function(input_signature=[tf.TensorSpec([None, None], "int32")])
    def generate(prompt):
        state = model.initial_decoding_state(tf.shape(prompt)[0], LENGTH)
        logits, state = model.decode(prompt, state, tf.constant(0))
        token = tf.argmax(logits[:, -1:], axis=-1, output_type="int32")
        tokens = tf.TensorArray("int32", size=new_tokens)

        def step(i, token, state, tokens):
            tokens = tokens.write(i, token[:, 0])
            logits, state = model.decode(token, state, tf.shape(prompt)[1] + i)
            return i + 1, tf.argmax(logits, axis=-1, output_type="int32"), state, tokens

        *_, tokens = tf.while_loop(
            lambda i, *_: i < new_tokens, step, (tf.constant(0), token, state, tokens)
        )
        return tf.transpose(tokens.stack())

    ids = prompt
    for _ in range(new_tokens):  # the slow way: rerun the whole sequence each time
        next_token = np.argmax(model(ids)[:, -1], axis=-1)[:, None]
        ids = np.concatenate([ids, next_token], axis=1)
    np.testing.assert_array_equal(generate(prompt.astype("int32")), ids[:, 3:])


def test_decoder_with_cross_attention_decodes_against_a_source_encoded_once():
    decoder = TransformerDecoder(VOCAB, LENGTH, num_layers=2, num_heads=2, hidden_dim=8,
                                 cross_attention=True, initializer_range=0.5)
    source = np.random.default_rng(1).normal(size=(BATCH, 5, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    ids = token_ids()
    full = decoder(ids, encoder_outputs=source, encoder_padding_mask=mask)
    state = decoder.initial_decoding_state(BATCH, LENGTH, source=(source, mask))
    assert len(state["cross"]) == 2 and state["cross"][0][0].shape == (BATCH, 5, 2, 4)
    decode = tf.function(decoder.decode)  # takes no source: it cannot recompute the keys
    hidden, state = decode(ids[:, :3], state, tf.constant(0))
    steps = [hidden]
    for i in range(3, ids.shape[1]):
        hidden, state = decode(ids[:, i : i + 1], state, tf.constant(i))
        steps.append(hidden)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    padded = source.copy()
    padded[1, 3:] = 100.0  # the second source's padding: ignored
    again = decoder(ids, encoder_outputs=padded, encoder_padding_mask=mask)
    np.testing.assert_allclose(again, full, atol=1e-5)
    with pytest.raises(ValueError, match="source"):
        decoder.initial_decoding_state(BATCH, LENGTH)


def test_a_rotary_encoder_has_no_position_table_and_still_sees_order_and_ignores_padding():
    encoder = TransformerEncoder(VOCAB, LENGTH, num_layers=2, num_heads=2, hidden_dim=8,
                                 dropout=0.0, position="none", rotary=True,
                                 initializer_range=0.5)
    ids = token_ids()
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    hidden = np.asarray(encoder(ids, padding_mask=mask))
    assert not any("position" in w.path for w in encoder.weights)
    np.testing.assert_allclose(encoder(ids[:, :5], padding_mask=mask[:, :5])[1], hidden[1, :5],
                               atol=1e-5)  # padding after a row's end changes nothing
    swapped = ids.copy()
    swapped[0, [1, 2]] = ids[0, [2, 1]]  # the same tokens in another order: another encoding
    assert not np.allclose(encoder(swapped, padding_mask=mask)[0, 0], hidden[0, 0], atol=1e-3)
    again = TransformerEncoder.from_config(encoder.get_config())
    assert (again.rotary, again.position) == (True, "none")


def test_encoder_backbone_is_bidirectional_and_ignores_padding():
    encoder = TransformerEncoder(VOCAB, LENGTH, num_layers=2, num_heads=2, hidden_dim=8,
                                 num_segments=2, dropout=0.0)
    ids = token_ids()
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    hidden = np.asarray(encoder(ids, padding_mask=mask))
    assert hidden.shape == (BATCH, 7, 8)
    changed = ids.copy()
    changed[1, 5:] = (changed[1, 5:] + 3) % VOCAB  # padding positions: no effect on real ones
    np.testing.assert_allclose(encoder(changed, padding_mask=mask)[1, :5], hidden[1, :5],
                               atol=1e-5)
    later = ids.copy()
    later[0, 6] = (later[0, 6] + 1) % VOCAB  # a later real token changes an early position
    assert not np.allclose(encoder(later, padding_mask=mask)[0, 0], hidden[0, 0])
    segments = np.zeros_like(ids)
    segments[:, 3:] = 1
    assert not np.allclose(encoder(ids, padding_mask=mask, segment_ids=segments), hidden)
