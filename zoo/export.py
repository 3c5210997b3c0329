"""`python -m zoo.export --model_dir=runs/<run>`: a trained run as a SavedModel TF Serving serves.

    python -m zoo.export --model_dir=runs/gpt                       # saved_models/<model>/<next>/
    python -m zoo.export --model_dir=runs/gpt --name=gpt --version=3 --max_new_tokens=200
    python -m zoo.export --model_dir=runs/gpt2-ft --format=huggingface --out_dir=hf/gpt2-ft

This module is the task-neutral half of an export: version folders, the atomic rename,
models.config, the XLA check and the warmup file. The task supplies the other half, its
signatures and warmup requests (the causal LM's are in `tasks/causal_lm/serving.py`).

The export root follows TF Serving's layout: `<export_dir>/<name>/<version>/` holds the
SavedModel (the task's signatures, its tokenizer inside the graph) and
`assets.extra/tf_serving_warmup_requests`; `<export_dir>/models.config` lists every model
there for `tensorflow_model_server --model_config_file`. The server polls the folder and
loads any integer-named directory it finds, so a version is built under a hidden temporary
name in the same folder and renamed into place: a kill at any moment leaves nothing it
would load, and the next export removes the leftovers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tasks.sampling_config import SamplingConfig
from tasks.serving_limits import ServingLimits
from zoo import cli
from zoo.config import ConfigError

CONFIG_FILE = "models.config"
if TYPE_CHECKING:
    import numpy as np

# TensorFlow, Keras and the SavedModel protos are imported where they are used: the CLI checks
# its flags first.
_TEMP_PREFIX = ".tmp-"  # never an integer, so TF Serving ignores it


def export_saved_model(
    model_dir: str,
    export_dir: str = "saved_models",
    *,
    version: int | None = None,
    name: str | None = None,
    sampling: SamplingConfig | None = None,
    overwrite: bool = False,
    limits: ServingLimits | None = None,
) -> str:
    """Exports the latest checkpoint of the run in `model_dir`; returns the version's path.

    `name` defaults to the run's preset name and `version` to one more than the highest
    version already exported under that name. `sampling` sets what `serving_default`
    decodes with (for tasks that generate). An existing version is an error unless `overwrite`.
    The model is exported in float32 whatever it trained in: REST has no half-precision
    types, and CPUs serve float32 best.
    """
    sampling = sampling or SamplingConfig()  # validates itself
    check_arguments(model_dir, name)  # before the run loads: a bad flag answers at once
    from zoo.runs import load_run
    from zoo.serving.saved_models import version_folders

    run = load_run(model_dir)  # config.json read once: the run's spec says everything else
    name = name or run.config.model
    _check_name(name)
    model_root = os.path.join(export_dir, name)
    if os.path.isdir(model_root):
        remove_stale_temp_dirs(model_root)
    versions = version_folders(model_root)
    if version is None:
        version = max(versions, default=0) + 1
    elif version < 0:
        raise ConfigError(f"--version must be a non-negative integer, got {version}")
    elif version in versions and not overwrite:
        raise ConfigError(f"{model_root} already has version {version}; pass --overwrite")

    temp = os.path.join(model_root, f"{_TEMP_PREFIX}{version}-{os.getpid()}")
    try:
        vocab_size = run.task.tokenizer.vocab_size
        if any(not 0 <= t < vocab_size for t in sampling.stop_token_ids):
            raise ConfigError(f"stop_token_ids must be in 0..{vocab_size - 1}")
        os.makedirs(model_root, exist_ok=True)
        _write_version(temp, name, run.task, run.model, sampling, limits or ServingLimits())
        final = _move_into_place(temp, model_root, version, versions.get(version))
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    write_models_config(export_dir)
    return final


def check_arguments(model_dir: str, name: str | None) -> None:
    """What can be checked before anything loads: the run directory exists, the name is one."""
    if not os.path.isdir(model_dir):
        raise ConfigError(f"--model_dir: no such run directory: {model_dir}")
    if name:
        _check_name(name)


def _check_name(name: str) -> None:
    if not name or name.startswith(".") or os.sep in name or name.isdigit():
        raise ConfigError(f"--name: {name!r} cannot name a model folder")


def remove_stale_temp_dirs(model_root: str) -> None:
    """Removes temporary folders of exports that died (their process is gone)."""
    for entry in os.listdir(model_root):
        if not entry.startswith(_TEMP_PREFIX):
            continue
        pid = entry.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue  # another export is writing it right now
        shutil.rmtree(os.path.join(model_root, entry), ignore_errors=True)


def write_models_config(export_dir: str) -> str:
    """Creates or updates `<export_dir>/models.config` (text ModelServerConfig), atomically.

    Every folder under export_dir holding at least one version is listed with an absolute
    base_path; entries already there keep their version policy and labels, and those whose
    folder under export_dir has gone are dropped.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from zoo.serving.saved_models import version_folders

    root = os.path.abspath(export_dir)
    path = os.path.join(root, CONFIG_FILE)
    config = model_server_config_pb2.ModelServerConfig()
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            try:
                text_format.Parse(f.read(), config)
            except text_format.ParseError as e:
                message = f"{path}: not a ModelServerConfig ({e}); fix or remove it"
                raise ConfigError(message) from None
        if config.WhichOneof("config") == "custom_model_config":
            raise ConfigError(f"{path} holds a custom_model_config; cannot add models to it")
    models = {
        entry: os.path.join(root, entry)
        for entry in sorted(os.listdir(root))
        if not entry.startswith(".")
        and os.path.isdir(os.path.join(root, entry))
        and version_folders(os.path.join(root, entry))
    }
    kept = []
    for entry in config.model_config_list.config:
        if entry.name in models:
            entry.base_path = models.pop(entry.name)
        elif os.path.dirname(os.path.normpath(entry.base_path)) == root:
            continue  # its folder here is gone or empty: a server would wait for it forever
        kept.append(entry)
    for model, base_path in models.items():
        kept.append(
            model_server_config_pb2.ModelConfig(
                name=model, base_path=base_path, model_platform="tensorflow"
            )
        )
    updated = model_server_config_pb2.ModelServerConfig()
    updated.model_config_list.config.extend(kept)
    temp = f"{path}{_TEMP_PREFIX}{os.getpid()}"
    with open(temp, "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(updated))
    os.replace(temp, path)
    return path


def set_method_names(saved_model_dir: str, methods: dict[str, str]) -> None:
    """Gives signatures TF Serving's method names (a `classify` signature needs
    "tensorflow/serving/classify" for the Classify API); TF2 saves every one as a Predict."""
    if not methods:
        return
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(saved_model_dir, "saved_model.pb")
    proto = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        proto.ParseFromString(f.read())
    for graph in proto.meta_graphs:
        for name, method in methods.items():
            if name in graph.signature_def:
                graph.signature_def[name].method_name = method
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_version(path: str, name: str, task, model, sampling: SamplingConfig,
                   limits: ServingLimits) -> None:
    """The SavedModel of `task`'s signatures around `model`, its warmup file, and the XLA check."""
    import keras

    from zoo.serving.saved_models import WARMUP_FILE, xla_compiled_in

    signatures = task.serving_signatures(model, sampling, limits)
    requests = task.warmup_requests()
    with _grappler_off():
        for signature, inputs in requests:
            signatures[signature](**inputs)  # a failing warmup would stop the server loading it
    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in task.serving_resources():
        archive.track(resource)  # tokenizer lookup tables and files (keras-hub#2015)
    for signature, function in signatures.items():
        _add_traced_endpoint(archive, signature, function)  # no jit_compile
    archive.write_out(path, verbose=False)
    set_method_names(path, task.signature_methods())
    _write_warmup(os.path.join(path, WARMUP_FILE), name, requests)
    marked = xla_compiled_in(path)
    if marked:
        raise RuntimeError(f"exported functions require XLA, which TF Serving disables: {marked}")


@contextlib.contextmanager
def _grappler_off():
    """TensorFlow's graph optimizer off while the export runs its own warmup check: each
    signature runs once, so optimizing it first costs more than it saves (a tiny summarizer's
    export, 16 beam-search loops in one signature: 44 s with it, 27 s without). A server
    still optimizes the graphs it loads. The setting is process-wide, so it is put back."""
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


def _add_traced_endpoint(archive, name: str, function) -> None:
    """`function`'s one concrete function as endpoint `name` of a Keras ExportArchive.

    `add_endpoint(name, tf.function)` is the public way, but then `tf.saved_model.save` traces
    every endpoint again (inside its save context the trace cache misses): measured on a tiny
    summarizer, whose `summarize` holds 16 beam-search loops, writing took 17.2 s that way
    and 2.3 s with the concrete function. So the endpoint is registered as ExportArchive's
    own `add_endpoint(..., input_signature=...)` path records it (Keras 3.15).
    """
    concrete = function.get_concrete_function()
    archive._endpoint_names.append(name)  # noqa: SLF001 - see the docstring
    archive._endpoint_signatures[name] = function.input_signature  # noqa: SLF001
    setattr(archive._tf_trackable, name, concrete)  # noqa: SLF001


def _write_warmup(
    path: str, name: str, requests: Iterable[tuple[str, dict[str, np.ndarray]]]
) -> None:
    """TF Serving replays these PredictionLog records at load, before taking traffic."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs in requests:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=name, signature_name=signature),
                inputs={alias: tf.make_tensor_proto(value) for alias, value in inputs.items()},
            )
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())


def _move_into_place(temp: str, model_root: str, version: int, replaced: str | None) -> str:
    """Renames the finished version into place; an overwritten one is moved aside first."""
    final = os.path.join(model_root, str(version))
    if replaced is not None:
        aside = os.path.join(model_root, f"{_TEMP_PREFIX}old-{version}-{os.getpid()}")
        os.rename(os.path.join(model_root, replaced), aside)
        os.rename(temp, final)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        try:
            os.rename(temp, final)
        except OSError as e:  # another export took this number meanwhile
            raise ConfigError(f"cannot create {final}: {e.strerror}; export again") from e
    return final


def define_flags() -> None:
    """The CLI's flags; defined only when run as a program (zoo.train imports this module)."""
    from absl import flags

    from zoo.sampling_flags import define_sampling_flags

    flags.DEFINE_string("model_dir", None, "Run directory written by zoo.train.", required=True)
    flags.DEFINE_string("export_dir", "saved_models", "Export root (TF Serving's base path).")
    flags.DEFINE_integer("version", None, "Version number (default: the next one).")
    flags.DEFINE_string("name", None, "Model name, the folder under export_dir (default: preset).")
    flags.DEFINE_bool("overwrite", False, "Replace the version if it exists.")
    flags.DEFINE_enum("format", "saved_model", ["saved_model", "huggingface"],
                      "saved_model: a TF Serving version under --export_dir; huggingface: a "
                      "GPT2LMHeadModel folder (safetensors, config, tokenizer) at --out_dir.")
    flags.DEFINE_string("out_dir", None, "--format=huggingface: the folder to write.")
    define_sampling_flags("serving_default")
    flags.DEFINE_list("stop_token_ids", [], "Token ids that end a generation.")
    defaults = ServingLimits()
    flags.DEFINE_integer("max_batch", defaults.max_batch, "Most texts one request may send.")
    flags.DEFINE_integer("max_generate_tokens", defaults.max_generate_tokens,
                         "Most new tokens one request may ask for (all rows and beams).")
    flags.DEFINE_integer("max_input_tokens", defaults.max_input_tokens,
                         "Most tokens one request may send (all its texts together).")


def export_huggingface(model_dir: str, out_dir: str | None) -> None:
    """`--format=huggingface`: the run as a Hugging Face folder (zoo.convert)."""
    if not out_dir:
        raise ConfigError("--format=huggingface writes a folder: give --out_dir")
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise ConfigError(f"--out_dir: {out_dir} exists and is not empty")
    cli.start_tensorflow()
    from zoo.convert import write_huggingface
    from zoo.runs import load_run

    print(f"Exported {write_huggingface(load_run(model_dir), out_dir)} (Hugging Face)")


def main(argv: list[str]) -> None:
    from absl import flags

    from zoo.sampling_flags import sampling_config_from_flags

    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        stop_token_ids = tuple(int(token) for token in FLAGS.stop_token_ids)
    except ValueError:
        raise ConfigError(f"--stop_token_ids: not integers: {FLAGS.stop_token_ids}") from None
    sampling = sampling_config_from_flags(stop_token_ids)
    limits = ServingLimits(FLAGS.max_batch, FLAGS.max_generate_tokens, FLAGS.max_input_tokens)
    check_arguments(FLAGS.model_dir, FLAGS.name)
    if FLAGS.format == "huggingface":
        export_huggingface(FLAGS.model_dir, FLAGS.out_dir)
        return
    cli.start_tensorflow()
    path = export_saved_model(
        FLAGS.model_dir,
        FLAGS.export_dir,
        version=FLAGS.version,
        name=FLAGS.name,
        sampling=sampling,
        overwrite=FLAGS.overwrite,
        limits=limits,
    )
    print(f"Exported {path}")


if __name__ == "__main__":
    define_flags()
    cli.run(main, prog="zoo.export")
