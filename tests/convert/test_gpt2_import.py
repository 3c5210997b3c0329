"""GPT-2 checkpoints in every format become zoo runs that compute what the reference computes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.convert.conftest import END, SHAPE, VOCAB

# Multilingual, emoji (with a skin-tone modifier), runs of spaces, tabs and blank lines, and
# GPT-2's end token inside the text.
HOSTILE_TEXT = ("Hello  wörld!  naïve café — 東京タワー, Москва, مرحبا 👋🏽🚀\n\n\t  indented\r\n"
                f"trailing   \n{END}after  it's 3.14 ''quotes'' ")
LENGTH = 20


@pytest.fixture(scope="module")
def imported(reference_folders, tmp_path_factory):
    """{format: the loaded zoo run imported from that format}."""
    from zoo.convert import detect_format, read_source, write_run
    from zoo.runs import load_run

    root = tmp_path_factory.mktemp("imported")
    runs = {}
    for name, folder in reference_folders.items():
        assert detect_format(folder) == name
        write_run(read_source(str(folder)), root / name, format=name)
        runs[name] = load_run(str(root / name))
    return runs


def reference_logits(reference_gpt2, ids, mask):
    hidden = reference_gpt2.backbone({"token_ids": ids, "padding_mask": mask})
    return np.asarray(reference_gpt2.backbone.token_embedding(hidden, reverse=True))


@pytest.mark.parametrize("format", ["keras_hub", "huggingface", "openai"])
def test_logits_match_the_reference_with_and_without_padding(imported, reference_gpt2, format):
    run = imported[format]
    assert run.spec.backbone_config["activation"] == "gelu_tanh"
    ids = np.random.default_rng(1).integers(0, VOCAB, size=(3, 24)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 15:] = 0
    mask[2, 4:] = 0
    expected = reference_logits(reference_gpt2, ids, mask)
    ours = np.asarray(run.model(ids))
    assert np.std(expected) > 0.5  # weights big enough that a misplaced tensor shows
    for row in range(3):  # a causal model's real positions never see the padding after them
        real = int(mask[row].sum())
        np.testing.assert_allclose(ours[row, :real], expected[row, :real], atol=1e-4, rtol=0)


@pytest.mark.parametrize("format", ["keras_hub", "huggingface", "openai"])
def test_greedy_continuation_matches_keras_hub(imported, reference_gpt2, format):
    from tasks.decoding import generate_tokens

    prompt = np.random.default_rng(2).integers(0, VOCAB, size=(1, 8)).astype("int32")
    ours = generate_tokens(imported[format].model, prompt, LENGTH)
    total = prompt.shape[1] + LENGTH
    padded = np.zeros((1, total), "int32")
    padded[:, :8] = prompt
    import keras_hub

    on_ids = keras_hub.models.GPT2CausalLM(backbone=reference_gpt2.backbone, preprocessor=None)
    on_ids.compile(sampler="greedy")
    theirs = on_ids.generate({"token_ids": padded, "padding_mask": np.arange(total)[None] < 8},
                             stop_token_ids=None)
    np.testing.assert_array_equal(ours[0], np.asarray(theirs["token_ids"])[0, 8:])


@pytest.mark.parametrize("format", ["keras_hub", "huggingface", "openai"])
def test_the_tokenizer_gives_the_reference_ids(imported, bpe_files, format):
    import tokenizers

    reference = tokenizers.ByteLevelBPETokenizer(str(bpe_files / "vocab.json"),
                                                 str(bpe_files / "merges.txt"))
    reference.add_special_tokens([END])
    tokenizer = imported[format].task.tokenizer
    expected = reference.encode(HOSTILE_TEXT).ids
    assert tokenizer.encode(HOSTILE_TEXT).tolist() == expected
    import tensorflow as tf

    graph_ids = tokenizer.tf_tokenize(tf.constant([HOSTILE_TEXT, "short"]))
    assert graph_ids[0].numpy().tolist() == expected
    assert tokenizer.decode(expected) == HOSTILE_TEXT  # the end token decodes as itself


def test_a_run_leaves_as_a_hugging_face_folder_keras_hub_loads(imported, reference_gpt2,
                                                               tmp_path):
    import keras_hub

    from zoo.convert import read_source, write_huggingface

    folder = write_huggingface(imported["openai"], tmp_path / "hf")
    loaded = keras_hub.models.GPT2CausalLM.from_preset(str(folder))
    ids = np.random.default_rng(3).integers(0, VOCAB, size=(2, 16)).astype("int32")
    mask = np.ones_like(ids)
    expected = reference_logits(reference_gpt2, ids, mask)
    np.testing.assert_allclose(reference_logits(loaded, ids, mask), expected, atol=1e-4, rtol=0)
    text = "To be, or not to be 👋🏽"
    assert loaded.preprocessor.tokenizer(text).tolist() == \
        imported["openai"].task.tokenizer.encode(text).tolist()
    # ... and back in again: the same tensors.
    again = read_source(str(folder))
    assert again.tensors["h.1.mlp.c_fc.weight"].shape == (SHAPE["hidden_dim"], 128)


def test_a_checkpoint_of_another_family_is_refused_in_one_line(reference_folders, tmp_path):
    import json
    import shutil

    from zoo.convert import SourceError, read_source

    folder = tmp_path / "llama"
    shutil.copytree(reference_folders["huggingface"], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    with pytest.raises(SourceError, match="a Hugging Face llama model; the zoo imports gpt2"):
        read_source(str(folder))
    with pytest.raises(SourceError, match="not a checkpoint the zoo reads"):
        read_source(str(tmp_path))
