"""The two ways a text-to-text task lays a (source, target) pair out for a backbone.

    EncoderDecoder  the encoder reads `source`, the decoder `<s> target` and predicts `target </s>`
                    (Vaswani et al. 2017; transformer_seq2seq_small, lstm_seq2seq_attention)
    DecoderOnly     one causal sequence `source <s> target </s>`, the loss on the target only
                    (GPT-2's "TL;DR:" framing; any GPT or LSTM language model)

Each makes training rows (numpy, for length-bucketed batches), evaluation batches (in the graph),
the task model on a backbone, and the decoding of new targets for a batch of sources: the task
above them never asks which one it has.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tasks.causal_lm.model import CausalLM
from tasks.data import DataError
from tasks.decoding import generate
from tasks.text_batches import pad_rows
from tasks.text_to_text.model import Seq2SeqLM


@dataclasses.dataclass(frozen=True)
class Lengths:
    """Token budgets: `source` (source tokens kept), `target` (target tokens kept, </s> aside),
    `sequence` (the backbone's length) and `shared`: translation pads source and target of a
    batch to one width; with a summary cap the target side is padded to the cap instead."""

    source: int
    target: int
    sequence: int
    shared: bool


class EncoderDecoder:
    """Source -> encoder; `<s> target` -> decoder -> `target </s>`."""

    def __init__(self, ids: dict[str, int], lengths: Lengths):
        self.ids, self.lengths = ids, lengths

    @staticmethod
    def accepts(backbone) -> bool:
        return hasattr(backbone, "encode")

    def example_width(self, source: int, target: int) -> int:
        """The padded width a training bucket needs for this pair (the source's, with a cap)."""
        return max(source, target + 1) if self.lengths.shared else source

    def rows(self, pairs, width: int):
        """Training batch arrays for (source ids, target ids) pairs at bucket width `width`."""
        pad, size = self.ids["pad"], len(pairs)
        target_width = width if self.lengths.shared else self.lengths.target + 1
        source = np.full((size, width), pad, np.int32)
        mask = np.zeros((size, width), np.int32)
        mask[:, 0] = 1  # an empty source still has one position to attend to
        inputs = np.full((size, target_width), pad, np.int32)
        outputs = np.full((size, target_width), pad, np.int32)
        weights = np.zeros((size, target_width), np.float32)
        for row, (src, tgt) in enumerate(pairs):
            src, tgt = src[:width], tgt[: target_width - 1]
            source[row, : len(src)] = src
            mask[row, : len(src)] = 1
            inputs[row, : len(tgt) + 1] = [self.ids["bos"], *tgt]
            outputs[row, : len(tgt) + 1] = [*tgt, self.ids["eos"]]
            weights[row, : len(tgt) + 1] = 1.0
        return {"source_ids": source, "source_mask": mask, "target_ids": inputs}, outputs, weights

    def feature_spec(self, batch: int) -> dict:
        spec = tf.TensorSpec([batch, None], tf.int32)
        return {"source_ids": spec, "source_mask": spec, "target_ids": spec}

    def graph_batch(self, source: tf.RaggedTensor, target: tf.RaggedTensor):
        """Evaluation batch tensors from ragged source and target ids."""
        source_ids, source_mask = self.encode_sources(source)
        width = self.lengths.sequence if self.lengths.shared else self.lengths.target + 1
        pad = self.ids["pad"]
        inputs, _ = pad_rows(target, width, pad, prefix=[self.ids["bos"]])
        outputs, weights = pad_rows(target, width, pad, suffix=[self.ids["eos"]])
        features = {"source_ids": source_ids, "source_mask": source_mask, "target_ids": inputs}
        return features, outputs, tf.cast(weights, tf.float32)

    def encode_sources(self, source: tf.RaggedTensor):
        return pad_rows(source, self.lengths.source, self.ids["pad"])

    def model(self, backbone, vocab_size: int, tie_embeddings: bool, name: str,
              copy_attention: bool = False) -> keras.Model:
        if copy_attention and not hasattr(backbone, "decode_sequence"):
            raise DataError(f"copy_attention needs a backbone with decode_sequence; "
                            f"{type(backbone).__name__} has none")
        model = Seq2SeqLM(backbone, vocab_size, tie_embeddings=tie_embeddings,
                          copy_attention=copy_attention, name=name, dtype=backbone.dtype_policy)
        ones = tf.ones([1, 2], tf.int32)
        model({"source_ids": ones, "source_mask": ones, "target_ids": ones})
        return model

    def generate(self, model, source: tf.RaggedTensor, **decoding):
        """New target ids [B, N], their lengths [B] and scores [B] for ragged source ids."""
        source_ids, source_mask = self.encode_sources(source)
        batch = tf.shape(source_ids)[0]
        conditioned = model.conditioned(model.encode(source_ids, source_mask), source_mask,
                                        source_ids)
        return generate(conditioned, tf.fill([batch, 1], self.ids["bos"]),
                        tf.ones([batch], tf.int32), return_scores=True, **decoding)


class DecoderOnly:
    """`source <s> target </s>` as one causal sequence; only the target's tokens are scored."""

    def __init__(self, ids: dict[str, int], lengths: Lengths):
        self.ids, self.lengths = ids, lengths

    @staticmethod
    def accepts(backbone) -> bool:
        return getattr(backbone, "causal", False) and hasattr(backbone, "decode")

    def example_width(self, source: int, target: int) -> int:
        return min(source, self.lengths.source) + 1 + min(target, self.lengths.target)

    def rows(self, pairs, width: int):
        pad, size = self.ids["pad"], len(pairs)
        inputs = np.full((size, width), pad, np.int32)
        outputs = np.full((size, width), pad, np.int32)
        weights = np.zeros((size, width), np.float32)
        for row, (src, tgt) in enumerate(pairs):
            src, tgt = src[: self.lengths.source], tgt[: self.lengths.target]
            tgt = tgt[: max(width - len(src) - 1, 0)]
            joined = [*src, self.ids["bos"], *tgt, self.ids["eos"]]
            inputs[row, : len(joined) - 1] = joined[:-1]
            outputs[row, : len(joined) - 1] = joined[1:]
            weights[row, len(src) : len(joined) - 1] = 1.0
        return inputs, outputs, weights

    def feature_spec(self, batch: int):
        return tf.TensorSpec([batch, None], tf.int32)

    def graph_batch(self, source: tf.RaggedTensor, target: tf.RaggedTensor):
        prompt = self._prompts(source)
        joined = tf.concat([prompt, tf.cast(target[:, : self.lengths.target], tf.int32),
                            self._column(target.nrows(), "eos")], axis=1)
        width, pad = self.lengths.sequence, self.ids["pad"]
        inputs = joined[:, :-1].to_tensor(pad, shape=[None, width])
        outputs = joined[:, 1:].to_tensor(pad, shape=[None, width])
        positions = tf.range(width)[None, :]
        start = tf.cast(prompt.row_lengths(), tf.int32)[:, None] - 1
        end = tf.cast(joined.row_lengths(), tf.int32)[:, None] - 1
        weights = tf.cast((positions >= start) & (positions < end), tf.float32)
        return inputs, outputs, weights

    def model(self, backbone, vocab_size: int, tie_embeddings: bool, name: str,
              copy_attention: bool = False) -> keras.Model:
        if copy_attention:
            raise DataError("copy_attention needs an encoder-decoder; a GPT reads its source "
                            "in its own context")
        model = CausalLM(backbone, vocab_size, tie_embeddings=tie_embeddings, name=name,
                         dtype=backbone.dtype_policy)
        model(tf.ones([1, 2], tf.int32))
        return model

    def generate(self, model, source: tf.RaggedTensor, **decoding):
        prompt = self._prompts(source)
        ids = prompt.to_tensor(self.ids["pad"])
        return generate(model, ids, tf.cast(prompt.row_lengths(), tf.int32), return_scores=True,
                        **decoding)

    def _prompts(self, source: tf.RaggedTensor) -> tf.RaggedTensor:
        """`source <s>`, the source cut to its budget."""
        source = tf.cast(source[:, : self.lengths.source], tf.int32)
        return tf.concat([source, self._column(source.nrows(), "bos")], axis=1)

    def _column(self, rows, token: str) -> tf.RaggedTensor:
        return tf.RaggedTensor.from_tensor(tf.fill([rows, 1], self.ids[token]))


def layout_for(backbone, ids: dict[str, int], lengths: Lengths, task_name: str):
    """The layout a backbone takes; an encoder-only one (BERT) is a DataError."""
    for layout in (EncoderDecoder, DecoderOnly):
        if layout.accepts(backbone):
            return layout(ids, lengths)
    raise DataError(f"{task_name} needs an encoder-decoder (transformer_seq2seq_small) or a "
                    "causal language model (a GPT or an LSTM); this backbone is neither")
