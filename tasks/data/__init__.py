"""The data layer of `tasks`: corpora, tokenizers, and a synthetic source of known entropy."""

from tasks.data.corpora import Corpus, list_datasets, load_corpus
from tasks.data.errors import DataError
from tasks.data.synthetic import MarkovSource
from tasks.data.tokenizers import TOKENIZERS, Tokenizer, build_tokenizer, load_tokenizer

__all__ = [
    "TOKENIZERS",
    "Corpus",
    "DataError",
    "MarkovSource",
    "Tokenizer",
    "build_tokenizer",
    "list_datasets",
    "load_corpus",
    "load_tokenizer",
]
