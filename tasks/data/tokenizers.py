"""Tokenizers: text <-> int32 ids, in numpy for training data and in TensorFlow for serving.

Seven kinds, made by `build_tokenizer(kind, train_text)` and restored by `load_tokenizer(dir)`:

    char           the training text's characters, sorted, then <unk>
    byte           the 256 UTF-8 byte values
    word           words by frequency, each line ending in <eos> (the PTB convention)
    wordpiece      keras_hub's WordPieceTokenizer, vocabulary learned on the training text
    sentencepiece  keras_hub's SentencePieceTokenizer, unigram model learned on the training text
    bpe            keras_hub's BytePairTokenizer (GPT-2's byte-level BPE), from a checkpoint or
                   learned by Hugging Face's `tokenizers`
    bert_wordpiece BERT's own WordPiece (tf-text's BertTokenizer), from a checkpoint's vocab.txt
                   or learned by keras_hub

A Tokenizer is a `tf.Module`: attach it to the module you export and call `tf_tokenize` /
`tf_detokenize` from its tf.functions. Its lookup tables are tracked attributes, so they are
saved with the SavedModel, and the graph uses only TensorFlow and tensorflow-text ops, which
TF Serving can run.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

import keras_hub
import numpy as np
import sentencepiece
import tensorflow as tf
import tensorflow_text as tf_text
from keras_hub.src.tokenizers import word_piece_tokenizer as word_piece
from keras_hub.src.tokenizers.byte_pair_tokenizer import (
    bytes_to_unicode as gpt2_byte_alphabet,
)

from tasks.data.corpora import text_lines
from tasks.data.errors import DataError

CONFIG_FILE = "tokenizer.json"

# Special tokens by name, with the surface a vocabulary shows them as. A kind that has one of
# its own (WordPiece's <pad>, SentencePiece's </s>) uses it; the others are appended.
SPECIAL_TOKENS = {
    "pad": "[PAD]",
    "unk": "[UNK]",
    "cls": "[CLS]",
    "sep": "[SEP]",
    "mask": "[MASK]",
    "bos": "[BOS]",
    "eos": "[EOS]",
}

_STRINGS = tf.TensorSpec([None], tf.string)
_IDS = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1, row_splits_dtype=tf.int64)


class Tokenizer(tf.Module):
    """Maps text to int32 ids and back, the same way in Python and in a TensorFlow graph."""

    kind: ClassVar[str]
    # True when the ids spell out the text exactly, so a model's loss summed over the ids of
    # a text is a code length for that text and bits per character is meaningful.
    bits_per_char_applicable: ClassVar[bool] = False

    # Special tokens this tokenizer has beyond its own vocabulary, by name ("cls", "mask"...):
    # ids base_vocab_size, base_vocab_size + 1, ... Text never encodes to them; decoding drops
    # them.
    appended: tuple[str, ...] = ()

    @property
    def base_vocab_size(self) -> int:
        """The kind's own vocabulary (characters, bytes, words, pieces)."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return self.base_vocab_size + len(self.appended)

    def native_special_ids(self) -> dict[str, int]:
        """Special tokens the kind's vocabulary has itself ("unk", "eos", "pad"...)."""
        return {}

    @property
    def special_ids(self) -> dict[str, int]:
        """Every special token's id, by name: the kind's own and the appended ones."""
        appended = {name: self.base_vocab_size + i for i, name in enumerate(self.appended)}
        return {**self.native_special_ids(), **appended}

    def with_special_tokens(self, names: Iterable[str]) -> Tokenizer:
        """Reserves ids for the `names` (see SPECIAL_TOKENS) this kind lacks; returns self."""
        unknown = sorted(set(names) - set(SPECIAL_TOKENS))
        if unknown:
            raise DataError(
                f"unknown special token(s) {', '.join(unknown)}; known: {', '.join(SPECIAL_TOKENS)}"
            )
        native = self.native_special_ids()
        self.appended = tuple(dict.fromkeys(
            [*self.appended, *(n for n in names if n not in native and n not in self.appended)]
        ))
        return self

    def encode(self, text: str) -> np.ndarray:
        """The int32 ids of `text`, as a 1-D numpy array."""
        raise NotImplementedError

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of `ids`; special tokens ([CLS], padding...) are dropped, and ids outside the
        vocabulary decode like the unknown token."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        silent = self._silent_ids()
        if silent:
            ids = ids[~np.isin(ids, silent)]
        return self._decode(ids)

    def _silent_ids(self) -> list[int]:
        """Specials that decode to nothing: all but "unk" and "eos", which mean something in
        text (the unknown mark; a line end for the line-based kinds)."""
        return sorted(i for name, i in self.special_ids.items() if name not in ("unk", "eos")
                      or name in self.appended)

    def _decode(self, ids: np.ndarray) -> str:
        raise NotImplementedError

    @tf.function(input_signature=[_STRINGS])
    def tf_tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        """[batch] strings -> [batch, (tokens)] int32 ids, the same ids as `encode`."""
        return self._tf_tokenize(strings)

    @tf.function(input_signature=[_STRINGS])
    def tf_tokenize_with_offsets(
        self, strings: tf.Tensor
    ) -> tuple[tf.RaggedTensor, tf.RaggedTensor, tf.RaggedTensor]:
        """[batch] strings -> (ids, starts, ends), each [batch, (tokens)]; a token's surface is
        `text[start:end]` in Python: the offsets count Unicode code points (int64).

        What extractive QA needs to point back at the exact words of a passage. For the
        line-based kinds (word, wordpiece, sentencepiece) a line end is whitespace here, with
        no end-of-line id, so on a text with newlines the ids differ from `tf_tokenize`'s by
        those ids; elsewhere they are the same.
        """
        ids, byte_starts, byte_ends = self._tf_tokenize_with_byte_offsets(strings)
        return (ids, code_point_offsets(strings, byte_starts),
                code_point_offsets(strings, byte_ends))

    def tf_detokenize(self, ids: tf.RaggedTensor | tf.Tensor) -> tf.Tensor:
        """[batch, (tokens)] ids -> [batch] strings, as `decode`; dense rows are used whole."""
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        return self._tf_detokenize_ragged(tf.cast(ids, tf.int32).with_row_splits_dtype(tf.int64))

    @tf.function(input_signature=[_IDS])
    def _tf_detokenize_ragged(self, ids: tf.RaggedTensor) -> tf.Tensor:
        silent = self._silent_ids()
        if silent:
            values = ids.flat_values
            keep = tf.reduce_all(values[:, None] != tf.constant(silent, tf.int32)[None, :], axis=1)
            ids = tf.ragged.boolean_mask(ids, ids.with_flat_values(keep))
        return self._tf_detokenize(ids)

    def save(self, directory: str | os.PathLike) -> None:
        """Write `tokenizer.json` (kind and settings) and plain vocabulary/model files."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "special_tokens": list(self.appended),
            **self._save_files(path),
        }
        text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
        (path / CONFIG_FILE).write_text(text, encoding="utf-8")

    # What each kind provides.

    @classmethod
    def train(cls, text: str, vocab_size: int | None, specials: Sequence[str] = ()) -> Tokenizer:
        """A vocabulary learned from `text`; `specials` are the special tokens asked for (a kind
        may make room for them in the vocabulary it learns)."""
        raise NotImplementedError

    @classmethod
    def load(cls, directory: Path, config: dict) -> Tokenizer:
        raise NotImplementedError

    def _save_files(self, directory: Path) -> dict:
        """Write the vocabulary/model files; return the settings for tokenizer.json."""
        raise NotImplementedError

    def _tf_tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        raise NotImplementedError

    def _tf_detokenize(self, ids: tf.RaggedTensor) -> tf.Tensor:
        raise NotImplementedError

    def _tf_tokenize_with_byte_offsets(self, strings: tf.Tensor):
        """(ids, starts, ends) with offsets in UTF-8 bytes; newlines are plain whitespace."""
        raise DataError(f"the {self.kind} tokenizer gives no character offsets")


def code_point_offsets(strings: tf.Tensor, byte_offsets: tf.RaggedTensor) -> tf.RaggedTensor:
    """Byte offsets into `strings` [batch, (n)] -> the same offsets in code points."""
    _, char_starts = tf.strings.unicode_decode_with_offsets(strings, "UTF-8", errors="replace")
    # The number of characters that start before each offset: a binary search per row.
    starts = char_starts.to_tensor(default_value=tf.int64.max)
    found = tf.searchsorted(starts, byte_offsets.to_tensor(), side="left")
    return tf.RaggedTensor.from_tensor(found, lengths=byte_offsets.row_lengths())


def _following(starts: tf.RaggedTensor, lengths: tf.Tensor) -> tf.RaggedTensor:
    """Each piece's end: the next piece's start, the text's length for the last piece."""
    tail = tf.RaggedTensor.from_tensor(tf.cast(lengths, tf.int64)[:, None])
    return tf.concat([starts[:, 1:], tail], axis=1)


