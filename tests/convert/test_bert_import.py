"""BERT checkpoints in every format become zoo runs that compute what keras-hub computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.convert.conftest import BERT_SHAPE, CLASS_NAMES
from tests.serving.serving_helpers import Server

FORMATS = ["keras_hub", "huggingface", "google"]
HOSTILE_TEXT = ("Hello  WÖRLD!  naïve café — 東京タワー, Москва, مرحبا 👋🏽🚀\n\n\t  indented "
                "[MASK] it's 3.14 ''quotes''")


@pytest.fixture(scope="module")
def imported(reference_bert_folders, tmp_path_factory):
    from zoo.convert import detect_format, read_source, write_run
    from zoo.runs import load_run

    root = tmp_path_factory.mktemp("imported_bert")
    runs = {}
    for name, folder in reference_bert_folders.items():
        assert detect_format(folder) == name
        write_run(read_source(str(folder)), root / name, format=name)
        runs[name] = load_run(str(root / name))
    return runs


def inputs(vocab_size: int):
    rng = np.random.default_rng(5)
    ids = rng.integers(5, vocab_size, size=(3, 24)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 15:] = 0
    mask[2, 4:] = 0
    segments = (np.arange(24)[None] >= 10).astype("int32").repeat(3, 0)
    return ids, mask, segments


def test_the_hugging_face_folder_is_what_keras_hub_itself_reads(reference_bert,
                                                               reference_bert_folders):
    import keras_hub

    loaded = keras_hub.models.BertBackbone.from_preset(str(reference_bert_folders["huggingface"]))
    ids, mask, segments = inputs(reference_bert.backbone.vocabulary_size)
    features = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}
    theirs, ours = reference_bert.backbone(features), loaded(features)
    np.testing.assert_allclose(ours["sequence_output"], theirs["sequence_output"], atol=1e-5)
    np.testing.assert_allclose(ours["pooled_output"], theirs["pooled_output"], atol=1e-5)


@pytest.mark.parametrize("format", FORMATS)
def test_hidden_states_pooled_output_and_mlm_logits_match(imported, reference_bert, format):
    run = imported[format]
    settings = run.spec.backbone_config
    assert settings["norm_first"] is False and settings["pooler"] is True
    ids, mask, segments = inputs(reference_bert.backbone.vocabulary_size)
    features = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}
    expected = reference_bert.backbone(features)
    hidden = run.model.backbone(ids, padding_mask=mask, segment_ids=segments)
    assert np.std(expected["sequence_output"]) > 0.2  # post-LN: the norms' random gammas set it
    for row in range(3):  # padded positions are free to differ; real ones are not
        real = int(mask[row].sum())
        np.testing.assert_allclose(np.asarray(hidden)[row, :real],
                                   np.asarray(expected["sequence_output"])[row, :real],
                                   atol=1e-4, rtol=0)
    np.testing.assert_allclose(run.model.backbone.pooled(hidden), expected["pooled_output"],
                               atol=1e-4, rtol=0)
    if format == "keras_hub":
        return  # a backbone preset carries no masked-LM head: the run's starts new
    positions = np.array([[1, 3], [2, 14], [0, 3]], "int32")
    theirs = reference_bert({**features, "mask_positions": positions})
    ours = run.model({**features, "mask_positions": positions})["mlm"]
    # keras-hub's head normalizes with epsilon 1e-5 where BERT's config says 1e-12, as the
    # zoo's does: 6e-5 apart here (transformers' own head: 3e-7, test_transformers_reference).
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


def test_the_parts_a_checkpoint_lacks_are_recorded_as_started_new(imported, reference_bert_folders,
                                                                  tmp_path):
    import json
    import shutil

    from safetensors.numpy import load_file, save_file

    from zoo.convert import read_source, write_run

    started = {name: json.loads((Path(run.model_dir) / "imported.json").read_text())["started_new"]
               for name, run in imported.items()}
    assert started == {"keras_hub": ["masked-LM head"], "huggingface": [], "google": []}
    # transformers saves a BertForMaskedLM without the pooler: it starts new, the rest is kept.
    folder = tmp_path / "no_pooler"
    shutil.copytree(reference_bert_folders["huggingface"], folder)
    tensors = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in tensors.items() if ".pooler." not in k},
              str(folder / "model.safetensors"))
    run = write_run(read_source(str(folder)), tmp_path / "run", format="huggingface")
    assert json.loads((run / "imported.json").read_text())["started_new"] == ["pooler"]


@pytest.mark.parametrize("format", FORMATS)
def test_the_tokenizer_gives_the_reference_ids(imported, bert_vocab, format):
    import tensorflow as tf
    import tokenizers

    reference = tokenizers.BertWordPieceTokenizer(str(bert_vocab), lowercase=True)
    tokenizer = imported[format].task.tokenizer
    expected = reference.encode(HOSTILE_TEXT, add_special_tokens=False).ids
    assert tokenizer.encode(HOSTILE_TEXT).tolist() == expected
    assert tokenizer.tf_tokenize(tf.constant([HOSTILE_TEXT]))[0].numpy().tolist() == expected
    ids, starts, ends = tokenizer.tf_tokenize_with_offsets(tf.constant([HOSTILE_TEXT]))
    assert ids[0].numpy().tolist() == expected
    pieces = [HOSTILE_TEXT[a:b] for a, b in zip(starts[0].numpy(), ends[0].numpy())]
    # Offsets point into the text as given, before lower-casing and accent stripping.
    assert "[MASK]" in pieces and any("Ö" in piece for piece in pieces)
    assert "".join(pieces) == "".join(HOSTILE_TEXT.split())  # every character but spaces


def test_an_imported_bert_fine_tunes_as_a_classifier_exports_and_serves(plain_bert_folder,
                                                                        run_module, tmp_path):
    import json

    data, export = tmp_path / "labelled", tmp_path / "export"
    data.mkdir()
    for split, count in (("train", 160), ("dev", 40)):
        rows = [f"{'a good fine film' if i % 2 else 'a bad poor film'} {i}\t"
                f"{'pos' if i % 2 else 'neg'}" for i in range(count)]
        (data / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "bert"
    done = run_module("zoo.import_checkpoint", f"--source={plain_bert_folder}",
                      f"--model_dir={run}")
    assert done.returncode == 0, done.stderr[-2000:]
    done = run_module("zoo.train", f"--init_from={run}", "--task=text_classification",
                      f"--data={data}", "--train_steps=40", "--batch_size=16",
                      "--learning_rate=1e-3", "--warmup_steps=4", "--eval_every=40",
                      "--checkpoint_every=40", f"--model_dir={tmp_path / 'tuned'}",
                      f"--export_dir={export}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert config["model_overrides"]["pooler"] is True
    assert config["model_overrides"]["num_layers"] == BERT_SHAPE["num_layers"]
    summary = json.loads((tmp_path / "tuned" / "summary.json").read_text())
    assert summary["validation"]["accuracy"] >= 0.9, summary

    server = Server([f"--model_config_file={export / 'models.config'}"], tmp_path)
    try:  # the export tokenizes raw text with the checkpoint's WordPiece vocabulary
        status, doc = server.rest(f"/v1/models/{config['model']}:classify", {
            "signature_name": "classify",
            "examples": [{"text": "A GOOD fine film 7"}, {"text": "a bad poor film 8"}]})
        assert status == 200, doc
        good, bad = (dict(result) for result in doc["results"])
        assert good["pos"] > 0.5 > bad["pos"], doc
    finally:
        assert server.stop() == 0, server.output()


def test_a_run_leaves_as_a_hugging_face_folder_keras_hub_loads(imported, reference_bert,
                                                               tmp_path):
    import keras_hub

    from zoo.convert import read_source, write_huggingface, write_run
    from zoo.runs import load_run

    run = imported["google"]
    folder = write_huggingface(run, tmp_path / "hf")
    loaded = keras_hub.models.BertBackbone.from_preset(str(folder))
    ids, mask, segments = inputs(reference_bert.backbone.vocabulary_size)
    features = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}
    expected = reference_bert.backbone(features)
    np.testing.assert_allclose(loaded(features)["pooled_output"], expected["pooled_output"],
                               atol=1e-4, rtol=0)
    # ... and back in again, masked-LM head included.
    write_run(read_source(str(folder)), tmp_path / "again", format="huggingface")
    again = load_run(str(tmp_path / "again"))
    positions = np.array([[1, 3], [2, 14], [0, 3]], "int32")
    np.testing.assert_allclose(
        again.model({**features, "mask_positions": positions})["mlm"],
        run.model({**features, "mask_positions": positions})["mlm"], atol=1e-5, rtol=0)
    assert again.task.tokenizer.encode(HOSTILE_TEXT).tolist() == \
        run.task.tokenizer.encode(HOSTILE_TEXT).tolist()



@pytest.fixture(scope="module")
def imported_classifiers(reference_bert_classifier_folders, tmp_path_factory):
    from zoo.convert import read_source, write_run
    from zoo.runs import load_run

    root = tmp_path_factory.mktemp("imported_bert_classifiers")
    runs = {}
    for name, folder in reference_bert_classifier_folders.items():
        write_run(read_source(str(folder)), root / name, format=name)
        runs[name] = load_run(str(root / name))
    return runs


def classifier_logits(run, ids, mask):
    return np.asarray(run.model({"token_ids": ids, "padding_mask": mask}))


@pytest.mark.parametrize("format", ["keras_hub", "huggingface"])
def test_an_imported_classifier_keeps_its_head_and_classes(imported_classifiers,
                                                           reference_bert_classifier, format):
    run = imported_classifiers[format]
    assert run.task.name == "text_classification"
    # keras-hub keeps no class names; Hugging Face's id2label names them.
    assert run.task.labels == (list(CLASS_NAMES) if format == "huggingface"
                               else ["LABEL_0", "LABEL_1", "LABEL_2"])
    ids, mask, _ = inputs(reference_bert_classifier.backbone.vocabulary_size)
    segments = np.zeros_like(ids)  # the zoo's classifier reads one segment
    expected = reference_bert_classifier({"token_ids": ids, "padding_mask": mask,
                                          "segment_ids": segments})
    assert np.std(expected) > 0.1
    np.testing.assert_allclose(classifier_logits(run, ids, mask), expected, atol=1e-4, rtol=0)


def test_a_classifier_leaves_as_a_hugging_face_classifier_and_comes_back(
        imported_classifiers, reference_bert_classifier, tmp_path):
    import json

    import keras_hub

    from zoo.convert import read_source, write_huggingface, write_run
    from zoo.runs import load_run

    run = imported_classifiers["huggingface"]
    folder = write_huggingface(run, tmp_path / "hf")
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert [config["id2label"][str(i)] for i in range(3)] == list(CLASS_NAMES)
    ids, mask, _ = inputs(reference_bert_classifier.backbone.vocabulary_size)
    features = {"token_ids": ids, "padding_mask": mask, "segment_ids": np.zeros_like(ids)}
    backbone = keras_hub.models.BertBackbone.from_preset(str(folder))
    np.testing.assert_allclose(backbone(features)["pooled_output"],
                               reference_bert_classifier.backbone(features)["pooled_output"],
                               atol=1e-4, rtol=0)
    write_run(read_source(str(folder)), tmp_path / "again", format="huggingface")
    again = load_run(str(tmp_path / "again"))
    assert again.task.labels == list(CLASS_NAMES)
    np.testing.assert_allclose(classifier_logits(again, ids, mask),
                               classifier_logits(run, ids, mask), atol=1e-5, rtol=0)
