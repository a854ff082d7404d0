"""What goman puts on the wire: S3 writes go in one round trip (no `Expect: 100-continue`),
and the standard-library fast path serves reads from many threads at once."""

from __future__ import annotations

import threading
from typing import Any

from goman.aws.lite import LiteAws, resolve_credentials
from goman.state.store import StateStore


def test_a_put_sends_its_body_without_waiting_for_100_continue(
    store: StateStore, sandbox: Any
) -> None:
    store.put_bytes("test/first.json", b"{}", create=True)  # the bucket exists from here
    seen: list[tuple[str, str | None]] = []

    def record(environ: dict[str, Any], start: Any) -> None:
        if environ["REQUEST_METHOD"] == "PUT" and "/state/" in environ["PATH_INFO"]:
            seen.append((environ["PATH_INFO"], environ.get("HTTP_EXPECT")))

    sandbox.app.hooks.append(record)
    try:
        store.put_bytes("test/plain.json", b'{"a": 1}', create=True)
    finally:
        sandbox.app.hooks.remove(record)
    # Accepted (the signature holds without the header), and sent without it.
    assert seen == [("/goman-123456789012/state/default/test/plain.json", None)]
    assert store.get_bytes("test/plain.json")[0] == b'{"a": 1}'


def test_the_fast_path_reads_from_eight_threads_at_once(store: StateStore) -> None:
    store.put_bytes("test/hot.json", b'{"hot": true}', create=True)
    creds = resolve_credentials("default", explicit=False)
    assert creds is not None
    lite = LiteAws(creds)
    fallbacks: list[object] = []
    barrier = threading.Barrier(8)

    def reader() -> None:
        barrier.wait()
        for _ in range(25):
            got = lite.get_object(store.bucket, store.key("test/hot.json"), store.owner)
            if not isinstance(got, tuple) or got[0] != b'{"hot": true}':
                fallbacks.append(got)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lite.close()
    assert fallbacks == []  # every read answered on the fast path: none left to botocore
