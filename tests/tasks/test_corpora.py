"""Corpora: named datasets from ZOO_DATA_DIR or a verified download, and local text."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from tasks.data import DataError, corpora, list_datasets, load_corpus


def word_tokens(text: str) -> int:
    """Tokens as SOURCE.txt counts them: whitespace-separated words plus one <eos> per line."""
    return len(text.split()) + text.count("\n")


def test_tiny_shakespeare_has_the_nanogpt_split(data_dir, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(data_dir))
    corpus = load_corpus("tiny_shakespeare")
    assert list(corpus.splits) == ["train", "validation"]
    assert len(corpus.split("train")) == 1_003_854
    assert len(corpus.split("validation")) == 111_540
    whole = (data_dir / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    assert corpus.split("train") + corpus.split("validation") == whole
    assert corpus.source == str(data_dir / "tinyshakespeare")


def test_tiny_shakespeare_ships_with_the_package(tmp_path, monkeypatch):
    """No ZOO_DATA_DIR, an empty home and a cache that cannot fill: the packaged copy is used."""
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    corpus = load_corpus("tiny_shakespeare")
    assert (len(corpus.split("train")), len(corpus.split("validation"))) == (1_003_854, 111_540)
    whole = (corpus.split("train") + corpus.split("validation")).encode("utf-8")
    assert hashlib.sha256(whole).hexdigest() == corpora.DATASETS["tiny_shakespeare"].files[
        "all"
    ].sha256
    assert corpus.source.startswith("embedded copy")
    assert not (tmp_path / "keras").exists()  # nothing was downloaded


def test_a_damaged_packaged_copy_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setattr(corpora, "__file__", str(tmp_path / "corpora.py"))
    (tmp_path / "embedded").mkdir()
    (tmp_path / "embedded" / "tinyshakespeare.txt.xz").write_bytes(b"not xz")
    with pytest.raises(DataError, match="unreadable.*reinstall"):
        load_corpus("tiny_shakespeare")


@pytest.mark.parametrize(
    "name, tokens",
    [
        ("ptb", {"train": 929_589, "validation": 73_760, "test": 82_430}),
        ("wikitext2", {"train": 2_088_628, "validation": 217_646, "test": 245_569}),
    ],
)
def test_word_level_datasets_match_their_source_stats(data_dir, monkeypatch, name, tokens):
    monkeypatch.setenv("ZOO_DATA_DIR", str(data_dir))
    corpus = load_corpus(name)
    assert {split: word_tokens(text) for split, text in corpus.splits.items()} == tokens


def test_data_dir_argument_wins_and_may_name_the_dataset_folder(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))  # holds no ptb/, so must not be used
    by_root = load_corpus("ptb", data_dir=str(data_dir))
    by_folder = load_corpus("ptb", data_dir=str(data_dir / "ptb"))
    assert by_root.splits == by_folder.splits
    assert len(by_root.split("test")) == 449_945


def test_a_dataset_folder_missing_a_file_says_which(tmp_path, monkeypatch):
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.train.txt").write_text("a b\n", encoding="utf-8")
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"missing .*ptb\.valid\.txt"):
        load_corpus("ptb")


def test_unknown_split_lists_the_available_ones(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("x" * 100, encoding="utf-8")
    with pytest.raises(DataError, match="no split 'test'; available splits: train, validation"):
        load_corpus(str(path)).split("test")


def test_list_datasets():
    assert set(list_datasets()) == {"tiny_shakespeare", "ptb", "wikitext2", "imdb_unsup",
                                    "synthetic"}


# --- downloads, with local file:// URLs only -----------------------------------------------


def _point_dataset_at(monkeypatch, tmp_path, url: str, sha256: str) -> None:
    """Make tiny_shakespeare download from `url`, with no ZOO_DATA_DIR or packaged copy of it."""
    dataset = corpora.DATASETS["tiny_shakespeare"]
    remote = dataclasses.replace(dataset.files["all"], url=url, sha256=sha256)
    patched = dataclasses.replace(dataset, files={"all": remote}, embedded=None)
    monkeypatch.setitem(corpora.DATASETS, "tiny_shakespeare", patched)
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "no_such_folder"))


def test_download_goes_to_the_cache_once(tmp_path, monkeypatch):
    origin = tmp_path / "origin.txt"
    origin.write_text("0123456789" * 10, encoding="utf-8")
    sha256 = hashlib.sha256(origin.read_bytes()).hexdigest()
    _point_dataset_at(monkeypatch, tmp_path, origin.as_uri(), sha256)
    cache = tmp_path / "cache"

    corpus = load_corpus("tiny_shakespeare", cache_dir=str(cache))
    assert (corpus.split("train"), corpus.split("validation")) == ("0123456789" * 9, "0123456789")
    assert (cache / "zoo_datasets" / "tiny_shakespeare" / "input.txt").is_file()

    origin.unlink()  # now only the cache has it
    assert load_corpus("tiny_shakespeare", cache_dir=str(cache)).splits == corpus.splits


def test_sha256_mismatch_is_a_data_error_naming_both_remedies(tmp_path, monkeypatch):
    origin = tmp_path / "origin.txt"
    origin.write_text("not the real file\n", encoding="utf-8")
    _point_dataset_at(monkeypatch, tmp_path, origin.as_uri(), "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="sha256") as caught:
        load_corpus("tiny_shakespeare", cache_dir=str(cache))
    assert "ZOO_DATA_DIR" in str(caught.value) and "internet" in str(caught.value)
    assert not (cache / "zoo_datasets" / "tiny_shakespeare" / "input.txt").exists()


def test_failed_download_is_a_data_error_naming_both_remedies(tmp_path, monkeypatch):
    unreachable = (tmp_path / "offline" / "input.txt").as_uri()
    _point_dataset_at(monkeypatch, tmp_path, unreachable, "0" * 64)
    with pytest.raises(DataError, match="cannot download") as caught:
        load_corpus("tiny_shakespeare", cache_dir=str(tmp_path / "cache"))
    message = str(caught.value)
    assert "ZOO_DATA_DIR" in message and "tinyshakespeare/input.txt" in message
    assert "internet" in message and "\n" not in message


# --- local text ----------------------------------------------------------------------------


def test_local_file_is_split_by_validation_fraction(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("abcdefghij" * 100, encoding="utf-8")
    corpus = load_corpus(str(path))
    assert corpus.name == "book"
    assert (len(corpus.split("train")), len(corpus.split("validation"))) == (900, 100)
    corpus = load_corpus(str(path), validation_fraction=0.25)
    assert corpus.split("validation") == ("abcdefghij" * 100)[750:]


def test_folder_with_split_files_uses_them(tmp_path):
    for name, text in [("x.train.txt", "train\n"), ("x.valid.txt", "valid\n"), ("test.txt", "t\n")]:
        (tmp_path / name).write_text(text, encoding="utf-8")
    corpus = load_corpus(str(tmp_path))
    assert corpus.splits == {"train": "train\n", "validation": "valid\n", "test": "t\n"}


def test_folder_with_only_train_file_carves_validation(tmp_path):
    (tmp_path / "train.txt").write_text("a" * 90 + "b" * 10, encoding="utf-8")
    (tmp_path / "test.txt").write_text("c", encoding="utf-8")
    corpus = load_corpus(str(tmp_path))
    assert corpus.splits == {"train": "a" * 90, "validation": "b" * 10, "test": "c"}


def test_folder_with_two_train_files_is_ambiguous(tmp_path):
    for name in ["ptb.train.txt", "ptb.char.train.txt"]:
        (tmp_path / name).write_text("a\n", encoding="utf-8")
    with pytest.raises(DataError, match="several train files"):
        load_corpus(str(tmp_path))


def test_plain_folder_joins_all_txt_files_in_sorted_order(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("b" * 40, encoding="utf-8")
    (tmp_path / "a.txt").write_text("a" * 39 + "\n", encoding="utf-8")
    (tmp_path / "sub" / "c.txt").write_text("c" * 18, encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    corpus = load_corpus(str(tmp_path), validation_fraction=0.2)
    text = "a" * 39 + "\n" + "b" * 40 + "\n" + "c" * 18 + "\n"
    assert corpus.split("train") + corpus.split("validation") == text
    assert len(corpus.split("validation")) == 20


def test_empty_inputs_are_data_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        load_corpus(str(empty))
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("a", encoding="utf-8")
    with pytest.raises(DataError, match="train split is empty"):
        load_corpus(str(tiny))
    (tmp_path / "no_text").mkdir()
    with pytest.raises(DataError, match="no .txt files"):
        load_corpus(str(tmp_path / "no_text"))


def test_non_utf8_file_says_where(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\u00e9 au lait".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt: not valid UTF-8 at byte 3 \("):
        load_corpus(str(path))


def test_unknown_name_lists_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as caught:
        load_corpus("shakespeare")
    message = str(caught.value)
    assert all(name in message for name in list_datasets())
    assert "exists" in message


def test_validation_fraction_must_be_a_fraction():
    with pytest.raises(DataError, match="validation_fraction"):
        load_corpus("synthetic", validation_fraction=1.5)


def test_corpus_paths_may_use_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    Path(tmp_path / "t.txt").write_text("z" * 10, encoding="utf-8")
    assert load_corpus("~/t.txt").split("validation") == "z"
