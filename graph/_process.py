"""POSIX process and file helpers for the local graph server launcher.

Kept apart from ``server.py`` so the launcher reads as policy (when to reuse,
clean or launch) and this module as mechanism. Linux reads ``/proc``; other
POSIX systems fall back to ``ps``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_PROC = Path("/proc")


class LockTimeout(Exception):
    """Another process held the lock for longer than we were willing to wait."""


# ---- processes ------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a running process (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    # A killed child of a process that never reaps it stays a zombie with its pid
    # still answering kill(0); for us it is gone.
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cmdline(pid: int) -> str | None:
    """The command line of ``pid``, arguments joined by spaces; None if it cannot be read."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except FileNotFoundError:
        if _PROC.is_dir():
            return None  # procfs exists, so the process does not
    except OSError:
        return None
    result = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def find_processes(markers: tuple[str, ...]) -> list[int]:
    """Pids of this user's processes whose command line contains every marker."""
    found: list[int] = []
    if _PROC.is_dir():
        uid = os.getuid()
        for entry in _PROC.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid != uid:
                    continue
            except OSError:
                continue
            line = cmdline(int(entry.name))
            if line and all(m in line for m in markers) and pid_alive(int(entry.name)):
                found.append(int(entry.name))
        return found
    result = subprocess.run(["ps", "-x", "-o", "pid=,command="], capture_output=True, text=True, check=False)
    for row in result.stdout.splitlines():
        pid_text, _, line = row.strip().partition(" ")
        if pid_text.isdigit() and all(m in line for m in markers):
            found.append(int(pid_text))
    return found


def wait_dead(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit; True if it did."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, grace: float) -> None:
    """SIGTERM, wait up to ``grace`` seconds for a clean shutdown, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        # A stopped (SIGSTOP, Ctrl-Z) process would sit on the SIGTERM for the whole grace period.
        os.kill(pid, signal.SIGCONT)
    if wait_dead(pid, grace):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_dead(pid, 5.0)


def spawn_detached(command: list[str], *, cwd: Path, output: Path) -> int:
    """Start ``command`` in its own session, not as our child, appending its output to ``output``.

    A tiny ``sh`` forks the command into the background and exits, so init adopts
    it: it outlives the caller, never becomes our zombie, and is handled the same
    way whether this process or an earlier one started it.
    """
    script = 'out=$1; shift; "$@" </dev/null >>"$out" 2>&1 & echo $!'
    launcher = subprocess.run(
        ["/bin/sh", "-c", script, "lore-graph-launcher", str(output), *command],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=30,
        check=False,
    )
    pid_text = launcher.stdout.strip()
    if launcher.returncode != 0 or not pid_text.isdigit():
        raise OSError(f"could not launch {command[0]}: {launcher.stderr.strip() or launcher.stdout.strip()}")
    return int(pid_text)


# ---- ports ------------------------------------------------------------------------------
def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports the OS reports free right now (another process may still take them)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


# ---- files ------------------------------------------------------------------------------
def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` so readers see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # before any byte lands: secrets are never world-readable
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def file_lock(path: Path, timeout: float) -> Iterator[None]:
    """Exclusive ``flock`` on ``path``; LockTimeout after ``timeout`` seconds.

    flock belongs to the open file, so the kernel drops it when its holder dies,
    even by SIGKILL: a crashed launcher never leaves a lock behind.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"{path} is held by another process") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing releases the lock
