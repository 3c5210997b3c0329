"""The embedded TF-Serving-compatible server behind `python -m zoo.serve`.

Both front doors (rest.py, grpc_service.py) report failures as `ServingError`, a canonical status
code plus TF Serving's message, so that one error reads the same over HTTP and gRPC.
"""

from __future__ import annotations

# Canonical status code -> HTTP status, as tensorflow_serving/model_servers/http_rest_api_util.cc.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A request failed with a canonical status `code` (a grpc.StatusCode name) and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


class Metrics:
    """Request counts and latencies in TF Serving's Prometheus names, shared by both doors."""

    # Microseconds, as TF Serving's request_latency histogram: 10 * 1.8**i.
    BUCKETS = tuple(10 * 1.8**i for i in range(33))

    # The label of every request for a model that is not configured: per-name state for any
    # name a client sends would let requests grow the server without bound.
    UNCONFIGURED = "(unconfigured)"

    def __init__(self, configured=None) -> None:
        """`configured(name)`: whether a model name gets its own series (default: every one)."""
        import threading

        self._lock = threading.Lock()
        self._configured = configured or (lambda name: True)
        self._counts: dict[tuple[str, str], int] = {}
        self._latency: dict[tuple[str, str, str], list] = {}

    def record(self, model: str, api: str, entrypoint: str, code: str, seconds: float) -> None:
        micros = seconds * 1e6
        if not self._configured(model):
            model = self.UNCONFIGURED
        with self._lock:
            key = (model, code)
            self._counts[key] = self._counts.get(key, 0) + 1
            hist = self._latency.setdefault(
                (model, api, entrypoint), [[0] * len(self.BUCKETS), 0.0, 0]
            )
            for i, bound in enumerate(self.BUCKETS):
                if micros <= bound:
                    hist[0][i] += 1
            hist[1] += micros
            hist[2] += 1

    def prometheus(self) -> str:
        """The text exposition format served at /monitoring/prometheus/metrics."""
        lines = ["# TYPE :tensorflow:serving:request_count counter"]
        with self._lock:
            for (model, code), n in sorted(self._counts.items()):
                lines.append(
                    f':tensorflow:serving:request_count{{model_name="{model}",status="{code}"}} {n}'
                )
            lines.append("# TYPE :tensorflow:serving:request_latency histogram")
            for (model, api, entry), (buckets, total, count) in sorted(self._latency.items()):
                labels = f'model_name="{model}",API="{api}",entrypoint="{entry}"'
                for bound, n in zip(self.BUCKETS, buckets):
                    le = f'le="{bound:g}"'
                    lines.append(f":tensorflow:serving:request_latency_bucket{{{labels},{le}}} {n}")
                lines.append(
                    f':tensorflow:serving:request_latency_bucket{{{labels},le="+Inf"}} {count}'
                )
                lines.append(f":tensorflow:serving:request_latency_sum{{{labels}}} {total:g}")
                lines.append(f":tensorflow:serving:request_latency_count{{{labels}}} {count}")
        return "\n".join(lines) + "\n"
