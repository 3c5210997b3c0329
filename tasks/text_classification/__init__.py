"""`text_classification`: labelled text (task.py), the classifier head on any backbone
(model.py), EDA augmentation (eda.py), and the predict/classify signatures (serving.py)."""

from tasks.text_classification.model import TextClassifier
from tasks.text_classification.task import TextClassificationOptions, TextClassificationTask

__all__ = ["TextClassificationOptions", "TextClassificationTask", "TextClassifier"]
