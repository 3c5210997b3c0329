"""The real TensorFlow Serving over saved_models/: prints the command, or runs it with --run.

    python tools/tf_serving.py                  # print the docker command
    python tools/tf_serving.py --runtime=binary # print the tensorflow_model_server command
    python tools/tf_serving.py --run            # run it (binary if installed, else docker)

`saved_models/models.config` (written by zoo.export) names absolute base paths, so the Docker
command mounts the export folder at /models (the image's convention) and also at its own absolute
path, which lets the one config file serve both the container and `python -m zoo.serve`.
Without Docker or the binary, `python -m zoo.serve` speaks the same API on the same ports.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys

IMAGE = "tensorflow/serving"


def docker_command(export_dir: str, port: int, rest_port: int, image: str = IMAGE) -> list[str]:
    root = os.path.abspath(export_dir)
    return [
        "docker", "run", "--rm", "-p", f"{port}:8500", "-p", f"{rest_port}:8501",
        "-v", f"{root}:/models", "-v", f"{root}:{root}:ro", image,
        "--model_config_file=/models/models.config",
        "--model_config_file_poll_wait_seconds=60",
    ]


def binary_command(export_dir: str, port: int, rest_port: int) -> list[str]:
    root = os.path.abspath(export_dir)
    return [
        "tensorflow_model_server", f"--port={port}", f"--rest_api_port={rest_port}",
        f"--model_config_file={os.path.join(root, 'models.config')}",
        "--model_config_file_poll_wait_seconds=60",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export_dir", default="saved_models", help="zoo.export's root folder")
    parser.add_argument("--runtime", choices=("auto", "docker", "binary"), default="auto",
                        help="auto: the binary when installed, else docker")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port on this machine")
    parser.add_argument("--rest_api_port", type=int, default=8501, help="REST port")
    parser.add_argument("--image", default=IMAGE, help="e.g. tensorflow/serving:2.20.0")
    parser.add_argument("--run", action="store_true", help="run the command instead of printing")
    args = parser.parse_args(argv)

    config = os.path.join(args.export_dir, "models.config")
    if not os.path.exists(config):
        print(f"tf_serving: no {config}: export a model first (python -m zoo.export)",
              file=sys.stderr)
        return 2
    runtime = args.runtime
    if runtime == "auto":
        runtime = "binary" if shutil.which("tensorflow_model_server") else "docker"
    if runtime == "binary":
        command = binary_command(args.export_dir, args.port, args.rest_api_port)
    else:
        command = docker_command(args.export_dir, args.port, args.rest_api_port, args.image)
    if not args.run:
        print(shlex.join(command))
        return 0
    if not shutil.which(command[0]):
        print(f"tf_serving: {command[0]} is not installed here; `python -m zoo.serve "
              f"--model_config_file={config}` serves the same API", file=sys.stderr)
        return 2
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
