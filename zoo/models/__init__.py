"""The zoo's models: backbones that return hidden states (a task adds its head), and the counted
n-gram model. Backbones that generate speak the decoding protocol of `tasks.protocols`."""

from zoo.models.bag_of_words import BagOfWords
from zoo.models.decoder import TransformerDecoder
from zoo.models.encoder import TransformerEncoder
from zoo.models.lstm import LSTMBackbone
from zoo.models.ngram_lm import NGramLM

__all__ = ["BagOfWords", "LSTMBackbone", "NGramLM", "TransformerDecoder", "TransformerEncoder"]
