"""Replaced-token detection: ELECTRA's pretraining (Clark et al. 2020).

A small generator learns BERT's masked-LM task; its samples replace the masked tokens; the
backbone (the discriminator) learns to tell, for every token of the row, whether it is the
original. The discriminator thus learns from every position, not from the 15% a masked LM
predicts, and at equal compute ELECTRA-Small beats BERT-Small on GLUE. The loss is the
generator's masked-LM loss plus `rtd_weight` (ELECTRA's lambda, 50) times the discriminator's
mean binary cross-entropy over real tokens; the sample carries no gradient. Rows, masks and
dynamic masking are the masked LM's (`tasks.masked_lm`): this task changes the model and loss.

The generator is the backbone's own kind at `generator_scale` of its width (ELECTRA found a
quarter to half best), with its own embeddings (ELECTRA ties them; here the two differ in
width). A fine-tuning run (`--init_from`) starts from the discriminator.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import tensorflow as tf

from tasks.catalog import BUILT_IN_TASKS
from tasks.data import DataError
from tasks.masked_lm.task import MaskedLanguageModelingOptions, MaskedLanguageModelingTask
from tasks.replaced_token_detection import serving
from tasks.replaced_token_detection.model import ReplacedTokenDetector
from tasks.request_checks import ServingLimits
from tasks.task import Batch

_SIZES = ("hidden_dim", "intermediate_dim", "num_heads")


@dataclasses.dataclass(frozen=True)
class ReplacedTokenDetectionOptions(MaskedLanguageModelingOptions):
    """The masked LM's settings (without next-sentence prediction), and:

    Attributes:
        generator_scale: the generator's width (and heads) as a share of the backbone's.
        rtd_weight: the discriminator loss's weight (ELECTRA's lambda).
    """

    generator_scale: float = 0.25
    rtd_weight: float = 50.0


class ReplacedTokenDetectionTask(MaskedLanguageModelingTask):
    """ELECTRA pretraining on a text corpus, for an encoder backbone.

    Example:

        task = ReplacedTokenDetectionTask("imdb_unsup", tokenizer, sequence_length=128)
    """

    name = "replaced_token_detection"
    description = BUILT_IN_TASKS["replaced_token_detection"].description
    recipe = BUILT_IN_TASKS["replaced_token_detection"].recipe
    Options = ReplacedTokenDetectionOptions

    def __init__(self, corpus, tokenizer, sequence_length: int, **options: Any):
        super().__init__(corpus, tokenizer, sequence_length, **options)
        if self.options.nsp:
            raise DataError("replaced_token_detection has no next-sentence prediction")
        if not 0 < self.options.generator_scale <= 1:
            raise DataError("generator_scale must be in (0, 1]")
        if self.options.rtd_weight <= 0:
            raise DataError("rtd_weight must be positive")

    def describe_data(self) -> str:
        return (f"{self.corpus.name} ({self.options.packing}, {self.options.mask_rate:.0%} "
                "replaced by a generator)")

    def _masked(self, token_ids, mask, segments, is_next, seed) -> Batch:
        features, targets, weights = super()._masked(token_ids, mask, segments, is_next, seed)
        noise_seed = tf.stack([seed[0] + 7, seed[1]])
        features.update(
            original_ids=token_ids,
            mask_weights=weights["mlm"],
            sample_noise=tf.random.stateless_uniform(tf.shape(features["mask_positions"]),
                                                     seed=noise_seed),
        )
        weights["rtd"] = tf.cast(mask, tf.float32)
        return features, targets, weights

    def keras_loop(self):
        return None

    # ----------------------------------------------------------------------------- the model

    @classmethod
    def model_for(cls, backbone, vocab_size: int, options) -> ReplacedTokenDetector:
        if getattr(backbone, "causal", False):
            raise DataError("replaced_token_detection needs a bidirectional backbone (an "
                            "encoder such as bert_tiny); this one is causal")
        config = backbone.get_config()
        if any(key not in config for key in _SIZES):
            raise DataError("replaced_token_detection makes its generator from the backbone's "
                            f"{', '.join(_SIZES)}; this backbone has no such settings")
        scale = options.generator_scale
        heads = max(1, round(config["num_heads"] * scale))
        width = max(heads, int(config["hidden_dim"] * scale) // heads * heads)
        inner = max(1, round(config["intermediate_dim"] * width / config["hidden_dim"]))
        generator = type(backbone).from_config({**config, "hidden_dim": width, "num_heads": heads,
                                                "intermediate_dim": inner,
                                                "name": "generator_backbone"})
        model = ReplacedTokenDetector(backbone, generator, vocab_size, name=cls.name,
                                      dtype=backbone.dtype_policy)
        model(_example_features())
        return model

    # ----------------------------------------------------------------------------- training

    def loss(self, model, batch: Batch, carry, training: bool):
        features, targets, weights = batch
        out = model(features, training=training)
        mlm_sum, mlm_weight, rtd_sum, rtd_weight = self._sums(out, targets, weights)
        rtd_mean = tf.math.divide_no_nan(rtd_sum, rtd_weight)
        # ELECTRA's sum of the two means, scaled to the masked positions' weight, which the
        # trainer divides by (summed over replicas).
        loss_sum = mlm_sum + self.options.rtd_weight * rtd_mean * tf.stop_gradient(mlm_weight)
        return loss_sum, mlm_weight, carry

    @staticmethod
    def _sums(out, targets, weights):
        mlm = keras.losses.sparse_categorical_crossentropy(targets["mlm"], out["mlm"],
                                                           from_logits=True)
        rtd = keras.losses.binary_crossentropy(out["replaced"][..., None], out["rtd"][..., None],
                                               from_logits=True)
        return (tf.reduce_sum(mlm * weights["mlm"]), tf.reduce_sum(weights["mlm"]),
                tf.reduce_sum(rtd * weights["rtd"]), tf.reduce_sum(weights["rtd"]))

    # ----------------------------------------------------------------------------- evaluation

    def eval_statistics(self, model, batch: Batch, carry):
        features, targets, weights = batch
        out = model(features, training=False)
        mlm_sum, mlm_weight, rtd_sum, rtd_weight = self._sums(out, targets, weights)
        said = tf.cast(out["rtd"] > 0, tf.float32)
        real, replaced = weights["rtd"], out["replaced"]
        hit = tf.cast(tf.argmax(out["mlm"], -1, output_type=tf.int32) == targets["mlm"],
                      tf.float32)
        return {"mlm_loss_sum": mlm_sum, "mlm_weight": mlm_weight,
                "mlm_correct": tf.reduce_sum(hit * weights["mlm"]),
                "rtd_loss_sum": rtd_sum, "tokens": rtd_weight,
                "rtd_correct": tf.reduce_sum(tf.cast(said == replaced, tf.float32) * real),
                "replaced": tf.reduce_sum(replaced * real),
                "found": tf.reduce_sum(said * replaced * real),
                "flagged": tf.reduce_sum(said * real)}, carry

    def metrics(self, totals, split: str) -> dict[str, float]:
        def share(a: str, b: str) -> float:
            return float(totals[a]) / max(float(totals[b]), 1.0)

        mlm_loss, rtd_loss = share("mlm_loss_sum", "mlm_weight"), share("rtd_loss_sum", "tokens")
        return {
            "loss": mlm_loss + self.options.rtd_weight * rtd_loss,
            "mlm_loss": mlm_loss,
            "mlm_accuracy": share("mlm_correct", "mlm_weight"),
            "rtd_loss": rtd_loss,
            "rtd_accuracy": share("rtd_correct", "tokens"),
            "replaced_share": share("replaced", "tokens"),  # replaced by a different token
            "rtd_recall": share("found", "replaced"),
            "rtd_precision": share("found", "flagged"),
        }

    # ----------------------------------------------------------------------------- serving

    def serving_signatures(self, model, decoding=None, limits=None):
        return serving.detection_signatures(model, self.tokenizer, self.sequence_length,
                                            limits=limits or ServingLimits())

    def warmup_requests(self):
        return serving.warmup_requests()


def _example_features() -> dict[str, tf.Tensor]:
    return {"token_ids": tf.zeros([1, 4], tf.int32), "padding_mask": tf.ones([1, 4], tf.int32),
            "original_ids": tf.zeros([1, 4], tf.int32),
            "mask_positions": tf.zeros([1, 1], tf.int32),
            "mask_weights": tf.ones([1, 1]), "sample_noise": tf.zeros([1, 1])}