def _in_vocabulary(ids: Sequence[int] | np.ndarray, vocab_size: int, fallback: int) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    return np.where((ids >= 0) & (ids < vocab_size), ids, fallback)


def _tf_in_vocabulary(ids: tf.RaggedTensor, vocab_size: int, fallback: int) -> tf.RaggedTensor:
    values = ids.flat_values
    return ids.with_flat_values(tf.where((values >= 0) & (values < vocab_size), values, fallback))


class CharTokenizer(Tokenizer):
    """One id per character: the training text's characters in sorted order, then <unk>.

    Sorted order gives the same ids as nanoGPT's shakespeare_char. Characters not seen in
    training map to `unk_id = vocab_size - 1`, which decodes to U+FFFD.
    """

    kind = "char"
    bits_per_char_applicable = True
    VOCABULARY_FILE = "vocabulary.json"

    def __init__(self, characters: Iterable[str]) -> None:
        super().__init__()
        self.characters = "".join(sorted(set(characters)))
        self.unk_id = len(self.characters)
        self._codepoints = np.array([ord(c) for c in self.characters], dtype=np.int32)
        self._decode_table = np.append(self._codepoints, 0xFFFD).astype("<u4")
        # code point -> id for every code point up to the largest known one, then <unk>.
        self._encode_table = np.full(self._codepoints.max(initial=-1) + 2, self.unk_id, np.int32)
        self._encode_table[self._codepoints] = np.arange(self.unk_id)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self._codepoints), tf.range(self.unk_id, dtype=tf.int32)
            ),
            default_value=self.unk_id,
        )
        self._tf_decode_table = tf.constant(self._decode_table.astype(np.int32))

    @property
    def base_vocab_size(self) -> int:
        return self.unk_id + 1

    def native_special_ids(self) -> dict[str, int]:
        return {"unk": self.unk_id}

    @classmethod
    def train(cls, text: str, vocab_size: int | None, specials=()) -> CharTokenizer:
        return cls(text)

    @classmethod
    def load(cls, directory: Path, config: dict) -> CharTokenizer:
        return cls(json.loads((directory / config["vocabulary_file"]).read_text("utf-8")))

    def _save_files(self, directory: Path) -> dict:
        text = json.dumps(list(self.characters), ensure_ascii=False)
        (directory / self.VOCABULARY_FILE).write_text(text + "\n", encoding="utf-8")
        return {"vocabulary_file": self.VOCABULARY_FILE, "unk_id": self.unk_id}

    def encode(self, text: str) -> np.ndarray:
        # Vectorised: code points via UTF-32, then one table lookup each. 10 MB of WikiText-2
        # takes 0.08 s (a binary search in the sorted characters took 0.3 s).
        codepoints = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        return self._encode_table[np.minimum(codepoints, len(self._encode_table) - 1)]

    def _decode(self, ids: np.ndarray) -> str:
        codepoints = self._decode_table[_in_vocabulary(ids, self.base_vocab_size, self.unk_id)]
        return codepoints.tobytes().decode("utf-32-le", "replace")

    def _tf_tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        codepoints = tf.strings.unicode_decode(strings, "UTF-8")  # bad UTF-8 -> U+FFFD -> <unk>
        return codepoints.with_flat_values(self._table.lookup(codepoints.flat_values))

    def _tf_detokenize(self, ids: tf.RaggedTensor) -> tf.Tensor:
        ids = _tf_in_vocabulary(ids, self.base_vocab_size, self.unk_id)
        codepoints = ids.with_flat_values(tf.gather(self._tf_decode_table, ids.flat_values))
        return tf.strings.unicode_encode(codepoints, "UTF-8")

    def _tf_tokenize_with_byte_offsets(self, strings: tf.Tensor):
        codepoints, starts = tf.strings.unicode_decode_with_offsets(strings, "UTF-8")
        ids = codepoints.with_flat_values(self._table.lookup(codepoints.flat_values))
        return ids, starts, _following(starts, tf.strings.length(strings))


