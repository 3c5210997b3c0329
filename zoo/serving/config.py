"""Server settings from TF Serving's flags and config files, checked before anything loads.

The model list is a text `ModelServerConfig` (the real server's own proto, so one file serves
both servers). The batching parameters file is also text proto, but its message
(`BatchingParameters`) is not in the tensorflow-serving-api wheel, so its few fields are read by
hand.
"""

from __future__ import annotations

import dataclasses
import os
import re

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from zoo.config import ConfigError, read_settings_file

ModelConfig = model_server_config_pb2.ModelConfig


@dataclasses.dataclass
class BatchingParameters:
    """TF Serving's defaults when --enable_batching is given without a parameters file."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: list[int] = dataclasses.field(default_factory=list)
    pad_variable_length_inputs: bool = False


@dataclasses.dataclass
class ServerConfig:
    models: list[ModelConfig]
    host: str = "127.0.0.1"
    port: int = 8500
    rest_api_port: int = 8501
    model_config_file: str | None = None
    file_system_poll_wait_seconds: int = 1
    model_config_file_poll_wait_seconds: int = 0
    batching: BatchingParameters | None = None
    rest_api_timeout_in_ms: int = 30000
    rest_api_num_threads: int = 32
    max_request_bytes: int = 64 << 20
    xla_cpu_compilation_enabled: bool = False
    enable_signature_method_name_check: bool = False
    max_request_elements: int = 1 << 22
    max_request_batch: int = 1024


def read_model_config_file(path: str) -> list[ModelConfig]:
    """The `model_config_list` of a text ModelServerConfig, validated like the real server."""
    text = read_settings_file(path, "--model_config_file")
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:  # TF Serving's own wording, which scripts grep for
        raise ConfigError(
            f"Error parsing text-format tensorflow.serving.ModelServerConfig: {e} ({path})"
        ) from e
    if config.WhichOneof("config") == "custom_model_config":
        raise ConfigError(f"{path}: custom_model_config is not supported, use model_config_list")
    return check_models(list(config.model_config_list.config), source=path)


def check_models(models: list[ModelConfig], source: str) -> list[ModelConfig]:
    seen = set()
    for model in models:
        if not model.name:
            raise ConfigError(f"{source}: every model needs a name")
        if model.name in seen:
            raise ConfigError(
                f"{source}: Illegal to list model {model.name} multiple times in config list"
            )
        seen.add(model.name)
        if not model.base_path:
            raise ConfigError(f"{source}: model {model.name} has no base_path")
        if not os.path.isabs(model.base_path):
            raise ConfigError(
                f"{source}: base_path of model {model.name} must be absolute: {model.base_path}"
            )
        if model.model_platform not in ("", "tensorflow"):
            raise ConfigError(
                f"{source}: model {model.name}: model_platform {model.model_platform!r} is not "
                "supported (only \"tensorflow\")"
            )
        policy = model.model_version_policy
        if policy.WhichOneof("policy_choice") == "specific" and not policy.specific.versions:
            raise ConfigError(f"{source}: model {model.name}: specific policy lists no versions")
    return models


_WRAPPED = re.compile(r"(\w+)\s*(?::\s*)?\{\s*value\s*:\s*([^\s}]+)\s*\}")
_PLAIN = re.compile(r"(\w+)\s*:\s*([^\s{}]+)")
_INT_FIELDS = ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
               "num_batch_threads")
_IGNORED = ("thread_pool_name", "enable_large_batch_splitting", "max_execution_batch_size",
            "batch_padding_policy")


def parse_batching_parameters(text: str, source: str = "batching parameters") -> BatchingParameters:
    """Reads TF Serving's BatchingParameters text proto (`max_batch_size { value: 32 }` ...)."""
    params = BatchingParameters()
    stripped = re.sub(r"#[^\n]*", "", text)
    rest = stripped
    for key, value in _WRAPPED.findall(stripped):
        if key in _INT_FIELDS:
            setattr(params, key, _int(value, key, source))
        elif key == "pad_variable_length_inputs":
            params.pad_variable_length_inputs = _bool(value, key, source)
        elif key not in _IGNORED:
            raise ConfigError(f"{source}: unknown batching parameter {key}")
    rest = _WRAPPED.sub(" ", stripped)
    for key, value in _PLAIN.findall(rest):
        if key == "allowed_batch_sizes":
            params.allowed_batch_sizes.append(_int(value, key, source))
        elif key == "pad_variable_length_inputs":
            params.pad_variable_length_inputs = _bool(value, key, source)
        elif key in _INT_FIELDS:
            setattr(params, key, _int(value, key, source))
        elif key not in _IGNORED:
            raise ConfigError(f"{source}: unknown batching parameter {key}")
    leftover = _PLAIN.sub(" ", rest).strip()
    if leftover:
        raise ConfigError(f"{source}: not a BatchingParameters text proto near {leftover[:40]!r}")
    if params.max_batch_size < 1 or params.num_batch_threads < 1:
        raise ConfigError(f"{source}: max_batch_size and num_batch_threads must be positive")
    sizes = params.allowed_batch_sizes
    if sizes:
        if sizes != sorted(set(sizes)) or sizes[-1] != params.max_batch_size:
            raise ConfigError(
                f"{source}: allowed_batch_sizes must increase and end with max_batch_size "
                f"({params.max_batch_size})"
            )
    return params


def _int(value: str, key: str, source: str) -> int:
    try:
        return int(value)
    except ValueError as e:
        raise ConfigError(f"{source}: {key} must be an integer, got {value}") from e


def _bool(value: str, key: str, source: str) -> bool:
    if value not in ("true", "false"):
        raise ConfigError(f"{source}: {key} must be true or false, got {value}")
    return value == "true"


def from_flags(
    *,
    model_name: str,
    model_base_path: str | None,
    model_config_file: str | None,
    enable_batching: bool,
    batching_parameters_file: str | None,
    **settings,
) -> ServerConfig:
    """A ServerConfig from zoo.serve's flag values; user mistakes raise ConfigError."""
    if model_base_path and model_config_file:
        raise ConfigError("give --model_base_path or --model_config_file, not both")
    if not model_base_path and not model_config_file:
        raise ConfigError("give --model_base_path (with --model_name) or --model_config_file")
    if model_config_file:
        models = read_model_config_file(model_config_file)
    else:
        model = ModelConfig(
            name=model_name, base_path=os.path.abspath(model_base_path),
            model_platform="tensorflow",
        )
        models = check_models([model], source="--model_base_path")
    batching = None
    if batching_parameters_file and not enable_batching:
        raise ConfigError("--batching_parameters_file needs --enable_batching")
    if enable_batching:
        batching = BatchingParameters()
        if batching_parameters_file:
            text = read_settings_file(batching_parameters_file, "--batching_parameters_file")
            batching = parse_batching_parameters(text, batching_parameters_file)
    config = ServerConfig(
        models=models, model_config_file=model_config_file, batching=batching, **settings
    )
    for name in ("port", "rest_api_port"):
        if not 0 <= getattr(config, name) < 65536:
            raise ConfigError(f"--{name} must be in [0, 65535]")
    if config.rest_api_timeout_in_ms <= 0:
        raise ConfigError("--rest_api_timeout_in_ms must be positive")
    if config.max_request_bytes <= 0:
        raise ConfigError("--max_request_bytes must be positive")
    return config
