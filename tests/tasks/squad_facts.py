"""A synthetic SQuAD v1.1 set for tests: passages of facts, questions answered by a name.

Each passage is 4-8 facts "<name> is <number> ."; the question "what is <name> ?" is answered by
the name's mention in the passage, so a model must match question words to passage words, and
a passage of 8 facts (32 word tokens) spans several windows of a 32-token encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NAMES = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "owl", "pig", "rat", "yak",
         "emu", "bat", "cow", "elk"]


def facts_article(rng: np.random.Generator, title: str, paragraphs: int) -> dict:
    out = []
    for p in range(paragraphs):
        names = rng.choice(NAMES, size=rng.integers(4, 9), replace=False)
        values = rng.integers(10, 100, size=len(names))
        context = " ".join(f"{n} is {v} ." for n, v in zip(names, values))
        qas = [{"id": f"{title}-{p}-{k}", "question": f"what is {names[k]} ?",
                "answers": [{"text": str(names[k]), "answer_start": context.index(
                    f"{names[k]} is {values[k]} .")}]}
               for k in rng.choice(len(names), size=2, replace=False)]
        out.append({"context": context, "qas": qas})
    return {"title": title, "paragraphs": out}


def write_facts(folder: Path, train_articles: int = 40, dev_articles: int = 4,
                paragraphs: int = 50) -> Path:
    """Writes train-v1.1.json and dev-v1.1.json (two questions per passage) into `folder`."""
    rng = np.random.default_rng(0)
    for split, articles in (("train", train_articles), ("dev", dev_articles)):
        data = {"version": "1.1", "data": [facts_article(rng, f"{split}{a}", paragraphs)
                                           for a in range(articles)]}
        (folder / f"{split}-v1.1.json").write_text(json.dumps(data))
    return folder
