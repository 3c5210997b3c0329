"""IMDB (Maas et al. 2011) on a small fixture: the aclImdb archive's layout unpacked into the
zoo's files, the labelled splits with validation carved from train, the pretraining corpus that
never holds a test review, and a download that is checked and unpacked once."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from tasks.data import DataError, load_corpus
from tasks.data.corpora import NamedDataset, RemoteFile, named_files
from tasks.data.examples import load_labelled
from tasks.data.imdb import FILES, HEADER, unpack_archive


def review(split: str, kind: str, number: int) -> str:
    # HTML breaks, a tab and U+0085 (which str.splitlines takes for a line break) inside.
    return f"{split} {kind} review {number}.<br /><br />A\tfine\x85 film, or not."


def write_archive(path: Path, per_class: int = 30, unsup: int = 40) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, text: str) -> None:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("README", "not a review")
        for split in ("train", "test"):
            for kind, rating in (("neg", 2), ("pos", 9)):
                for number in reversed(range(per_class)):  # any order in the archive
                    add(f"{split}/{kind}/{number}_{rating}.txt", review(split, kind, number))
        for number in range(unsup):
            add(f"train/unsup/{number}_0.txt", review("unsup", "none", number))
    return path


@pytest.fixture(scope="module")
def imdb_root(tmp_path_factory) -> Path:
    """A data folder holding imdb/ unpacked from a small archive of the published layout."""
    root = tmp_path_factory.mktemp("data")
    unpack_archive(write_archive(root / "aclImdb_v1.tar.gz"), root / "imdb")
    return root


def test_the_archive_becomes_the_documented_files(imdb_root):
    folder = imdb_root / "imdb"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    train = (folder / "train.tsv").read_text("utf-8").split("\n")
    assert train[0] + "\n" == HEADER and train[-1] == "" and len(train) == 2 + 60
    first, last = train[1].split("\t"), train[60].split("\t")
    assert first == ["train neg review 0.  A fine\x85 film, or not.", "0", "2", "train_neg_0"]
    assert last[1:] == ["1", "9", "train_pos_29"]
    unsup = (folder / "unsup.txt").read_text("utf-8").split("\n")
    assert len(unsup) == 41 and unsup[0].startswith("unsup none review 0.")


def test_labelled_imdb_keeps_test_and_carves_validation_from_train(imdb_root, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(imdb_root))
    imdb = load_labelled("imdb")
    sizes = {split: len(texts) for split, (texts, _) in imdb.splits.items()}
    assert sizes["test"] == 60 and sizes["train"] + sizes["validation"] == 60
    assert 0 < sizes["validation"] < 20  # a tenth, by hashing
    assert all(t.startswith("test ") for t in imdb.split("test")[0])
    assert not set(imdb.split("train")[0]) & set(imdb.split("validation")[0])
    assert "validation = 10% of train.tsv's rows" in imdb.split_note
    assert set(imdb.split("train")[1]) == {"0", "1"}
    assert load_labelled("imdb").splits == imdb.splits  # the same split every time


def test_the_pretraining_corpus_is_unlabelled_and_training_reviews_only(imdb_root, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(imdb_root))
    corpus = load_corpus("imdb_unsup")
    reviews = [line for split in ("train", "validation")
               for line in corpus.split(split).split("\n") if line]
    assert len(reviews) == 40 + 60
    assert not any(r.startswith("test ") for r in reviews)
    assert sum(r.startswith("unsup ") for r in reviews) == 40
    assert "\x85" in corpus.split("train")  # kept inside its line


def test_a_download_is_checked_then_unpacked_once(tmp_path, monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    archive = write_archive(tmp_path / "aclImdb_v1.tar.gz", per_class=3, unsup=2)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    files = {s: RemoteFile(n, archive.as_uri(), "") for s, n in
             (("train", "train.tsv"), ("test", "test.tsv"), ("unsup", "unsup.txt"))}

    def dataset(sha256: str) -> NamedDataset:
        return NamedDataset("imdb", files, archive=RemoteFile(archive.name, archive.as_uri(),
                                                              sha256), unpack=unpack_archive)

    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"does not have sha256 0{64}.*imdb/\{train.tsv,"):
        named_files("imdb_test", dataset("0" * 64), cache_dir=str(cache))
    paths, source = named_files("imdb_test", dataset(digest), cache_dir=str(cache))
    assert source == archive.as_uri()
    assert paths["test"].read_text("utf-8").count("\n") == 1 + 6
    archive.unlink()  # the unpacked files are used from now on
    again, _ = named_files("imdb_test", dataset(digest), cache_dir=str(cache))
    assert again == paths


def test_a_damaged_archive_is_one_line(tmp_path):
    (tmp_path / "bad.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="not a readable aclImdb archive"):
        unpack_archive(tmp_path / "bad.tar.gz", tmp_path / "out")
    with tarfile.open(tmp_path / "empty.tar.gz", "w:gz"):
        pass
    with pytest.raises(DataError, match="has no aclImdb/train/neg/ reviews"):
        unpack_archive(tmp_path / "empty.tar.gz", tmp_path / "out")
