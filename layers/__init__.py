"""Reusable Keras 3 layers for the model zoo (keras.ops only, so any backend runs them)."""

from layers.activations import ACTIVATIONS, get_activation
from layers.attention import CachedMultiHeadAttention
from layers.embedding import TokenAndPositionEmbedding
from layers.recurrent import LSTMBlock
from layers.transformer import EncoderBlock, FeedForward, TransformerBlock

__all__ = [
    "ACTIVATIONS",
    "CachedMultiHeadAttention",
    "EncoderBlock",
    "FeedForward",
    "LSTMBlock",
    "TokenAndPositionEmbedding",
    "TransformerBlock",
    "get_activation",
]
