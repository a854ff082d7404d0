"""A lock on a local file, taken the way kubectl takes one on a kubeconfig.

kubectl (client-go) creates `<file>.lock` with O_CREAT|O_EXCL before it rewrites a
kubeconfig and removes it afterwards; goman does the same, so a goman merge and a kubectl
write (or two goman merges) never interleave and lose each other's entries. Unlike kubectl,
goman waits for a held lock (up to a timeout) instead of failing at once.

A lock is stale, and is removed, when
- it names a process of this machine (goman writes `pid@hostname` into it) that no
  longer runs, or
- it is older than STALE_AFTER seconds: a kubeconfig write holds it for milliseconds, and
  kubectl's own lock files are empty, so age is the only sign a crashed kubectl leaves.
A stale lock is removed only if it is still the very file that was judged stale (same
inode and modification time), so a waiter never removes a lock another waiter has just
taken in its place.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from goman.aws.errors import GomanError

STALE_AFTER = 15.0
DEFAULT_TIMEOUT = 20.0


def _owner_gone(text: str) -> bool:
    """Does the lock name a process of this machine that is not running?"""
    pid, _, host = text.strip().partition("@")
    if not pid.isdigit() or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (perhaps another user's): not ours to judge
    return False


def _remove_if_stale(lock: Path) -> bool:
    """Remove `lock` if it is stale; True if it was removed (or was already gone)."""
    try:
        before = os.stat(lock)
        text = lock.read_text(errors="replace")[:200]
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not (_owner_gone(text) or time.time() - before.st_mtime > STALE_AFTER):
        return False
    try:
        now = os.stat(lock)
    except FileNotFoundError:
        return True
    if (now.st_ino, now.st_mtime_ns) != (before.st_ino, before.st_mtime_ns):
        return False  # replaced meanwhile: that one is someone's fresh lock
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock)
    return True


@contextlib.contextmanager
def locked(path: Path, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold `<path>.lock` (as kubectl names it) while the block runs."""
    lock = Path(f"{path}.lock")
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            break
        except FileExistsError:
            if _remove_if_stale(lock):
                continue
            if time.monotonic() >= deadline:
                raise _held(lock, timeout) from None
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(0.1, pause * 2)
        except OSError as exc:
            raise GomanError(
                f"Cannot lock {path} ({lock}): {exc.strerror or exc}.",
                "Check that its folder is writable.",
            ) from exc
    mine = os.fstat(fd)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}@{socket.gethostname()}\n")
        yield
    finally:
        # Only our own lock: a stale-lock breaker may have replaced it if we were very slow.
        with contextlib.suppress(OSError):
            if os.stat(lock).st_ino == mine.st_ino:
                os.unlink(lock)


def _held(lock: Path, waited: float) -> GomanError:
    try:
        holder = lock.read_text(errors="replace").strip()[:80]
        age = time.time() - lock.stat().st_mtime
    except OSError:
        holder, age = "", 0.0
    who = f"by {holder}" if holder else "by another program (kubectl leaves its lock empty)"
    return GomanError(
        f"{lock} has been held {who} for {age:.0f}s; gave up after waiting {waited:g}s.",
        f"If no kubectl or goman is writing that kubeconfig, remove {lock} and try again "
        f"(goman removes a lock older than {STALE_AFTER:g}s by itself).",
    )
