"""Signature calls in flight: each one stops at its deadline, and all of them at shutdown.

A request's work is a TensorFlow function call. Python cannot interrupt it, but TensorFlow can:
every call runs under its own `CancellationManager`, which a timer fires at the request's deadline
(REST: --rest_api_timeout_in_ms; gRPC: the client's deadline) and the server fires for all calls
when it stops. The executor then abandons the function at its next op (a decoding loop at its
next step), so a request past its deadline stops using the CPU, and SIGTERM under load exits in
seconds instead of when the work would have ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from zoo.serving import ServingError


class Deadline:
    """When a request must be answered (monotonic seconds), and whether it was cancelled."""

    def __init__(self, seconds: float | None = None) -> None:
        self.at = None if seconds is None else time.monotonic() + max(seconds, 0.0)
        self._cancels: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.cancelled = False

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def expired(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def on_cancel(self, cancel: Callable[[], None]) -> None:
        with self._lock:
            if self.cancelled:
                cancel()
            else:
                self._cancels.append(cancel)

    def cancel(self) -> None:
        """Stops the request's work now (the client went away, or the server stops)."""
        with self._lock:
            self.cancelled = True
            cancels, self._cancels = self._cancels, []
        for cancel in cancels:
            cancel()


_local = threading.local()


def _install_thread_local_cancellation() -> None:
    """Makes TensorFlow's "current cancellation manager" per thread.

    `tensorflow.python.eager.cancellation` keeps it in one module global that every function
    call reads (`context.call_function`), so with requests on many threads one request's call
    could pick up another's manager. The module's `context()` is replaced by a thread-local one.
    """
    from tensorflow.python.eager import cancellation

    cancellation.context = lambda: getattr(_local, "manager", None)


class InFlight:
    """Runs signature calls so that they can be cancelled; `stop()` cancels every one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._managers: set[Any] = set()
        self.stopping = False
        _install_thread_local_cancellation()

    def run(self, function, kwargs: dict, deadline: Deadline | None) -> Any:
        """`function(**kwargs)`, cancelled at the deadline; DEADLINE_EXCEEDED (or UNAVAILABLE
        when the server is stopping) if it was."""
        import tensorflow as tf
        from tensorflow.python.eager import cancellation

        if self.stopping:
            raise ServingError("UNAVAILABLE", "The server is shutting down")
        if deadline is not None and deadline.expired():
            raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded")
        manager = cancellation.CancellationManager()
        timer = None
        remaining = deadline.remaining() if deadline is not None else None
        if remaining is not None:
            timer = threading.Timer(remaining, manager.start_cancel)
            timer.daemon = True
            timer.start()
        if deadline is not None:
            deadline.on_cancel(manager.start_cancel)
        with self._lock:
            self._managers.add(manager)
        _local.manager = manager
        try:
            return function(**kwargs)
        except tf.errors.CancelledError:
            if self.stopping:
                raise ServingError("UNAVAILABLE", "The server is shutting down") from None
            if deadline is not None and deadline.cancelled:
                raise ServingError("CANCELLED", "Request cancelled by the client") from None
            raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded") from None
        finally:
            _local.manager = None
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._managers.discard(manager)

    def stop(self) -> int:
        """Cancels every call in flight and refuses new ones; returns how many were cancelled."""
        with self._lock:
            self.stopping = True
            managers = list(self._managers)
        for manager in managers:
            manager.start_cancel()
        return len(managers)
