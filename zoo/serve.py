"""`python -m zoo.serve`: a local stand-in for tensorflow_model_server, same flags and API.

Serves any SavedModel over TF Serving's gRPC (--port, 8500) and REST (--rest_api_port, 8501; 0
turns REST off) APIs, so clients written for the real server work unchanged. It polls the model
base paths for new versions and swaps them in without dropping requests. Startup waits until
every model has an AVAILABLE version, then prints the ports; SIGTERM or Ctrl-C stop it cleanly.

    python -m zoo.serve --model_name=lm --model_base_path=saved_models/lm
    python -m zoo.serve --model_config_file=saved_models/models.config --enable_batching
"""

from __future__ import annotations

import atexit
import logging as std_logging
import os
import signal
import sys
import threading
import time

from absl import flags, logging

from zoo import cli
from zoo.config import ConfigError
from zoo.startup import exit_now

flags.DEFINE_integer("port", 8500, "Port for the gRPC API (0: a free port).")
flags.DEFINE_integer("rest_api_port", 8501, "Port for the REST API (0: REST off).")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0 for every interface).")
flags.DEFINE_string("model_name", "default", "Name of the model served from --model_base_path.")
flags.DEFINE_string("model_base_path", None, "Folder of a model's integer-named versions.")
flags.DEFINE_string("model_config_file", None, "A text ModelServerConfig listing the models.")
flags.DEFINE_integer(
    "model_config_file_poll_wait_seconds", 0,
    "Re-read --model_config_file this often (0: read once at startup).",
)
flags.DEFINE_integer(
    "file_system_poll_wait_seconds", 1,
    "Look for new model versions this often (0: once at startup).",
)
flags.DEFINE_bool("enable_batching", False, "Merge concurrent requests into batches.")
flags.DEFINE_string("batching_parameters_file", None, "A text BatchingParameters file.")
flags.DEFINE_integer("rest_api_timeout_in_ms", 30000, "Deadline of a REST request (504 after).")
flags.DEFINE_integer("rest_api_num_threads", max(32, 4 * (os.cpu_count() or 1)),
                     "Threads serving REST connections.")
flags.DEFINE_integer("grpc_max_threads", max(32, 4 * (os.cpu_count() or 1)),
                     "Threads serving gRPC calls.")
flags.DEFINE_integer("max_request_bytes", 64 << 20,
                     "Largest request body (REST: 413 above it; gRPC: RESOURCE_EXHAUSTED).")
flags.DEFINE_bool("xla_cpu_compilation_enabled", False,
                  "Allow SavedModels whose functions need XLA (jit_compile=True).")
flags.DEFINE_bool("enable_signature_method_name_check", False,
                  "Make Predict, Classify and Regress insist on their signatures' method names "
                  "(TF Serving's flag, off by default there too).")
flags.DEFINE_integer("max_request_elements", 1 << 22,
                     "Most elements all input tensors of one request may hold together, checked "
                     "before any tensor is built (INVALID_ARGUMENT above it).")
flags.DEFINE_integer("max_request_batch", 1024,
                     "Largest batch (dimension 0 of the inputs) one request may send.")

FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.INFO)  # as TF Serving: every load, unload and warmup
        logging.set_stderrthreshold(logging.INFO)
        std_logging.getLogger("tensorflow").setLevel(std_logging.WARNING)
    if FLAGS.file_system_poll_wait_seconds < 0:
        raise ConfigError("--file_system_poll_wait_seconds must be >= 0 (0: poll once)")
    for name in ("rest_api_num_threads", "grpc_max_threads", "max_request_elements",
                 "max_request_batch"):
        if FLAGS[name].value < 1:
            raise ConfigError(f"--{name} must be >= 1, got {FLAGS[name].value}")
    if FLAGS.model_config_file_poll_wait_seconds < 0:
        raise ConfigError("--model_config_file_poll_wait_seconds must be >= 0 (0: read once)")
    from zoo.serving import config as server_config

    config = server_config.from_flags(
        model_name=FLAGS.model_name,
        model_base_path=FLAGS.model_base_path,
        model_config_file=FLAGS.model_config_file,
        enable_batching=FLAGS.enable_batching,
        batching_parameters_file=FLAGS.batching_parameters_file,
        host=FLAGS.host,
        port=FLAGS.port,
        rest_api_port=FLAGS.rest_api_port,
        file_system_poll_wait_seconds=FLAGS.file_system_poll_wait_seconds,
        model_config_file_poll_wait_seconds=FLAGS.model_config_file_poll_wait_seconds,
        rest_api_timeout_in_ms=FLAGS.rest_api_timeout_in_ms,
        rest_api_num_threads=FLAGS.rest_api_num_threads,
        max_request_bytes=FLAGS.max_request_bytes,
        xla_cpu_compilation_enabled=FLAGS.xla_cpu_compilation_enabled,
        enable_signature_method_name_check=FLAGS.enable_signature_method_name_check,
        max_request_elements=FLAGS.max_request_elements,
        max_request_batch=FLAGS.max_request_batch,
    )
    cli.start_tensorflow()
    serve(config)
    # All stopped and said; the interpreter's teardown took seconds on a large server.
    exit_now()


