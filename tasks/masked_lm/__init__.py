"""`masked_lm`: BERT's pretraining (task.py), its dynamic masking (masking.py), the encoder with
its pretraining heads (model.py), and the fill_mask signature (serving.py)."""

from tasks.masked_lm.model import MaskedLM
from tasks.masked_lm.task import MaskedLanguageModelingOptions, MaskedLanguageModelingTask

__all__ = ["MaskedLM", "MaskedLanguageModelingOptions", "MaskedLanguageModelingTask"]
