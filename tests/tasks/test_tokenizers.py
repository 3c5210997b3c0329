"""Tokenizers: round trips on real text, Python and TensorFlow paths agreeing, and saving.

Learned vocabularies are trained on small slices so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tasks.data import TOKENIZERS, DataError, Tokenizer, build_tokenizer, load_tokenizer

KINDS = list(TOKENIZERS)


@pytest.fixture(scope="module")
def texts(data_dir):
    def read(*parts: str) -> str:
        return data_dir.joinpath(*parts).read_text(encoding="utf-8")

    shakespeare = read("tinyshakespeare", "input.txt")
    cut = int(len(shakespeare) * 0.9)
    return {
        "shakespeare_train": shakespeare[:cut],
        "shakespeare_validation": shakespeare[cut:],
        "ptb_train": read("ptb", "ptb.train.txt"),
        "ptb_validation": read("ptb", "ptb.valid.txt"),
    }


@pytest.fixture(scope="module")
def tokenizers(texts):
    small = texts["shakespeare_train"][:60_000]
    return {
        "char": build_tokenizer("char", texts["shakespeare_train"]),
        "byte": build_tokenizer("byte", small),
        "word": build_tokenizer("word", texts["ptb_train"]),
        "wordpiece": build_tokenizer("wordpiece", small, vocab_size=400),
        # The default 8,000 is more than 60k characters support: exercises the fallback.
        "sentencepiece": build_tokenizer("sentencepiece", small),
        "bpe": build_tokenizer("bpe", small, vocab_size=600),
        "bert_wordpiece": build_tokenizer("bert_wordpiece", small, vocab_size=400),
    }


def sample_text(kind: str, texts: dict[str, str]) -> str:
    """Whole lines each kind can represent: PTB for `word`, training text for subwords."""
    if kind == "word":
        text = texts["ptb_validation"]
    elif kind in ("wordpiece", "sentencepiece", "bert_wordpiece"):
        text = texts["shakespeare_train"]
    else:
        text = texts["shakespeare_validation"]
    return text[: text.index("\n", 5000) + 1]


def one_line_spacing(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


# --- vocabularies and round trips ----------------------------------------------------------


def test_char_vocabulary_of_tiny_shakespeare(tokenizers, texts):
    char = tokenizers["char"]
    assert char.vocab_size == 66 and char.unk_id == 65
    assert char.characters == "".join(sorted(set(texts["shakespeare_train"] + "\n")))
    assert list(char.encode("\n A")) == [0, 1, 13]  # nanoGPT's shakespeare_char ids
    assert list(char.encode("é")) == [65]
    assert char.decode([65, 13]) == "\ufffdA"


def test_ptb_word_vocabulary_is_exactly_10000(tokenizers, texts):
    word = tokenizers["word"]
    assert word.vocab_size == 10_000
    assert word.vocabulary[word.eos_id] == "<eos>" and word.vocabulary[word.unk_id] == "<unk>"
    assert len(word.encode(texts["ptb_train"])) == 929_589
    # PTB's validation words are all in the training vocabulary (rare ones are already <unk>).
    assert set(texts["ptb_validation"].split()) <= set(word.vocabulary)
    assert word.encode("zyzzyva\n")[0] == word.unk_id


def test_word_vocab_size_caps_but_keeps_the_specials(texts):
    word = build_tokenizer("word", texts["ptb_train"][:50_000], vocab_size=100)
    assert word.vocab_size == 100
    assert {"<unk>", "<eos>"} <= set(word.vocabulary)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip(tokenizers, texts, kind):
    tokenizer = tokenizers[kind]
    text = sample_text(kind, texts)
    ids = tokenizer.encode(text)
    assert ids.dtype == np.int32 and ids.ndim == 1 and len(ids) > 0
    assert ids.min() >= 0 and ids.max() < tokenizer.vocab_size
    decoded = tokenizer.decode(ids)
    if tokenizer.bits_per_char_applicable:
        assert decoded == text
    elif kind == "wordpiece":  # splitting on punctuation adds spaces; nothing else changes
        assert decoded.replace(" ", "") == text.replace(" ", "")
    elif kind == "bert_wordpiece":  # uncased BERT: lower-cased, line breaks are whitespace
        assert "".join(decoded.split()) == "".join(text.lower().split())
    else:  # word, sentencepiece: whitespace is normalised, line breaks are kept
        assert decoded == one_line_spacing(text).strip(" ")


def test_byte_round_trips_anything_and_repairs_broken_utf8(tokenizers):
    byte = tokenizers["byte"]
    text = "h\u00e9llo \u2603 \u4e16\u754c \U0001f600\x00\n"
    assert byte.decode(byte.encode(text)) == text
    euro = list(byte.encode("\u20ac"))
    assert byte.decode(euro[:2] + [ord("a")]) == "\ufffda"
    assert byte.decode([300]) == "\ufffd"


def test_bits_per_char_applies_to_the_kinds_that_spell_the_text(tokenizers):
    applicable = {kind for kind, tok in tokenizers.items() if tok.bits_per_char_applicable}
    assert applicable == {"char", "byte", "bpe"}


# --- the TensorFlow path -------------------------------------------------------------------


def tf_batch(kind: str, texts: dict[str, str]) -> list[str]:
    return [sample_text(kind, texts)[:1500], "", "two\n\nlines \n", "unseen: \u00e9\u2603 <unk>"]


def ragged(rows: list[np.ndarray]) -> tf.RaggedTensor:
    return tf.ragged.constant([row.tolist() for row in rows], dtype=tf.int32, ragged_rank=1)


@pytest.mark.parametrize("kind", KINDS)
def test_tf_path_matches_python_path(tokenizers, texts, kind):
    tokenizer = tokenizers[kind]
    batch = tf_batch(kind, texts)
    expected_ids = [tokenizer.encode(text) for text in batch]
    expected_texts = [tokenizer.decode(ids) for ids in expected_ids]

    ids = tokenizer.tf_tokenize(tf.constant(batch))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert ids.to_list() == [row.tolist() for row in expected_ids]
    decoded = tokenizer.tf_detokenize(ragged(expected_ids)).numpy()
    assert [text.decode("utf-8") for text in decoded] == expected_texts
    dense = tokenizer.tf_detokenize(tf.constant(expected_ids[:1], dtype=tf.int64))
    assert dense.numpy()[0].decode("utf-8") == expected_texts[0]

    @tf.function
    def in_graph(strings):
        ids = tokenizer.tf_tokenize(strings)
        return ids, tokenizer.tf_detokenize(ids)

    graph_ids, graph_texts = in_graph(tf.constant(batch))
    assert graph_ids.to_list() == ids.to_list()
    assert [text.decode("utf-8") for text in graph_texts.numpy()] == expected_texts


@pytest.mark.parametrize("kind", KINDS)
def test_ids_outside_the_vocabulary_decode_alike(tokenizers, kind):
    tokenizer = tokenizers[kind]
    ids = np.array([tokenizer.vocab_size + 7, -1], dtype=np.int32)
    from_tf = tokenizer.tf_detokenize(ragged([ids])).numpy()[0].decode("utf-8")
    assert from_tf == tokenizer.decode(ids)


# --- saving --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_give_identical_ids(tokenizers, texts, kind, tmp_path):
    tokenizer = tokenizers[kind]
    tokenizer.save(tmp_path)
    config = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert config["kind"] == kind and config["vocab_size"] == tokenizer.vocab_size
    assert all(path.suffix in {".json", ".txt", ".model"} for path in tmp_path.iterdir())

    restored = load_tokenizer(tmp_path)
    assert type(restored) is type(tokenizer) and restored.vocab_size == tokenizer.vocab_size
    text = sample_text(kind, texts)
    np.testing.assert_array_equal(restored.encode(text), tokenizer.encode(text))


class ExportModule(tf.Module):
    """What an exporter does: hold the tokenizer, expose serving signatures built on it."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, strings):
        ids = self.tokenizer.tf_tokenize(strings)
        return {"values": ids.flat_values, "row_splits": ids.row_splits}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def detokenize(self, ids):
        return {"text": self.tokenizer.tf_detokenize(ids)}


