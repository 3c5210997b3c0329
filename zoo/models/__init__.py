"""The zoo's models: backbones that return hidden states (a task adds its head), and the counted
n-gram model. Backbones that generate speak the decoding protocol of `tasks.protocols`."""

from zoo.models.bag_of_words import BagOfWords
from zoo.models.decoder import TransformerDecoder
from zoo.models.encoder import TransformerEncoder
from zoo.models.lstm import LSTMBackbone
from zoo.models.ngram_lm import NGramLM
from zoo.models.seq2seq import LSTMSeq2SeqAttention, TransformerSeq2Seq

__all__ = [
    "BagOfWords",
    "LSTMBackbone",
    "LSTMSeq2SeqAttention",
    "NGramLM",
    "TransformerDecoder",
    "TransformerEncoder",
    "TransformerSeq2Seq",
]