def say(message: str) -> None:
    """One line of the server's own, on stderr with its logs (as TF Serving writes all of its
    lines to stderr), so that one stream holds them all in order."""
    print(f"zoo.serve: {message}", file=sys.stderr, flush=True)


def serve(config) -> None:
    """Loads the models, opens both doors, and blocks until SIGTERM/SIGINT."""
    import tensorflow_text  # noqa: F401  (registers tf-text ops used by exported tokenizers)

    from zoo.serving import Metrics
    from zoo.serving.batching import Batcher
    from zoo.serving.grpc_service import start_grpc_server
    from zoo.serving.inflight import InFlight
    from zoo.serving.limits import Limits
    from zoo.serving.manager import ModelManager
    from zoo.serving.rest import RestApi, RestServer

    stop = threading.Event()
    inflight = InFlight()

    def on_signal(*_) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    limits = Limits(config.max_request_elements, config.max_request_batch,
                    config.max_request_bytes)
    manager = ModelManager(config.models, xla_enabled=config.xla_cpu_compilation_enabled,
                           inflight=inflight,
                           method_name_check=config.enable_signature_method_name_check)
    _wait_for_models(manager, config, stop)
    if stop.is_set():
        return
    manager.start_polling(config.file_system_poll_wait_seconds)
    batcher = Batcher(config.batching) if config.batching else None
    metrics = Metrics(configured=manager.configured)
    grpc_server, grpc_port = start_grpc_server(
        config.host, config.port, manager, batcher, metrics,
        max_request_bytes=config.max_request_bytes, threads=FLAGS.grpc_max_threads,
        limits=limits,
    )
    rest_server = None
    if config.rest_api_port:
        rest_server = RestServer(
            config.host, config.rest_api_port, RestApi(manager, batcher, metrics, limits),
            timeout_ms=config.rest_api_timeout_in_ms,
            max_request_bytes=config.max_request_bytes, threads=config.rest_api_num_threads,
        )
        rest_port = rest_server.start()
    if config.model_config_file and config.model_config_file_poll_wait_seconds > 0:
        _watch_config_file(manager, config, stop)
    models = ", ".join(m.name for m in config.models)
    rest = f", REST at http://{config.host}:{rest_port}" if rest_server else ", REST off"
    say(f"serving {models}; gRPC at {config.host}:{grpc_port}{rest}")
    # A timed wait: a signal taken by one of gRPC's threads only sets a flag, which the main
    # thread sees when it wakes, and a wait without a timeout might never wake.
    while not stop.wait(0.25):
        pass
    say("shutting down")
    began = time.monotonic()
    _exit_anyway_after(SHUTDOWN_SECONDS)
    cancelled = inflight.stop()  # work in flight stops at its next op: seconds, not minutes
    manager.stop()
    if batcher:
        batcher.stop()
    if rest_server:
        rest_server.stop()
    grpc_server.stop(grace=1).wait(timeout=1.5)
    say(f"stopped in {time.monotonic() - began:.1f} s ({cancelled} request(s) "
        "in flight cancelled, answered UNAVAILABLE)")


SHUTDOWN_SECONDS = 4.0


def _exit_anyway_after(seconds: float) -> None:
    """Whatever is still running after a stop was asked for, the process ends: never hang."""

    def watchdog() -> None:
        if not finished.wait(seconds):
            say("work did not stop in time; exiting anyway")
            os._exit(0)

    finished = threading.Event()
    atexit.register(finished.set)
    threading.Thread(target=watchdog, name="exit-watchdog", daemon=True).start()


def _wait_for_models(manager, config, stop: threading.Event) -> None:
    """Polls until every model has an AVAILABLE version; failures end startup (exit 2)."""
    warned = set()
    while not stop.is_set():
        manager.poll()
        fatal = manager.fatal_problems()
        if fatal:
            name, problem = next(iter(fatal.items()))
            raise ConfigError(f"model {name}: {problem}")
        waiting = manager.waiting_for()
        if not waiting:
            break
        for name, why in waiting.items():
            if name not in warned:
                say(f"waiting for model {name}: {why}")
                warned.add(name)
        stop.wait(max(config.file_system_poll_wait_seconds, 1))
    labels = manager.pending_labels()
    if labels:
        raise ConfigError(labels[0])


def _watch_config_file(manager, config, stop: threading.Event) -> None:
    from zoo.serving.config import read_model_config_file

    def loop() -> None:
        last = _read(config.model_config_file)
        while not stop.wait(config.model_config_file_poll_wait_seconds):
            text = _read(config.model_config_file)
            if text is None or text == last:
                continue
            last = text
            try:
                error = manager.reload(read_model_config_file(config.model_config_file))
            except ConfigError as e:
                logging.warning("ignoring new --model_config_file: %s", e)
                continue
            except Exception:  # noqa: BLE001 - whatever one file does, keep polling
                logging.exception("ignoring new --model_config_file")
                continue
            if error is not None:
                logging.warning("reloading --model_config_file: %s", error.message)

    threading.Thread(target=loop, name="config-poll", daemon=True).start()


def _read(path: str) -> bytes | None:
    """The file's bytes (decoded, and refused if binary, only when it changed)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cli.run(main, prog="zoo.serve")