class ByteTokenizer(Tokenizer):
    """The 256 UTF-8 byte values: every text round-trips exactly, with no unknown token.

    Decoding replaces broken UTF-8 (say, a character cut in half) with U+FFFD, as Python's
    `errors="replace"` does; ids outside 0..255 count as broken bytes. Written here rather
    than wrapping keras_hub's ByteTokenizer because its detokenize drops every 0 byte as
    padding.
    """

    kind = "byte"
    bits_per_char_applicable = True
    _INVALID_BYTE = 0xFF  # never valid in UTF-8, so it decodes to U+FFFD

    def __init__(self) -> None:
        super().__init__()
        self._byte_strings = tf.constant([bytes([b]) for b in range(256)])

    @property
    def base_vocab_size(self) -> int:
        return 256

    @classmethod
    def train(cls, text: str, vocab_size: int | None, specials=()) -> ByteTokenizer:
        return cls()

    @classmethod
    def load(cls, directory: Path, config: dict) -> ByteTokenizer:
        return cls()

    def _save_files(self, directory: Path) -> dict:
        return {}

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)

    def _decode(self, ids: np.ndarray) -> str:
        data = _in_vocabulary(ids, 256, self._INVALID_BYTE).astype(np.uint8).tobytes()
        return data.decode("utf-8", "replace")

    def _tf_tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        pieces = tf.strings.bytes_split(strings)
        values = tf.reshape(tf.io.decode_raw(pieces.flat_values, tf.uint8), [-1])
        return pieces.with_flat_values(tf.cast(values, tf.int32))

    def _tf_tokenize_with_byte_offsets(self, strings: tf.Tensor):
        ids = self._tf_tokenize(strings)
        starts = tf.ragged.range(tf.cast(ids.row_lengths(), tf.int64))
        return ids, starts, starts + 1

    def _tf_detokenize(self, ids: tf.RaggedTensor) -> tf.Tensor:
        ids = _tf_in_vocabulary(ids, 256, self._INVALID_BYTE)
        pieces = ids.with_flat_values(tf.gather(self._byte_strings, ids.flat_values))
        return tf.strings.unicode_transcode(
            tf.strings.reduce_join(pieces, axis=-1),
            "UTF-8",
            "UTF-8",
            errors="replace",
            replacement_char=0xFFFD,
        )


