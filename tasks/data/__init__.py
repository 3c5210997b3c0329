"""The data layer of `tasks`: corpora, labelled text and text pairs, tokenizers, and a synthetic
source of known entropy. The tokenizers (and TensorFlow with them) and the synthetic source
are imported on first use."""

from tasks.data.corpora import Corpus, list_datasets, load_corpus
from tasks.data.errors import DataError
from tasks.data.examples import Examples, load_labelled, load_pairs
from tasks.lazy_exports import lazy_exports

_LATER = {
    "MarkovSource": "tasks.data.synthetic",
    **{name: "tasks.data.tokenizers"
       for name in ("TOKENIZERS", "Tokenizer", "build_tokenizer", "load_tokenizer")},
}
__getattr__ = lazy_exports(__name__, _LATER)

__all__ = [
    "Corpus",
    "DataError",
    "Examples",
    "list_datasets",
    "load_corpus",
    "load_labelled",
    "load_pairs",
    *_LATER,
]
