"""Run the real `goman` on a pseudo-terminal, as a user at a terminal would, and read the
bytes it writes there (prompts, rewritten progress lines, colours)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable


class Terminal:
    def __init__(self, args: list[str], env: dict[str, str], cols: int = 160, rows: int = 40):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "goman", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            # The terminal's own size, not a COLUMNS/LINES left by whatever ran before.
            env={
                **{k: v for k, v in env.items() if k not in {"COLUMNS", "LINES"}},
                "TERM": "xterm-256color",
            },
            close_fds=True,
        )
        os.close(slave)
        self.output = b""

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to `timeout`); False once the terminal closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every process on the terminal has gone
            return False
        self.output += chunk
        return bool(chunk)

    def expect(self, check: Callable[[bytes], bool], what: str, timeout: float = 60) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self.output):
                return self.output
            if not self._read(0.1):
                break
        if check(self.output):
            return self.output
        raise AssertionError(f"timed out waiting for {what}; the terminal showed:\n{self.text}")

    def expect_text(self, text: str, timeout: float = 60) -> bytes:
        return self.expect(lambda out: text.encode() in out, repr(text), timeout)

    def type(self, data: str) -> None:
        os.write(self.master, data.encode())

    def interrupt(self, sig: int = signal.SIGINT) -> None:
        """Ctrl-C: the terminal sends SIGINT to the program in the foreground.

        A signal that lands in the instant between a prompt being written and the read
        starting is only noted by Python, which then blocks in the read (a user's Ctrl-C
        comes long after). If the program neither answers nor ends within a moment, the
        key is pressed again, as a user would."""
        seen = len(self.output)
        self.proc.send_signal(sig)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and self.proc.poll() is None:
            if len(self.output) > seen or not self._read(0.05):
                return
        if self.proc.poll() is None and len(self.output) == seen:
            self.proc.send_signal(sig)

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(0.1):
            if self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                break
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        self.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        with contextlib.suppress(OSError):
            os.close(self.master)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")