class WordTokenizer(Tokenizer):
    """Whitespace-separated words; every newline becomes `<eos>` (the PTB/Zaremba convention).

    The vocabulary is the training words by descending count, ties in alphabetical order
    (as the TensorFlow PTB reader sorts them), cut to `vocab_size`; `<unk>` and `<eos>` are
    always in it, and unknown words map to `<unk>`. Whitespace means ASCII whitespace, as in
    `tf.strings.split`. Decoding puts single spaces between words, so runs of spaces and
    spaces at line ends are not restored.
    """

    kind = "word"
    UNK, EOS = "<unk>", "<eos>"
    VOCABULARY_FILE = "vocabulary.txt"
    _SPACES_AROUND_NEWLINE = " ?\n ?"

    def __init__(self, vocabulary: Sequence[str]) -> None:
        super().__init__()
        self.vocabulary = tuple(vocabulary)
        self.unk_id = self.vocabulary.index(self.UNK)
        self.eos_id = self.vocabulary.index(self.EOS)
        self._ids = {word.encode("utf-8"): i for i, word in enumerate(self.vocabulary)}
        surfaces = [*self.vocabulary]
        surfaces[self.eos_id] = "\n"
        self._surfaces = np.array(surfaces, dtype=object)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.vocabulary), tf.range(len(self.vocabulary), dtype=tf.int32)
            ),
            default_value=self.unk_id,
        )
        self._tf_surfaces = tf.constant(surfaces)

    @property
    def base_vocab_size(self) -> int:
        return len(self.vocabulary)

    @staticmethod
    def _words(text: str) -> list[bytes]:
        # bytes.split() splits on ASCII whitespace exactly as tf.strings.split does
        # (str.split() would also split on Unicode spaces such as U+00A0).
        return text.encode("utf-8").replace(b"\n", b" <eos> ").split()

    def native_special_ids(self) -> dict[str, int]:
        return {"unk": self.unk_id, "eos": self.eos_id}

    @classmethod
    def train(cls, text: str, vocab_size: int | None, specials=()) -> WordTokenizer:
        counts = collections.Counter(word.decode("utf-8") for word in cls._words(text))
        vocabulary = sorted(counts, key=lambda word: (-counts[word], word))[:vocab_size]
        for special in (cls.UNK, cls.EOS):
            if special not in vocabulary:
                if vocab_size is not None and len(vocabulary) >= vocab_size:
                    rarest = max(i for i, w in enumerate(vocabulary) if w not in (cls.UNK, cls.EOS))
                    del vocabulary[rarest]
                vocabulary.append(special)
        return cls(vocabulary)

    @classmethod
    def load(cls, directory: Path, config: dict) -> WordTokenizer:
        text = (directory / config["vocabulary_file"]).read_text("utf-8")
        return cls(text.split("\n")[:-1])  # not splitlines(): words may hold U+2028 and kin

    def _save_files(self, directory: Path) -> dict:
        text = "".join(word + "\n" for word in self.vocabulary)
        (directory / self.VOCABULARY_FILE).write_text(text, encoding="utf-8")
        return {"vocabulary_file": self.VOCABULARY_FILE, "unk": self.UNK, "eos": self.EOS}

    def encode(self, text: str) -> np.ndarray:
        # A dict lookup per word: 0.3 s for WikiText-2's 2M training words.
        words = self._words(text)
        get, unk = self._ids.get, self.unk_id
        return np.fromiter((get(word, unk) for word in words), dtype=np.int32, count=len(words))

    def _decode(self, ids: np.ndarray) -> str:
        words = self._surfaces[_in_vocabulary(ids, self.base_vocab_size, self.unk_id)]
        return re.sub(self._SPACES_AROUND_NEWLINE, "\n", " ".join(words))

    def _tf_tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        words = tf.strings.split(tf.strings.regex_replace(strings, "\n", " <eos> "))
        return words.with_flat_values(self._table.lookup(words.flat_values))

    def _tf_tokenize_with_byte_offsets(self, strings: tf.Tensor):
        # ASCII whitespace, as tf.strings.split splits on.
        words, starts, ends = tf_text.regex_split_with_offsets(strings, r"[ \t\n\r\f\v]+")
        return words.with_flat_values(self._table.lookup(words.flat_values)), starts, ends

    def _tf_detokenize(self, ids: tf.RaggedTensor) -> tf.Tensor:
        ids = _tf_in_vocabulary(ids, self.base_vocab_size, self.unk_id)
        words = ids.with_flat_values(tf.gather(self._tf_surfaces, ids.flat_values))
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
        return tf.strings.regex_replace(text, self._SPACES_AROUND_NEWLINE, "\n")


def _training_lines(text: str, max_chars: int) -> list[str]:
    """The non-empty lines of `text`, evenly thinned to about `max_chars` characters.

    Thinning by lines, rather than taking a prefix, keeps the sample spread over the corpus.
    """
    lines = [line for line in text.split("\n") if line.strip()]
    if len(text) <= max_chars:
        return lines
    keep = np.linspace(0, len(lines) - 1, num=math.ceil(len(lines) * max_chars / len(text)))
    return [lines[i] for i in np.unique(keep.round().astype(int))]


class _LineByLineTokenizer(Tokenizer):
    """A keras_hub subword tokenizer run on each line, every line but the last ending in `eos_id`.

    keras_hub's tokenizers treat a newline as any other whitespace; the end-of-line id keeps
    the text's line structure, like `<eos>` for words. `encode` and `decode` run the same
    TensorFlow ops as `tf_tokenize` and `tf_detokenize` (keras_hub tokenizers take their
    TensorFlow path only inside a tf.function), so the two always agree.
    """

    _layer: keras_hub.tokenizers.Tokenizer
    unk_id: int
    eos_id: int

    @property
    def base_vocab_size(self) -> int:
        return int(self._layer.vocabulary_size())

    def encode(self, text: str) -> np.ndarray:
        return self.tf_tokenize(tf.constant([text])).flat_values.numpy()

    def _decode(self, ids: np.ndarray) -> str:
        ids = np.asarray(ids, dtype=np.int32).reshape(-1)
        batch = tf.RaggedTensor.from_row_splits(ids, np.array([0, len(ids)], dtype=np.int64))
        return self.tf_detokenize(batch)[0].numpy().decode("utf-8", "replace")

    @tf.function(input_signature=[_STRINGS])
    def _tokenize_lines(self, lines: tf.Tensor) -> tf.RaggedTensor:
        return self._layer.tokenize(lines)

    @tf.function(input_signature=[_IDS])
    def _detokenize_lines(self, ids: tf.RaggedTensor) -> tf.Tensor:
        return self._layer.detokenize(ids)

    def _tf_tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        lines = tf.strings.split(strings, sep="\n")  # [batch, (lines)]
        tokens = self._tokenize_lines(lines.flat_values)  # [lines, (tokens)]
        eos = tf.fill(tf.stack([tokens.nrows(), 1]), tf.constant(self.eos_id, tf.int32))
        tokens = tf.concat([tokens, tf.RaggedTensor.from_tensor(eos)], axis=1)
        per_text = tf.RaggedTensor.from_row_splits(tokens, lines.row_splits).merge_dims(1, 2)
        return per_text[:, :-1]  # a text has one line more than it has newlines

    def _tf_detokenize(self, ids: tf.RaggedTensor) -> tf.Tensor:
        ids = _tf_in_vocabulary(ids, self.base_vocab_size, self.unk_id)
        values = ids.flat_values
        is_eos = tf.equal(values, self.eos_id)
        # Number every line of the batch: a line ends at each <eos>, and each text starts one.
        line = tf.cumsum(tf.cast(is_eos, tf.int64), exclusive=True) + ids.value_rowids()
        lines_per_text = tf.reduce_sum(tf.cast(tf.equal(ids, self.eos_id), tf.int64), axis=1) + 1
        keep = tf.logical_not(is_eos)
        lines = tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(values, keep),
            tf.boolean_mask(line, keep),
            nrows=tf.reduce_sum(lines_per_text),
        )
        texts = tf.RaggedTensor.from_row_lengths(self._detokenize_lines(lines), lines_per_text)
        return tf.strings.reduce_join(texts, axis=1, separator="\n")


