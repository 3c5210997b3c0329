"""A count-based n-gram language model: interpolated modified Kneser-Ney (Chen & Goodman 1998).

Training is counting (numpy, vectorised: PTB's 930k tokens at order 5 in a few seconds); the
counts become non-trainable weights, so the model saves as `.keras`, exports as a SavedModel and
decodes through the same protocol as the neural models.

Storage is a trie in sorted arrays. Order 1 is dense over the vocabulary; the k-gram
(w_1..w_k), k >= 2, has the key `parent * V + w_k`, where `parent` is the position of its prefix
(w_1..w_{k-1}) in the order k-1 table (for k = 2, the prefix's token id). Keys are unique and
fit int64 for any realistic corpus (positions < tokens, so keys < tokens * V), and the words that
follow one context are one contiguous, sorted run of keys. Lookups use `keras.ops.searchsorted`,
so the graph needs no TF-only hash tables.

Per order k >= 2 the model stores, besides the keys:
    alpha_k[e]  = max(c(h w) - D_k(c), 0) / c(h)      for the k-gram e = (h, w)
    gamma_k[h]  = (D1 N1(h .) + D2 N2(h .) + D3 N3+(h .)) / c(h)   for each context h
so that p_k(w | h) = alpha_k(h w) + gamma_k(h) p_{k-1}(w | h') when h was seen in training,
else p_{k-1}(w | h'); p_1 interpolates down to the uniform distribution over the vocabulary.
The counts c are raw counts at the highest order and continuation counts N1+(. h w) below it;
each order's D1, D2, D3+ come from its own count-of-counts (Chen & Goodman, eq. 26).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

NO_TOKEN = -1  # pads the decoding state before the first token: "no token here"
_LOG_PROB_CHUNK = 65536  # positions scored at once by `log_prob`


def kneser_ney_discounts(counts: np.ndarray) -> np.ndarray:
    """[0, D1, D2, D3+] of modified Kneser-Ney from the count-of-counts of `counts`.

    Where the closed form is undefined or outside (0, c] (tiny corpora: some n_c is 0), D_c
    falls back to the single absolute discount Y = n1 / (n1 + 2 n2) (or 0.5), so every seen
    context keeps some mass for unseen words and no probability is ever zero.
    """
    n = np.bincount(np.minimum(counts, 5), minlength=6)[1:5].astype(np.float64)  # n1..n4
    y = n[0] / (n[0] + 2 * n[1]) if n[0] + 2 * n[1] > 0 else 0.5
    fallback = y if y > 0 else 0.5
    discounts = [0.0]
    for c in (1, 2, 3):
        d = c - (c + 1) * y * n[c] / n[c - 1] if n[c - 1] > 0 else np.nan
        discounts.append(d if 0 < d <= c else fallback)
    return np.array(discounts)


def kneser_ney_tables(ids: np.ndarray, vocab_size: int, order: int) -> dict[str, list]:
    """Counts `ids` and returns the model's arrays: unigram [V], and per order 2..n keys,
    alphas and gammas (see the module docstring), plus each order's [D1, D2, D3+]."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}); got {ids.min()}..{ids.max()}")
    n_tokens = len(ids)
    # positions[k][i]: entry of the k-gram starting at token i in the order-k table.
    positions = {1: ids}
    keys = {1: np.arange(vocab_size, dtype=np.int64)}
    raw = {1: np.bincount(ids, minlength=vocab_size)}
    first = {}  # first[k][e]: a position where entry e of order k starts
    for k in range(2, order + 1):
        query = positions[k - 1][: max(n_tokens - k + 1, 0)] * vocab_size + ids[k - 1 :]
        keys[k], first[k], positions[k], raw[k] = np.unique(
            query, return_index=True, return_inverse=True, return_counts=True
        )
    tables: dict[str, list] = {"keys": [], "alphas": [], "gammas": [], "discounts": []}
    for k in range(1, order + 1):
        if k == order:
            counts = raw[k]
        else:  # continuation count: distinct words seen before the k-gram
            suffixes = positions[k][first[k + 1] + 1]
            counts = np.bincount(suffixes, minlength=len(keys[k]))
        discounts = kneser_ney_discounts(counts)
        discount = discounts[np.minimum(counts, 3)]
        tables["discounts"].append(discounts[1:].tolist())
        if k == 1:
            total = counts.sum()
            if total > 0:
                unigram = (counts - discount + discount.sum() / vocab_size) / total
            else:
                unigram = np.full(vocab_size, 1.0 / vocab_size)
            tables["unigram"] = unigram.astype(np.float32)
            continue
        parents = keys[k] // vocab_size
        size = len(keys[k - 1])
        total = np.bincount(parents, weights=counts, minlength=size)
        mass = np.bincount(parents, weights=discount, minlength=size)
        seen = total > 0
        gamma = np.where(seen, mass / np.where(seen, total, 1.0), 1.0)
        parent_total = total[parents]
        alpha = np.where(parent_total > 0, (counts - discount) / np.maximum(parent_total, 1), 0)
        tables["keys"].append(keys[k])
        tables["alphas"].append(alpha.astype(np.float32))
        tables["gammas"].append(gamma.astype(np.float32))
    return tables


