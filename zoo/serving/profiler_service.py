"""`tensorflow.ProfilerService/Profile` on zoo.serve's gRPC port, as TF Serving answers it.

TensorBoard's profile plugin and `tf.profiler.experimental.client.trace` send a ProfileRequest
(how long to trace, where the trace goes); the server traces itself with TensorFlow's profiler
for that long, writes the trace as `<repository_root>/<session_id>/<host>.xplane.pb` (and returns
it in the response when the request asks for `emit_xspace`) and answers `empty_trace: false`.

TensorFlow's pip package ships no Python classes for these messages, so the two are declared
here from the field numbers of its `tsl/profiler/protobuf/profiler_service.proto` (only the
fields this server reads or writes; the others are skipped by the parser). TensorFlow's own
profiler server (`tf.profiler.experimental.server.start`) would do, but it listens on every
interface, and it would be a second port.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import tempfile
import threading
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

MAX_DURATION_MS = 5 * 60 * 1000  # a trace holds one of the server's threads this long


def _messages():
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="zoo_profiler_service.proto",
                                               package="zoo.tensorflow", syntax="proto3")

    def add(message: str, fields: list[tuple[str, int, int]]) -> None:
        described = proto.message_type.add(name=message)
        for name, number, kind in fields:
            described.field.add(name=name, number=number, type=kind,
                                label=field.LABEL_OPTIONAL)

    add("ProfileRequest", [("duration_ms", 1, field.TYPE_UINT64),
                           ("repository_root", 5, field.TYPE_STRING),
                           ("session_id", 6, field.TYPE_STRING),
                           ("host_name", 7, field.TYPE_STRING),
                           ("emit_xspace", 9, field.TYPE_BOOL)])
    # xspace is an XSpace message; as bytes it has the same wire form (length-delimited).
    add("ProfileResponse", [("empty_trace", 7, field.TYPE_BOOL),
                            ("xspace", 8, field.TYPE_BYTES)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(
        f"zoo.tensorflow.{name}")) for name in ("ProfileRequest", "ProfileResponse"))


ProfileRequest, ProfileResponse = _messages()


class ProfilerService:
    """Traces the server for a request's duration; one trace at a time, as TensorFlow's
    profiler allows."""

    def __init__(self) -> None:
        self._busy = threading.Lock()

    def profile(self, request: bytes, context) -> bytes:
        import tensorflow as tf

        try:
            asked = ProfileRequest.FromString(request)
        except Exception:  # noqa: BLE001 - a malformed message is the client's
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "malformed ProfileRequest")
        if not asked.repository_root:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "ProfileRequest.repository_root: where the trace goes is required")
        duration = min(max(int(asked.duration_ms), 1), MAX_DURATION_MS) / 1000
        if not self._busy.acquire(blocking=False):
            context.abort(grpc.StatusCode.UNAVAILABLE, "another profile is being captured")
        scratch = tempfile.mkdtemp(prefix="zoo-profile-")
        try:
            tf.profiler.experimental.start(scratch)
            time.sleep(duration)
            tf.profiler.experimental.stop()
            traces = glob.glob(os.path.join(scratch, "plugins", "profile", "*", "*.xplane.pb"))
            data = open(traces[0], "rb").read() if traces else b""
        except tf.errors.OpError as e:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the profiler could not run: {e.message}")
        finally:
            self._busy.release()
            shutil.rmtree(scratch, ignore_errors=True)
        session = asked.session_id or time.strftime("%Y_%m_%d_%H_%M_%S")
        host = asked.host_name or socket.gethostname()
        folder = os.path.join(asked.repository_root, session)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{host}.xplane.pb"), "wb") as f:
            f.write(data)
        answer = ProfileResponse(empty_trace=not data)
        if asked.emit_xspace:
            answer.xspace = data
        return answer.SerializeToString()


def monitor_unimplemented(request: bytes, context) -> bytes:
    context.abort(grpc.StatusCode.UNIMPLEMENTED,
                  "zoo.serve answers ProfilerService/Profile; Monitor is not supported")


def handlers() -> grpc.GenericRpcHandler:
    service = ProfilerService()
    return grpc.method_handlers_generic_handler("tensorflow.ProfilerService", {
        "Profile": grpc.unary_unary_rpc_method_handler(service.profile),
        "Monitor": grpc.unary_unary_rpc_method_handler(monitor_unimplemented),
    })
