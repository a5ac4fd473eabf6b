"""The local graph server launcher, against real Java processes.

Tests that stop, kill or break a server use their own root in tmp_path, so the
session's shared server (conftest.graph_server) is never disturbed.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import GraphServerError
from core.types import Chunk, Document, content_id
from graph import GraphStore, LocalGraphServer, ServerInfo, _process

REPO = Path(__file__).resolve().parents[2]


def java_pids(root: Path) -> list[int]:
    """Live ArcadeDB processes serving ``root``, straight from /proc."""
    marker = f"-Darcadedb.server.rootPath={root.resolve()}\0".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker in cmdline and b"com.arcadedb.server.ArcadeDBServer" in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} is still alive")


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LocalGraphServer]:
    """A server root of the test's own; whatever runs there is stopped afterwards."""
    server = LocalGraphServer(tmp_path / "graph", start_timeout=60)
    try:
        yield server
    finally:
        server.stop()
        assert java_pids(server.root) == []


def write_one_document(info: ServerInfo) -> Document:
    document = Document(
        id=Document.make_id("kept.md"), source="kept.md", title="Kept", text="kept", content_hash=content_id("kept")
    )
    chunk = Chunk(
        id=Chunk.make_id(document.id, 0, "kept"), document_id=document.id, index=0, text="kept", start=0, end=4
    )
    with GraphStore(info.uri, info.auth, info.database) as store:
        store.ensure_schema()
        store.upsert_document(document, [chunk], [], [], [])
    return document


def test_start_is_idempotent_and_reuses_the_running_server(graph_server: LocalGraphServer) -> None:
    first = graph_server.start()
    again = graph_server.start()
    # Another instance on the same root stands for another `lore` invocation.
    other = LocalGraphServer(graph_server.root).start()

    assert first == again == other
    assert java_pids(graph_server.root) == [first.pid]
    assert first.uri == f"bolt://127.0.0.1:{first.bolt_port}"
    assert (first.user, first.database) == ("root", "lore")
    assert first.version and "ArcadeDB" in first.version
    assert graph_server.status() == first

    state = json.loads(graph_server.state_path.read_text())
    assert (state["pid"], state["bolt_port"], state["http_port"]) == (first.pid, first.bolt_port, first.http_port)
    assert stat.S_IMODE(graph_server.credentials_path.stat().st_mode) == 0o600
    assert json.loads(graph_server.credentials_path.read_text())["password"] == first.password
    # The password reaches Java through a 0600 file, never the visible command line.
    assert first.password.encode() not in Path(f"/proc/{first.pid}/cmdline").read_bytes()
    assert first.password not in repr(first)
    assert graph_server.log_path.is_file()


def test_concurrent_starts_share_one_server_and_stop_ends_it(own_server: LocalGraphServer) -> None:
    results: list[ServerInfo] = []
    errors: list[Exception] = []

    def start() -> None:
        try:
            results.append(LocalGraphServer(own_server.root).start())
        except (GraphServerError, OSError) as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(results) == 3
    assert len({info.pid for info in results}) == 1
    pid = results[0].pid
    assert java_pids(own_server.root) == [pid]

    assert own_server.stop() is True
    wait_gone(pid)
    assert not own_server.state_path.exists()
    assert own_server.status() is None
    assert own_server.stop() is False


def test_stale_state_is_cleaned_and_a_fresh_server_started(own_server: LocalGraphServer) -> None:
    own_server.root.mkdir(parents=True)
    # A live pid that is not our server (here: this very test process) is never signalled.
    own_server.state_path.write_text(json.dumps({"pid": os.getpid(), "bolt_port": 1, "http_port": 2}))
    assert own_server.status() is None
    assert own_server.stop() is False
    assert not own_server.state_path.exists()

    stale = {"pid": dead_pid(), "bolt_port": 1, "http_port": 2, "status": "ready"}
    own_server.state_path.write_text(json.dumps(stale))
    assert own_server.status() is None

    info = own_server.start()
    assert info.pid != stale["pid"]
    assert java_pids(own_server.root) == [info.pid]
    assert json.loads(own_server.state_path.read_text())["pid"] == info.pid


def test_kill_9_of_the_server_then_start_recovers_with_data_intact(own_server: LocalGraphServer) -> None:
    before = own_server.start()
    document = write_one_document(before)

    os.kill(before.pid, signal.SIGKILL)
    wait_gone(before.pid)
    assert own_server.status() is None

    after = own_server.start()
    assert after.pid != before.pid
    with GraphStore(after.uri, after.auth, after.database) as store:
        assert store.document_ids() == {document.id}
        assert store.chunk_ids(document.id) == {Chunk.make_id(document.id, 0, "kept")}


def test_kill_9_of_the_launcher_during_start_up_does_not_block_the_next_start(own_server: LocalGraphServer) -> None:
    code = "import sys; from pathlib import Path; from graph import LocalGraphServer; LocalGraphServer(Path(sys.argv[1])).start()"
    launcher = subprocess.Popen([sys.executable, "-c", code, str(own_server.root)], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not own_server.state_path.exists():  # the server process exists from here on
            assert time.monotonic() < deadline and launcher.poll() is None, "launcher never launched"
            time.sleep(0.02)
    finally:
        launcher.kill()
        launcher.wait()

    info = own_server.start()
    assert java_pids(own_server.root) == [info.pid]
    assert not (own_server.root / ".java-args").exists()  # the password file does not outlive start-up


def test_start_failure_names_the_log_file(tmp_path: Path) -> None:
    server = LocalGraphServer(tmp_path / "graph", heap="1m")  # the JVM refuses to start with this heap
    with pytest.raises(GraphServerError, match="server.out") as failure:
        server.start()
    assert "Too small" in str(failure.value)  # the log's last lines come with the error
    assert not server.state_path.exists()
    assert java_pids(server.root) == []


def test_start_timeout_stops_the_half_started_server(tmp_path: Path) -> None:
    server = LocalGraphServer(tmp_path / "graph", start_timeout=0.3)
    with pytest.raises(GraphServerError, match=r"within 0\.3 s; see .*server\.out"):
        server.start()
    assert not server.state_path.exists()
    assert java_pids(server.root) == []


def test_terminate_ends_a_frozen_process_without_waiting_out_the_grace_period() -> None:
    child = subprocess.Popen(["sleep", "60"])
    os.kill(child.pid, signal.SIGSTOP)
    started = time.monotonic()
    _process.terminate(child.pid, grace=10)
    assert child.wait(timeout=1) == -signal.SIGTERM
    assert time.monotonic() - started < 5


def test_constructor_rejects_odd_heap_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="heap"):
        LocalGraphServer(tmp_path, heap="512m -XX:+Evil")
