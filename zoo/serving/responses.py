"""The response protos both front doors build: status, metadata and classification/regression
results. gRPC sends them as they are; REST writes the same protos as JSON, as TF Serving does."""

from __future__ import annotations

import grpc
from google.protobuf import wrappers_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    regression_pb2,
)

from zoo.serving import ServingError
from zoo.serving.servable import Servable

_STATES = get_model_status_pb2.ModelVersionStatus.State


def model_spec(name: str, version: int, signature_name: str = "") -> model_pb2.ModelSpec:
    return model_pb2.ModelSpec(
        name=name, version=wrappers_pb2.Int64Value(value=version), signature_name=signature_name
    )


def version_choice(spec: model_pb2.ModelSpec) -> tuple[int | None, str | None]:
    """(version, label) named by a ModelSpec; both None means the latest version."""
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label":
        return None, spec.version_label
    return None, None


def status_response(
    rows: list[tuple[int, str, str, str]],
) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for version, state, code, message in rows:
        entry = response.model_version_status.add(version=version, state=_STATES.Value(state))
        entry.status.error_code = grpc.StatusCode[code].value[0]
        entry.status.error_message = message
    return response


def metadata_response(servable: Servable) -> get_model_metadata_pb2.GetModelMetadataResponse:
    response = get_model_metadata_pb2.GetModelMetadataResponse(
        model_spec=model_spec(servable.name, servable.version)
    )
    signatures = get_model_metadata_pb2.SignatureDefMap(signature_def=servable.signature_defs)
    response.metadata["signature_def"].Pack(signatures)
    return response


def check_metadata_fields(fields: list[str]) -> None:
    if not fields:
        raise ServingError(
            "INVALID_ARGUMENT", "GetModelMetadataRequest must specify at least one metadata_field"
        )
    for field in fields:
        if field != "signature_def":
            raise ServingError("INVALID_ARGUMENT", f"Metadata field {field} is not supported")


def classification_result(classes, scores) -> classification_pb2.ClassificationResult:
    result = classification_pb2.ClassificationResult()
    ref = scores if scores is not None else classes
    for i in range(ref.shape[0]):
        row = result.classifications.add()
        for j in range(ref.shape[1]):
            entry = row.classes.add()
            if classes is not None:
                label = classes[i][j]
                entry.label = label.decode("utf-8", "replace") if isinstance(label, bytes) \
                    else str(label)
            if scores is not None:
                entry.score = float(scores[i][j])
    return result


def regression_result(values) -> regression_pb2.RegressionResult:
    result = regression_pb2.RegressionResult()
    for value in values:
        result.regressions.add(value=float(value))
    return result
