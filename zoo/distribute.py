"""tf.distribute strategies by name, and the chief/worker bookkeeping every strategy shares."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from zoo.config import STRATEGIES, ConfigError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the strategy called `name`.

    `auto` picks MultiWorkerMirroredStrategy when TF_CONFIG describes a cluster, MirroredStrategy
    when there are several GPUs, and the default (no-op) strategy otherwise.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    if name == "auto":
        if _cluster_size() > 1:
            name = "multi_worker_mirrored"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if "TF_CONFIG" not in os.environ:
        raise ConfigError("--strategy=multi_worker_mirrored needs TF_CONFIG describing the cluster")
    return tf.distribute.MultiWorkerMirroredStrategy()


def split_cpu(num_devices: int) -> None:
    """Splits the CPU into `num_devices` logical devices (call before TensorFlow initializes).

    Lets `--strategy=mirrored` run data parallel on one CPU, which is how tests check that the
    distributed loop computes what the single-device loop computes.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
    )


def _cluster_size() -> int:
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {e}") from e
    return sum(len(v) for v in cluster.values())


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the one worker that writes checkpoints, summaries and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs
    )


def worker_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Where this worker writes: the run directory on the chief, a scratch folder elsewhere.

    Every worker must take part in saving (the save is a collective), but only the chief's copy is
    kept; the others write beside it and delete their copy afterwards.
    """
    if is_chief(strategy):
        return model_dir
    resolver = strategy.cluster_resolver
    return os.path.join(model_dir, ".workers", f"{resolver.task_type}_{resolver.task_id}")
