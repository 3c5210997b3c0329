"""Serving throughput and latency of `python -m zoo.serve` over an export, batching on and off.

    python tools/benchmark_serve.py --export_dir=saved_models --model=transformer_lm_tiny
    python tools/benchmark_serve.py --export_dir=E --requests=64 --max_new_tokens=8

Starts the server on free loopback ports (once without, once with --enable_batching), then for
`generate` and `score` sends a bounded number of REST requests from 1, 8 and 32 concurrent
clients and prints requests/s and p50/p99 latency.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent import futures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    config: str, batching: str | None, log_path: str, repo: str = REPO
) -> tuple[subprocess.Popen, int]:
    """`python -m zoo.serve` of `repo` over `config` on free loopback ports, once it serves."""
    rest_port = free_port()
    args = [sys.executable, "-m", "zoo.serve", f"--model_config_file={config}",
            f"--port={free_port()}", f"--rest_api_port={rest_port}"]
    if batching:
        args += ["--enable_batching", f"--batching_parameters_file={batching}"]
    log = open(log_path, "w")
    proc = subprocess.Popen(args, cwd=repo, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while True:
        with open(log_path, errors="replace") as f:
            if "zoo.serve: serving" in f.read():
                return proc, rest_port
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            with open(log_path, errors="replace") as f:
                raise RuntimeError(f"server did not start:\n{f.read()[-3000:]}")
        time.sleep(0.2)


def post(url: str, body: bytes) -> float:
    start = time.perf_counter()
    request = urllib.request.Request(url, data=body)
    with urllib.request.urlopen(request, timeout=120) as reply:
        reply.read()
    return time.perf_counter() - start


def measure(url: str, body: bytes, clients: int, requests: int) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, failures) for `requests` calls from `clients` threads."""
    latencies, failures = [], 0
    start = time.perf_counter()
    with futures.ThreadPoolExecutor(clients) as pool:
        for outcome in futures.as_completed([pool.submit(post, url, body)
                                             for _ in range(requests)]):
            try:
                latencies.append(outcome.result())
            except (OSError, urllib.error.HTTPError):
                failures += 1
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies \
            else float("nan")

    return len(latencies) / elapsed, pct(0.5), pct(0.99), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export_dir", default="saved_models")
    parser.add_argument("--model", default=None, help="default: the first in models.config")
    parser.add_argument("--requests", type=int, default=64, help="requests per measurement")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--max_new_tokens", type=int, default=16)
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_micros", type=int, default=2000)
    args = parser.parse_args(argv)

    config = os.path.abspath(os.path.join(args.export_dir, "models.config"))
    if not os.path.exists(config):
        print(f"benchmark_serve: no {config}; export a model first", file=sys.stderr)
        return 2
    model = args.model
    if model is None:
        with open(config) as f:
            model = next(line.split('"')[1] for line in f if line.strip().startswith("name"))
    generate = json.dumps({"signature_name": "generate", "instances": [{
        "prompts": "ROMEO:", "max_new_tokens": args.max_new_tokens, "temperature": 0.8,
        "top_k": 0, "top_p": 1.0, "seed": 1}]}).encode()
    score = json.dumps({"signature_name": "score",
                        "instances": ["To be, or not to be, that is the question."]}).encode()
    clients = [int(c) for c in args.clients.split(",")]
    work = tempfile.mkdtemp(prefix="benchmark_serve-")
    batching = os.path.join(work, "batching.config")
    with open(batching, "w") as f:
        f.write(f"max_batch_size {{ value: {args.max_batch_size} }}\n"
                f"batch_timeout_micros {{ value: {args.batch_timeout_micros} }}\n"
                f"max_enqueued_batches {{ value: 1000 }}\nnum_batch_threads {{ value: 2 }}\n")
    print(f"model {model}, {args.requests} requests per row, generate max_new_tokens="
          f"{args.max_new_tokens}, batching: max_batch_size={args.max_batch_size} "
          f"batch_timeout_micros={args.batch_timeout_micros}")
    print(f"{'batching':<9}{'signature':<10}{'clients':>8}{'req/s':>9}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'failed':>8}")
    for mode in ("off", "on"):
        proc, port = start_server(config, batching if mode == "on" else None,
                                  os.path.join(work, f"serve-{mode}.log"))
        try:
            url = f"http://127.0.0.1:{port}/v1/models/{model}:predict"
            for name, body in (("generate", generate), ("score", score)):
                for _ in range(2):
                    post(url, body)  # warm the function up
                for n in clients:
                    rps, p50, p99, failed = measure(url, body, n, max(args.requests, n))
                    print(f"{mode:<9}{name:<10}{n:>8}{rps:>9.1f}{p50:>9.1f}{p99:>9.1f}"
                          f"{failed:>8}", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
