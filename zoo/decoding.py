"""Text generation over the zoo's decoding protocol.

Every zoo language model implements

    initial_decoding_state(batch_size, max_length) -> state
    decode(token_ids [B, t], state, index) -> (logits [B, t, V], state)

A Transformer's state is its key/value cache, an LSTM's its recurrent state; `index` is the absolute
position of `token_ids[:, 0]`. Models with learned positions expose `context_length`; past it the
window slides: the last half of the context is re-read and decoding continues from there.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def context_length(model: keras.Model) -> int | None:
    """The longest sequence the model can attend over, or None when unbounded (recurrent)."""
    return getattr(model, "context_length", None)


def greedy_generate(model: keras.Model, prompt_ids: np.ndarray, max_new_tokens: int) -> np.ndarray:
    """Appends `max_new_tokens` argmax tokens to each row of `prompt_ids` [B, T]; returns them."""
    prompt_ids = np.asarray(prompt_ids, dtype=np.int32)
    batch = prompt_ids.shape[0]
    window = context_length(model)
    capacity = window or prompt_ids.shape[1] + max_new_tokens
    history = prompt_ids[:, -capacity:] if window else prompt_ids
    state = model.initial_decoding_state(batch, capacity)
    logits, state = model.decode(ops.convert_to_tensor(history), state, 0)
    position = history.shape[1]
    generated = []
    for _ in range(max_new_tokens):
        next_ids = np.argmax(ops.convert_to_numpy(logits[:, -1, :]), axis=-1).astype(np.int32)
        generated.append(next_ids)
        history = np.concatenate([history, next_ids[:, None]], axis=1)
        if window and position >= window:
            history = history[:, -(window // 2) :]
            state = model.initial_decoding_state(batch, capacity)
            logits, state = model.decode(ops.convert_to_tensor(history), state, 0)
            position = history.shape[1]
        else:
            logits, state = model.decode(ops.convert_to_tensor(next_ids[:, None]), state, position)
            position += 1
    if not generated:
        return np.zeros((batch, 0), np.int32)
    return np.stack(generated, axis=1)
