"""SQuAD v1.1 questions: the official JSON format, by name (`squad`) or from any file or folder.

`--dataset=squad` reads `$ZOO_DATA_DIR/squad/{train,dev}-v1.1.json`, else the official files,
downloaded once into the cache and checked against their sha256. A user's own data is a file in
the same format (its last tenth of articles becomes the validation split) or a folder holding a
`*train*.json` and a `*dev*.json` (or `*valid*.json`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tasks.data.corpora import NamedDataset, RemoteFile, named_files, read_text
from tasks.data.errors import DataError

_OFFICIAL = "https://rajpurkar.github.io/SQuAD-explorer/dataset/"
# The official files' sha256 (as pinned by stagedml's fetchsquad.py; torchtext pins their md5
# 981b2940.../3e85deb5...). The copy in ../shared/data differs in bytes (see its SOURCE.txt),
# which is why a local folder is read without a hash check, as for every named dataset.
SQUAD = NamedDataset(
    folder="squad",
    files={
        "train": RemoteFile("train-v1.1.json", _OFFICIAL + "train-v1.1.json",
                            "3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955"),
        "validation": RemoteFile("dev-v1.1.json", _OFFICIAL + "dev-v1.1.json",
                                 "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9"),
    },
)
NAMED = {"squad": SQUAD}


@dataclasses.dataclass(frozen=True)
class Question:
    """One question on one passage, with its reference answers (text and character start)."""

    id: str
    question: str
    context: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]


@dataclasses.dataclass
class QuestionSet:
    """A dataset's questions by split ("train", "validation")."""

    name: str
    splits: dict[str, list[Question]]

    def split(self, name: str) -> list[Question]:
        if name not in self.splits:
            raise DataError(f"{self.name} has no split {name!r}; it has {', '.join(self.splits)}")
        return self.splits[name]


def load_questions(name_or_path: str) -> QuestionSet:
    """The questions of a named dataset (`squad`) or of a SQuAD-format file or folder."""
    if name_or_path in NAMED:
        paths, _ = named_files(name_or_path, NAMED[name_or_path])
        return QuestionSet(name_or_path, {s: read_squad(p) for s, p in paths.items()})
    path = Path(name_or_path).expanduser()
    if path.is_file():
        articles = _articles(path)
        cut = max(1, len(articles) - max(1, len(articles) // 10))
        if len(articles) < 2:
            raise DataError(f"{path}: one article only; give at least two (the last tenth of "
                            "the articles is the validation split), or a folder with a dev file")
        return QuestionSet(path.stem, {"train": _questions(articles[:cut], path),
                                       "validation": _questions(articles[cut:], path)})
    if path.is_dir():
        files = {split: _find(path, stems) for split, stems in
                 (("train", ("train",)), ("validation", ("dev", "valid")))}
        return QuestionSet(path.name, {split: read_squad(p) for split, p in files.items()})
    raise DataError(f"unknown dataset {name_or_path!r}: use squad, or a SQuAD v1.1 JSON file "
                    "or a folder holding train and dev files")


def read_squad(path: Path) -> list[Question]:
    """Every question of a SQuAD v1.1 JSON file; a malformed file is a one-line DataError."""
    return _questions(_articles(path), path)


def _articles(path: Path) -> list:
    try:
        data = json.loads(read_text(path))
        articles = data["data"]
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    except (KeyError, TypeError):
        raise DataError(f"{path}: no \"data\" list; is it in SQuAD v1.1 format?") from None
    if not isinstance(articles, list) or not articles:
        raise DataError(f"{path}: \"data\" holds no articles")
    return articles


def _questions(articles: list, path: Path) -> list[Question]:
    out = []
    try:
        for article in articles:
            for paragraph in article["paragraphs"]:
                context = paragraph["context"]
                for qa in paragraph["qas"]:
                    answers = qa["answers"]
                    out.append(Question(
                        str(qa["id"]), qa["question"], context,
                        tuple(a["text"] for a in answers),
                        tuple(int(a["answer_start"]) for a in answers)))
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path}: not SQuAD v1.1 format (a paragraph or question lacks "
                        f"{error})") from None
    if not out:
        raise DataError(f"{path}: holds no questions")
    return out


def _find(folder: Path, stems: tuple[str, ...]) -> Path:
    found = sorted(p for p in folder.glob("*.json") if any(s in p.name for s in stems))
    if not found:
        raise DataError(f"{folder}: no *{stems[0]}*.json file; a SQuAD folder holds a train "
                        "and a dev file")
    return found[0]
