"""`LanguageModel`: a causal LM run or export that continues prompts and scores texts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from zoo.config import ConfigError
from zoo.pipelines.pipeline import Pipeline, as_texts, in_batches


class LanguageModel(Pipeline):
    """Continues prompts (`generate`) and scores texts (`score`).

        >>> lm = zoo.load("runs/transformer_lm_tiny-tiny_shakespeare-20261201-120000")
        >>> lm.generate("ROMEO:", max_new_tokens=20)
        'ROMEO:\\nWhat say you the ...'
        >>> lm.score(["To be, or not to be"])[0]["perplexity"]
        4.1...
    """

    task_name = "causal_lm"
    signature = "generate"

    def generate(
        self,
        prompts: str | Sequence[str],
        *,
        max_new_tokens: int = 100,
        temperature: float = 0.8,
        top_k: int = 200,
        top_p: float = 1.0,
        seed: int | Sequence[int] = 0,
        num_beams: int | None = None,
        no_repeat_ngram_size: int | None = None,
        stop: Sequence[str] = (),
        jit_compile: bool = False,
    ) -> str | list[str]:
        """Each prompt followed by its continuation (keras-hub's convention).

        Args:
            prompts: a string or a list of them; each must encode to at least one token.
            max_new_tokens, temperature, top_k, top_p: as `zoo.generate`'s flags (nanoGPT's
                `sample.py` defaults; temperature 0 is greedy).
            seed: one seed for every prompt, or one per prompt: the same seed, the same text.
            num_beams, no_repeat_ngram_size: a run's beam width and n-gram ban (default 1 and
                0); an export fixes both when it is made, so there they must stay None.
            stop: texts that end a continuation after their first occurrence (one that is a
                single token also stops decoding there).
            jit_compile: a run only: compile the decoding loop with XLA.

        Returns:
            A string for a string, else a list in the order of `prompts`.
        """
        texts, single = as_texts(prompts, "prompts")
        given = np.asarray(seed)
        if given.ndim > 1 or (given.ndim == 1 and len(given) != len(texts)):
            raise ConfigError(f"seed: give one seed or one per prompt ({len(texts)}), "
                              f"got {given.size}")
        seeds = np.broadcast_to(given.astype(np.int32), [len(texts)])
        stops = [stop] if isinstance(stop, str) else list(stop)
        settings = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                        top_p=top_p, num_beams=1 if num_beams is None else num_beams,
                        no_repeat_ngram_size=no_repeat_ngram_size or 0)
        if self.is_export:
            continuations = self._generate_with_export(texts, seeds, settings, num_beams,
                                                       no_repeat_ngram_size, jit_compile)
        else:
            continuations = self._generate_with_run(texts, seeds, settings, stops, jit_compile)
        out = [prompt + cut_at_stop(text, stops) for prompt, text in zip(texts, continuations)]
        return out[0] if single else out

    def score(self, texts: str | Sequence[str]) -> dict | list[dict]:
        """Each text's `log_likelihood` (natural log, summed over its tokens after the first),
        `num_tokens` and `perplexity`, as the export's `score` signature computes them."""
        items, single = as_texts(texts)
        out = []
        for batch in in_batches(items, self.batch_size):
            scored = self.call_signature("score", texts=batch)
            out += [{"log_likelihood": float(scored["log_likelihood"][i]),
                     "num_tokens": int(scored["num_tokens"][i]),
                     "perplexity": float(scored["perplexity"][i])} for i in range(len(batch))]
        return out[0] if single else out

    # ----------------------------------------------------------------------------- sources

    def _generate_with_run(self, texts, seeds, settings, stops, jit_compile) -> list[str]:
        from tasks.decoding import generate

        tokenizer, model = self.tokenizer, self.run.model
        if not hasattr(model, "decode"):
            raise ConfigError(f"{self.path} holds a {self.run.task.name} model, which "
                              "generates no text")
        encoded = [np.asarray(tokenizer.encode(p), np.int32) for p in texts]
        if any(len(ids) == 0 for ids in encoded):
            raise ConfigError("prompts: every prompt must encode to at least one token")
        stop_ids = tuple(int(ids[0]) for ids in map(tokenizer.encode, stops) if len(ids) == 1)
        sampling = _sampling_config(settings, stop_ids)
        out = []
        for rows in in_batches(list(range(len(texts))), self.batch_size):
            lengths = np.array([len(encoded[i]) for i in rows], np.int32)
            padded = np.zeros((len(rows), lengths.max()), np.int32)
            for row, i in zip(padded, rows):
                row[: len(encoded[i])] = encoded[i]
            decoding = {**dataclasses.asdict(sampling), "seed": seeds[rows]}
            new_ids, new_lengths = generate(model, padded, lengths, **decoding,
                                            jit_compile=jit_compile)
            out += [tokenizer.decode(ids[:n].tolist())
                    for ids, n in zip(new_ids.numpy(), new_lengths.numpy())]
        return out

    def _generate_with_export(self, texts, seeds, settings, num_beams, no_repeat_ngram_size,
                              jit_compile) -> list[str]:
        for name, value in (("num_beams", num_beams),
                            ("no_repeat_ngram_size", no_repeat_ngram_size)):
            if value is not None:
                raise ConfigError(f"{name} is fixed when a model is exported; leave it out")
        if jit_compile:
            raise ConfigError("jit_compile applies to a run; an export always runs without XLA")
        sampling = _sampling_config(settings, ())
        out = []
        for rows in in_batches(list(range(len(texts))), self.batch_size):
            batch = len(rows)
            generated = self.call_signature(
                "generate",
                prompts=[texts[i] for i in rows],
                max_new_tokens=np.full([batch], sampling.max_new_tokens, np.int32),
                temperature=np.full([batch], sampling.temperature, np.float32),
                top_k=np.full([batch], sampling.top_k, np.int32),
                top_p=np.full([batch], sampling.top_p, np.float32),
                seed=seeds[rows],
            )
            out += [t.decode("utf-8", "replace") for t in generated["text"]]
        return out


def _sampling_config(settings: dict, stop_ids: tuple[int, ...]):
    """The settings as a checked SamplingConfig; a bad value is a ValueError naming it."""
    from tasks.decoding import SamplingConfig

    try:
        return SamplingConfig(**settings, stop_token_ids=stop_ids)
    except ValueError as e:
        raise ConfigError(f"bad sampling setting: {e}") from None


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """`text` up to and including the earliest stop text in it."""
    ends = [text.find(stop) + len(stop) for stop in stops if stop and stop in text]
    return text[: min(ends)] if ends else text
