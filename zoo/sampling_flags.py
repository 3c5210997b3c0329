"""The decoding flags `zoo.generate` and `zoo.export` share, one per `SamplingConfig` field."""

from __future__ import annotations

from absl import flags

from tasks.sampling_config import SamplingConfig
from zoo.config import ConfigError


def define_sampling_flags(purpose: str = "") -> None:
    """Defines --max_new_tokens ... --no_repeat_ngram_size; `purpose` prefixes their help."""
    defaults = SamplingConfig()
    prefix = f"{purpose}: " if purpose else ""
    flags.DEFINE_integer("max_new_tokens", defaults.max_new_tokens, prefix + "tokens to generate.")
    flags.DEFINE_float("temperature", defaults.temperature, prefix + "temperature; 0 is greedy.")
    flags.DEFINE_integer("top_k", defaults.top_k, prefix + "sample the k likeliest (0: off).")
    flags.DEFINE_float("top_p", defaults.top_p, prefix + "nucleus probability mass (1: off).")
    flags.DEFINE_integer("seed", defaults.seed, prefix + "sampling seed.")
    flags.DEFINE_integer("num_beams", defaults.num_beams, "Beam search width (1: no beams).")
    flags.DEFINE_integer(
        "no_repeat_ngram_size", defaults.no_repeat_ngram_size, "Never repeat an n-gram (0: off)."
    )


def sampling_config_from_flags(stop_token_ids: tuple[int, ...] = ()) -> SamplingConfig:
    """The flags as a checked SamplingConfig; a bad value is a ConfigError naming it."""
    values = flags.FLAGS
    try:
        return SamplingConfig(
            max_new_tokens=values.max_new_tokens,
            temperature=values.temperature,
            top_k=values.top_k,
            top_p=values.top_p,
            seed=values.seed,
            num_beams=values.num_beams,
            no_repeat_ngram_size=values.no_repeat_ngram_size,
            stop_token_ids=stop_token_ids,
        )
    except ValueError as e:
        raise ConfigError(f"bad sampling flag: {e}") from None