@keras.saving.register_keras_serializable(package="zoo")
class NGramLM(keras.Model):
    """An order-n interpolated modified Kneser-Ney language model, built by `NGramLM.fit`.

    Args:
        vocab_size: number of token ids.
        order: n; each prediction conditions on the previous n - 1 tokens.
        table_sizes: entries of the order-2..n tables (set by `fit`; sizes the weights so a
            saved model can be rebuilt from its config). None: an empty, uniform model.
        discounts: each order's [D1, D2, D3+], recorded for reference only.
        sequence_length: window length for the task's batches; the model takes any length.

    `call(token_ids)` maps [B, T] ids to float32 log-probabilities [B, T, V]: position t is the
    distribution of token t + 1 given tokens max(0, t - n + 2)..t of the same row. Positions
    with fewer than n - 1 tokens before them use the interpolated lower orders (continuation
    counts below the top order), so a row's first predictions are a little worse than with full
    history; `log_prob` on one long stream avoids that except at its very start.

    Decoding protocol: the state is the last n - 1 tokens, int32 [B, n - 1], padded on the left
    with `NO_TOKEN`; `index` is ignored (no positions, no `context_length`).

    Example:

    ```python
    model = NGramLM.fit(train_ids, vocab_size=10000, order=5)
    log_probs = model.log_prob(test_ids)  # [N] float64, log p(ids[t] | previous 4)
    logits = model(test_ids[None, :35])  # [1, 35, 10000]
    ```
    """

    def __init__(
        self,
        vocab_size: int,
        order: int = 5,
        table_sizes: list[int] | None = None,
        discounts: list[list[float]] | None = None,
        sequence_length: int = 35,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if order < 1:
            raise ValueError(f"order must be 1 or more, got {order}")
        table_sizes = list(table_sizes) if table_sizes is not None else [0] * (order - 1)
        if len(table_sizes) != order - 1:
            raise ValueError(f"table_sizes needs {order - 1} entries, got {len(table_sizes)}")
        self.vocab_size = vocab_size
        self.order = order
        self.table_sizes = [int(s) for s in table_sizes]
        self.discounts = discounts
        self.sequence_length = sequence_length

        def weight(name, shape, dtype, value):
            return self.add_weight(
                shape=shape,
                dtype=dtype,
                initializer=keras.initializers.Constant(value),
                trainable=False,
                autocast=False,
                name=name,
            )

        self.unigram = weight("unigram", (vocab_size,), "float32", 1.0 / vocab_size)
        self.keys, self.alphas, self.gammas = [], [], []
        for k, size in enumerate(self.table_sizes, start=2):
            parents = vocab_size if k == 2 else self.table_sizes[k - 3]
            self.keys.append(weight(f"keys_{k}", (size,), "int64", 0))
            self.alphas.append(weight(f"alphas_{k}", (size,), "float32", 0.0))
            self.gammas.append(weight(f"gammas_{k}", (parents,), "float32", 1.0))
        self.built = True

    @classmethod
    def fit(cls, ids: np.ndarray, vocab_size: int, order: int = 5, **kwargs) -> NGramLM:
        """Counts the int token stream `ids` (one text: n-grams cross line ends) into a model.

        Replaces Keras' gradient `fit` on purpose: an n-gram model has nothing to descend.
        """
        tables = kneser_ney_tables(ids, vocab_size, order)
        model = cls(
            vocab_size,
            order,
            table_sizes=[len(keys) for keys in tables["keys"]],
            discounts=tables["discounts"],
            **kwargs,
        )
        model.unigram.assign(tables["unigram"])
        for name in ("keys", "alphas", "gammas"):
            for variable, value in zip(getattr(model, name), tables[name]):
                variable.assign(value)
        return model

    # ----------------------------------------------------------------------------- lookups

    def _valid(self, tokens):
        return ops.logical_and(tokens >= 0, tokens < self.vocab_size)

    def _find(self, k: int, query):
        """Position of each int64 `query` key in the order-k table and whether it is there."""
        keys = self.keys[k - 2]
        position = ops.minimum(ops.searchsorted(keys, query), self.table_sizes[k - 2] - 1)
        position = ops.cast(position, "int64")
        return position, ops.equal(ops.take(keys, position), query)

    def _context(self, contexts, length: int):
        """Entry of each row's last `length` tokens in the order-`length` table, and found."""
        tokens = contexts[:, contexts.shape[1] - length :]
        found = self._valid(tokens[:, 0])
        entry = ops.where(found, tokens[:, 0], 0)
        for j in range(1, length):
            entry, hit = self._find(j + 1, entry * self.vocab_size + tokens[:, j])
            found = ops.logical_and(ops.logical_and(found, hit), self._valid(tokens[:, j]))
        return entry, found

    def _orders(self):
        """Orders 2..n that have counts (an empty model has none)."""
        return [k for k in range(2, self.order + 1) if self.table_sizes[k - 2] > 0]

    def _backoff(self, k: int, contexts):
        """Context entry at order k-1, found, and gamma (1 for an unseen context)."""
        entry, found = self._context(contexts, k - 1)
        gamma = ops.where(found, ops.take(self.gammas[k - 2], entry), 1.0)
        return entry, found, gamma

    def distribution(self, contexts):
        """P(next token | context) over the whole vocabulary: int64 [R, n-1] -> float32 [R, V].

        Each order rescales the lower-order distribution by gamma and adds the alphas of the
        words that followed the context: one contiguous run of keys, gathered for all rows at
        once as a flat ragged range and scattered into [R, V].
        """
        rows = ops.shape(contexts)[0]
        vocab = self.vocab_size
        probs = ops.broadcast_to(self.unigram[None, :], (rows, vocab))
        for k in self._orders():
            entry, found, gamma = self._backoff(k, contexts)
            keys = self.keys[k - 2]
            start = ops.searchsorted(keys, entry * vocab)
            end = ops.searchsorted(keys, (entry + 1) * vocab)
            counts = ops.where(found, end - start, 0)
            row = ops.repeat(ops.arange(rows, dtype=counts.dtype), counts)
            offsets = ops.cumsum(counts) - counts
            total = ops.sum(counts)
            item = ops.arange(total, dtype=counts.dtype) + ops.take(start - offsets, row)
            words = ops.cast(ops.mod(ops.take(keys, item), vocab), counts.dtype)
            added = ops.scatter(
                ops.stack([row, words], axis=1), ops.take(self.alphas[k - 2], item), (rows, vocab)
            )
            probs = probs * gamma[:, None] + added
        return probs

    def _target_probs(self, contexts, targets):
        """P(target | context) for each row: [R, n-1] and [R] int64 -> [R] float64."""
        p = ops.cast(ops.take(self.unigram, targets), "float64")
        for k in self._orders():
            entry, found, gamma = self._backoff(k, contexts)
            item, hit = self._find(k, entry * self.vocab_size + targets)
            alpha = ops.where(ops.logical_and(found, hit), ops.take(self.alphas[k - 2], item), 0.0)
            p = p * ops.cast(gamma, "float64") + ops.cast(alpha, "float64")
        return p

    # ----------------------------------------------------------------------------- public

    def log_prob(self, ids: np.ndarray) -> np.ndarray:
        """Exact log p(ids[t] | ids[t-n+1:t]) of each token of the 1-D stream `ids`, float64.

        ids[0] has no history and gets the interpolated unigram; evaluate like the neural
        models (whose first token has no prediction) with `log_prob(ids)[1:].mean()`.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")
        width = self.order - 1
        padded = np.concatenate([np.full(width, NO_TOKEN, np.int64), ids])
        out = np.empty(len(ids), np.float64)
        for begin in range(0, len(ids), _LOG_PROB_CHUNK):
            end = min(begin + _LOG_PROB_CHUNK, len(ids))
            columns = [padded[begin + j : end + j] for j in range(width)]
            contexts = np.stack(columns, axis=1) if width else np.zeros((end - begin, 0), np.int64)
            targets = ops.convert_to_tensor(ids[begin:end])
            p = self._target_probs(ops.convert_to_tensor(contexts), targets)
            out[begin:end] = np.log(ops.convert_to_numpy(p))
        return out

    def call(self, token_ids, training=None):
        logits, _ = self.decode(token_ids, self.initial_decoding_state(ops.shape(token_ids)[0]))
        return logits

    # Decoding protocol, shared with TransformerLM and LSTMLM and driven by tasks.decoding.

    def initial_decoding_state(self, batch_size, max_length: int | None = None):
        """No history yet: [B, n - 1] int32 of NO_TOKEN."""
        return ops.full((batch_size, self.order - 1), NO_TOKEN, dtype="int32")

    def decode(self, token_ids, state, index=None):
        """Feeds `token_ids` [B, t] after `state`; returns (float32 log-probs [B, t, V], the
        last n - 1 tokens)."""
        token_ids = ops.cast(token_ids, "int32")
        history = ops.concatenate([ops.cast(state, "int32"), token_ids], axis=1)
        batch, steps = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        width = self.order - 1
        if width:
            windows = [history[:, j : j + steps] for j in range(1, width + 1)]
            contexts = ops.reshape(ops.stack(windows, axis=-1), (-1, width))
        else:
            contexts = ops.zeros((batch * steps, 0), "int32")
        probs = self.distribution(ops.cast(contexts, "int64"))
        logits = ops.reshape(ops.log(probs), (batch, steps, self.vocab_size))
        return logits, history[:, steps:]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "order": self.order,
                "table_sizes": self.table_sizes,
                "discounts": self.discounts,
                "sequence_length": self.sequence_length,
            }
        )
        return config
