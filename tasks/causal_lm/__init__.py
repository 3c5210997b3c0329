"""`causal_lm`: next-token prediction (task.py), the language model (model.py), and its
generate/score/logits signatures (serving.py)."""

from tasks.lazy_exports import lazy_exports

_EXPORTS = {
    "CausalLM": "tasks.causal_lm.model",
    "LanguageModelingOptions": "tasks.causal_lm.task",
    "LanguageModelingTask": "tasks.causal_lm.task",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)  # imported on first use: no TensorFlow before
__all__ = list(_EXPORTS)
