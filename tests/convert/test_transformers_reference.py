"""Hugging Face's own `transformers` (PyTorch classes) as the reference: its GPT2LMHeadModel,
BertForMaskedLM and BertForSequenceClassification with random weights, saved by
`save_pretrained` with their tokenizers, import into zoo runs that compute what they compute;
and what the zoo writes with `--format=huggingface` loads back in `transformers`.

torch and transformers are heavy and stay out of the default install, so this module skips
without them (`pip install torch transformers`); keras-hub's classes are the references the
default suite always runs (test_gpt2_import.py, test_bert_import.py). This is the one reference
whose BERT computes the exact (erf) GELU that published BERT checkpoints use.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.convert.conftest import BERT_SHAPE, CLASS_NAMES, END, SHAPE, VOCAB
from tests.convert.test_bert_import import HOSTILE_TEXT as BERT_TEXT
from tests.convert.test_gpt2_import import HOSTILE_TEXT as GPT2_TEXT

torch = pytest.importorskip("torch", reason="needs torch (pip install torch transformers)")
transformers = pytest.importorskip("transformers", reason="needs transformers")

ATOL = 1e-4


def randomized(model, seed: int, scale: float):
    """Every tensor of a transformers model drawn anew (norms and biases too), so a misplaced
    one shows in the outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return model.eval()


def import_folder(folder, model_dir):
    from zoo.convert import read_source, write_run
    from zoo.runs import load_run

    write_run(read_source(str(folder)), model_dir, format="huggingface")
    return load_run(str(model_dir))


def padded_ids(vocab_size: int, seed: int):
    ids = np.random.default_rng(seed).integers(5, vocab_size, size=(3, 24)).astype("int64")
    mask = np.ones_like(ids)
    mask[1, 15:] = 0
    mask[2, 4:] = 0
    return ids, mask


def assert_real_positions_close(ours, theirs, mask):
    for row in range(len(mask)):
        real = int(mask[row].sum())
        np.testing.assert_allclose(np.asarray(ours)[row, :real], np.asarray(theirs)[row, :real],
                                   atol=ATOL, rtol=0)


# ----------------------------------------------------------------------------- GPT-2


@pytest.fixture(scope="module")
def hf_gpt2(bpe_files, tmp_path_factory):
    """(GPT2LMHeadModel, its tokenizer, the folder save_pretrained wrote)."""
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=SHAPE["max_sequence_length"], n_embd=SHAPE["hidden_dim"],
        n_layer=SHAPE["num_layers"], n_head=SHAPE["num_heads"], n_inner=SHAPE["intermediate_dim"],
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = randomized(transformers.GPT2LMHeadModel(config), seed=3, scale=0.3)
    tokenizer = transformers.GPT2Tokenizer(vocab=str(bpe_files / "vocab.json"),
                                           merges=str(bpe_files / "merges.txt"))
    folder = tmp_path_factory.mktemp("transformers") / "gpt2"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer, folder


@pytest.fixture(scope="module")
def gpt2_run(hf_gpt2, tmp_path_factory):
    return import_folder(hf_gpt2[2], tmp_path_factory.mktemp("imported") / "gpt2")


