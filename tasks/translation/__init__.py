"""`translation`: text pairs and sacreBLEU on the text-to-text core (`tasks.text_to_text`)."""

from tasks.translation.task import TranslationOptions, TranslationTask

__all__ = ["TranslationOptions", "TranslationTask"]
