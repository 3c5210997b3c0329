"""What every task model shares: a backbone it serializes with itself, and an output layer over
the vocabulary (the token embedding transposed, or its own Dense layer).

A task model is keras-hub's idea of a task: a head on a backbone, built from sizes and options,
saved by `get_config`. Subclasses name their own arguments in `config_keys` and get
`get_config`/`from_config` from here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
from keras import ops


def serialize_backbone(backbone: keras.Model) -> dict:
    """A backbone's config for its task model's config; the task model builds it, so the
    backbone's own build record (input shapes) is left out."""
    serialized = keras.saving.serialize_keras_object(backbone)
    serialized.pop("build_config", None)
    return serialized


class TaskModel(keras.Model):
    """A keras.Model holding `self.backbone`; `config_keys` are the constructor arguments, besides
    the backbone, that its config records (each stored as an attribute of the same name).

    Keras' own loop runs on raw inputs once the run that joins the model with its task has set
    `keras_loop` (a `tasks.task.KerasLoop`): `compile()` without arguments takes the task's
    optimizer, loss and metrics, and `fit`, `evaluate` and `predict` take lists of strings (and
    labels) or a tf.data.Dataset of them, preprocessed by the task's tokenizer in TF ops:

    ```python
    model = zoo.load("runs/<classifier>").model
    model.compile()
    model.fit(["a gorgeous film", "a dull film"], ["pos", "neg"], epochs=3)
    model.predict(["a witty film"])  # logits [1, classes]
    ```
    """

    config_keys: ClassVar[tuple[str, ...]] = ()
    keras_loop: Any = None

    def __init__(self, backbone: keras.Model, **kwargs: Any):
        super().__init__(**kwargs)
        self.backbone = backbone

    def get_config(self) -> dict:
        config = super().get_config()
        config["backbone"] = serialize_backbone(self.backbone)
        config.update({key: getattr(self, key) for key in self.config_keys})
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

    # ------------------------------------------------------------------ Keras' own loop

    def compile(self, optimizer: Any = "auto", loss: Any = "auto", metrics: Any = "auto",
                **kwargs: Any) -> None:
        """Keras' compile; each argument left "auto" is the task's default."""
        chosen = {"optimizer": optimizer, "loss": loss, "metrics": metrics}
        auto = [name for name, value in chosen.items() if isinstance(value, str)
                and value == "auto"]
        if auto:
            if self.keras_loop is None:
                raise ValueError(f"compile: no task defaults for {', '.join(auto)} (load the "
                                 "model with zoo.load, or pass them)")
            defaults = self.keras_loop.compile_defaults()
            chosen.update({name: defaults.get(name) for name in auto})
            if "metrics" in auto and "weighted_metrics" not in kwargs:
                kwargs["weighted_metrics"] = defaults.get("weighted_metrics")
            if "loss" in auto and "loss_weights" in defaults:
                kwargs.setdefault("loss_weights", defaults["loss_weights"])
        super().compile(**chosen, **kwargs)

    def fit(self, x=None, y=None, batch_size=None, sample_weight=None, validation_data=None,
            **kwargs):
        if self.keras_loop is None:
            return super().fit(x, y, batch_size=batch_size, sample_weight=sample_weight,
                               validation_data=validation_data, **kwargs)
        shuffle = kwargs.pop("shuffle", True)  # lists are shuffled here, a dataset as it comes
        x = self._raw_batches(x, y, sample_weight, batch_size, shuffle=shuffle)
        if validation_data is not None:
            validation_data = self._raw_batches(*_unpack(validation_data), batch_size)
        return super().fit(x, validation_data=validation_data, shuffle=False, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs):
        if self.keras_loop is None:
            return super().evaluate(x, y, batch_size=batch_size, sample_weight=sample_weight,
                                    **kwargs)
        return super().evaluate(self._raw_batches(x, y, sample_weight, batch_size), **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        if self.keras_loop is None:
            return super().predict(x, batch_size=batch_size, **kwargs)
        return super().predict(self._raw_batches(x, None, None, batch_size), **kwargs)

    def _raw_batches(self, x, y, sample_weight, batch_size, shuffle: bool = False):
        """Raw inputs as a dataset of preprocessed batches (a dataset given is only mapped)."""
        import tensorflow as tf

        preprocess = self.keras_loop.preprocess
        if isinstance(x, tf.data.Dataset):
            return x.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
        if self.keras_loop.encode is not None:
            return self.keras_loop.encode(x, y, sample_weight, batch_size or 32, shuffle)
        if isinstance(x, str):
            x = [x]
        parts = tuple(tf.constant(list(part) if not hasattr(part, "shape") else part)
                      for part in (x, y, sample_weight) if part is not None)
        dataset = tf.data.Dataset.from_tensor_slices(parts)
        if shuffle:
            dataset = dataset.shuffle(len(x), reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size or 32)
        return dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def _unpack(data) -> tuple:
    """validation_data as (x, y, sample_weight): a dataset stays whole."""
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        return (*data, None)[:3]
    return data, None, None


class VocabularyLogits:
    """Hidden states -> float32 logits over the vocabulary, for a TaskModel with `self.backbone`.

    `add_vocabulary_head` makes the output layer: none when tied (`tie_embeddings`, Press & Wolf
    2016: the backbone's token embedding transposed), else a Dense layer named "head", started
    with the backbone's `head_initializers()`, with a bias when `bias` (Zaremba's softmax layer
    has one, GPT's none). It is an attribute of the model itself, so Keras tracks its weights.
    """

    def add_vocabulary_head(self, vocab_size: int, *, tied: bool, bias: bool = False) -> None:
        self.head = None
        if not tied:
            self.head = keras.layers.Dense(
                vocab_size, use_bias=bias, dtype=self.backbone.dtype_policy, name="head",
                **self.backbone.head_initializers(),
            )

    def build_vocabulary_head(self, ids_shape) -> None:
        if self.head is not None:
            self.head.build((*ids_shape, self.backbone.hidden_dim))

    def logits(self, hidden):
        """Hidden states [..., D] -> float32 logits [..., vocab_size]."""
        if self.head is None:
            logits = self.backbone.token_embedding.attend(hidden)
        else:
            logits = self.head(hidden)
        return ops.cast(logits, "float32")

    def step_logits(self, hidden, token_ids):
        """The head on decoding steps: hidden [B, t, D] as a plain [B*t, D] matmul (no
        tensordot shape arithmetic), back to logits [B, t, vocab]."""
        batch, steps = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        logits = self.logits(ops.reshape(hidden, (-1, self.backbone.hidden_dim)))
        return ops.reshape(logits, (batch, steps, self.vocab_size))
