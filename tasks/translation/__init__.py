"""`translation`: text pairs and sacreBLEU on the text-to-text core (`tasks.text_to_text`)."""

from tasks.lazy_exports import lazy_exports

_EXPORTS = {
    "TranslationOptions": "tasks.translation.task",
    "TranslationTask": "tasks.translation.task",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)  # imported on first use: no TensorFlow before
__all__ = list(_EXPORTS)
