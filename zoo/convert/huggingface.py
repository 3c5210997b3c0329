"""Hugging Face `transformers` directories: config.json, model.safetensors, tokenizer files.

Read with the `safetensors` package's numpy API, so neither torch nor transformers is needed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tasks.data.corpora import text_lines
from zoo.convert import bert, gpt2
from zoo.convert.source import Source, SourceError

WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"  # a checkpoint sharded over several files
FAMILIES = {"gpt2": gpt2, "bert": bert}


def is_huggingface(path: Path) -> bool:
    return (path / "config.json").is_file() and (
        (path / WEIGHTS).is_file() or (path / WEIGHTS_INDEX).is_file())


def read_huggingface(path: Path) -> Source:
    config = _read_json(path / "config.json")
    family = config.get("model_type")
    if family not in FAMILIES:
        raise SourceError(f"{path}: a Hugging Face {family or 'unknown'} model; the zoo imports "
                          f"{', '.join(FAMILIES)}")
    tensors = FAMILIES[family].canonical_names(read_safetensors(path))
    tokenizer = _gpt2_tokenizer(path) if family == "gpt2" else _bert_tokenizer(path)
    return Source(family, config, tensors, tokenizer, origin=str(path))


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of the directory's safetensors file(s), as float32 numpy arrays."""
    from safetensors.numpy import load_file

    if (path / WEIGHTS_INDEX).is_file():
        files = sorted(set(_read_json(path / WEIGHTS_INDEX)["weight_map"].values()))
    else:
        files = [WEIGHTS]
    tensors = {}
    for name in files:
        try:
            loaded = load_file(str(path / name))
        except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
            raise SourceError(f"{path / name}: not a readable safetensors file ({error})") from None
        tensors.update({k: np.asarray(v, np.float32) for k, v in loaded.items()})
    return tensors


