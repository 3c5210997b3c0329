"""The data layer of `tasks`: corpora, labelled text and text pairs, tokenizers, and a synthetic
source of known entropy."""

from tasks.data.corpora import Corpus, list_datasets, load_corpus
from tasks.data.errors import DataError
from tasks.data.examples import Examples, load_labelled, load_pairs
from tasks.data.synthetic import MarkovSource
from tasks.data.tokenizers import TOKENIZERS, Tokenizer, build_tokenizer, load_tokenizer

__all__ = [
    "TOKENIZERS",
    "Corpus",
    "DataError",
    "Examples",
    "MarkovSource",
    "Tokenizer",
    "build_tokenizer",
    "list_datasets",
    "load_corpus",
    "load_labelled",
    "load_pairs",
    "load_tokenizer",
]
