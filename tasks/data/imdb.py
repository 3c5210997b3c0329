"""The Large Movie Review Dataset (Maas et al. 2011): IMDB reviews, labelled and unlabelled.

The zoo reads three files from an `imdb/` folder (`$ZOO_DATA_DIR/imdb/`, or the download cache):

- `train.tsv`, `test.tsv`: header `text<TAB>label<TAB>rating<TAB>id`, 25,000 reviews each,
  label 0 (rating <= 4) or 1 (rating >= 7), rows ordered negatives then positives by number;
- `unsup.txt`: the 50,000 unlabelled training reviews, one per line.

Without that folder, Stanford's `aclImdb_v1.tar.gz` is downloaded once (checked against its
sha256) and unpacked into those three files: each review's `<br />` tags and tabs and line
breaks become spaces, nothing else changes.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from tasks.data.corpora import Corpus, NamedDataset, RemoteFile, named_files, read_text
from tasks.data.errors import DataError
from tasks.data.splits import hash_fraction

ARCHIVE_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ARCHIVE_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
FILES = ("train.tsv", "test.tsv", "unsup.txt")
HEADER = "text\tlabel\trating\tid\n"
# aclImdb/<split>/<neg|pos|unsup>/<number>_<rating>.txt
_MEMBER = re.compile(r"^aclImdb/(train|test)/(neg|pos|unsup)/(\d+)_(\d+)\.txt$")
_BREAKS = re.compile(r"<br\s*/?>|[\t\r\n]")


def clean_review(text: str) -> str:
    """One line of text: HTML line breaks, tabs and newlines become spaces."""
    return _BREAKS.sub(" ", text)


def unpack_archive(archive: Path, folder: Path) -> None:
    """Writes FILES into `folder` from the aclImdb archive at `archive`."""
    reviews: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                found = _MEMBER.match(member.name)
                if not found or not member.isfile():
                    continue
                split, kind, number, rating = found.groups()
                data = tar.extractfile(member).read()
                text = clean_review(data.decode("utf-8", errors="replace"))
                reviews.setdefault((split, kind), []).append((int(number), int(rating), text))
    except (OSError, tarfile.TarError, EOFError) as error:
        raise DataError(f"imdb: {archive} is not a readable aclImdb archive ({error})") from None
    missing = [f"{s}/{k}" for s in ("train", "test") for k in ("neg", "pos")
               if (s, k) not in reviews] + ([] if ("train", "unsup") in reviews
                                            else ["train/unsup"])
    if missing:
        raise DataError(f"imdb: {archive} has no aclImdb/{missing[0]}/ reviews")
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        rows = [HEADER]
        for label, kind in enumerate(("neg", "pos")):
            for number, rating, text in sorted(reviews[(split, kind)]):
                rows.append(f"{text}\t{label}\t{rating}\t{split}_{kind}_{number}\n")
        (folder / f"{split}.tsv").write_text("".join(rows), encoding="utf-8")
    unsup = sorted(reviews[("train", "unsup")])
    (folder / "unsup.txt").write_text("".join(f"{text}\n" for _, _, text in unsup),
                                      encoding="utf-8")


def _dataset() -> NamedDataset:
    unpacked = {split: RemoteFile(name, ARCHIVE_URL, "") for split, name in
                (("train", "train.tsv"), ("test", "test.tsv"), ("unsup", "unsup.txt"))}
    return NamedDataset(
        folder="imdb", files=unpacked, archive=RemoteFile("aclImdb_v1.tar.gz", ARCHIVE_URL,
                                                           ARCHIVE_SHA256),
        unpack=unpack_archive, validation_from_train=VALIDATION_FRACTION)


# Labelled: train and test as published; validation is a seeded tenth of train (by hashing each
# review's text, as every split the zoo makes), so test stays unseen until the end.
VALIDATION_FRACTION = 0.1
IMDB = _dataset()
# The pretraining corpus keeps this share of its reviews (by the same hashing) as validation.
CORPUS_VALIDATION_FRACTION = 0.01


def corpus(name: str, *, data_dir: str | None = None, cache_dir: str | None = None) -> Corpus:
    """`imdb_unsup`: the 50,000 unlabelled reviews and the 25,000 training reviews' text, one
    review per line, never the test reviews; 1% of them (by hashing) is validation."""
    paths, source = named_files("imdb", IMDB, data_dir=data_dir, cache_dir=cache_dir)
    reviews = [line for line in read_text(paths["unsup"]).split("\n") if line.strip()]
    for number, line in enumerate(read_text(paths["train"]).split("\n")[1:], start=2):
        if line.strip():
            fields = line.split("\t")
            if len(fields) != 4:
                raise DataError(f"{paths['train']}:{number}: {len(fields)} fields, the header "
                                "names 4 (text, label, rating, id)")
            reviews.append(fields[0])
    splits: dict[str, list[str]] = {"train": [], "validation": []}
    for review in reviews:
        held_out = hash_fraction(review, seed=0) < CORPUS_VALIDATION_FRACTION
        splits["validation" if held_out else "train"].append(review)
    texts = {split: "\n".join(lines) + "\n" for split, lines in splits.items() if lines}
    if "validation" not in texts:
        raise DataError(f"{name}: too few reviews to hold out a validation split")
    return Corpus(name, texts, source)
