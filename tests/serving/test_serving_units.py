"""In-process checks of config parsing, version policies, the dynamic batcher and swaps."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from serving_helpers import save_echo, save_xla

from zoo.config import ConfigError
from zoo.serving import ServingError
from zoo.serving.batching import Batcher
from zoo.serving.config import (
    BatchingParameters,
    ModelConfig,
    parse_batching_parameters,
    read_model_config_file,
)
from zoo.serving.manager import ModelManager, aspired_versions, discover_versions
from zoo.serving.servable import Servable

# ----------------------------------------------------------------------------- config


def test_batching_parameters_file():
    params = parse_batching_parameters(
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 500 }\n"
        "num_batch_threads { value: 2 }\n# comment\nallowed_batch_sizes: 4\n"
        "allowed_batch_sizes: 8\npad_variable_length_inputs: true\n"
    )
    assert (params.max_batch_size, params.batch_timeout_micros, params.num_batch_threads) == (
        8, 500, 2)
    assert params.allowed_batch_sizes == [4, 8] and params.pad_variable_length_inputs


@pytest.mark.parametrize("text", [
    "max_batch_size { value: x }",
    "unknown_knob { value: 1 }",
    "max_batch_size { value: 8 } allowed_batch_sizes: 4",  # must end with max_batch_size
])
def test_bad_batching_parameters(text):
    with pytest.raises(ConfigError):
        parse_batching_parameters(text)


def test_model_config_file(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(
        'model_config_list { config { name: "a" base_path: "/m/a" model_platform: "tensorflow" '
        'model_version_policy { specific { versions: 42 } } version_labels { key: "stable" '
        "value: 42 } } }"
    )
    (model,) = read_model_config_file(str(path))
    assert model.name == "a" and list(model.model_version_policy.specific.versions) == [42]
    assert dict(model.version_labels) == {"stable": 42}
    path.write_text('model_config_list { config { name: "a" base_path: "relative" } }')
    with pytest.raises(ConfigError, match="absolute"):
        read_model_config_file(str(path))
    path.write_text("model_config_list { config { nme: 1 } }")
    with pytest.raises(ConfigError, match="ModelServerConfig"):
        read_model_config_file(str(path))


# ----------------------------------------------------------------------------- policies


def test_versions_are_integer_directories(tmp_path):
    for name in ("1", "00000123", "7", "tmp-3", ".tmp-9", "latest"):
        (tmp_path / name).mkdir()
    (tmp_path / "8").write_text("a file, not a version")
    assert sorted(discover_versions(str(tmp_path))) == [1, 7, 123]


def _policy(text: str) -> ModelConfig:
    from google.protobuf import text_format

    return text_format.Parse(f'name: "m" base_path: "/m" {text}', ModelConfig())


def test_version_policies():
    found = {1: "", 2: "", 5: "", 9: ""}
    assert aspired_versions(found, _policy("")) == {9}
    latest2 = "model_version_policy { latest { num_versions: 2 } }"
    assert aspired_versions(found, _policy(latest2)) == {9, 5}
    assert aspired_versions(found, _policy("model_version_policy { all {} }")) == {1, 2, 5, 9}
    specific = "model_version_policy { specific { versions: 2 versions: 3 } }"
    assert aspired_versions(found, _policy(specific)) == {2}


# ----------------------------------------------------------------------------- batching


class _Doubler:
    """A stand-in servable that records the batch sizes it was called with."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.delay = delay

    def call(self, signature, inputs, deadline=None):
        time.sleep(self.delay)
        x = inputs["x"]
        self.sizes.append(x.shape[0])
        return {"y": x * 2}


def _concurrently(batcher, servable, values, results, errors):
    def one(i, v):
        try:
            results[i] = batcher(servable, "serving_default", {"x": np.array(v)})["y"].tolist()
        except ServingError as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i, v)) for i, v in enumerate(values)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


def test_batcher_merges_concurrent_requests_and_splits_replies():
    batcher = Batcher(BatchingParameters(max_batch_size=8, batch_timeout_micros=200_000,
                                         num_batch_threads=1))
    servable, results, errors = _Doubler(), {}, []
    values = [[i] * (1 + i % 2) for i in range(5)]  # sizes 1,2,1,2,1 = 7 rows
    _concurrently(batcher, servable, values, results, errors)
    batcher.stop()
    assert not errors
    assert results == {i: [2 * x for x in v] for i, v in enumerate(values)}
    assert sum(servable.sizes) == 7 and len(servable.sizes) < 5


def test_batcher_pads_to_allowed_sizes_and_refuses_large_tasks():
    params = BatchingParameters(max_batch_size=4, allowed_batch_sizes=[4], num_batch_threads=1)
    batcher = Batcher(params)
    servable = _Doubler()
    assert batcher(servable, "s", {"x": np.array([3])})["y"].tolist() == [6]
    assert servable.sizes == [4]
    with pytest.raises(ServingError, match="larger than maximum input batch size 4"):
        batcher(servable, "s", {"x": np.arange(5)})
    batcher.stop()


def test_full_batch_queue_is_unavailable():
    params = BatchingParameters(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1)
    batcher = Batcher(params)
    servable, results, errors = _Doubler(delay=0.3), {}, []
    _concurrently(batcher, servable, [[1]] * 6, results, errors)
    batcher.stop()
    assert errors and all(e.code == "UNAVAILABLE" for e in errors)
    assert errors[0].message == (
        "The batch scheduling queue to which this task was submitted is full"
    )
    assert results  # the ones that got in were answered


# ----------------------------------------------------------------------------- loading


def test_xla_functions_are_refused_unless_enabled(tmp_path):
    save_xla(str(tmp_path / "1"))
    with pytest.raises(ServingError) as info:
        Servable("m", 1, str(tmp_path / "1"))
    assert info.value.code == "FAILED_PRECONDITION"
    assert "--xla_cpu_compilation_enabled" in info.value.message
    Servable("m", 1, str(tmp_path / "1"), xla_enabled=True)


def _config(base: Path) -> ModelConfig:
    return ModelConfig(name="echo", base_path=str(base), model_platform="tensorflow")


def test_swap_keeps_old_version_until_requests_finish_and_survives_a_corrupt_one(tmp_path):
    save_echo(str(tmp_path / "1"), 1)
    manager = ModelManager([_config(tmp_path)])
    manager.poll()
    assert manager.status("echo") == [(1, "AVAILABLE", "OK", "")]
    with manager.acquire("echo") as held:  # a request in flight on version 1
        save_echo(str(tmp_path / "2"), 2)
        manager.poll()
        with manager.acquire("echo") as latest:
            assert latest.version == 2
        assert manager.status("echo", 1)[0][1] == "UNLOADING"
        assert held.call("serving_default", {"prompts": np.array([b"x"], object)})[
            "text"].tolist() == [b"v1:x"]
    deadline = time.monotonic() + 10
    while manager.status("echo", 1)[0][1] != "END" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert manager.status("echo", 1) == [(1, "END", "OK", "")]

    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "saved_model.pb").write_bytes(b"garbage, not a SavedModel")
    manager.poll()
    version, state, code, message = manager.status("echo", 3)[0]
    assert state == "END" and code != "OK" and "saved_model.pb" in message
    with manager.acquire("echo") as servable:
        assert servable.version == 2
    with pytest.raises(ServingError, match=r"Specific\(echo, 3\)"):
        with manager.acquire("echo", 3):
            pass
    manager.stop()
