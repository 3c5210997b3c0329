"""`TextClassifier`: a text_classification run or export that labels texts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from zoo.pipelines.pipeline import Pipeline, as_texts, in_batches


@dataclasses.dataclass(frozen=True)
class Classification:
    """A text's likeliest label and every class's probability."""

    label: str
    probabilities: dict[str, float]


class TextClassifier(Pipeline):
    """Labels texts.

        >>> classifier = zoo.load("saved_models/bert_tiny/1")
        >>> classifier.classify("a gorgeous, witty film").label
        'positive'
    """

    task_name = "text_classification"
    signature = "classify"

    @property
    def labels(self) -> list[str]:
        """The class names, in the order of the model's outputs."""
        return self.run.task.labels if self.run is not None else self.probabilities(["x"])[0]

    def classify(self, texts: str | Sequence[str]) -> Classification | list[Classification]:
        """Each text's `Classification`; a string gives one, a list a list."""
        items, single = as_texts(texts)
        labels, scores = self.probabilities(items)
        out = [Classification(labels[int(np.argmax(row))],
                              {label: float(p) for label, p in zip(labels, row)})
               for row in scores]
        return out[0] if single else out

    def probabilities(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """(class names, probabilities [texts, classes]), as numpy, from the `classify`
        signature (the export's, or the run's built in this process)."""
        from tasks.text_classification.serving import example_of

        items, _ = as_texts(texts)
        labels, rows = [], []
        for batch in in_batches(items, self.batch_size):
            out = self.call_signature("classify", inputs=[example_of(text) for text in batch])
            labels = [c.decode("utf-8") for c in out["classes"][0]]
            rows.append(out["scores"])
        return labels, np.concatenate(rows)
