"""`masked_lm`: BERT's pretraining (task.py), its dynamic masking (masking.py), the encoder with
its pretraining heads (model.py), and the fill_mask signature (serving.py)."""

from tasks.lazy_exports import lazy_exports

_EXPORTS = {
    "MaskedLM": "tasks.masked_lm.model",
    "MaskedLanguageModelingOptions": "tasks.masked_lm.task",
    "MaskedLanguageModelingTask": "tasks.masked_lm.task",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)  # imported on first use: no TensorFlow before
__all__ = list(_EXPORTS)