# Runs in a fresh interpreter that cannot import this project: only TensorFlow and the
# tensorflow-text ops (which TF Serving has built in) are available to the SavedModels.
FRESH_LOADER = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops)
results = {}
for case in json.load(open(sys.argv[1])):
    model = tf.saved_model.load(case["path"])
    out = model.signatures["tokenize"](tf.constant(case["texts"]))
    ids = tf.RaggedTensor.from_row_splits(out["values"], out["row_splits"]).to_list()
    text = model.signatures["detokenize"](tf.constant([case["ids"]], tf.int32))["text"]
    results[case["kind"]] = {"ids": ids, "text": text.numpy()[0].decode("utf-8")}
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tasks", "keras_hub"))
print(json.dumps({"results": results, "leaked": leaked}))
"""


def test_saved_model_serves_in_a_fresh_process(tokenizers, texts, tmp_path):
    cases, expected = [], {}
    for kind, tokenizer in tokenizers.items():
        module = ExportModule(tokenizer)
        path = tmp_path / kind
        signatures = {"tokenize": module.tokenize, "detokenize": module.detokenize}
        tf.saved_model.save(module, str(path), signatures=signatures)
        batch = tf_batch(kind, texts)
        ids = [tokenizer.encode(text).tolist() for text in batch]
        cases.append({"kind": kind, "path": str(path), "texts": batch, "ids": ids[0]})
        expected[kind] = {"ids": ids, "text": tokenizer.decode(ids[0])}
    (tmp_path / "cases.json").write_text(json.dumps(cases), encoding="utf-8")

    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    loader = subprocess.run(
        [sys.executable, "-c", FRESH_LOADER, str(tmp_path / "cases.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loader.returncode == 0, loader.stderr[-3000:]
    report = json.loads(loader.stdout.strip().splitlines()[-1])
    assert report["leaked"] == []
    assert report["results"] == expected


# --- errors --------------------------------------------------------------------------------


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(DataError, match="char, byte, word, wordpiece, sentencepiece, bpe"):
        build_tokenizer("gpt9", "some text")


def test_empty_training_text_is_a_data_error():
    with pytest.raises(DataError, match="empty"):
        build_tokenizer("char", "")


def test_loading_needs_a_saved_tokenizer(tmp_path):
    with pytest.raises(DataError, match="tokenizer.json not found"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"kind": "morse"}', encoding="utf-8")
    with pytest.raises(DataError, match="unknown tokenizer 'morse'"):
        load_tokenizer(tmp_path)


# ----------------------------------------------------------------------------- special tokens

SPECIALS = ("pad", "cls", "sep", "mask", "bos", "eos")
SMALL_TEXT = "the cat sat on the mat.\nthe dog ran to the big red house!\n" * 40


@pytest.mark.parametrize("kind", KINDS)
def test_special_tokens_are_reserved_and_never_in_text(kind, tmp_path):
    plain = build_tokenizer(kind, SMALL_TEXT)
    tokenizer = build_tokenizer(kind, SMALL_TEXT, special_tokens=SPECIALS)
    ids = tokenizer.special_ids
    assert set(SPECIALS) <= set(ids)
    assert len(set(ids.values())) == len(ids)  # each its own id
    assert all(0 <= i < tokenizer.vocab_size for i in ids.values())
    text = "the cat ran to the mat.\n"
    encoded = tokenizer.encode(text)
    own = set(plain.special_ids.values())
    assert not set(encoded.tolist()) & (set(ids.values()) - own)
    # Decoding drops the specials, in Python and in the graph, around real tokens.
    with_specials = np.concatenate([[ids["cls"]], encoded, [ids["sep"], ids["pad"]]])
    assert tokenizer.decode(with_specials) == tokenizer.decode(encoded)
    graph = tokenizer.tf_detokenize(tf.ragged.constant([with_specials], dtype=tf.int32))
    assert graph.numpy()[0].decode() == tokenizer.decode(encoded)
    tokenizer.save(tmp_path)
    assert load_tokenizer(tmp_path).special_ids == ids


def test_wordpiece_reads_the_mask_token_in_text():
    tokenizer = build_tokenizer("wordpiece", SMALL_TEXT, special_tokens=("cls", "sep", "mask"))
    ids = tokenizer.encode("the [MASK] sat")
    assert ids.tolist().count(tokenizer.special_ids["mask"]) == 1
    assert tokenizer.vocab_size == build_tokenizer("wordpiece", SMALL_TEXT).vocab_size + 3


def test_unknown_special_token_is_a_data_error():
    with pytest.raises(DataError, match="unknown special token"):
        build_tokenizer("char", SMALL_TEXT, special_tokens=("sos",))


# --- character offsets (extractive QA points back into the text) --------------------------

OFFSET_TEXTS = [
    "Zoë met the café's owner, Ángel, in São Paulo: 3.5 km away!",
    "  leading spaces, a tab\there, 東京 and [CLS] in text ",
    "First lines of the play: citizens speak.",
]


@pytest.mark.parametrize("kind", KINDS)
def test_offsets_give_the_same_ids_and_point_at_each_token(tokenizers, kind):
    tokenizer = tokenizers[kind]
    ids, starts, ends = tokenizer.tf_tokenize_with_offsets(tf.constant(OFFSET_TEXTS))
    assert ids.to_list() == tokenizer.tf_tokenize(tf.constant(OFFSET_TEXTS)).to_list()
    rows = zip(OFFSET_TEXTS, ids.to_list(), starts.to_list(), ends.to_list())
    for text, row_ids, row_starts, row_ends in rows:
        assert all(0 <= s <= e <= len(text) for s, e in zip(row_starts, row_ends))
        assert row_starts == sorted(row_starts)
        surfaces = [text[s:e] for s, e in zip(row_starts, row_ends)]
        if kind == "char":
            assert "".join(surfaces) == text
        elif kind in ("word", "wordpiece", "bert_wordpiece"):
            # Every non-space character is in exactly one token; the tokens hold no space.
            assert "".join(surfaces) == "".join(text.split())
        if kind == "wordpiece":
            pieces = [tokenizer._layer.id_to_token(i) for i in row_ids]
            assert [p.removeprefix("##") for p in pieces if p != tokenizer.UNK] == [
                s for s, p in zip(surfaces, pieces) if p != tokenizer.UNK]


def test_wordpiece_offsets_keep_accents_and_cjk_characters():
    tokenizer = build_tokenizer("wordpiece", " ".join(OFFSET_TEXTS) * 20, vocab_size=200,
                                special_tokens=("cls", "sep", "pad"))
    text = OFFSET_TEXTS[1]
    _, starts, ends = tokenizer.tf_tokenize_with_offsets(tf.constant([text]))
    surfaces = [text[s:e] for s, e in zip(starts[0].numpy(), ends[0].numpy())]
    assert "東" in surfaces and "京" in surfaces and "[CLS]" in surfaces
    _, starts, ends = tokenizer.tf_tokenize_with_offsets(tf.constant([OFFSET_TEXTS[0]]))
    text = OFFSET_TEXTS[0]
    joined = "".join(text[s:e] for s, e in zip(starts[0].numpy(), ends[0].numpy()))
    assert "Zoë" in joined and "Ángel" in joined and "São" in joined