def gpt2_logits(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.numpy()


def test_gpt2_logits_match_transformers_with_and_without_padding(hf_gpt2, gpt2_run):
    ids, mask = padded_ids(VOCAB, seed=1)
    theirs = gpt2_logits(hf_gpt2[0], ids, mask)
    assert np.std(theirs) > 0.5
    assert_real_positions_close(gpt2_run.model(ids.astype("int32")), theirs, mask)


def test_gpt2_greedy_continuation_matches_transformers(hf_gpt2, gpt2_run):
    from tasks.decoding import generate_tokens

    prompt = np.random.default_rng(2).integers(0, VOCAB, size=(1, 8))
    with torch.no_grad():
        theirs = hf_gpt2[0].generate(torch.tensor(prompt), attention_mask=torch.ones(1, 8,
                                     dtype=torch.long), max_new_tokens=20, do_sample=False,
                                     pad_token_id=VOCAB - 1, eos_token_id=None)
    ours = generate_tokens(gpt2_run.model, prompt.astype("int32"), 20)
    np.testing.assert_array_equal(ours[0], theirs.numpy()[0, 8:])


def test_gpt2_tokenizer_matches_transformers(hf_gpt2, gpt2_run):
    tokenizer = hf_gpt2[1]
    expected = tokenizer(GPT2_TEXT)["input_ids"]
    assert gpt2_run.task.tokenizer.encode(GPT2_TEXT).tolist() == expected
    assert tokenizer.decode(expected) == GPT2_TEXT
    assert END in GPT2_TEXT and tokenizer.convert_tokens_to_ids(END) in expected


def test_a_gpt2_run_written_out_loads_in_transformers(hf_gpt2, gpt2_run, tmp_path):
    from zoo.convert import write_huggingface

    folder = write_huggingface(gpt2_run, tmp_path / "out")
    loaded = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    ids, mask = padded_ids(VOCAB, seed=4)
    assert_real_positions_close(gpt2_logits(loaded, ids, mask),
                                gpt2_logits(hf_gpt2[0], ids, mask), mask)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert tokenizer(GPT2_TEXT)["input_ids"] == hf_gpt2[1](GPT2_TEXT)["input_ids"]


# ----------------------------------------------------------------------------- BERT


def bert_config(vocab_size: int, **extra):
    return transformers.BertConfig(
        vocab_size=vocab_size, hidden_size=BERT_SHAPE["hidden_dim"],
        num_hidden_layers=BERT_SHAPE["num_layers"], num_attention_heads=BERT_SHAPE["num_heads"],
        intermediate_size=BERT_SHAPE["intermediate_dim"],
        max_position_embeddings=BERT_SHAPE["max_sequence_length"], type_vocab_size=2,
        hidden_act="gelu", layer_norm_eps=1e-12, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, **extra)


@pytest.fixture(scope="module")
def hf_bert(bert_vocab, tmp_path_factory):
    """(BertForMaskedLM with the exact GELU, its tokenizer, the folder it was saved to)."""
    size = len(bert_vocab.read_text("utf-8").splitlines())
    model = randomized(transformers.BertForMaskedLM(bert_config(size)), seed=5, scale=0.2)
    tokenizer = transformers.BertTokenizer(vocab=str(bert_vocab), do_lower_case=True)
    folder = tmp_path_factory.mktemp("transformers") / "bert"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer, folder


@pytest.fixture(scope="module")
def bert_run(hf_bert, tmp_path_factory):
    return import_folder(hf_bert[2], tmp_path_factory.mktemp("imported") / "bert")


def bert_inputs(model):
    ids, mask = padded_ids(model.config.vocab_size, seed=6)
    segments = (np.arange(24)[None] >= 10).astype("int64").repeat(3, 0)
    return ids, mask, segments


def test_bert_hidden_states_pooled_output_and_mlm_logits_match(hf_bert, bert_run):
    model = hf_bert[0]
    ids, mask, segments = bert_inputs(model)
    with torch.no_grad():
        out = model.bert(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                         token_type_ids=torch.tensor(segments))
        # BertForMaskedLM's encoder has no pooler: the pooler is checked on the classifier.
        logits = model.cls(out.last_hidden_state).numpy()
    assert bert_run.spec.backbone_config["activation"] == "gelu"
    hidden = bert_run.model.backbone(ids.astype("int32"), padding_mask=mask.astype("int32"),
                                     segment_ids=segments.astype("int32"))
    assert np.std(out.last_hidden_state.numpy()) > 0.1
    assert_real_positions_close(hidden, out.last_hidden_state.numpy(), mask)
    positions = np.array([[1, 3], [2, 14], [0, 3]], "int32")
    ours = bert_run.model({"token_ids": ids.astype("int32"), "padding_mask": mask.astype("int32"),
                           "segment_ids": segments.astype("int32"),
                           "mask_positions": positions})["mlm"]
    theirs = np.take_along_axis(logits, positions[..., None].astype("int64"), axis=1)
    np.testing.assert_allclose(ours, theirs, atol=ATOL, rtol=0)


def test_bert_tokenizer_matches_transformers(hf_bert, bert_run):
    expected = hf_bert[1](BERT_TEXT, add_special_tokens=False)["input_ids"]
    assert bert_run.task.tokenizer.encode(BERT_TEXT).tolist() == expected


@pytest.fixture(scope="module")
def hf_classifier(bert_vocab, tmp_path_factory):
    size = len(bert_vocab.read_text("utf-8").splitlines())
    labels = dict(enumerate(CLASS_NAMES))
    config = bert_config(size, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = randomized(transformers.BertForSequenceClassification(config), seed=7, scale=0.2)
    folder = tmp_path_factory.mktemp("transformers") / "classifier"
    model.save_pretrained(folder)
    transformers.BertTokenizer(vocab=str(bert_vocab), do_lower_case=True).save_pretrained(folder)
    return model, folder


def classifier_logits(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.numpy()


def test_a_bert_classifier_keeps_its_head_and_classes_both_ways(hf_classifier, tmp_path):
    from zoo.convert import write_huggingface

    model, folder = hf_classifier
    run = import_folder(folder, tmp_path / "run")
    assert run.task.name == "text_classification" and run.task.labels == list(CLASS_NAMES)
    ids, mask, _ = bert_inputs(model)
    theirs = classifier_logits(model, ids, mask)
    assert np.std(theirs) > 0.1
    ours = run.model({"token_ids": ids.astype("int32"), "padding_mask": mask.astype("int32")})
    np.testing.assert_allclose(ours, theirs, atol=ATOL, rtol=0)

    loaded = transformers.BertForSequenceClassification.from_pretrained(
        write_huggingface(run, tmp_path / "out")).eval()
    assert loaded.config.id2label == model.config.id2label
    np.testing.assert_allclose(classifier_logits(loaded, ids, mask), theirs, atol=ATOL, rtol=0)


def test_a_bert_run_written_out_loads_in_transformers(hf_bert, bert_run, tmp_path):
    from zoo.convert import write_huggingface

    folder = write_huggingface(bert_run, tmp_path / "out")
    loaded = transformers.BertForMaskedLM.from_pretrained(folder).eval()
    ids, mask, segments = bert_inputs(hf_bert[0])
    with torch.no_grad():
        features = dict(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                        token_type_ids=torch.tensor(segments))
        theirs, again = hf_bert[0](**features).logits, loaded(**features).logits
    assert_real_positions_close(again.numpy(), theirs.numpy(), mask)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert tokenizer(BERT_TEXT)["input_ids"] == hf_bert[1](BERT_TEXT)["input_ids"]
