import keras
import numpy as np
import pytest

from layers import TokenAndPositionEmbedding

VOCAB, LENGTH, DIM = 20, 8, 6


def token_ids(batch=2, length=5, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, size=(batch, length))


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "none"])
def test_shapes_and_dtypes(policy, position):
    embedding = TokenAndPositionEmbedding(VOCAB, LENGTH, DIM, position=position)
    x = embedding(token_ids())
    assert x.shape == (2, 5, DIM)
    assert keras.backend.standardize_dtype(x.dtype) == policy.compute_dtype
    assert embedding.attend(x).shape == (2, 5, VOCAB)


@pytest.mark.parametrize("position", ["learned", "sinusoidal"])
def test_start_index_continues_the_positions(position):
    embedding = TokenAndPositionEmbedding(VOCAB, LENGTH, DIM, position=position)
    ids = token_ids()
    full = embedding(ids)
    tail = embedding(ids[:, 3:], start_index=3)
    np.testing.assert_allclose(tail, full[:, 3:], atol=1e-6)


def test_attend_is_the_transposed_token_matrix():
    embedding = TokenAndPositionEmbedding(VOCAB, LENGTH, DIM, position="none")
    x = np.random.rand(2, 3, DIM).astype("float32")
    embedding.build((2, 3))
    matrix = np.asarray(embedding.token_embedding.embeddings)
    np.testing.assert_allclose(embedding.attend(x), x @ matrix.T, rtol=1e-5, atol=1e-6)
    # One table per kind of embedding and no separate output matrix.
    assert [w.shape for w in embedding.weights] == [(VOCAB, DIM)]


def test_learned_positions_add_one_table():
    embedding = TokenAndPositionEmbedding(VOCAB, LENGTH, DIM)
    embedding.build((2, 3))
    assert sorted(tuple(w.shape) for w in embedding.weights) == [(LENGTH, DIM), (VOCAB, DIM)]


def test_unknown_position_kind_is_rejected():
    with pytest.raises(ValueError, match="position"):
        TokenAndPositionEmbedding(VOCAB, LENGTH, DIM, position="alibi")


def test_save_and_load_round_trip(save_and_load):
    inputs = keras.Input(shape=(5,), dtype="int32")
    embedding = TokenAndPositionEmbedding(VOCAB, LENGTH, DIM, dropout=0.1)
    model = keras.Model(inputs, embedding.attend(embedding(inputs)))
    ids = token_ids()
    restored = save_and_load(model)
    np.testing.assert_array_equal(restored(ids), model(ids))


def test_gradients_reach_all_weights(assert_gradients_reach_all_weights):
    embedding = TokenAndPositionEmbedding(VOCAB, LENGTH, DIM)
    ids = token_ids()
    assert_gradients_reach_all_weights(embedding, lambda: embedding.attend(embedding(ids)))