class WordPieceTokenizer(_LineByLineTokenizer):
    """BERT-style WordPiece (case kept) with a vocabulary learned by keras_hub.

    Splitting on whitespace and punctuation is not reversible: decoding puts a space between
    words and around punctuation ("Hello, world" -> "Hello , world"). The unknown token is
    `<unk>`, and a literal `<unk>` in the text (PTB and WikiText have many) maps to it.
    keras_hub's learner keeps only pieces seen 10 times or more, so a small corpus yields a
    vocabulary well below `vocab_size` (about 2,700 pieces for PTB or Tiny Shakespeare).
    """

    kind = "wordpiece"
    PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
    VOCABULARY_FILE = "vocabulary.txt"
    DEFAULT_VOCAB_SIZE = 8000
    # keras_hub's vocabulary learner is pure Python and slow: 12 s for Tiny Shakespeare,
    # 18 s for 1 MB of WikiText-2. Larger training texts are thinned to this size.
    MAX_TRAIN_CHARS = 1_000_000

    def __init__(self, vocabulary: Sequence[str]) -> None:
        super().__init__()
        vocabulary = list(vocabulary)
        # BERT's [CLS], [SEP], [MASK] where the vocabulary reserved them: text may spell them.
        self._bert = {n: t for n, t in SPECIAL_TOKENS.items() if t in vocabulary}
        self._layer = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=vocabulary,
            oov_token=self.UNK,
            special_tokens=[self.UNK, *self._bert.values()],
            special_tokens_in_strings=True,
            lowercase=False,
            dtype="int32",
        )
        self.unk_id = self._layer.token_to_id(self.UNK)
        self.eos_id = self._layer.token_to_id(self.EOS)
        # keras_hub's layer returns no offsets, so `tf_tokenize_with_offsets` runs the same
        # two steps itself with tf-text's offset-keeping ops: its word split (special tokens
        # whole, CJK characters alone, which keras_hub gets by padding them with spaces) and
        # tf-text's FastWordpiece on the words. A test checks the ids agree with the layer's.
        specials = "|".join(re.escape(t) for t in [self.UNK, *self._bert.values()])
        self._split = (f"{specials}|{word_piece.WHITESPACE_PUNCTUATION_AND_CJK_REGEX}",
                       f"{specials}|{word_piece.PUNCTUATION_AND_CJK_REGEX}")
        self._pieces = tf_text.FastWordpieceTokenizer(
            vocab=vocabulary, token_out_type=tf.int32, unknown_token=self.UNK,
            no_pretokenization=True, support_detokenization=False,
        )

    def _tf_tokenize_with_byte_offsets(self, strings: tf.Tensor):
        words, word_starts, _ = tf_text.regex_split_with_offsets(strings, *self._split)
        ids, starts, ends = self._pieces.tokenize_with_offsets(words.flat_values)
        shift = tf.repeat(word_starts.flat_values, ids.row_lengths())  # piece -> its word's start
        starts, ends = starts.flat_values + shift, ends.flat_values + shift
        per_text = lambda values: tf.RaggedTensor.from_row_splits(  # noqa: E731
            ids.with_flat_values(values), words.row_splits).merge_dims(1, 2)
        return per_text(ids.flat_values), per_text(starts), per_text(ends)

    def native_special_ids(self) -> dict[str, int]:
        own = {"pad": self.PAD, "unk": self.UNK, "eos": self.EOS}
        return {name: self._layer.token_to_id(t) for name, t in {**self._bert, **own}.items()}

    @classmethod
    def train(cls, text: str, vocab_size: int | None, specials=()) -> WordPieceTokenizer:
        lines = _training_lines(text, cls.MAX_TRAIN_CHARS)
        reserved = [cls.PAD, cls.UNK, cls.EOS]
        reserved += [SPECIAL_TOKENS[n] for n in specials if n not in ("pad", "unk", "eos")]
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            tf.data.Dataset.from_tensor_slices(lines).batch(1024),
            vocab_size or cls.DEFAULT_VOCAB_SIZE,
            reserved_tokens=reserved,
        )
        return cls(vocabulary)

    @classmethod
    def load(cls, directory: Path, config: dict) -> WordPieceTokenizer:
        text = (directory / config["vocabulary_file"]).read_text("utf-8")
        return cls(text.split("\n")[:-1])

    def _save_files(self, directory: Path) -> dict:
        text = "".join(token + "\n" for token in self._layer.get_vocabulary())
        (directory / self.VOCABULARY_FILE).write_text(text, encoding="utf-8")
        return {"vocabulary_file": self.VOCABULARY_FILE, "unk": self.UNK, "eos": self.EOS}


