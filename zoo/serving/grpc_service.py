"""The gRPC front door: TF Serving's PredictionService and ModelService on the official stubs.

Servicers subclass the base classes generated in `tensorflow_serving.apis.*_pb2_grpc`, so any
client written for tensorflow_model_server works unchanged. The response protos are built
in responses.py, shared with the REST door.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from zoo.config import ConfigError
from zoo.serving import Metrics, ServingError, profiler_service, tensors
from zoo.serving.config import check_models
from zoo.serving.inflight import Deadline
from zoo.serving.limits import Limits
from zoo.serving.manager import ModelManager
from zoo.serving.responses import (
    check_metadata_fields,
    classification_result,
    metadata_response,
    model_spec,
    regression_result,
    status_response,
    version_choice,
)
from zoo.serving.servable import CLASSIFY, REGRESS, Runner, status_of


class _Door:
    """Turns ServingErrors into gRPC status codes and counts every request.

    Each call's work runs until the client's deadline, and stops when the RPC ends early (the
    client cancelled or went away).
    """

    def __init__(self, manager: ModelManager, runner: Runner | None, metrics: Metrics,
                 limits: Limits | None = None) -> None:
        self.manager, self.runner, self.metrics = manager, runner, metrics
        self.limits = limits or Limits()

    def _serve(self, context, model: str, api: str, work: Callable[[Deadline], object]):
        start = time.perf_counter()
        deadline = Deadline(context.time_remaining())
        context.add_callback(deadline.cancel)  # runs when the RPC is over, for whatever reason
        try:
            result = work(deadline)
        except Exception as e:  # every failure becomes a status, as in TF Serving
            error = status_of(e)
        else:
            self.metrics.record(model, api, "GRPC", "OK", time.perf_counter() - start)
            return result
        self.metrics.record(model, api, "GRPC", error.code, time.perf_counter() - start)
        context.abort(grpc.StatusCode[error.code], error.message)

    def _examples(self, request_input) -> list[bytes]:
        examples = tensors.examples_from_proto(request_input)
        self.limits.check_examples(examples)
        return examples


class PredictionService(_Door, prediction_service_pb2_grpc.PredictionServiceServicer):
    def Predict(self, request, context):
        def work(deadline):
            spec = request.model_spec
            self.limits.check_protos(request.inputs)  # before any tensor is built
            inputs = {k: tensors.from_tensor_proto(v) for k, v in request.inputs.items()}
            with self.manager.acquire(spec.name, *version_choice(spec)) as servable:
                name, outputs = servable.predict(
                    spec.signature_name, inputs, list(request.output_filter), self.runner,
                    deadline,
                )
                response = predict_pb2.PredictResponse(
                    model_spec=model_spec(spec.name, servable.version, name)
                )
            for alias, value in outputs.items():
                response.outputs[alias].CopyFrom(tensors.to_tensor_proto(value))
            return response

        return self._serve(context, request.model_spec.name, "predict", work)

    def GetModelMetadata(self, request, context):
        def work(deadline):
            check_metadata_fields(list(request.metadata_field))
            spec = request.model_spec
            with self.manager.acquire(spec.name, *version_choice(spec)) as servable:
                return metadata_response(servable)

        return self._serve(context, request.model_spec.name, "metadata", work)

    def Classify(self, request, context):
        def work(deadline):
            spec = request.model_spec
            examples = self._examples(request.input)
            with self.manager.acquire(spec.name, *version_choice(spec)) as servable:
                name, classes, scores = servable.classify(spec.signature_name, examples,
                                                          self.runner, deadline)
                return classification_pb2.ClassificationResponse(
                    model_spec=model_spec(spec.name, servable.version, name),
                    result=classification_result(classes, scores),
                )

        return self._serve(context, request.model_spec.name, "classify", work)

    def Regress(self, request, context):
        def work(deadline):
            spec = request.model_spec
            examples = self._examples(request.input)
            with self.manager.acquire(spec.name, *version_choice(spec)) as servable:
                name, values = servable.regress(spec.signature_name, examples, self.runner,
                                                deadline)
                return regression_pb2.RegressionResponse(
                    model_spec=model_spec(spec.name, servable.version, name),
                    result=regression_result(values),
                )

        return self._serve(context, request.model_spec.name, "regress", work)

    def MultiInference(self, request, context):
        def work(deadline):
            tasks = list(request.tasks)
            if not tasks:
                raise ServingError("INVALID_ARGUMENT", "Tasks is empty")
            first = tasks[0].model_spec
            seen = set()
            for task in tasks:
                if task.model_spec.name != first.name or version_choice(
                    task.model_spec
                ) != version_choice(first):
                    raise ServingError(
                        "INVALID_ARGUMENT",
                        "All ModelSpecs in a MultiInferenceRequest must access the same model "
                        "name and version.",
                    )
                if task.model_spec.signature_name in seen:
                    raise ServingError(
                        "INVALID_ARGUMENT",
                        f"Duplicate evaluation of signature: {task.model_spec.signature_name}",
                    )
                seen.add(task.model_spec.signature_name)
                if task.method_name not in (CLASSIFY, REGRESS):
                    raise ServingError(
                        "UNIMPLEMENTED", f"Unsupported signature method_name: {task.method_name}"
                    )
            examples = self._examples(request.input)
            response = inference_pb2.MultiInferenceResponse()
            with self.manager.acquire(first.name, *version_choice(first)) as servable:
                for task in tasks:
                    result = response.results.add()
                    signature = task.model_spec.signature_name
                    if task.method_name == CLASSIFY:
                        name, classes, scores = servable.classify(signature, examples,
                                                                  self.runner, deadline)
                        result.classification_result.CopyFrom(
                            classification_result(classes, scores)
                        )
                    else:
                        name, values = servable.regress(signature, examples, self.runner,
                                                        deadline)
                        result.regression_result.CopyFrom(regression_result(values))
                    result.model_spec.CopyFrom(model_spec(first.name, servable.version, name))
            return response

        name = request.tasks[0].model_spec.name if request.tasks else ""
        return self._serve(context, name, "multi_inference", work)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    def GetModelStatus(self, request, context):
        try:
            rows = self.manager.status(request.model_spec.name,
                                       *version_choice(request.model_spec))
        except ServingError as e:
            context.abort(grpc.StatusCode[e.code], e.message)
        return status_response(rows)

    def HandleReloadConfigRequest(self, request, context):
        config = request.config
        error = None
        if config.WhichOneof("config") != "model_config_list":
            error = ServingError("INVALID_ARGUMENT", "ServerConfig type must be model_config_list")
        else:
            try:
                models = check_models(list(config.model_config_list.config), source="request")
            except ConfigError as e:
                error = ServingError("INVALID_ARGUMENT", str(e))
            else:
                error = self.manager.reload(models)
        response = model_management_pb2.ReloadConfigResponse()
        if error is not None:
            response.status.error_code = grpc.StatusCode[error.code].value[0]
            response.status.error_message = error.message
            context.abort(grpc.StatusCode[error.code], error.message)
        return response


def start_grpc_server(
    host: str, port: int, manager: ModelManager, runner: Runner | None, metrics: Metrics,
    *, max_request_bytes: int, threads: int = 32, limits: Limits | None = None,
) -> tuple[grpc.Server, int]:
    """Starts both services on host:port (0 picks a free port); returns (server, port)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", -1),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(manager, runner, metrics, limits), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager), server)
    server.add_generic_rpc_handlers([profiler_service.handlers()])
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:
        raise ConfigError(f"cannot listen for gRPC on {address}: {e}") from e
    if not bound:
        raise ConfigError(f"cannot listen for gRPC on {address} (port in use?)")
    server.start()
    return server, bound

