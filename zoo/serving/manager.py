"""Models and their versions: discovery by polling, loading, availability-preserving swaps.

Mirrors TF Serving's FileSystemStoragePathSource + AspiredVersionsManager with the
availability-preserving policy: a new version is loaded before an old one is unloaded, the last
good version is never unloaded (a broken new version is reported as END with its error while the
old one keeps serving), "latest" routes to the highest AVAILABLE version, and an unload waits for
the requests in flight on that version (reference counting). Each loaded version is a
`servable.Servable`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Iterator, Mapping

from absl import logging

from zoo.serving import ServingError
from zoo.serving.config import ModelConfig
from zoo.serving.inflight import InFlight
from zoo.serving.saved_models import version_folders
from zoo.serving.servable import Servable, status_of

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"
SHOWN_NAME_CHARS = 200


def shown(name: str) -> str:
    """A requested model name as errors quote it: a name past SHOWN_NAME_CHARS is cut, so a
    request cannot make its own error megabytes long (gRPC refuses such trailing metadata)."""
    if len(name) <= SHOWN_NAME_CHARS:
        return name
    return f"{name[:SHOWN_NAME_CHARS]}... ({len(name.encode())} bytes)"


def discover_versions(base_path: str) -> dict[int, str]:
    """Version number -> directory, as TF Serving's file system source finds them."""
    return {number: os.path.join(base_path, entry)
            for number, entry in version_folders(base_path).items()}


def aspired_versions(found: Mapping[int, str], model: ModelConfig) -> set[int]:
    """The versions a model's version policy wants served (default: the latest one)."""
    policy = model.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return set(found)
    if choice == "specific":
        return set(found) & set(policy.specific.versions)
    count = max(policy.latest.num_versions, 1) if choice == "latest" else 1
    return set(sorted(found, reverse=True)[:count])


# A version that failed to load is tried again after 1, 2, 4 ... 60 seconds, and at once when
# its files change (TF Serving retries failed loads too, --max_num_load_retries).
RETRY_SECONDS, MAX_RETRY_SECONDS = 1.0, 60.0


def _fingerprint(path: str) -> tuple:
    """Every file of a version (name, size, modification time): a version being copied in,
    saved_model.pb first and variables/ later, changes until the copy is whole."""
    entries = []
    for root, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.stat(os.path.join(root, name))
            except OSError:
                continue
            entries.append((os.path.relpath(os.path.join(root, name), path), stat.st_size,
                            stat.st_mtime_ns))
    return tuple(sorted(entries))


class _Version:
    def __init__(self, version: int, path: str) -> None:
        self.version, self.path = version, path
        self.state = START
        self.error: ServingError | None = None
        self.servable: Servable | None = None
        self.refs = 0
        self.fingerprint: tuple = ()
        self.attempts = 0  # failed loads so far
        self.retry_at = 0.0  # monotonic time of the next attempt after a failure


class _Model:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.versions: dict[int, _Version] = {}
        self.labels: dict[str, int] = {}
        self.problem: str | None = None  # why the base path could not be read
        self.removed = False