class SentencePieceTokenizer(_LineByLineTokenizer):
    """A SentencePiece unigram model trained by keras_hub; every line but the last ends in `</s>`.

    keras_hub trains with SentencePiece's `nmt_nfkc` normalisation, so decoding gives the
    NFKC form of the text with runs of spaces collapsed. Ids 0-3 are <pad>, <unk>, <s>, </s>.
    SentencePiece strips the text `<unk>` (its own unknown piece) from training sentences,
    so in PTB or WikiText `<` and `>` stay unknown and each `<unk>` marker costs several ids.
    """

    kind = "sentencepiece"
    MODEL_FILE = "sentencepiece.model"
    DEFAULT_VOCAB_SIZE = 8000
    # SentencePiece's trainer is C++ and multi-threaded: 2 s for Tiny Shakespeare, 11 s for
    # all 10.8 MB of WikiText-2. Larger training texts are thinned to this size.
    MAX_TRAIN_CHARS = 10_000_000

    def __init__(self, proto: bytes) -> None:
        super().__init__()
        self._layer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto, dtype="int32")
        self.unk_id = self._layer.token_to_id("<unk>")
        self.eos_id = self._layer.token_to_id("</s>")
        # keras_hub's layer returns no offsets; tf-text's op on the same model does.
        self._with_offsets = tf_text.SentencepieceTokenizer(model=proto, out_type=tf.int32)

    def _tf_tokenize_with_byte_offsets(self, strings: tf.Tensor):
        return self._with_offsets.tokenize_with_offsets(strings)

    def native_special_ids(self) -> dict[str, int]:
        names = {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "</s>"}
        return {name: self._layer.token_to_id(piece) for name, piece in names.items()}

    @classmethod
    def train(cls, text: str, vocab_size: int | None, specials=()) -> SentencePieceTokenizer:
        lines = tf.data.Dataset.from_tensor_slices(_training_lines(text, cls.MAX_TRAIN_CHARS))
        vocab_size = vocab_size or cls.DEFAULT_VOCAB_SIZE
        sentencepiece.set_min_log_level(1)  # the trainer logs ~100 INFO lines to stderr
        try:
            proto = keras_hub.tokenizers.compute_sentence_piece_proto(lines, vocab_size)
        except RuntimeError as error:
            # A small text cannot fill a large vocabulary; SentencePiece says how many it can.
            most = re.search(r"value <= (\d+)", str(error))
            if most is None:
                raise DataError(f"SentencePiece cannot train on this text: {error}") from None
            proto = keras_hub.tokenizers.compute_sentence_piece_proto(lines, int(most[1]))
        finally:
            sentencepiece.set_min_log_level(0)  # SentencePiece's default
        return cls(proto)

    @classmethod
    def load(cls, directory: Path, config: dict) -> SentencePieceTokenizer:
        return cls((directory / config["model_file"]).read_bytes())

    def _save_files(self, directory: Path) -> dict:
        (directory / self.MODEL_FILE).write_bytes(self._layer.proto)
        return {"model_file": self.MODEL_FILE, "eos": "</s>"}


class BytePairTokenizer(Tokenizer):
    """Byte-level BPE (GPT-2's): keras_hub's BytePairTokenizer on a `vocab.json` and
    `merges.txt` in the Hugging Face / OpenAI layout.

    Every text round-trips exactly (the pieces spell out its UTF-8 bytes), so bits per character
    apply. The end-of-text token (`<|endoftext|>`, GPT-2's only special token) is kept whole in
    text and is "eos"; a task that needs another special token has it appended. A vocabulary
    comes from a checkpoint (`zoo.import_checkpoint`) or is learned here with Hugging Face's
    `tokenizers` trainer, the one GPT-2-style vocabularies are usually made with (keras_hub has
    no BPE trainer).
    """

    kind = "bpe"
    bits_per_char_applicable = True
    END_TOKEN = "<|endoftext|>"
    VOCABULARY_FILE, MERGES_FILE = "vocab.json", "merges.txt"
    DEFAULT_VOCAB_SIZE = 8000
    # A long text is tokenized in pieces of about this many characters, cut only where the
    # cut cannot change GPT-2's pre-tokenization (see `_safe_pieces`).
    PIECE_CHARS = 100_000

    def __init__(self, vocabulary: dict[str, int], merges: Sequence[str],
                 end_token: str | None = END_TOKEN) -> None:
        super().__init__()
        vocabulary = dict(vocabulary)
        merges = [m for m in merges if m and not m.startswith("#version")]
        self.end_token = end_token if end_token in vocabulary else None
        # The TensorFlow path always (keras_hub otherwise runs Hugging Face's `tokenizers`
        # outside a tf.function), so training data and the export's graph share one code path.
        self._layer = keras_hub.tokenizers.BytePairTokenizer(
            vocabulary=vocabulary, merges=merges, dtype="int32",
            unsplittable_tokens=[self.end_token] if self.end_token else None,
            _allow_python_workflow=False,
        )
        self._size = max(vocabulary.values()) + 1
        self._end_id = vocabulary[self.end_token] if self.end_token else None
        # Each piece's length in UTF-8 bytes (the pieces spell the text's bytes in GPT-2's
        # printable alphabet), for offsets: keras_hub's layer gives none.
        byte_values, characters = gpt2_byte_alphabet()
        byte_of = dict(zip(characters, byte_values, strict=True))
        lengths = np.zeros(self._size, np.int64)
        for piece, i in vocabulary.items():
            lengths[i] = sum(len(byte_of.get(c, c.encode("utf-8"))) for c in piece)
        self._byte_lengths = tf.constant(lengths)

    @property
    def base_vocab_size(self) -> int:
        return self._size

    def native_special_ids(self) -> dict[str, int]:
        return {} if self._end_id is None else {"eos": self._end_id}

    @classmethod
    def train(cls, text: str, vocab_size: int | None, specials=()) -> BytePairTokenizer:
        import tokenizers

        trainer = tokenizers.ByteLevelBPETokenizer()
        size = (vocab_size or cls.DEFAULT_VOCAB_SIZE) - 1  # the end token goes last, as GPT-2's
        lines = [line + "\n" for line in _training_lines(text, 10_000_000)]
        trainer.train_from_iterator(lines, vocab_size=size,
                                    show_progress=False)
        model = json.loads(trainer.to_str())["model"]
        vocabulary = {**model["vocab"], cls.END_TOKEN: len(model["vocab"])}
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        return cls(vocabulary, merges)

    @classmethod
    def load(cls, directory: Path, config: dict) -> BytePairTokenizer:
        vocabulary = json.loads((directory / config["vocabulary_file"]).read_text("utf-8"))
        merges = text_lines((directory / config["merges_file"]).read_text("utf-8"))
        return cls(vocabulary, merges, config.get("end_token", cls.END_TOKEN))

    def _save_files(self, directory: Path) -> dict:
        text = json.dumps(dict(self._layer.vocabulary), ensure_ascii=False)
        (directory / self.VOCABULARY_FILE).write_text(text, encoding="utf-8")
        merges = "".join(f"{m}\n" for m in ["#version: 0.2", *self._layer.merges])
        (directory / self.MERGES_FILE).write_text(merges, encoding="utf-8")
        return {"vocabulary_file": self.VOCABULARY_FILE, "merges_file": self.MERGES_FILE,
                "end_token": self.end_token}

    def encode(self, text: str) -> np.ndarray:
        pieces = _safe_pieces(text, self.PIECE_CHARS)
        if not pieces:
            return np.zeros([0], np.int32)
        ids = self.tf_tokenize(tf.constant(pieces))
        return ids.flat_values.numpy().astype(np.int32)

    def _decode(self, ids: np.ndarray) -> str:
        text = self._tf_detokenize(tf.RaggedTensor.from_tensor(
            tf.constant(ids.astype(np.int32))[None, :]).with_row_splits_dtype(tf.int64))
        return text.numpy()[0].decode("utf-8", "replace")

    def _tf_tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        ids = self._layer.tokenize(strings)
        return tf.cast(ids, tf.int32).with_row_splits_dtype(tf.int64)

    def _tf_tokenize_with_byte_offsets(self, strings: tf.Tensor):
        ids = self._tf_tokenize(strings)
        lengths = ids.with_flat_values(tf.gather(self._byte_lengths, ids.flat_values))
        ends = tf.math.cumsum(lengths.to_tensor(), axis=1)  # padding adds 0 after a row's end
        ends = tf.RaggedTensor.from_tensor(ends, lengths=ids.row_lengths())
        return ids, ends - lengths, ends

    def _tf_detokenize(self, ids: tf.RaggedTensor) -> tf.Tensor:
        # Ids outside the vocabulary decode to nothing; broken UTF-8 (a character whose bytes
        # a sampled sequence split) becomes U+FFFD, as Python's errors="replace" does.
        text = self._layer.detokenize(ids)
        return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace",
                                            replacement_char=0xFFFD)


