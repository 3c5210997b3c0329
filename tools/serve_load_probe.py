"""Does `python -m zoo.serve` stay responsive under the heaviest requests its caps allow?

    python tools/serve_load_probe.py --export_dir=saved_models --model=transformer_lm_tiny

Starts the server over the export's models.config on free loopback ports (with
`tools/benchmark_serve.py`'s helpers), sends `--clients` concurrent `generate` requests of
`--prompts` prompts x `--max_new_tokens` tokens (by default 8 x 1024 = 8,192 new tokens, the
export's default `--max_generate_tokens` cap), then, while they run, times a small `score`
request and a 4-token `generate`; finally sends SIGTERM and times the exit. Prints one line per
figure. Run it from a checkout (`--repo`) to probe another version of the server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from benchmark_serve import REPO, start_server


def post(url: str, body: dict, timeout: float) -> tuple[int, float]:
    """(HTTP status, seconds) of one JSON POST; status 0 when the connection failed."""
    began = time.monotonic()
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            reply.read()
            status = reply.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (urllib.error.URLError, OSError):
        status = 0
    return status, time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export_dir", default="saved_models")
    parser.add_argument("--model", default="transformer_lm_tiny")
    parser.add_argument("--repo", default=REPO, help="checkout whose zoo.serve runs")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=1024)
    args = parser.parse_args()

    config = os.path.abspath(os.path.join(args.export_dir, "models.config"))
    if not os.path.exists(config):
        sys.exit(f"serve_load_probe: no {config}; export a model first")
    log = os.path.join(tempfile.mkdtemp(prefix="serve_probe_"), "server.log")
    proc, rest = start_server(config, None, log, repo=args.repo)
    url = f"http://127.0.0.1:{rest}/v1/models/{args.model}"
    try:
        heavy = {"signature_name": "generate", "instances": [
            {"prompts": "ROMEO:", "max_new_tokens": args.max_new_tokens, "temperature": 0.8,
             "top_k": 200, "top_p": 1.0, "seed": i} for i in range(args.prompts)]}
        results: list[tuple[int, float]] = []
        threads = [threading.Thread(target=lambda: results.append(
            post(url + ":predict", heavy, 600)), daemon=True) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        small = {"signature_name": "score", "inputs": {"texts": ["To be, or not to be"]}}
        status, seconds = post(url + ":predict", small, 60)
        print(f"small score under load: HTTP {status} in {seconds:.2f} s", flush=True)
        tiny = {"signature_name": "generate", "instances": [
            {"prompts": "ROMEO:", "max_new_tokens": 4, "temperature": 0.8, "top_k": 200,
             "top_p": 1.0, "seed": 0}]}
        status, seconds = post(url + ":predict", tiny, 60)
        print(f"4-token generate under load: HTTP {status} in {seconds:.2f} s", flush=True)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=120)
            print(f"SIGTERM under load: exit {code} after {time.monotonic() - began:.2f} s")
        except subprocess.TimeoutExpired:
            print("SIGTERM under load: still running after 120 s")
        for thread in threads:
            thread.join(timeout=5)
        print("heavy requests: " + ", ".join(f"HTTP {s} after {t:.1f} s" for s, t in results))
    finally:
        if proc.poll() is None:
            proc.kill()


if __name__ == "__main__":
    main()
