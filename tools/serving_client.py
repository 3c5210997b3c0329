"""A client for a zoo model behind TF Serving or `python -m zoo.serve`: REST and gRPC.

    python tools/serving_client.py --model=transformer_lm_tiny --prompt="ROMEO:"
    python tools/serving_client.py --protocol=grpc --max_new_tokens=40 --temperature=0.8
    python tools/serving_client.py --score="To be, or not to be"

REST uses nothing but urllib; gRPC uses the official stubs from tensorflow-serving-api. Both work
unchanged against the real tensorflow_model_server.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request


def rest_predict(host: str, port: int, model: str, body: dict, timeout: float = 60) -> dict:
    """POST /v1/models/<model>:predict; raises RuntimeError with the server's error message."""
    request = urllib.request.Request(
        f"http://{host}:{port}/v1/models/{model}:predict", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"HTTP {e.code}: {json.loads(e.read()).get('error')}") from e


def grpc_predict(host: str, port: int, model: str, signature: str, inputs: dict,
                 timeout: float = 60) -> dict:
    """PredictionService.Predict with numpy inputs; returns numpy outputs."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        for alias, value in inputs.items():
            request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
        reply = stub.Predict(request, timeout=timeout)
    return {alias: tf.make_ndarray(proto) for alias, proto in reply.outputs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    parser.add_argument("--port", type=int, help="default: 8501 for REST, 8500 for gRPC")
    parser.add_argument("--model", default="transformer_lm_tiny")
    parser.add_argument("--prompt", default="ROMEO:")
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top_k", type=int, default=0)
    parser.add_argument("--top_p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score", help="score this text instead of generating")
    args = parser.parse_args(argv)
    port = args.port or (8501 if args.protocol == "rest" else 8500)

    if args.score is not None:
        signature, row = "score", {"texts": args.score}
    else:
        signature, row = "generate", {
            "prompts": args.prompt, "max_new_tokens": args.max_new_tokens,
            "temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p,
            "seed": args.seed,
        }
    try:
        if args.protocol == "rest":
            reply = rest_predict(args.host, port, args.model,
                                 {"signature_name": signature, "instances": [row]})
            result = reply["predictions"][0]
        else:
            import numpy as np

            dtypes = {"prompts": object, "texts": object, "max_new_tokens": np.int32,
                      "temperature": np.float32, "top_k": np.int32, "top_p": np.float32,
                      "seed": np.int32}
            inputs = {k: np.array([v.encode() if isinstance(v, str) else v], dtype=dtypes[k])
                      for k, v in row.items()}
            outputs = grpc_predict(args.host, port, args.model, signature, inputs)
            result = {k: v[0].decode() if isinstance(v[0], bytes) else v[0].tolist()
                      for k, v in outputs.items()}
    except (OSError, RuntimeError) as e:
        print(f"serving_client: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # grpc.RpcError without importing grpc for REST users
        if hasattr(e, "code") and hasattr(e, "details"):
            print(f"serving_client: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
        raise
    if signature == "generate":
        print(args.prompt + result["text"])
    else:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
