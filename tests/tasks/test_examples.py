"""Labelled text and text pairs: the formats, the columns, the splits, and the errors."""

from __future__ import annotations

import json
import random

import pytest

from tasks.data import DataError, load_labelled, load_pairs


def test_tsv_with_a_header_finds_its_columns(tmp_path):
    path = tmp_path / "reviews.tsv"
    rows = [f'{i}\ta "fine" film {i} \tpos\n{i}\tdull {i}\tneg\n' for i in range(10)]
    path.write_text("id\tsentence\tlabel\n" + "".join(rows))
    examples = load_labelled(str(path))
    assert sum(len(texts) for texts, _ in examples.splits.values()) == 20
    pairs = {row for split in examples.splits.values() for row in zip(*split)}
    assert ('a "fine" film 3', "pos") in pairs and ("dull 3", "neg") in pairs


def test_csv_without_a_header_uses_column_indices(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("".join(f'positive,"great, {i}"\nnegative,awful {i}\n' for i in range(10)))
    examples = load_labelled(str(path), text_column=1, label_column=0)
    pairs = {row for split in examples.splits.values() for row in zip(*split)}
    assert len(pairs) == 20
    assert ("great, 4", "positive") in pairs and ("awful 4", "negative") in pairs


def test_jsonl_and_a_folder_of_split_files(tmp_path):
    for split, count in (("train", 8), ("dev", 3), ("test", 2)):
        rows = [json.dumps({"src": f"{split} {i}", "tgt": f"x {i}"}) for i in range(count)]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    pairs = load_pairs(str(tmp_path), source_column="src", target_column="tgt")
    assert {k: len(v[0]) for k, v in pairs.splits.items()} == {"train": 8, "validation": 3,
                                                              "test": 2}
    assert pairs.split("validation")[0][0] == "dev 0"
    assert "own files" in pairs.split_note


def test_the_hash_split_is_seeded_order_free_and_keeps_duplicates_together(tmp_path):
    rows = [(f"sentence {i % 300}", f"translation {i}") for i in range(900)]
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_text("".join(f"{s}\t{t}\n" for s, t in rows))
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    b.write_text("".join(f"{s}\t{t}\n" for s, t in shuffled))
    first, second = load_pairs(str(a)), load_pairs(str(b))
    for split in ("train", "validation", "test"):
        assert sorted(zip(*first.split(split))) == sorted(zip(*second.split(split)))
    sources = {split: set(first.split(split)[0]) for split in first.splits}
    assert not sources["train"] & sources["test"] and not sources["train"] & sources["validation"]
    assert 0.6 < len(first.split("train")[0]) / 900 < 0.8  # 70/15/15
    other = load_pairs(str(a), split_seed=7)
    assert set(other.split("test")[0]) != sources["test"]
    assert "seed 0" in first.split_note


@pytest.mark.parametrize(
    "content, kwargs, message",
    [
        ("sentence\tlabel\nok\t1\n", {"label_column": "rating"}, "no label column named 'rating'"),
        ("a\t1\n\t0\n", {}, ":2: the text is empty"),
        ("a\t1\nb\n", {}, ":2: 1 column"),
        # A header that names the text but no label is not a row of data.
        ("text\tscore\nok\t1\n", {}, "the header has no label column .*text, score"),
        # A field beyond the header's (or beyond two) is a stray tab, not something to drop.
        ("text\tlabel\nok\t1\nan\tok one\t0\n", {}, ":3: 3 fields, the header names 2"),
        ("ok\t1\nan\tok one\t0\n", {}, ":2: 3 fields, two expected"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, kwargs, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as caught:
        load_labelled(str(path), **kwargs)
    assert "\n" not in str(caught.value)


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path):
    path = tmp_path / "bom.tsv"
    path.write_text("\ufefftext\tlabel\n" + "".join(f"t{i}\t{i % 2}\n" for i in range(20)),
                    encoding="utf-8")
    examples = load_labelled(str(path))
    labels = {label for _, split in examples.splits.values() for label in split}
    assert labels == {"0", "1"}


def test_unknown_name_says_what_is_known():
    with pytest.raises(DataError, match="sst2, imdb"):
        load_labelled("yelp_polarity")


def test_named_datasets_have_their_documented_sizes(data_dir, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(data_dir))
    sst2 = load_labelled("sst2")
    assert {k: len(v[0]) for k, v in sst2.splits.items()} == {"train": 67_349, "validation": 872,
                                                             "test": 1_821}
    assert set(sst2.split("train")[1]) == {"0", "1"}
    pairs = load_pairs("spa_eng")
    assert sum(len(v[0]) for v in pairs.splits.values()) == 118_964
    assert pairs.split("train")[0][0] == "Go." and pairs.split("train")[1][0] == "Ve."
