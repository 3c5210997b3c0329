"""Example datasets: labelled text (classification) and text pairs (translation), by split.

Where corpora are one long text per split, these are rows of two fields: (text, label) or
(source, target). They come from a named dataset (`sst2`, `spa_eng`: `$ZOO_DATA_DIR/<folder>/`
or a verified download, as corpora do) or from local files:

- TSV (`.tsv`, `.txt`), CSV (`.csv`) or JSON lines (`.jsonl`); which columns hold the two fields
  is given by name (the file then has a header row) or by 0-based index (no header), or found:
  a header naming `text`/`sentence` and `label` (pairs: `source`/`target`) is used, else the
  first two columns are taken with no header.
- A folder with `train`, `dev`/`valid`/`validation` and `test` files (any of the formats; a
  `test-labeled` file is preferred over `test`) keeps those splits; a single file, or a folder
  without them, is split by hashing each row's first field with a seed: the same rows land in
  the same split on every machine and in any row order, and duplicates of a text (a sentence
  with several translations) never straddle two splits. `split_note` says how.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from tasks.data.corpora import (
    NamedDataset,
    RemoteFile,
    github_file,
    named_files,
    read_text,
    text_lines,
)
from tasks.data.errors import DataError
from tasks.data.imdb import IMDB
from tasks.data.splits import hash_fraction

SPLITS = ("train", "validation", "test")
_STEMS = {
    "train": ("train",),
    "validation": ("dev", "valid", "validation"),
    "test": ("test-labeled", "test"),
}
_SUFFIXES = (".tsv", ".csv", ".jsonl", ".txt")


@dataclasses.dataclass(frozen=True)
class Examples:
    """Rows of two fields by split: `splits[name] = (first fields, second fields)`.

    `fields` names the two ("text", "label") or ("source", "target"); `split_note` says how the
    splits were made (their own files, or a seeded hash split), for the run's records.
    """

    name: str
    fields: tuple[str, str]
    splits: dict[str, tuple[list[str], list[str]]]
    source: str = ""
    split_note: str = ""

    def split(self, name: str) -> tuple[list[str], list[str]]:
        if name not in self.splits:
            available = ", ".join(self.splits) or "none"
            raise DataError(f"{self.name} has no split {name!r}; available splits: {available}")
        return self.splits[name]


# Origins and hashes as recorded in each folder's SOURCE.txt under the shared data folder.
_AUTOPROMPT = ("eyalbd2/Reproducing-AutoPrompt", "6288fb5bec9c572f2492875ae0111df5b6daed11")
_SPA_ENG = ("Hoangduc212001/hoang", "2cfd26f9551f5c2d614e8000500891801840a438")

LABELLED: dict[str, NamedDataset] = {
    # GLUE SST-2: train (all 67,349 phrases), dev as validation, the labelled test as test.
    "sst2": NamedDataset(
        folder="sst2",
        files={
            "train": RemoteFile(
                "train.tsv",
                github_file(*_AUTOPROMPT, "glue_data/SST-2/train_full.tsv"),
                "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
            ),
            "validation": RemoteFile(
                "dev.tsv",
                github_file(*_AUTOPROMPT, "glue_data/SST-2/dev.tsv"),
                "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
            ),
            "test": RemoteFile(
                "test-labeled.tsv",
                github_file(*_AUTOPROMPT, "glue_data/SST-2/test-labeled.tsv"),
                "c0efc56ade6e0598d0f8daca1976e232aee0bcabca8e599341cad290d9d10b3c",
            ),
        },
    ),
    # Maas et al. 2011's movie reviews: train and test as published, validation a seeded
    # tenth of train (tasks.data.imdb).
    "imdb": IMDB,
}

PAIRS: dict[str, NamedDataset] = {
    # Anki/Tatoeba English-Spanish, as the keras.io and TensorFlow NMT tutorials use it.
    "spa_eng": NamedDataset(
        folder="spa-eng",
        files={
            "all": RemoteFile(
                "spa.txt",
                github_file(*_SPA_ENG, "spa-eng.zip"),
                "6ec60e212f812ee3430f7568ea6f33b6fb080e32193c5952e8da0ee8ba45574c",
                member="spa-eng/spa.txt",
            ),
        },
    ),
}


# The languages of each named pair dataset's two columns (`--set source_lang/target_lang`).
PAIR_LANGUAGES: dict[str, tuple[str, str]] = {"spa_eng": ("en", "es")}


def load_labelled(
    name_or_path: str,
    *,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    split_seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> Examples:
    """Labelled text: `sst2` or files (see the module docstring); labels stay strings."""
    return _load(name_or_path, LABELLED, ("text", "label"), (text_column, label_column),
                 split_seed, fractions)


def load_pairs(
    name_or_path: str,
    *,
    source_column: str | int | None = None,
    target_column: str | int | None = None,
    split_seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
) -> Examples:
    """Text pairs: `spa_eng` (English, Spanish) or files. The default split is keras.io's
    70/15/15, made by hashing the source side."""
    return _load(name_or_path, PAIRS, ("source", "target"), (source_column, target_column),
                 split_seed, fractions)


# ----------------------------------------------------------------------------- loading


def _load(name_or_path, named, fields, columns, seed, fractions) -> Examples:
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise DataError(f"split fractions must be three numbers >= 0 summing to 1, got {fractions}")
    carve = 0.0
    if name_or_path in named:
        paths, source = named_files(name_or_path, named[name_or_path])
        paths = {s: p for s, p in paths.items() if s in (*SPLITS, "all")}
        name, carve = name_or_path, named[name_or_path].validation_from_train
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            known = ", ".join(named)
            raise DataError(
                f"unknown dataset {name_or_path!r}: use one of {known}, or a path to a "
                ".tsv/.csv/.jsonl file or a folder of them that exists"
            )
        paths, source, name = _local_files(path), str(path), path.stem
    tables = {split: _read_rows(p, fields, columns) for split, p in paths.items()}
    if set(tables) == {"all"}:
        tables, note = _hash_split(tables["all"], fractions, seed), (
            f"rows split {'/'.join(f'{f:g}' for f in fractions)} (train/validation/test) by the "
            f"sha256 of 'seed {seed}: <{fields[0]}>'"
        )
    else:
        note = "the dataset's own files: " + ", ".join(f"{s} = {paths[s].name}" for s in paths)
    if carve and "validation" not in tables:
        train = _hash_split(tables.pop("train"), (1 - carve, carve, 0.0), seed)
        tables.update(train)
        note += (f"; validation = {carve:.0%} of {paths['train'].name}'s rows, by the sha256 of "
                 f"'seed {seed}: <{fields[0]}>'")
    splits = {s: ([r[0] for r in tables[s]], [r[1] for r in tables[s]]) for s in SPLITS
              if s in tables}
    if not splits.get("train", ([],))[0]:
        raise DataError(f"{name}: the train split is empty; give more rows")
    return Examples(name, fields, splits, source, note)


def _local_files(path: Path) -> dict[str, Path]:
    if path.is_file():
        return {"all": path}
    found = {}
    for split, stems in _STEMS.items():
        for stem in stems:
            matches = sorted(p for suffix in _SUFFIXES for p in [path / f"{stem}{suffix}"]
                             if p.is_file())
            if matches:
                found[split] = matches[0]
                break
    if "train" in found:
        return found
    files = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    if len(files) != 1:
        raise DataError(
            f"{path}: expected train/dev/test files or a single .tsv/.csv/.jsonl file, found "
            f"{len(files)} data files"
        )
    return {"all": files[0]}


def _read_rows(path: Path, fields, columns) -> list[tuple[str, str]]:
    """The (first, second) field of every row; a missing column or an empty field is an error."""
    text = read_text(path)
    if path.suffix == ".jsonl":
        return _jsonl_rows(path, text, fields, columns)
    delimiter = "," if path.suffix == ".csv" else "\t"
    rows = list(csv.reader(text_lines(text), delimiter=delimiter, quoting=_quoting(delimiter)))
    rows = [row for row in rows if row]  # blank lines
    if not rows:
        raise DataError(f"{path}: no rows")
    indices, body = _columns(path, rows, fields, columns)
    # Fields beyond the header (or beyond two, with neither header nor columns given) would be
    # dropped unseen; they are usually a stray delimiter inside a text.
    header = len(rows) > len(body)
    most = len(rows[0]) if header else (None if any(c is not None for c in columns) else 2)
    out = []
    for number, row in enumerate(body, start=len(rows) - len(body) + 1):
        if max(indices) >= len(row):
            raise DataError(f"{path}:{number}: {len(row)} column(s), needs column {max(indices)}")
        if most is not None and len(row) > most:
            stray = "a tab" if delimiter == "\t" else "an unquoted comma"
            expected = (f"the header names {most}" if header else
                        f"two expected (or set {fields[0]}_column and {fields[1]}_column)")
            raise DataError(f"{path}:{number}: {len(row)} fields, {expected}: {stray} inside "
                            "a text?")
        out.append(_fields(path, number, fields, (row[indices[0]], row[indices[1]])))
    return out


def _quoting(delimiter: str) -> int:
    # TSV files (SST-2, Tatoeba) carry literal quotes inside their fields.
    return csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE


def _columns(path, rows, fields, columns) -> tuple[tuple[int, int], list[list[str]]]:
    """Column indices of the two fields, and the rows after any header."""
    header = [cell.strip() for cell in rows[0]]
    if all(isinstance(c, int) for c in columns):
        return tuple(columns), rows
    if any(isinstance(c, str) for c in columns):  # a header row, named columns
        indices = []
        for column, field in zip(columns, fields):
            index = column if isinstance(column, int) else (
                header.index(column) if column in header else None
            ) if column is not None else _find(header, field)
            if index is None:
                wanted = column if column is not None else field
                raise DataError(
                    f"{path}: no {field} column named {wanted!r}; the header has: "
                    f"{', '.join(header)}"
                )
            indices.append(index)
        return tuple(indices), rows[1:]
    found = [_find(header, field) for field in fields]
    if all(i is not None for i in found):
        return tuple(found), rows[1:]
    if any(i is not None for i in found):  # a header, but without one of the two fields
        missing = fields[found.index(None)]
        raise DataError(f"{path}: the header has no {missing} column (it has: "
                        f"{', '.join(header)}); name one, or set {missing}_column")
    return (0, 1), rows


_ALIASES = {"text": ("text", "sentence"), "label": ("label",), "source": ("source",),
            "target": ("target",)}


def _find(header: list[str], field: str) -> int | None:
    for alias in _ALIASES[field]:
        if alias in header:
            return header.index(alias)
    return None


def _jsonl_rows(path: Path, text: str, fields, columns) -> list[tuple[str, str]]:
    keys = [c if isinstance(c, str) else f for c, f in zip(columns, fields)]
    out = []
    for number, line in enumerate(text_lines(text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict) or any(k not in record for k in keys):
            raise DataError(f"{path}:{number}: needs the keys {', '.join(keys)}")
        out.append(_fields(path, number, fields, (str(record[keys[0]]), str(record[keys[1]]))))
    if not out:
        raise DataError(f"{path}: no rows")
    return out


def _fields(path, number, fields, values) -> tuple[str, str]:
    values = tuple(v.strip() for v in values)
    for field, value in zip(fields, values):
        if not value:
            raise DataError(f"{path}:{number}: the {field} is empty")
    return values


def _hash_split(rows, fractions, seed) -> dict[str, list[tuple[str, str]]]:
    bounds = [fractions[0], fractions[0] + fractions[1]]
    splits: dict[str, list] = {s: [] for s in SPLITS}
    for row in rows:
        where = hash_fraction(row[0], seed)
        splits[SPLITS[sum(where >= b for b in bounds)]].append(row)
    return {s: r for s, r in splits.items() if r}
