"""The REST front door: TF Serving's /v1 API, on aiohttp.

Paths, messages and status codes follow tensorflow_serving/model_servers/
http_rest_api_handler.cc: anything under /v1 that is not a known route is 400 "Malformed
request", errors are `{ "error": "..." }` bodies. Each request runs with a deadline
(--rest_api_timeout_in_ms: 504, and its work stops) and a body size limit (--max_request_bytes,
413). The standard library's http.server held a thread per connection, so 40 clients sending one
header line every 5 s starved it (slowloris); an asyncio server holds idle connections for free.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from concurrent import futures

from absl import logging
from google.protobuf import json_format

from zoo.config import ConfigError
from zoo.serving import Metrics, ServingError, tensors
from zoo.serving.inflight import Deadline
from zoo.serving.limits import Limits
from zoo.serving.manager import ModelManager
from zoo.serving.responses import check_metadata_fields, metadata_response, status_response
from zoo.serving.servable import Runner, status_of

# [0-9], not \d: TF Serving's RE2 \d is ASCII, Python's also takes "١" (Arabic-Indic one).
_VERSION = r"(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
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

    def __init__(self, manager: ModelManager, runner: Runner | None, metrics: Metrics,
                 limits: Limits | None = None) -> None:
        self.manager, self.runner, self.metrics = manager, runner, metrics
        self.limits = limits or Limits()

    def handle(self, method: str, path: str, body: bytes, deadline: Deadline | None = None) -> str:
        if method == "POST" and (match := PREDICT_PATH.fullmatch(path)):
            name, version, label, verb = match.groups()
            return self._timed(name, verb.lower(), lambda: self._infer(
                verb.lower(), name, _version(version), label, body, deadline))
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
               body: bytes, deadline: Deadline | None) -> str:
        doc = tensors.loads(body)
        signature = tensors.signature_name(doc)
        if verb == "predict":
            with self.manager.acquire(name, version, label) as servable:
                specs = servable.input_dtypes(signature)
                inputs, row_format = tensors.decode_predict(doc, specs,
                                                            self.limits.max_request_elements)
                self.limits.check_arrays(inputs)
                _, outputs = servable.predict(signature, inputs, runner=self.runner,
                                              deadline=deadline)
            return tensors.encode_predict(outputs, row_format)
        examples = tensors.examples_from_json(doc)
        self.limits.check_examples(examples)
        with self.manager.acquire(name, version, label) as servable:
            if verb == "classify":
                _, classes, scores = servable.classify(signature, examples, self.runner,
                                                       deadline)
                return tensors.classify_json(classes, scores)
            _, values = servable.regress(signature, examples, self.runner, deadline)
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


class RestServer:
    """The REST door on aiohttp: one event loop holds every connection, so slow or idle clients
    cost no thread; requests run on a bounded pool of worker threads.

    aiohttp's parser is strict (one well-formed Content-Length, no chunked body with a length);
    bodies over --max_request_bytes are 413, bodies that do not arrive within the deadline 408;
    every error is TF Serving's JSON `{"error": ...}`, whatever its status; the `Server` header
    names no interpreter; clients that hang up early are not logged.
    """

    def __init__(self, host: str, port: int, api: RestApi, *, timeout_ms: int,
                 max_request_bytes: int, threads: int) -> None:
        self.host, self.port = host, port
        self.api = api
        self.timeout_s = timeout_ms / 1000
        self.max_request_bytes = max_request_bytes
        self.work = futures.ThreadPoolExecutor(threads, thread_name_prefix="rest-work")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # ----------------------------------------------------------------- the app

    def _app(self):
        from aiohttp import web

        @web.middleware
        async def json_errors(request, handler):
            try:
                return await handler(request)
            except web.HTTPException as e:  # aiohttp's own (413, 405...): TF Serving's JSON
                if e.status == 413:
                    message = (f"Request body is larger than the limit of "
                               f"{self.max_request_bytes} bytes (--max_request_bytes)")
                else:
                    message = e.reason or e.text or str(e.status)
                return _json(e.status, tensors.error_json(message))

        app = web.Application(client_max_size=self.max_request_bytes, middlewares=[json_errors])
        app.router.add_route("*", "/{path:.*}", self._handle)
        app.on_response_prepare.append(_server_header)
        return app

    async def _handle(self, request):
        path, method = request.path, request.method
        try:
            body = await asyncio.wait_for(request.read(), timeout=self.timeout_s)
        except asyncio.TimeoutError:
            return _json(408, tensors.error_json("The request body did not arrive in time"))
        if method == "GET" and path == METRICS_PATH:
            return _text(200, self.api.metrics.prometheus(), "text/plain")
        if not path.lower().startswith("/v1/") and path.lower() != "/v1":
            return _json(404, tensors.error_json(f"Not found: {method} {path}"))
        deadline = Deadline(self.timeout_s)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.work, self.api.handle, method, path, body, deadline)
        try:
            # Answered at the deadline, as TF Serving does, even while an op that cannot be
            # interrupted (a sleep, one long kernel) finishes in the background.
            text = await asyncio.wait_for(asyncio.shield(future), timeout=self.timeout_s + 0.05)
        except asyncio.TimeoutError:
            deadline.cancel()
            _forget(future)
            return _json(504, tensors.error_json("Deadline Exceeded"))
        except asyncio.CancelledError:  # the client went away: stop its work too
            deadline.cancel()
            _forget(future)
            raise
        except ServingError as e:
            status = 504 if e.code == "DEADLINE_EXCEEDED" else e.http_status
            return _json(status, tensors.error_json(e.message))
        except Exception as e:  # a bug: still answer, as TF Serving would with INTERNAL
            error = status_of(e)
            return _json(error.http_status, tensors.error_json(error.message))
        return _json(200, text)

    # ----------------------------------------------------------------- life

    def start(self) -> int:
        """Serves in a background thread with its own event loop; returns the bound port."""
        self._thread = threading.Thread(target=self._serve, name="rest", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise ConfigError(f"cannot listen for REST on {self.host}:{self.port}: "
                              f"{getattr(self._error, 'strerror', None) or self._error}")
        return self.port

    def _serve(self) -> None:
        from aiohttp import web

        _answer_protocol_errors_in_json(header_seconds=self.timeout_s)
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False,
                                         shutdown_timeout=0.5)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port, backlog=1024,
                               reuse_address=True)
            loop.run_until_complete(site.start())
            if self.port == 0:
                self.port = site._server.sockets[0].getsockname()[1]
        except BaseException as e:  # noqa: BLE001 - reported by start()
            self._error = e
            self._started.set()
            return
        self._started.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        _end_pending_tasks(loop)
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.work.shutdown(wait=False, cancel_futures=True)


def _forget(future) -> None:
    """Drops the outcome of work whose request is already answered; asyncio would otherwise
    log its exception, with a traceback, as never retrieved."""
    future.add_done_callback(lambda done: done.cancelled() or done.exception())


def _end_pending_tasks(loop) -> None:
    """Cancels the handlers a shutdown left waiting (requests in flight) and lets them end,
    so asyncio has no pending task to report as destroyed."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


