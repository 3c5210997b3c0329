"""Run configuration: overrides are validated and typed like the preset's defaults."""

import json

import pytest

from zoo.config import ConfigError, RunConfig, load_config_file, parse_overrides, replace


def test_parse_overrides_coerces_to_preset_types():
    model = {"num_layers": 4, "dropout": 0.0, "position": "learned"}
    task = {"tie_embeddings": True, "sample_prompt": "\n"}
    values, options = parse_overrides(
        ["num_layers=2", "dropout=0", "position=sinusoidal", "tie_embeddings=false",
         "sample_prompt=ROMEO:"], model, task
    )
    assert values == {"num_layers": 2, "dropout": 0.0, "position": "sinusoidal"}
    assert options == {"tie_embeddings": False, "sample_prompt": "ROMEO:"}
    assert isinstance(values["dropout"], float)


@pytest.mark.parametrize("item", ["nonsense=1", "num_layers", "num_layers=2.5", "=3"])
def test_parse_overrides_rejects_bad_items(item):
    with pytest.raises(ConfigError):
        parse_overrides([item], {"num_layers": 4}, {"stateful": False})


def test_config_file_json_and_yaml(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"batch_size": 8, "model": {"num_layers": 2}}))
    (tmp_path / "b.yaml").write_text("learning_rate: 0.01\nmodel:\n  name: lstm_lm_small\n")
    assert load_config_file(str(tmp_path / "a.json")) == {
        "batch_size": 8, "model_overrides": {"num_layers": 2}}
    assert load_config_file(str(tmp_path / "b.yaml")) == {
        "learning_rate": 0.01, "model": "lstm_lm_small", "model_overrides": {}}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config_file(str(tmp_path / "bad.json"))


def test_unknown_setting_names_its_source():
    with pytest.raises(ConfigError, match="--config x.yaml: unknown setting"):
        replace(RunConfig(), {"batch_sise": 3}, source="--config x.yaml")


def test_round_trip_through_json():
    config = RunConfig(model="lstm_lm_small", epochs=2.0, model_overrides={"dropout": 0.1})
    assert RunConfig.from_dict(json.loads(config.to_json())) == config
