"""EDA, easy data augmentation for text classification (Wei & Zou 2019), in the tf.data graph.

Each training text gets one of the four operations, chosen at random, changing about
alpha x its length words (at least one):

    synonym replacement   n words that have synonyms are replaced by one of them
    random insertion      n times, a synonym of a random word is put at a random position
    random swap           n times, two random words trade places
    random deletion       each word is dropped with probability alpha (never all of them)

The first two need a thesaurus: a user's TSV (`word<TAB>synonym<TAB>...` per line), or WordNet
through nltk where its data is installed. Without one, only swap and deletion are used. Every
draw comes from a stateless RNG keyed by (seed, step), so a resumed run augments its batches as
an uninterrupted one did. Written here because keras-hub and tensorflow-text have no EDA, and
the per-batch graph keeps augmentation in the input pipeline (no Python per example).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import tensorflow as tf

from tasks.data import DataError

MAX_CHANGES = 4  # per text: alpha x length words, capped (EDA's n is small for short texts)


def read_synonyms(path: str) -> dict[str, list[str]]:
    """A TSV thesaurus: each line a word and its synonyms, tab-separated."""
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"synonyms: cannot read {path} ({error})") from None
    table: dict[str, list[str]] = {}
    for line in lines:
        fields = [f.strip() for f in line.split("\t") if f.strip()]
        if len(fields) >= 2:
            table.setdefault(fields[0], []).extend(fields[1:])
    if not table:
        raise DataError(f"synonyms: {path} has no `word<TAB>synonym` lines")
    return table


def wordnet_synonyms(words: Iterable[str]) -> dict[str, list[str]] | None:
    """WordNet's single-word synonyms of `words`, or None if nltk or its data is missing."""
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except Exception:  # noqa: BLE001 - nltk absent, or its WordNet data not downloaded
        return None
    table = {}
    for word in set(words):
        names = {lemma.name() for synset in wordnet.synsets(word) for lemma in synset.lemmas()}
        names = sorted(n for n in names if n != word and "_" not in n)
        if names:
            table[word] = names
    return table


