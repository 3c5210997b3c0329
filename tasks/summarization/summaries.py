"""Summarization data: AESLC by name, or any file or folder of (text, summary) pairs.

`--dataset=aeslc` reads `$ZOO_DATA_DIR/aeslc/{train,dev,test}.jsonl`: the Annotated Enron
Subject Line Corpus (Zhang & Tetreault 2019), one email a line, `{"id", "email", "subject"}`,
and in dev and test the three subject lines annotators wrote (`annotations`), which the paper
scores against. Its licence (CC BY-NC-SA 4.0) keeps it out of the package and out of any
download the zoo makes: a user converts it from github.com/ryanzhumich/AESLC.

Any other pairs load as translation's do (`tasks.data.load_pairs`: TSV/CSV/JSONL, a folder with
train/dev/test files, `--set source_column/target_column`); their one reference is the target.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from tasks.data import DataError, Examples, load_pairs
from tasks.data.corpora import text_lines

AESLC_FILES = {"train": "train.jsonl", "validation": "dev.jsonl", "test": "test.jsonl"}


@dataclasses.dataclass(frozen=True)
class References:
    """What a split's summaries are scored against: each example's id and reference texts
    (AESLC: its three annotations), and the original summary of each (AESLC: the subject line
    the sender wrote), when those differ."""

    ids: list[str]
    references: list[tuple[str, ...]]
    originals: list[str] | None = None


def aeslc_folder() -> Path:
    """`$ZOO_DATA_DIR/aeslc`, or a DataError saying how to get it."""
    root = os.environ.get("ZOO_DATA_DIR")
    folder = Path(root).expanduser() / "aeslc" if root else None
    if folder is None or not all((folder / f).is_file() for f in AESLC_FILES.values()):
        raise DataError(
            "aeslc: no $ZOO_DATA_DIR/aeslc/{train,dev,test}.jsonl; AESLC (CC BY-NC-SA 4.0) is "
            "not downloaded by the zoo: convert github.com/ryanzhumich/AESLC to JSON lines "
            '{"id", "email", "subject", "annotations"} and point ZOO_DATA_DIR at their parent')
    return folder


def load_summaries(dataset: str, source_column=None, target_column=None) -> Examples:
    """(text, summary) pairs by split, from `aeslc` or files."""
    if dataset == "aeslc":
        examples = load_pairs(str(aeslc_folder()), source_column="email",
                              target_column="subject")
        return dataclasses.replace(examples, name="aeslc")
    return load_pairs(dataset, source_column=source_column, target_column=target_column)


def load_references(dataset: str, examples: Examples, split: str) -> References:
    """The references of `split`: AESLC's annotations and ids, else each row's target."""
    sources, targets = examples.split(split)
    if dataset != "aeslc" or split == "train":
        return References([str(i) for i in range(len(targets))], [(t,) for t in targets])
    path = aeslc_folder() / AESLC_FILES[split]
    ids, references = [], []
    for number, line in enumerate(text_lines(path.read_text(encoding="utf-8")), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        annotations = tuple(a.strip() for a in record.get("annotations", ()) if a.strip())
        if not annotations:
            raise DataError(f"{path}:{number}: no annotations to score against")
        ids.append(str(record["id"]))
        references.append(annotations)
    if len(ids) != len(targets):
        raise DataError(f"{path}: {len(ids)} annotated rows for {len(targets)} emails")
    return References(ids, references, originals=list(targets))