async def _server_header(request, response) -> None:
    response.headers["Server"] = SERVER_HEADER


SERVER_HEADER = "zoo.serve"


def _answer_protocol_errors_in_json(header_seconds: float) -> None:
    """Requests aiohttp's parser refuses (a bad Content-Length, chunked with a length, a
    malformed request line) are answered before any middleware runs, as plain text naming
    Python and aiohttp, with the parser's traceback in the log. Its connection handler is made
    to answer them as TF Serving answers every error, `{"error": ...}`, and to log one line.

    It also closes a connection whose request headers have not all arrived `header_seconds`
    after its first bytes: aiohttp stops its idle timer at the first byte, so a client that
    sends half a request line would hold the connection for ever."""
    from aiohttp import web, web_protocol, web_server

    if getattr(web_server.RequestHandler, "zoo", False):
        web_server.RequestHandler.header_seconds = header_seconds
        return

    class RequestHandler(web_protocol.RequestHandler):
        zoo = True
        header_seconds = 30.0
        _header_timer = None
        _requests_seen = 0

        def data_received(self, data: bytes) -> None:
            waiting = not self._request_in_progress and not self._messages
            super().data_received(data)
            if self._messages or self._request_in_progress:
                self._requests_seen += 1  # a whole request line and headers arrived
            elif waiting and self._header_timer is None and not self._force_close:
                self._header_timer = self._loop.call_later(
                    self.header_seconds, self._close_if_stalled, self._requests_seen)

        def _close_if_stalled(self, seen: int) -> None:
            self._header_timer = None
            if self._requests_seen == seen and not self._request_in_progress:
                logging.info("closed a connection whose request headers never arrived")
                self.force_close()

        def handle_error(self, request, status=500, exc=None, message=None):
            if request.writer.output_size > 0:
                raise ConnectionError("the response is partly sent; cannot replace it")
            reason = str(exc).strip().splitlines()[0] if exc and str(exc).strip() else (
                message or "Bad request")
            logging.info("refused a malformed request (%s): %s", status, reason)
            response = web.Response(status=status, text=tensors.error_json(reason),
                                    content_type="application/json")
            response.headers["Server"] = SERVER_HEADER
            response.force_close()
            return response

    RequestHandler.header_seconds = header_seconds
    web_server.RequestHandler = RequestHandler


def _json(status: int, text: str):
    return _text(status, text, "application/json")


def _text(status: int, text: str, content_type: str):
    from aiohttp import web

    return web.Response(status=status, text=text, content_type=content_type, charset="utf-8")
