"""No request can take the server down: hostile requests over REST and gRPC, slow clients,
deadlines that stop work, SIGTERM under load, and versions that heal.

Every case expects a 4xx / INVALID_ARGUMENT (never a 500) and checks the server still answers a
normal request afterwards. Loopback only; seconds per case.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import Server, save_echo, save_math, save_spin, write_config
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

TIMEOUT_MS = 1500


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    save_math(str(root / "math" / "1"))
    save_spin(str(root / "spin" / "1"))
    save_echo(str(root / "echo" / "1"), 1)
    return root


@pytest.fixture(scope="module")
def server(models, log_dir):
    config = write_config(models / "models.config",
                          {"math": models / "math", "spin": models / "spin",
                           "echo": models / "echo"})
    server = Server([f"--model_config_file={config}", f"--rest_api_timeout_in_ms={TIMEOUT_MS}",
                     "--max_request_elements=100000", "--max_request_batch=64"], log_dir)
    yield server
    assert server.stop() == 0, server.output()


def healthy(server) -> None:
    status, doc = server.rest("/v1/models/math:predict",
                              {"inputs": {"x": [[1.0, 2.0]], "n": [3]}}, timeout=10)
    assert status == 200 and doc["outputs"]["total"] == [6.0], doc


REST_CASES = {
    "nested 1000 deep": b'{"instances": ' + b"[" * 1000 + b"1" + b"]" * 1000 + b"}",
    "400-digit number": json.dumps({"inputs": {"x": [[10**400, 1.0]], "n": [1]}}).encode(),
    "too many elements": json.dumps({"inputs": {"x": [[1.0, 2.0]] * 60000,
                                                "n": [1] * 60000}}).encode(),
    "batch over the cap": json.dumps({"inputs": {"x": [[1.0, 2.0]] * 100,
                                                 "n": [1] * 100}}).encode(),
    "invalid UTF-8": b'{"inputs": "\xff\xfe"}',
    "not an object": b"[1, 2, 3]",
}


@pytest.mark.parametrize("name", list(REST_CASES))
def test_hostile_rest_bodies_are_4xx_json(server, name):
    status, doc = server.rest("/v1/models/math:predict", REST_CASES[name])
    assert 400 <= status < 500 and isinstance(doc, dict) and "error" in doc, (status, doc)
    healthy(server)


def test_limits_name_themselves(server):
    status, doc = server.rest("/v1/models/math:predict", REST_CASES["too many elements"])
    assert "--max_request_elements" in doc["error"]
    status, doc = server.rest("/v1/models/math:predict", REST_CASES["batch over the cap"])
    assert "--max_request_batch" in doc["error"]


def broadcast_proto(shape, dtype=types_pb2.DT_STRING, value=b"x") -> tensor_pb2.TensorProto:
    """One value, a huge declared shape: tf.make_ndarray would broadcast it."""
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]))
    if dtype == types_pb2.DT_STRING:
        proto.string_val.append(value)
    return proto


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize(
    "proto",
    [broadcast_proto([10_000_000]), broadcast_proto([2**40]), broadcast_proto([-1]),
     broadcast_proto([1], types_pb2.DT_VARIANT), broadcast_proto([1], types_pb2.DT_RESOURCE)],
    ids=["10M broadcast", "2**40 broadcast", "negative dim", "variant", "resource"],
)
def test_hostile_grpc_tensors_are_invalid_argument(server, proto):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "math"
    request.inputs["x"].CopyFrom(proto)
    request.inputs["n"].CopyFrom(tf.make_tensor_proto(np.array([1], np.int64)))
    before = rss_bytes(server.proc.pid)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert time.monotonic() - started < 5
    assert rss_bytes(server.proc.pid) - before < 200 << 20  # nothing was built
    healthy(server)


def test_a_string_broadcast_past_the_request_bytes_is_refused_before_it_is_built(server):
    """One 2 MB string declared [60] would be 120 MB once broadcast: more than a request may
    carry (--max_request_bytes, 64 MiB), so it is refused from the declared shape."""
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "echo"
    request.inputs["prompts"].CopyFrom(broadcast_proto([60], value=b"x" * (2 << 20)))
    before = rss_bytes(server.proc.pid)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert "--max_request_bytes" in info.value.details()
    assert rss_bytes(server.proc.pid) - before < 60 << 20  # nothing was built
    healthy(server)


def test_a_megabyte_model_name_is_not_found_and_quoted_short(server):
    """The error quotes a requested name cut short: echoing 1 MB back in the gRPC status would
    pass the metadata limit (RESOURCE_EXHAUSTED instead of NOT_FOUND) and hold the bytes."""
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    for name in ("n" * (1 << 20), "m" * (1 << 20)):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0]], np.float32)))
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND, info.value.code()
        assert len(info.value.details()) < 1024
        assert f"({1 << 20} bytes)" in info.value.details()
    status, doc = server.rest(f"/v1/models/{'q' * 6000}", None, timeout=10)
    assert status == 404 and len(doc["error"]) < 1024, (status, str(doc)[:200])
    healthy(server)


def raw_http(server, request: bytes, wait: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=wait) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


BODY = b'{"inputs": {"x": [[1.0, 2.0]], "n": [3]}}'


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: +40\r\n",
        b"Content-Length: 4_0\r\n",
        b"Content-Length: 40\r\nContent-Length: 41\r\n",
        b"Content-Length: 40\r\nTransfer-Encoding: chunked\r\n",
    ],
    ids=["plus sign", "underscore", "two lengths", "chunked and length"],
)
def test_malformed_framing_is_refused(server, headers):
    reply = raw_http(server, b"POST /v1/models/math:predict HTTP/1.1\r\nHost: x\r\n" + headers
                     + b"Connection: close\r\n\r\n" + BODY)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split()[1].startswith(b"4"), reply[:300]
    assert b"application/json" in head and "error" in json.loads(body)
    assert b"python" not in head.lower()
    healthy(server)


def test_every_error_is_json_and_the_server_header_names_no_interpreter(server):
    reply = raw_http(server, b"BREW /v1/models/math HTTP/1.1\r\nHost: x\r\nConnection: close"
                             b"\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"application/json" in head and json.loads(body)["error"], reply[:300]
    reply = raw_http(server, b"GET /v1/models/math HTTP/1.1\r\nHost: x\r\nConnection: close"
                             b"\r\n\r\n")
    server_header = [line for line in reply.split(b"\r\n") if line.lower().startswith(b"server:")]
    assert server_header and b"python" not in server_header[0].lower()


def test_clients_that_hang_up_leave_no_traceback(server):
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", server.rest_port)) as sock:
            sock.sendall(b"POST /v1/models/spin:predict HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 25\r\n\r\n{\"instances\": [100000")
    time.sleep(TIMEOUT_MS / 1000 + 1)
    healthy(server)
    assert "Traceback" not in server.output()


def test_a_connection_that_never_finishes_its_headers_is_closed(server):
    """Half a request line holds no connection past the REST deadline (aiohttp alone kept
    them open for good)."""
    stalled = [socket.create_connection(("127.0.0.1", server.rest_port)) for _ in range(3)]
    for sock in stalled:
        sock.sendall(b"POST /v1/models/math:pre")
    time.sleep(TIMEOUT_MS / 1000 + 1.5)
    for sock in stalled:
        sock.settimeout(5)
        assert sock.recv(100) == b""  # closed by the server
        sock.close()
    healthy(server)


def test_slow_clients_cannot_starve_the_server(server):
    sockets = []
    for _ in range(60):  # more than the worker threads
        sock = socket.create_connection(("127.0.0.1", server.rest_port))
        sock.sendall(b"GET /v1/models/math HTTP/1.1\r\n")
        sockets.append(sock)
    try:
        for _ in range(3):
            for sock in sockets:
                sock.sendall(b"X-Slow: 1\r\n")
            started = time.monotonic()
            healthy(server)
            assert time.monotonic() - started < 2
            time.sleep(1)
    finally:
        for sock in sockets:
            sock.close()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_request_past_its_deadline_stops_using_the_cpu(server):
    started = time.monotonic()
    status, doc = server.rest("/v1/models/spin:predict", {"instances": [10**9]})
    assert status == 504 and "error" in doc
    assert time.monotonic() - started < TIMEOUT_MS / 1000 + 2
    time.sleep(0.5)
    before = cpu_seconds(server.proc.pid)
    time.sleep(2)
    assert cpu_seconds(server.proc.pid) - before < 0.5  # the loop was cancelled
    stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "spin"
    request.inputs["n"].CopyFrom(tf.make_tensor_proto(np.array([10**9], np.int64)))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=1)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(1.5)
    before = cpu_seconds(server.proc.pid)
    time.sleep(2)
    assert cpu_seconds(server.proc.pid) - before < 0.5
    healthy(server)
    # The cancelled work's own error is dropped, not logged as never retrieved.
    assert "never retrieved" not in server.output(), server.output()[-3000:]


def test_sigterm_under_load_exits_within_five_seconds(models, log_dir):
    config = write_config(models / "spin.config", {"spin": models / "spin"})
    server = Server([f"--model_config_file={config}", "--rest_api_timeout_in_ms=600000"],
                    log_dir)
    threads = [threading.Thread(target=server.rest, args=("/v1/models/spin:predict",
                                                          {"instances": [10**9]}),
                                kwargs={"timeout": 120}, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    started = time.monotonic()
    assert server.stop() == 0, server.output()
    assert time.monotonic() - started < 5
    for noise in ("Task was destroyed", "never retrieved", "Traceback"):
        assert noise not in server.output(), server.output()[-3000:]
    said = re.search(r"stopped in [0-9.]+ s \(([0-9]+) request\(s\) in flight cancelled",
                     server.output())
    assert said and int(said.group(1)) >= 1, server.output()[-3000:]


def test_a_version_copied_in_bit_by_bit_loads_once_whole(models, tmp_path, log_dir):
    base = tmp_path / "math"
    shutil.copytree(models / "math" / "1", base / "1")
    server = Server([f"--model_base_path={base}", "--model_name=math"], log_dir)
    try:
        # Version 2 appears non-atomically: saved_model.pb first, variables/ seconds later.
        (base / "2").mkdir()
        shutil.copy(models / "math" / "1" / "saved_model.pb", base / "2" / "saved_model.pb")
        time.sleep(3)
        status, doc = server.rest("/v1/models/math/versions/2")
        assert status == 200 and doc["model_version_status"][0]["state"] == "END"
        assert server.rest("/v1/models/math")[1]["model_version_status"]  # v1 still serves
        shutil.copytree(models / "math" / "1" / "variables", base / "2" / "variables")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status, doc = server.rest("/v1/models/math/versions/2")
            if doc["model_version_status"][0]["state"] == "AVAILABLE":
                break
            time.sleep(0.5)
        assert doc["model_version_status"][0]["state"] == "AVAILABLE", doc
    finally:
        assert server.stop() == 0
