"""Length-bucketed training batches: Tatoeba's sentences are ~10 tokens and AESLC's emails 20 to
500, so padding every batch to the longest example wastes 2-3x of each step."""

from __future__ import annotations

import numpy as np


class LengthBuckets:
    """Examples grouped by the width they need, and the seeded epochs of batches made of them.

    `lengths[i]` is the padded width example i needs (already cut to `sequence_length`);
    buckets end at every quarter of `sequence_length`, rounded up to a multiple of 8. A step's
    batch is a function of (batch size, seed, step) alone, so a resumed run continues exactly.
    """

    def __init__(self, lengths: np.ndarray, sequence_length: int):
        lengths = np.minimum(np.asarray(lengths), sequence_length)
        self.ends = sorted({min(sequence_length, -(-sequence_length * q // 4 // 8) * 8 or 8)
                            for q in (1, 2, 3, 4)} | {sequence_length})
        self.members = [np.flatnonzero((lengths <= end) & (lengths > start))
                        for start, end in zip([0, *self.ends[:-1]], self.ends)]
        counts = np.array([len(m) for m in self.members], np.float64)
        self.mean_length = float((counts * np.array(self.ends)).sum() / max(counts.sum(), 1))

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

    def step(self, size: int, seed: int, step: int) -> tuple[int, np.ndarray]:
        """Training step `step`'s batch: (its padded width, the indices of its examples)."""
        epoch, index = divmod(step, max(self.batches_per_epoch(size), 1))
        key = (size, seed, epoch)
        if getattr(self, "_cached", (None,))[0] != key:
            self._cached = (key, self.schedule(size, seed, epoch))
        bucket, indices = self._cached[1][index]
        return self.ends[bucket], indices
