"""Stopping training on a signal: SIGTERM or SIGINT ends the current step, the loop writes
a checkpoint and marks the run interrupted, and the process exits with 128+signum."""

from __future__ import annotations

import signal
import threading
from typing import Any


class RunInterrupted(KeyboardInterrupt):
    """Training stopped on a signal after writing a checkpoint; ``exit_code`` is 128+signum."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class StopSignals:
    """SIGTERM and SIGINT while training: the first asks the loop to stop after the current
    step (:attr:`signum` is set; the loop checkpoints and marks the run interrupted), a
    second ends the process at once by the signal's default action. Schedulers (Slurm,
    Kubernetes, Ray) send SIGTERM before they take a machine back. Handlers can only be
    installed from the main thread; elsewhere this does nothing."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        # The second signal is left to the kernel's default action: a Python handler would
        # run only when the main thread next executes bytecode, which may be after a long
        # write, or after a sleep another thread received the signal for.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
