"""Which format a checkpoint folder is in, and reading it (or downloading it first)."""

from __future__ import annotations

import os
from pathlib import Path

from zoo.convert.google_release import is_google_release, read_google_release
from zoo.convert.huggingface import is_huggingface, read_huggingface
from zoo.convert.keras_hub_preset import is_keras_hub_preset, read_keras_hub_preset
from zoo.convert.openai_release import is_openai_release, read_openai_release
from zoo.convert.source import Source, SourceError

# Name -> (does a folder look like it, read it). Detection tries them in this order.
FORMATS = {
    "keras_hub": (is_keras_hub_preset, read_keras_hub_preset),
    "huggingface": (is_huggingface, read_huggingface),
    "openai": (is_openai_release, read_openai_release),
    "google": (is_google_release, read_google_release),
}
HUB_PREFIX = "hf:"
# What a download fetches of a Hugging Face repository: no PyTorch or TensorFlow weight files.
_HUB_FILES = ["config.json", "*.safetensors", "model.safetensors.index.json", "vocab.json",
              "merges.txt", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]


def detect_format(path: str | os.PathLike) -> str:
    """The name of the format of checkpoint folder `path`; a SourceError when none fits."""
    folder = Path(path)
    if not folder.is_dir():
        raise SourceError(f"--source: no such folder: {path}")
    for name, (looks_like, _) in FORMATS.items():
        if looks_like(folder):
            return name
    raise SourceError(
        f"{path}: not a checkpoint the zoo reads (a Hugging Face folder has config.json and "
        "model.safetensors; a keras-hub preset metadata.json and config.json; OpenAI's GPT-2 "
        "release hparams.json, encoder.json and model.ckpt.*; Google's BERT release "
        "bert_config.json, vocab.txt and bert_model.ckpt.*); --format forces one")


def read_source(source: str, format: str | None = None) -> Source:
    """The checkpoint at `source`: a folder, or `hf:<repo id>` (downloaded first)."""
    if source.startswith(HUB_PREFIX):
        source, format = download(source[len(HUB_PREFIX):]), format or "huggingface"
    if format is not None and format not in FORMATS:
        raise SourceError(f"--format: unknown format {format!r}; choose one of "
                          f"{', '.join(FORMATS)}")
    if not Path(source).is_dir():
        raise SourceError(f"--source: no such folder: {source}")
    name = format or detect_format(source)
    return FORMATS[name][1](Path(source))


def download(repo_id: str) -> str:
    """A Hugging Face hub repository's safetensors and tokenizer files, in huggingface_hub's
    cache; its folder there."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise SourceError("hf: sources need huggingface_hub (pip install huggingface_hub)") \
            from None
    try:
        return snapshot_download(repo_id, allow_patterns=_HUB_FILES)
    except Exception as error:  # noqa: BLE001 - offline, unknown repo, gated: all say why
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise SourceError(f"hf:{repo_id}: could not download ({type(error).__name__}: "
                          f"{first[:300]})") from None