def _safe_pieces(text: str, size: int) -> list[str]:
    """`text` cut into pieces of about `size` characters, each cut between a line that ends
    "x\\n" and one that starts with a non-space: GPT-2's pre-tokenizer splits there anyway, so
    tokenizing the pieces gives the ids of the whole."""
    pieces, start = [], 0
    while len(text) - start > size:
        cut = re.compile(r"\S\n(?=\S)").search(text, start + size)
        if cut is None:
            break
        pieces.append(text[start:cut.end()])
        start = cut.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


class BertWordPieceTokenizer(Tokenizer):
    """BERT's own WordPiece, as its checkpoints ship it: `vocab.txt` with [PAD], [UNK], [CLS],
    [SEP], [MASK], lower-casing with accents stripped for "uncased" vocabularies (never for
    cased ones), whitespace, punctuation and CJK characters split off, "##" continuations.

    tf-text's FastBertTokenizer does it in the graph, with offsets into the text as given
    (before lower-casing). Special tokens written in the text ("[MASK]" for fill-mask) stay
    whole, as Hugging Face's tokenizer keeps them: the text is split around them first.
    Decoding joins words with spaces ("Hello, world" -> "hello , world" when uncased). A
    vocabulary comes from a checkpoint or is learned by keras_hub.
    """

    kind = "bert_wordpiece"
    VOCABULARY_FILE = "vocab.txt"
    DEFAULT_VOCAB_SIZE = 8000
    MAX_TRAIN_CHARS = 10_000_000  # larger training texts are thinned to this size
    SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]",
                "mask": "[MASK]"}

    def __init__(self, vocabulary: Sequence[str], lowercase: bool = True) -> None:
        super().__init__()
        vocabulary = list(vocabulary)
        if "[UNK]" not in vocabulary:
            raise DataError("a BERT vocabulary needs [UNK]")
        self.lowercase = lowercase
        self._vocabulary = tf.constant(vocabulary)
        self._size = len(vocabulary)
        self._specials = {name: vocabulary.index(token) for name, token in self.SPECIALS.items()
                          if token in vocabulary}
        in_text = [t for t in self.SPECIALS.values() if t in vocabulary and t != "[PAD]"]
        self._special_pattern = "|".join(re.escape(t) for t in in_text)
        self._special_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(in_text, [vocabulary.index(t) for t in in_text],
                                                value_dtype=tf.int32), default_value=-1)
        self._bert = tf_text.FastBertTokenizer(
            vocab=vocabulary, token_out_type=tf.int32, unknown_token="[UNK]",
            lower_case_nfd_strip_accents=lowercase, support_detokenization=True)

    @property
    def base_vocab_size(self) -> int:
        return self._size

    def native_special_ids(self) -> dict[str, int]:
        return dict(self._specials)

    @classmethod
    def train(cls, text: str, vocab_size: int | None, specials=()) -> BertWordPieceTokenizer:
        # Hugging Face's Rust learner: keras_hub's (pure Python) had to be fed a 1 MB sample,
        # which kept IMDB's vocabulary to ~2,900 pieces of the 8,000 asked for; this one reads
        # 10 MB in seconds.
        import tokenizers

        learner = tokenizers.BertWordPieceTokenizer(lowercase=True, strip_accents=True)
        learner.train_from_iterator(_training_lines(text, cls.MAX_TRAIN_CHARS),
                                    vocab_size=vocab_size or cls.DEFAULT_VOCAB_SIZE,
                                    special_tokens=list(cls.SPECIALS.values()),
                                    show_progress=False)
        pieces = learner.get_vocab()
        return cls(sorted(pieces, key=pieces.get), lowercase=True)

    @classmethod
    def load(cls, directory: Path, config: dict) -> BertWordPieceTokenizer:
        text = (directory / config["vocabulary_file"]).read_text("utf-8")
        return cls(text_lines(text), lowercase=config.get("lowercase", True))

    def _save_files(self, directory: Path) -> dict:
        words = [w.decode("utf-8") for w in self._vocabulary.numpy()]
        (directory / self.VOCABULARY_FILE).write_text("".join(w + "\n" for w in words),
                                                      encoding="utf-8")
        return {"vocabulary_file": self.VOCABULARY_FILE, "lowercase": self.lowercase}

    def encode(self, text: str) -> np.ndarray:
        return self.tf_tokenize(tf.constant([text])).flat_values.numpy()

    def _decode(self, ids: np.ndarray) -> str:
        ragged = tf.RaggedTensor.from_tensor(tf.constant(ids.astype(np.int32))[None, :])
        return self._tf_detokenize(ragged.with_row_splits_dtype(tf.int64)).numpy()[0].decode(
            "utf-8", "replace")

    def _tf_tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        return self._tf_tokenize_with_byte_offsets(strings)[0]

    def _tf_tokenize_with_byte_offsets(self, strings: tf.Tensor):
        # Text and special tokens as separate segments, each tokenized; a special token's
        # segment becomes its one id.
        segments, segment_starts, _ = tf_text.regex_split_with_offsets(
            strings, self._special_pattern, self._special_pattern)
        flat = segments.flat_values
        ids, starts, ends = self._bert.tokenize_with_offsets(flat)
        special = self._special_table.lookup(flat)
        is_special = special >= 0
        ids = _replace_rows(ids, is_special, special[:, None])
        starts = _replace_rows(starts, is_special, tf.zeros_like(special, tf.int64)[:, None])
        ends = _replace_rows(ends, is_special, tf.cast(tf.strings.length(flat), tf.int64)[:, None])
        shift = tf.repeat(segment_starts.flat_values, ids.row_lengths())
        per_text = lambda values: tf.RaggedTensor.from_row_splits(  # noqa: E731
            ids.with_flat_values(values), segments.row_splits).merge_dims(1, 2)
        return (per_text(ids.flat_values), per_text(starts.flat_values + shift),
                per_text(ends.flat_values + shift))

    def _tf_detokenize(self, ids: tf.RaggedTensor) -> tf.Tensor:
        ids = _tf_in_vocabulary(ids, self._size, self._specials["unk"])
        return self._bert.detokenize(ids)


