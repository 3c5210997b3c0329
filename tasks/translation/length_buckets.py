"""Length-bucketed training batches for text pairs: Tatoeba's sentences are ~10 tokens, so padding
every batch to the longest pair wastes 2-3x of each step."""

from __future__ import annotations

import numpy as np


class LengthBuckets:
    """Training pairs grouped by length, and the epochs of same-length batches made of them.

    A pair's length is max(source, target + 1) tokens (the decoder reads <s> target), cut to
    `sequence_length`; buckets end at every quarter of it, rounded up to a multiple of 8.
    """

    def __init__(self, source_ids: list[np.ndarray], target_ids: list[np.ndarray],
                 sequence_length: int):
        self.source_ids, self.target_ids = source_ids, target_ids
        self.length = sequence_length
        longest = np.array([max(len(s), len(t) + 1) for s, t in zip(source_ids, target_ids)])
        longest = np.minimum(longest, sequence_length)
        ends = sorted({min(sequence_length, -(-sequence_length * q // 4 // 8) * 8 or 8)
                       for q in (1, 2, 3, 4)} | {sequence_length})
        self.ends = ends
        self.members = [np.flatnonzero((longest <= end) & (longest > start))
                        for start, end in zip([0, *ends[:-1]], ends)]
        counts = np.array([len(m) for m in self.members], np.float64)
        self.mean_length = float((counts * np.array(ends)).sum() / max(counts.sum(), 1))

    def batches_per_epoch(self, batch: int) -> int:
        return sum(len(members) // batch for members in self.members)

    def schedule(self, batch: int, seed: int, epoch: int) -> list[tuple[int, np.ndarray]]:
        """Epoch `epoch`'s batches: (bucket, example indices), in a seeded order."""
        rng = np.random.default_rng([seed, epoch])
        batches = []
        for bucket, members in enumerate(self.members):
            order = rng.permutation(members)
            batches += [(bucket, order[i : i + batch])
                        for i in range(0, len(order) - batch + 1, batch)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def batch(self, size: int, seed: int, step: int, pad: int, bos: int, eos: int):
        """Training step `step`'s batch as padded arrays (features, targets, weights)."""
        epoch, index = divmod(step, max(self.batches_per_epoch(size), 1))
        key = (size, seed, epoch)
        if getattr(self, "_cached", (None,))[0] != key:
            self._cached = (key, self.schedule(size, seed, epoch))
        bucket, indices = self._cached[1][index]
        width = self.ends[bucket]
        source = np.full((size, width), pad, np.int32)
        mask = np.zeros((size, width), np.int32)
        mask[:, 0] = 1  # an empty source still has one position to attend to
        inputs = np.full((size, width), pad, np.int32)
        outputs = np.full((size, width), pad, np.int32)
        weights = np.zeros((size, width), np.float32)
        for row, i in enumerate(indices):
            src, tgt = self.source_ids[i][:width], self.target_ids[i][: width - 1]
            source[row, : len(src)] = src
            mask[row, : len(src)] = 1
            inputs[row, : len(tgt) + 1] = [bos, *tgt]
            outputs[row, : len(tgt) + 1] = [*tgt, eos]
            weights[row, : len(tgt) + 1] = 1.0
        features = {"source_ids": source, "source_mask": mask, "target_ids": inputs}
        return features, outputs, weights
