"""The zoo's models. Each maps token ids to logits and speaks the decoding protocol:
`initial_decoding_state(batch_size, max_length)` and `decode(token_ids, state, index)`."""

from zoo.models.lstm_lm import LSTMLM
from zoo.models.ngram_lm import NGramLM
from zoo.models.transformer_lm import TransformerLM

__all__ = ["LSTMLM", "NGramLM", "TransformerLM"]
