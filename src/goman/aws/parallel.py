"""Running independent AWS calls at once.

Users sit 120-250 ms from the state bucket, so calls that do not depend on each other
are sent together: the wait is one round trip instead of one per call.

The threads are daemon threads: a Ctrl-C ends the process at once instead of waiting at
exit for calls still in flight (the standard thread pool joins its threads at exit).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
U = TypeVar("U")

MAX_THREADS = 16


def spawn(fn: Callable[[], T], name: str = "goman") -> Future[T]:
    """Run `fn` in a new daemon thread; its result (or exception) in the future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def together(*calls: Callable[[], T]) -> list[T]:
    """Run the calls at once; their results in order. If any failed, the first failure
    (in call order) is raised once every call has ended."""
    return each(lambda call: call(), calls)


def both(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """Two calls at once, with results of different types (failures as for `together`)."""
    other = spawn(second)
    try:
        a = first()
    except Exception:
        other.exception()  # let it end before the failure goes up (a Ctrl-C does not wait)
        raise
    return a, other.result()


def each(fn: Callable[[T], U], items: Iterable[T], limit: int = MAX_THREADS) -> list[U]:
    """`fn` applied to every item, at most `limit` at a time; results in item order. If
    any failed, the first failure (in item order) is raised once every call has ended."""
    work = list(items)
    if len(work) <= 1:
        return [fn(item) for item in work]
    futures: list[Future[U]] = [Future() for _ in work]
    lock = threading.Lock()
    next_index = iter(range(len(work)))

    def drain() -> None:
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            try:
                futures[i].set_result(fn(work[i]))
            except BaseException as exc:
                futures[i].set_exception(exc)

    runners = [spawn(drain) for _ in range(max(1, min(len(work), limit)))]
    _settle(runners)
    return [f.result() for f in futures]


def _settle(futures: Iterable[Future[Any]]) -> None:
    for future in futures:
        future.exception()  # waits; the outcome is read by the caller