def _replace_rows(rows: tf.RaggedTensor, replace: tf.Tensor, with_rows: tf.Tensor):
    """`rows` [n, (k)] with each row where `replace` [n] is True swapped for that row of
    `with_rows` [n, 1]."""
    kept = tf.ragged.boolean_mask(rows, ~replace)
    kept_rows = tf.boolean_mask(tf.range(tf.shape(replace, tf.int64)[0]), ~replace)
    new_rows = tf.boolean_mask(tf.range(tf.shape(replace, tf.int64)[0]), replace)
    order = tf.argsort(tf.concat([kept_rows, new_rows], 0))
    swapped = tf.RaggedTensor.from_tensor(tf.boolean_mask(with_rows, replace))
    return tf.gather(tf.concat([kept, swapped.with_row_splits_dtype(kept.row_splits.dtype)], 0),
                     order)


TOKENIZERS: dict[str, type[Tokenizer]] = {
    cls.kind: cls
    for cls in (
        CharTokenizer,
        ByteTokenizer,
        WordTokenizer,
        WordPieceTokenizer,
        SentencePieceTokenizer,
        BytePairTokenizer,
        BertWordPieceTokenizer,
    )
}


def _tokenizer_class(kind: object) -> type[Tokenizer]:
    if kind not in TOKENIZERS:
        raise DataError(f"unknown tokenizer {kind!r}; choose one of: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[kind]


def build_tokenizer(
    kind: str,
    train_text: str,
    *,
    vocab_size: int | None = None,
    special_tokens: Sequence[str] = (),
) -> Tokenizer:
    """A tokenizer of `kind` whose vocabulary comes from `train_text`.

    `vocab_size` is an upper bound for word, wordpiece and sentencepiece (the text may not
    support that many); char and byte ignore it, their vocabulary being fixed by the text
    and by UTF-8. `special_tokens` names tokens to reserve (keys of SPECIAL_TOKENS): WordPiece
    learns its vocabulary around them (and reads "[MASK]" in text as the mask token); the other
    kinds use their own where they have one and append the rest.
    """
    cls = _tokenizer_class(kind)
    if not train_text:
        raise DataError(f"cannot build a {kind} tokenizer from empty text; give training text")
    if vocab_size is not None and vocab_size < 3:
        raise DataError(f"vocab_size must be at least 3, got {vocab_size}")
    unknown = sorted(set(special_tokens) - set(SPECIAL_TOKENS))
    if unknown:
        raise DataError(f"unknown special token(s) {', '.join(unknown)}")
    return cls.train(train_text, vocab_size, tuple(special_tokens)).with_special_tokens(
        special_tokens
    )


def load_tokenizer(directory: str | os.PathLike) -> Tokenizer:
    """The tokenizer that `Tokenizer.save(directory)` wrote."""
    path = Path(directory).expanduser() / CONFIG_FILE
    try:
        config = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} not found; save a tokenizer there with .save()") from None
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable tokenizer config ({error})") from None
    cls = _tokenizer_class(config.get("kind"))
    try:
        tokenizer = cls.load(path.parent, config)
        tokenizer.appended = tuple(config.get("special_tokens", ()))
        return tokenizer
    except (KeyError, OSError, ValueError) as error:
        raise DataError(f"{path.parent}: incomplete tokenizer files ({error!r})") from None