class Augmenter(tf.Module):
    """`augmenter(texts [B], seed [2])` -> the texts, each changed by one EDA operation."""

    def __init__(self, alpha: float = 0.1, synonyms: dict[str, list[str]] | None = None):
        super().__init__()
        if not 0 < alpha < 1:
            raise DataError(f"eda_alpha must be in (0, 1), got {alpha}")
        self.alpha = alpha
        self.has_synonyms = bool(synonyms)
        if synonyms:
            words = sorted(synonyms)
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(words), tf.range(len(words), dtype=tf.int64)
                ),
                default_value=-1,
            )
            self._synonyms = tf.ragged.constant([synonyms[w] for w in words])

    def __call__(self, texts: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        words = tf.strings.split(texts).to_tensor("")  # [B, W]
        lengths = tf.reduce_sum(tf.cast(words != "", tf.int32), axis=1)
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4 + MAX_CHANGES)
        changes = tf.clip_by_value(
            tf.cast(tf.round(self.alpha * tf.cast(lengths, tf.float32)), tf.int32), 1, MAX_CHANGES
        )
        operations = 4 if self.has_synonyms else 2
        op = tf.random.stateless_uniform(tf.shape(lengths), seed=seeds[0], minval=0,
                                         maxval=operations, dtype=tf.int32)
        results = [self._swap(words, lengths, changes, seeds[1]),
                   self._delete(words, lengths, seeds[2])]
        if self.has_synonyms:
            results += [self._replace(words, lengths, changes, seeds[3]),
                        self._insert(words, lengths, changes, seeds[4:])]
        width = tf.reduce_max([tf.shape(r)[1] for r in results])
        padded = [tf.pad(r, [[0, 0], [0, width - tf.shape(r)[1]]]) for r in results]
        chosen = tf.gather(tf.stack(padded, axis=1), op, batch_dims=1)  # [B, W']
        joined = tf.strings.reduce_join(chosen, axis=1, separator=" ")
        return tf.strings.strip(tf.strings.regex_replace(joined, " +", " "))

    # Each operation maps words [B, W] ("" past a row's length) to new words [B, W'].

    def _swap(self, words, lengths, changes, seed):
        batch, width = tf.shape(words)[0], tf.shape(words)[1]
        order = tf.tile(tf.range(width)[None, :], [batch, 1])
        seeds = tf.random.experimental.stateless_split(seed, MAX_CHANGES)
        for k in range(MAX_CHANGES):
            pick = tf.random.stateless_uniform([batch, 2], seed=seeds[k])
            i, j = (tf.cast(pick[:, n] * tf.cast(lengths, tf.float32), tf.int32) for n in (0, 1))
            live = k < changes
            i, j = tf.where(live, i, 0), tf.where(live, j, 0)
            at_i = tf.gather(order, i, batch_dims=1)
            at_j = tf.gather(order, j, batch_dims=1)
            rows = tf.range(batch)
            order = tf.tensor_scatter_nd_update(order, tf.stack([rows, i], 1), at_j)
            order = tf.tensor_scatter_nd_update(order, tf.stack([rows, j], 1), at_i)
        return tf.gather(words, order, batch_dims=1)

    def _delete(self, words, lengths, seed):
        keep = tf.random.stateless_uniform(tf.shape(words), seed=seed) >= self.alpha
        keep &= words != ""
        none_left = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1) == 0
        keep |= none_left[:, None] & (words != "")  # never delete every word
        return tf.ragged.boolean_mask(words, keep).to_tensor("")

    def _lookup(self, words):
        """Each word's row in the thesaurus (-1: none) and how many synonyms it has."""
        index = self._table.lookup(words)
        counts = tf.gather(self._synonyms.row_lengths(), tf.maximum(index, 0))
        return index, tf.where(index >= 0, counts, 0)

    def _synonym(self, index, counts, seed):
        """A random synonym of each looked-up word (words without any keep "")."""
        pick = tf.random.stateless_uniform(tf.shape(index), seed=seed)
        which = tf.cast(pick * tf.cast(counts, tf.float32), tf.int64)
        flat = tf.gather(self._synonyms.row_starts(), tf.maximum(index, 0)) + which
        return tf.where(counts > 0, tf.gather(self._synonyms.flat_values, flat), "")

    def _replace(self, words, lengths, changes, seed):
        seeds = tf.random.experimental.stateless_split(seed, 2)
        index, counts = self._lookup(words)
        scores = tf.random.stateless_uniform(tf.shape(words), seed=seeds[0])
        scores = tf.where(counts > 0, scores, -1.0)
        rank = tf.argsort(tf.argsort(scores, axis=1, direction="DESCENDING"), axis=1)
        chosen = (rank < changes[:, None]) & (counts > 0)
        return tf.where(chosen, self._synonym(index, counts, seeds[1]), words)

    def _insert(self, words, lengths, changes, seeds):
        batch = tf.shape(words)[0]
        for k in range(MAX_CHANGES):
            parts = tf.random.experimental.stateless_split(seeds[k], 3)
            index, counts = self._lookup(words)
            scores = tf.random.stateless_uniform(tf.shape(words), seed=parts[0])
            source = tf.argmax(tf.where(counts > 0, scores, -1.0), axis=1, output_type=tf.int32)
            found = tf.gather(counts, source, batch_dims=1) > 0
            synonym = tf.gather(self._synonym(index, counts, parts[1]), source, batch_dims=1)
            where = tf.cast(tf.random.stateless_uniform([batch], seed=parts[2])
                            * tf.cast(lengths + 1, tf.float32), tf.int32)
            live = (k < changes) & found
            columns = tf.range(tf.shape(words)[1] + 1)
            before = tf.gather(words, tf.minimum(columns, tf.shape(words)[1] - 1), axis=1)
            after = tf.gather(words, tf.maximum(columns - 1, 0), axis=1)
            at = columns[None, :] - where[:, None]  # < 0 before the new word, 0 at it
            inserted = tf.where(at < 0, before, tf.where(at == 0, synonym[:, None], after))
            unchanged = tf.pad(words, [[0, 0], [0, 1]])
            words = tf.where(live[:, None], inserted, unchanged)
            lengths += tf.cast(live, tf.int32)
        return words