class ModelManager:
    """Every configured model and its versions; front doors `acquire` servables from it."""

    def __init__(self, models: list[ModelConfig], *, xla_enabled: bool = False,
                 inflight: InFlight | None = None, method_name_check: bool = False) -> None:
        self.xla_enabled = xla_enabled
        self.inflight = inflight or InFlight()
        self.method_name_check = method_name_check
        self._cond = threading.Condition()
        self._poll_lock = threading.Lock()
        self._models: dict[str, _Model] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.set_models(models)

    # ----------------------------------------------------------------- configuration

    def set_models(self, models: list[ModelConfig]) -> None:
        """Adopts a new model list; models no longer listed have their versions unloaded."""
        with self._cond:
            names = {m.name for m in models}
            for name, model in self._models.items():
                if name not in names and not model.removed:
                    model.removed = True
                    for version in model.versions.values():
                        if version.state == AVAILABLE:
                            self._begin_unload(version)
            for config in models:
                model = self._models.get(config.name)
                if model is None or model.removed:
                    model = self._models[config.name] = _Model(config)
                if model.config.base_path != config.base_path:
                    # Failed loads from the old folder are not this one's: forget them.
                    model.versions = {n: v for n, v in model.versions.items()
                                      if not (v.state == END and v.error is not None)}
                model.config = config

    def configured(self, name: str) -> bool:
        """Whether `name` is (or was) a configured model: what per-model state may be kept."""
        with self._cond:
            return name in self._models

    def pending_labels(self) -> list[str]:
        """Messages for configured labels whose version is not AVAILABLE (FAILED_PRECONDITION)."""
        problems = []
        with self._cond:
            for model in self._models.values():
                if model.removed:
                    continue
                for label, version in model.config.version_labels.items():
                    entry = model.versions.get(version)
                    if entry is None or entry.state != AVAILABLE:
                        problems.append(
                            f"Request to assign label to version {version} of model "
                            f"{model.config.name}, which is not currently available for "
                            f"inference"
                        )
                    else:
                        model.labels[label] = version
                for label in list(model.labels):
                    if label not in model.config.version_labels:
                        del model.labels[label]
        return problems

    # ----------------------------------------------------------------- polling

    def poll(self) -> None:
        """One pass: discover versions, load what the policies want, unload what they dropped."""
        with self._poll_lock:
            with self._cond:
                models = [m for m in self._models.values() if not m.removed]
            for model in models:
                self._poll_model(model)
            self.pending_labels()

    def _poll_model(self, model: _Model) -> None:
        config = model.config
        try:
            found = discover_versions(config.base_path)
            model.problem = None
        except OSError as e:
            model.problem = (
                f"Could not find base path {config.base_path} for servable {config.name}: "
                f"{e.strerror}"
            )
            logging.warning("%s", model.problem)
            return
        if not found:
            model.problem = (
                f"No versions of servable {config.name} found under base path "
                f"{config.base_path}"
            )
        aspired = aspired_versions(found, config)
        for number in sorted(aspired, reverse=True):
            self._maybe_load(model, number, found[number])
        with self._cond:
            keep_old = not any(
                v.state == AVAILABLE for n, v in model.versions.items() if n in aspired
            )
            if not keep_old:
                for number, version in model.versions.items():
                    if number not in aspired and version.state == AVAILABLE:
                        self._begin_unload(version)

    def _maybe_load(self, model: _Model, number: int, path: str) -> None:
        fingerprint = _fingerprint(path)
        with self._cond:
            entry = model.versions.get(number)
            attempts = 0
            if entry is not None:
                if entry.state != END:
                    return
                changed = entry.fingerprint != fingerprint
                due = entry.error is not None and time.monotonic() >= entry.retry_at
                if entry.error is not None and not (changed or due):
                    return
                attempts = 0 if changed else entry.attempts
            entry = model.versions[number] = _Version(number, path)
            entry.fingerprint = fingerprint
            entry.attempts = attempts
            entry.state = LOADING
        name = model.config.name
        logging.info("Loading servable version {name: %s version: %d} from %s", name, number, path)
        try:
            servable = Servable(name, number, path, xla_enabled=self.xla_enabled,
                                inflight=self.inflight, method_name_check=self.method_name_check)
            servable.warmup()
        except Exception as e:  # a broken version must never take the server down
            error = status_of(e)
            with self._cond:
                entry.state, entry.error = END, error
                entry.attempts += 1
                wait = min(RETRY_SECONDS * 2 ** (entry.attempts - 1), MAX_RETRY_SECONDS)
                entry.retry_at = time.monotonic() + wait
                self._cond.notify_all()
            logging.warning("Failed to load servable %s version %d (attempt %d; next in %.0f s "
                            "or when its files change): %s", name, number, entry.attempts, wait,
                            error.message)
            return
        with self._cond:
            entry.servable, entry.state = servable, AVAILABLE
            self._cond.notify_all()
        logging.info("Successfully loaded servable version {name: %s version: %d}", name, number)

    def _begin_unload(self, entry: _Version) -> None:
        """Stops routing to `entry` now; frees it once its requests in flight finish."""
        entry.state = UNLOADING

        def finish() -> None:
            with self._cond:
                while entry.refs:
                    self._cond.wait()
                servable, entry.servable = entry.servable, None
                entry.state = END
                self._cond.notify_all()
            del servable
            gc.collect()

        threading.Thread(target=finish, name=f"unload-{entry.version}", daemon=True).start()

    def start_polling(self, seconds: float) -> None:
        """Polls every `seconds` in a background thread (0 or less: never again)."""
        if seconds <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.poll()
                except Exception:  # keep polling whatever happens to one pass
                    logging.exception("file system poll failed")

        thread = threading.Thread(target=loop, name="fs-poll", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def waiting_for(self) -> dict[str, str]:
        """Models without an AVAILABLE version yet, and why (startup waits for these)."""
        out = {}
        with self._cond:
            for name, model in self._models.items():
                if model.removed or any(v.state == AVAILABLE for v in model.versions.values()):
                    continue
                out[name] = model.problem or "no version loaded yet"
        return out

    def reload(self, models: list[ModelConfig]) -> ServingError | None:
        """Adopts a new model list now (HandleReloadConfigRequest); the first problem, if any."""
        self.set_models(models)
        self.poll()
        fatal = self.fatal_errors()
        for model in models:
            if model.name in fatal:  # its own code, as TF Serving answers: never UNKNOWN
                error = fatal[model.name]
                return ServingError("FAILED_PRECONDITION" if error.code == "UNKNOWN"
                                    else error.code, error.message)
        labels = self.pending_labels()
        return ServingError("FAILED_PRECONDITION", labels[0]) if labels else None

    def fatal_problems(self) -> dict[str, str]:
        """Models that cannot come up without the user: unreadable base paths, failed loads."""
        return {name: error.message for name, error in self.fatal_errors().items()}

    def fatal_errors(self) -> dict[str, ServingError]:
        """`fatal_problems` with their status codes: a failed load's own, NOT_FOUND for a base
        path that cannot be read."""
        out = {}
        with self._cond:
            for name, model in self._models.items():
                if model.removed or any(v.state == AVAILABLE for v in model.versions.values()):
                    continue
                errors = [v.error for v in model.versions.values() if v.error]
                if errors:
                    out[name] = errors[0]
                elif model.problem and model.problem.startswith("Could not find base path"):
                    out[name] = ServingError("NOT_FOUND", model.problem)
        return out

    # ----------------------------------------------------------------- requests

    @contextlib.contextmanager
    def acquire(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> Iterator[Servable]:
        """The servable a request names; it stays loaded until the `with` block ends."""
        with self._cond:
            model = self._models.get(name)
            if model is not None and model.removed:
                model = None
            if label is not None:
                if model is None or label not in model.labels:
                    raise ServingError(
                        "INVALID_ARGUMENT", f"Unrecognized servable version label: {label}"
                    )
                version = model.labels[label]
            if version is not None:
                entry = model.versions.get(version) if model else None
                if entry is None or entry.state != AVAILABLE:
                    raise ServingError(
                        "NOT_FOUND",
                        f"Servable not found for request: Specific({shown(name)}, {version})",
                    )
            else:
                ready = [v for v in model.versions.values() if v.state == AVAILABLE] if model \
                    else []
                if not ready:
                    raise ServingError(
                        "NOT_FOUND", f"Servable not found for request: Latest({shown(name)})"
                    )
                entry = max(ready, key=lambda v: v.version)
            entry.refs += 1
            servable = entry.servable
        try:
            yield servable
        finally:
            with self._cond:
                entry.refs -= 1
                if not entry.refs:
                    self._cond.notify_all()

    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> list[tuple[int, str, str, str]]:
        """[(version, state, error code, error message)], newest first, as GetModelStatus."""
        with self._cond:
            model = self._models.get(name)
            if model is None or not model.versions:
                raise ServingError(
                    "NOT_FOUND", f"Could not find any versions of model {shown(name)}"
                )
            if label is not None:
                if label not in model.labels:
                    raise ServingError(
                        "INVALID_ARGUMENT", f"Unrecognized servable version label: {label}"
                    )
                version = model.labels[label]
            if version is not None and version not in model.versions:
                raise ServingError(
                    "NOT_FOUND", f"Could not find version {version} of model {shown(name)}"
                )
            entries = [model.versions[version]] if version is not None else sorted(
                model.versions.values(), key=lambda v: -v.version
            )
            return [
                (v.version, v.state, v.error.code if v.error else "OK",
                 v.error.message if v.error else "")
                for v in entries
            ]
