"""Live updates and connection state: a teammate's CLI, and the network going away."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from goman.aws.session import AwsContext
from goman.state.store import StateStore
from goman.tui.widgets.clusters_table import ClustersTable
from tests.tui.conftest import text_of, wait_for


async def test_a_change_made_by_another_process_appears(make_app: Any, goman_proc: Any) -> None:
    app = make_app()
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.screen.query_one(ClustersTable)
        await wait_for(pilot, lambda: app.index is not None, what="index read")
        res = goman_proc("cluster", "create", "teammate", "--detach")
        assert res.exit_code == 0, res.output
        await wait_for(pilot, lambda: "teammate" in table.rows, what="teammate's cluster")
        assert str(table.get_cell("teammate", "phase")) == "Pending"
        assert str(table.get_cell("teammate", "job")).startswith("▶")


class Proxy:
    """A TCP relay to the sandbox that can stop answering, like a network going away."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up.is_set():
                client.close()  # the network is down: refuse by hanging up
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            client.close()
            return

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while self.up.is_set() and (chunk := src.recv(65536)):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.close()

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        self.thread.join(timeout=2)


@pytest.fixture
def proxy(
    sandbox: Any, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Proxy]:
    relay = Proxy(sandbox.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{relay.port}")
    try:
        yield relay
    finally:
        relay.close()


async def test_network_loss_shows_reconnecting_and_recovers(make_app: Any, proxy: Proxy) -> None:
    store = StateStore(AwsContext.from_flag(None))
    app = make_app(store=store)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.refreshed_at is not None, what="first refresh")
        assert "synced" in text_of(app, "#connection")
        proxy.up.clear()
        await wait_for(pilot, lambda: app.reconnecting, timeout=30, what="reconnecting")
        assert "reconnecting…" in text_of(app, "#connection")
        assert any(
            n.severity == "error" and "Cannot reach" in n.message for n in app._notifications
        )
        await pilot.press("c")  # the screen keeps working while the network is away
        await pilot.press("escape")
        proxy.up.set()
        await wait_for(pilot, lambda: not app.reconnecting, timeout=30, what="reconnected")
        assert "synced" in text_of(app, "#connection")


async def test_a_dead_endpoint_from_the_start_never_crashes(
    make_app: Any, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = socket.create_server(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    app = make_app(store=StateStore(AwsContext.from_flag(None)))
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.reconnecting, timeout=30, what="reconnecting")
        assert "reconnecting…" in text_of(app, "#connection")
        assert "connecting…" in text_of(app, "#where")
        await pilot.press("question_mark")
        await pilot.press("escape")
        assert app.is_running
