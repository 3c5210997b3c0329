"""Stacked LSTM/GRU layers that take and return their states."""

import keras

from layers.initializers import per_weight

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


@keras.saving.register_keras_serializable(package="zoo")
class LSTMBlock(keras.layers.Layer):
    """A stack of LSTM (or GRU) layers with Zaremba-style dropout.

    Dropout is applied between layers and on the output, never on the recurrent
    connections (Zaremba et al. 2014), which also keeps the stock Keras layers on
    their fused cuDNN kernel on GPU. States go in and come out so a trainer can carry
    them across truncated-BPTT windows and a decoder can step one token at a time.

    Args:
        units: width of every layer's state and output.
        num_layers: number of stacked layers.
        dropout: dropout rate between layers and on the output.
        cell: `"lstm"` or `"gru"`.
        kernel_initializer: initializer for the input kernels.
        recurrent_initializer: initializer for the recurrent kernels.
        bias_initializer: initializer for the biases.
        unit_forget_bias: LSTM only: add 1 to the forget-gate bias at initialization.

    Call arguments:
        x: [B, T, features].
        initial_state: optional, as returned: one entry per layer, `[h, c]` for an LSTM
            and `[h]` for a GRU, each [B, units]. Zeros when omitted.

    Returns:
        `(outputs [B, T, units], states)`.

    Example:

    ```python
    block = LSTMBlock(units=16, num_layers=2)
    x = np.random.rand(2, 10, 8).astype("float32")
    y, states = block(x)  # y: [2, 10, 16]; states: [[h, c], [h, c]]
    y_next, states = block(x[:, :1], initial_state=states)  # carry on from there
    ```
    """

    def __init__(
        self,
        units: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        cell: str = "lstm",
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {tuple(CELLS)}, got {cell!r}")
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.cell = cell
        self.kernel_initializer = per_weight(kernel_initializer)
        self.recurrent_initializer = per_weight(recurrent_initializer)
        self.bias_initializer = per_weight(bias_initializer)
        self.unit_forget_bias = unit_forget_bias

        extra = {"unit_forget_bias": unit_forget_bias} if cell == "lstm" else {}
        self.rnn_layers = [
            CELLS[cell](
                units,
                return_sequences=True,
                return_state=True,
                kernel_initializer=self.kernel_initializer,
                recurrent_initializer=self.recurrent_initializer,
                bias_initializer=self.bias_initializer,
                dtype=self.dtype_policy,
                name=f"{cell}_{i}",
                **extra,
            )
            for i in range(num_layers)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        for rnn in self.rnn_layers:
            rnn.build(input_shape)
            input_shape = (*input_shape[:-1], self.units)

    def call(self, x, initial_state=None, training=None):
        states = []
        for i, rnn in enumerate(self.rnn_layers):
            if i > 0:
                x = self.dropout_layer(x, training=training)
            layer_state = None if initial_state is None else list(initial_state[i])
            x, *layer_state = rnn(x, initial_state=layer_state, training=training)
            states.append(layer_state)
        return self.dropout_layer(x, training=training), states

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "cell": self.cell,
                "kernel_initializer": self.kernel_initializer,
                "recurrent_initializer": self.recurrent_initializer,
                "bias_initializer": self.bias_initializer,
                "unit_forget_bias": self.unit_forget_bias,
            }
        )
        return config
