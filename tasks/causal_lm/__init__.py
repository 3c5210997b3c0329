"""`causal_lm`: next-token prediction (task.py), the language model (model.py), and its
generate/score/logits signatures (serving.py)."""

from tasks.causal_lm.model import CausalLM
from tasks.causal_lm.task import LanguageModelingOptions, LanguageModelingTask

__all__ = ["CausalLM", "LanguageModelingOptions", "LanguageModelingTask"]
