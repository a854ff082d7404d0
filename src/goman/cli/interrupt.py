"""Ctrl-C and SIGTERM end a command the same way: at once, with one line, and with any
job this process runs handed back to the queue (the worker releases its lease on the
way out), so `goman worker` can resume it without waiting for the lease to expire.

Exit codes: 130 for Ctrl-C (SIGINT) and 143 for SIGTERM (128 + the signal number).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

INTERRUPTED = 130
TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt: whatever cleans up after
    Ctrl-C cleans up after SIGTERM too."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def catch_sigterm() -> Any:
    """Handle SIGTERM like Ctrl-C from now on; returns the handler it replaced (None when
    not on the main thread, where Python cannot install signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def exit_code(exc: BaseException) -> int:
    return TERMINATED if isinstance(exc, Terminated) else INTERRUPTED


def said(exc: BaseException) -> str:
    return "Terminated." if isinstance(exc, Terminated) else "Interrupted."
