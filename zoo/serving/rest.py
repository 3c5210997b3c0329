"""The REST front door: TF Serving's /v1 API on the standard library's HTTP server.

Paths, messages and status codes follow tensorflow_serving/model_servers/
http_rest_api_handler.cc: anything under /v1 that is not a known route is 400 "Malformed
request", errors are `{ "error": "..." }` bodies. Connections are served by a bounded thread
pool; each request runs with a deadline (--rest_api_timeout_in_ms, 504 when exceeded) and a body
size limit (--max_request_bytes, 413).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

from google.protobuf import json_format

from zoo.config import ConfigError
from zoo.serving import Metrics, ServingError, tensors
from zoo.serving.grpc_service import (
    check_metadata_fields,
    metadata_response,
    status_response,
)
from zoo.serving.models import ModelManager, Runner, status_of

_VERSION = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
PREDICT_PATH = re.compile(r"/v1/models/([^/:]+)" + _VERSION + r":(classify|regress|predict)",
                          re.IGNORECASE)
STATUS_PATH = re.compile(r"/v1/models(?:/([^/:]+))?" + _VERSION + r"(?:/(metadata))?",
                         re.IGNORECASE)
METRICS_PATH = "/monitoring/prometheus/metrics"
_INT64_MAX = 2**63 - 1


def _proto_json(message) -> dict:
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )


class RestApi:
    """Method + path + body -> (HTTP status, JSON text), independent of the HTTP plumbing."""

    def __init__(self, manager: ModelManager, runner: Runner | None, metrics: Metrics) -> None:
        self.manager, self.runner, self.metrics = manager, runner, metrics

    def handle(self, method: str, path: str, body: bytes) -> str:
        if method == "POST" and (match := PREDICT_PATH.fullmatch(path)):
            name, version, label, verb = match.groups()
            return self._timed(name, verb.lower(), lambda: self._infer(
                verb.lower(), name, _version(version), label, body))
        if method == "GET" and (match := STATUS_PATH.fullmatch(path)):
            name, version, label, metadata = match.groups()
            if not name:
                raise ServingError("INVALID_ARGUMENT", "Missing model name in request.")
            if metadata:
                return self._metadata(name, _version(version), label)
            rows = self.manager.status(name, _version(version), label)
            return json.dumps(_proto_json(status_response(rows)), indent=1)
        raise ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")

    def _timed(self, model: str, api: str, work) -> str:
        start = time.perf_counter()
        code = "OK"
        try:
            return work()
        except Exception as e:
            error = status_of(e)
            code = error.code
            raise error from e
        finally:
            self.metrics.record(model, api, "REST", code, time.perf_counter() - start)

    def _metadata(self, name: str, version: int | None, label: str | None) -> str:
        check_metadata_fields(["signature_def"])
        with self.manager.acquire(name, version, label) as servable:
            response = metadata_response(servable)
            signatures = {"signature_def": _proto_json(
                _unpack_signatures(response.metadata["signature_def"]))}
            doc = {"model_spec": _proto_json(response.model_spec), "metadata": signatures}
        return json.dumps(doc, indent=1)

    def _infer(self, verb: str, name: str, version: int | None, label: str | None,
               body: bytes) -> str:
        doc = tensors.loads(body)
        signature = tensors.signature_name(doc)
        if verb == "predict":
            with self.manager.acquire(name, version, label) as servable:
                specs = servable.input_dtypes(signature)
                inputs, row_format = tensors.decode_predict(doc, specs)
                _, outputs = servable.predict(signature, inputs, runner=self.runner)
            return tensors.encode_predict(outputs, row_format)
        examples = tensors.examples_from_json(doc)
        with self.manager.acquire(name, version, label) as servable:
            if verb == "classify":
                _, classes, scores = servable.classify(signature, examples, self.runner)
                return tensors.classify_json(classes, scores)
            _, values = servable.regress(signature, examples, self.runner)
            return tensors.regress_json(values)


def _unpack_signatures(any_message):
    from tensorflow_serving.apis import get_model_metadata_pb2

    signatures = get_model_metadata_pb2.SignatureDefMap()
    any_message.Unpack(signatures)
    return signatures


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value > _INT64_MAX:
        raise ServingError("INVALID_ARGUMENT", f"Failed to convert version: {text} to numeric.")
    return value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zoo.serve"
    timeout = 15  # idle keep-alive connections give their pool thread back

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet access log
        pass

    def _dispatch(self, method: str) -> None:
        server: RestServer = self.server  # type: ignore[assignment]
        path = urlsplit(self.path).path
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._reply(400, tensors.error_json("Invalid Content-Length header"), close=True)
            return
        if length > server.max_request_bytes:
            message = (f"Request body of {length} bytes is larger than the limit of "
                       f"{server.max_request_bytes} bytes (--max_request_bytes)")
            self._reply(413, tensors.error_json(message), close=True)
            return
        body = self.rfile.read(length) if length else b""
        if method == "GET" and path == METRICS_PATH:
            self._reply(200, server.api.metrics.prometheus(), content_type="text/plain")
            return
        if not path.lower().startswith("/v1/") and path.lower() != "/v1":
            self._reply(404, tensors.error_json(f"Not found: {method} {path}"))
            return
        future = server.work.submit(server.api.handle, method, path, body)
        try:
            text = future.result(timeout=server.timeout_s)
        except futures.TimeoutError:
            future.cancel()
            self._reply(504, tensors.error_json("Deadline Exceeded"))
            return
        except ServingError as e:
            self._reply(e.http_status, tensors.error_json(e.message))
            return
        except Exception as e:  # a bug: still answer, as TF Serving would with INTERNAL
            error = status_of(e)
            self._reply(error.http_status, tensors.error_json(error.message))
            return
        self._reply(200, text)

    def _reply(self, status: int, text: str, *, content_type: str = "application/json",
               close: bool = False) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)


class RestServer(HTTPServer):
    """An HTTPServer whose connections are served by a bounded pool of threads."""

    allow_reuse_address = True
    request_queue_size = 1024  # the default listen backlog of 5 drops bursts of connections

    def __init__(self, host: str, port: int, api: RestApi, *, timeout_ms: int,
                 max_request_bytes: int, threads: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.api = api
        self.timeout_s = timeout_ms / 1000
        self.max_request_bytes = max_request_bytes
        self.connections = futures.ThreadPoolExecutor(threads, thread_name_prefix="rest-conn")
        self.work = futures.ThreadPoolExecutor(threads, thread_name_prefix="rest-work")
        try:
            super().__init__((host, port), _Handler)
        except OSError as e:
            raise ConfigError(f"cannot listen for REST on {host}:{port}: {e.strerror}") from e
        self._thread: threading.Thread | None = None

    def process_request(self, request, client_address) -> None:
        self.connections.submit(self._serve_one, request, client_address)

    def _serve_one(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def start(self) -> int:
        """Serves in a background thread; returns the bound port."""
        self._thread = threading.Thread(target=self.serve_forever, name="rest", daemon=True)
        self._thread.start()
        return self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.connections.shutdown(wait=False, cancel_futures=True)
        self.work.shutdown(wait=False, cancel_futures=True)
