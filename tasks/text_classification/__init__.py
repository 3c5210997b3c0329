"""`text_classification`: labelled text (task.py), the classifier head on any backbone
(model.py), EDA augmentation (eda.py), and the predict/classify signatures (serving.py)."""

from tasks.lazy_exports import lazy_exports

_EXPORTS = {
    "TextClassifier": "tasks.text_classification.model",
    "TextClassificationOptions": "tasks.text_classification.task",
    "TextClassificationTask": "tasks.text_classification.task",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)  # imported on first use: no TensorFlow before
__all__ = list(_EXPORTS)