def _gpt2_tokenizer(path: Path):
    from tasks.data.tokenizers import BytePairTokenizer

    if (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        vocabulary = _read_json(path / "vocab.json")
        merges = text_lines((path / "merges.txt").read_text("utf-8"))
    elif (path / "tokenizer.json").is_file():  # a "fast" tokenizer's one file
        model = _read_json(path / "tokenizer.json").get("model", {})
        vocabulary = model.get("vocab")
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        if model.get("type") != "BPE" or not vocabulary:
            raise SourceError(f"{path}/tokenizer.json is not a byte-level BPE tokenizer")
    else:
        raise SourceError(f"{path}: no tokenizer files (vocab.json and merges.txt, or "
                          "tokenizer.json)")
    return BytePairTokenizer(vocabulary, merges)


def _bert_tokenizer(path: Path):
    from tasks.data.tokenizers import BertWordPieceTokenizer

    settings = {}
    if (path / "tokenizer_config.json").is_file():
        settings = _read_json(path / "tokenizer_config.json")
    lowercase = settings.get("do_lower_case", True)
    if (path / "vocab.txt").is_file():
        vocabulary = text_lines((path / "vocab.txt").read_text("utf-8"))
    elif (path / "tokenizer.json").is_file():  # transformers 5 saves only this file
        vocabulary, lowercase = _wordpiece_of_tokenizer_json(path / "tokenizer.json", lowercase)
    else:
        raise SourceError(f"{path}: no vocab.txt or tokenizer.json (BERT's WordPiece vocabulary)")
    return BertWordPieceTokenizer(vocabulary, lowercase=lowercase)


def _wordpiece_of_tokenizer_json(path: Path, lowercase: bool) -> tuple[list[str], bool]:
    """A "fast" BERT tokenizer's vocabulary in id order, and whether its normalizer lower-cases."""
    document = _read_json(path)
    model = document.get("model") or {}
    pieces = model.get("vocab")
    if model.get("type") != "WordPiece" or not isinstance(pieces, dict) or not pieces:
        raise SourceError(f"{path} is not a WordPiece tokenizer")
    by_id = sorted(pieces.items(), key=lambda item: item[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise SourceError(f"{path}: the WordPiece ids are not 0..{len(by_id) - 1}")
    normalizer = document.get("normalizer") or {}
    if normalizer.get("type") == "BertNormalizer":
        lowercase = bool(normalizer.get("lowercase", lowercase))
    return [piece for piece, _ in by_id], lowercase


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SourceError(f"{path}: unreadable JSON ({error})") from None


def write_huggingface(run, out_dir: str | os.PathLike) -> Path:
    """Writes a loaded zoo run (`zoo.runs.load_run`) as a Hugging Face folder that
    `transformers` and keras-hub load: a GPT-2-shaped causal LM as GPT2LMHeadModel, a
    BERT-shaped masked LM (an imported one, or one trained with its settings) as
    BertForMaskedLM, a classifier on one (pooling its [CLS] through the pooler) as
    BertForSequenceClassification. Written beside `out_dir` and renamed into place. Returns
    the folder."""
    from zoo import checkpoints

    family = _leaving_family(run)
    weights = {path: variable.numpy() for path, variable
               in checkpoints.model_variables(run.model).items()
               if not path.startswith("rng_state")}
    tokenizer = run.task.tokenizer
    classes = {"labels": list(run.task.labels)} if run.task.name == "text_classification" else {}
    config, tensors = family.huggingface_checkpoint(weights, run.spec.backbone_config,
                                                    tokenizer.special_ids, **classes)
    out = Path(out_dir)
    building = out.with_name(f".{out.name}.writing")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        _write_files(building, config, tensors, tokenizer)
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        os.replace(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return out


def _leaving_family(run):
    """The family module a run leaves as; a SourceError saying why when it cannot."""
    from tasks.data.tokenizers import BertWordPieceTokenizer, BytePairTokenizer

    kinds = {("TransformerDecoder", "causal_lm"): (gpt2, BytePairTokenizer, "bpe"),
             ("TransformerEncoder", "masked_lm"): (bert, BertWordPieceTokenizer,
                                                   "bert_wordpiece"),
             ("TransformerEncoder", "text_classification"): (bert, BertWordPieceTokenizer,
                                                             "bert_wordpiece")}
    key = (run.preset.backbone, run.task.name)
    if key not in kinds:
        raise SourceError(f"{run.model_dir}: a {key[1]} run on a {key[0]}; Hugging Face "
                          "folders are written for GPT-2 causal LMs, BERT masked LMs and BERT "
                          "classifiers")
    family, tokenizer_class, kind = kinds[key]
    if not isinstance(run.task.tokenizer, tokenizer_class):
        raise SourceError(f"{run.model_dir}: its tokenizer is {run.task.tokenizer.kind}; "
                          f"Hugging Face {family.FAMILY} needs --tokenizer={kind}")
    if run.task.name == "text_classification" and run.model.pooling != "cls":
        raise SourceError(f"{run.model_dir}: it pools by {run.model.pooling}; a Hugging Face "
                          "BERT classifier reads [CLS] through the pooler (pooling=cls)")
    if family is gpt2 and (not getattr(run.model, "tie_embeddings", True)
                           or getattr(run.model, "head_bias", False)):
        raise SourceError(f"{run.model_dir}: its LM head is a matrix of its own; Hugging Face "
                          "GPT-2's is the token table (tie_embeddings=true, head_bias=false)")
    return family


def _write_files(out: Path, config: dict, tensors: dict[str, np.ndarray], tokenizer) -> None:
    from safetensors.numpy import save_file

    tokenizer.save(out)  # vocab.json + merges.txt, or vocab.txt: Hugging Face's names
    (out / "tokenizer.json").unlink()  # the zoo's own record; transformers reads tokenizer.json
    if config["model_type"] == "gpt2":
        end = tokenizer.end_token or ""
        specials = {"bos_token": end, "eos_token": end, "unk_token": end}
        settings = {"tokenizer_class": "GPT2Tokenizer", "model_max_length": config["n_positions"]}
    else:
        specials = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                    "cls_token": "[CLS]", "mask_token": "[MASK]"}
        settings = {"tokenizer_class": "BertTokenizer", "do_lower_case": tokenizer.lowercase,
                    "model_max_length": config["max_position_embeddings"]}
    files = {
        "config.json": config,
        "tokenizer_config.json": {"model_type": config["model_type"], **settings, **specials},
        "special_tokens_map.json": specials,
    }
    for name, value in files.items():
        (out / name).write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    save_file({k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()},
              str(out / WEIGHTS), metadata={"format": "pt"})
