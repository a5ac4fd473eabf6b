"""Cold-start time of the light commands, and of `lore serve` to healthy and to ready.

    python -m bench.cold_start --repeat 5 --out docs/benchmarks/cold_start.json

A fresh data directory gets the sample corpus (`lore ingest examples/`, not timed);
then each command runs ``--repeat`` times as a new process, as a user would run it,
and the median wall time is reported beside two baselines measured the same way in
the same run: a bare interpreter (``python -c pass``), and ``lore search``, which
needs the embedding model and the index. The load average is printed with every
figure: these machines are shared, and a busy one is slower for every row alike.
Targets (issue 20): each light command ≤ 2 s, `lore serve` healthy ≤ 10 s, on an
idle 2-core machine.

``--before PATH`` times another checkout's CLI too (``python -m api.cli`` run in that
tree, on the same data directory), alternating with this one command by command, so an
earlier version is measured in the same run under the same load:

    git worktree add /tmp/before <commit>
    python -m bench.cold_start --before /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# The installed `lore` script, as a user runs it (else the module, in a tree that is not installed).
_SCRIPT = Path(PYTHON).parent / "lore"
LORE = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "api.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: "no such document" is an answer, not a failure
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def serve_times(env: dict[str, str], lore: list[str], cwd: Path) -> tuple[float, float]:
    """Seconds from launching `lore serve` to /healthz answering, and to /readyz saying ready."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([*lore, "serve", "--port", str(port)], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    healthy = ready = None
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            while ready is None:
                if server.poll() is not None:
                    raise SystemExit("lore serve exited before it was ready")
                if time.perf_counter() - started > 600:
                    raise SystemExit("lore serve was not ready within 600 s")
                try:
                    if healthy is None and client.get("/healthz").status_code == 200:
                        healthy = time.perf_counter() - started
                    if healthy is not None and client.get("/readyz").status_code == 200:
                        ready = time.perf_counter() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return healthy, ready


def measured(name: str, times: dict[str, list[float]]) -> dict:
    """A result row: median and min per tree, with the load average now; printed as it is made."""
    load = os.getloadavg()[0]
    row = {"command": name, "median_s": round(statistics.median(times["this"]), 3),
           "min_s": round(min(times["this"]), 3), "load_1m": round(load, 2)}
    line = f"{name:45s} median {row['median_s']:6.2f} s  min {row['min_s']:6.2f} s"
    if "before" in times:
        row["before_median_s"] = round(statistics.median(times["before"]), 3)
        line += f"   before: median {row['before_median_s']:6.2f} s"
    print(f"{line}  (load {load:.2f})", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="Write the figures here as JSON.")
    parser.add_argument("--before", type=Path, default=None, help="Another checkout to time the same way, as a baseline.")
    args = parser.parse_args()
    trees = {"this": (LORE, ROOT)}
    if args.before:
        trees["before"] = ([PYTHON, "-m", "api.cli"], args.before.resolve())

    data = Path(tempfile.mkdtemp(prefix="lore-cold-"))
    env = {**os.environ, "LORE_DATA_DIR": str(data), "LORE_CONFIG": str(data / "none.toml"),
           "LORE_AUTH_REQUIRED": "false"}
    subprocess.run([*LORE, "graph", "start"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*LORE, "ingest", "examples/"], cwd=ROOT, env=env, check=True, capture_output=True)
    listed = json.loads(subprocess.run([*LORE, "documents", "list", "--json"], cwd=ROOT, env=env, check=True,
                                       capture_output=True, text=True).stdout)
    document_id = listed[0]["id"]

    # Each deletion removes a real document: the index and the graph are opened, the models are not.
    doomed = iter(d["id"] for d in listed[1:])
    commands = {
        "lore --help": ["--help"],
        "lore graph status": ["graph", "status"],
        "lore graph stats": ["graph", "stats"],
        "lore graph start (running)": ["graph", "start"],
        "lore documents list": ["documents", "list"],
        "lore documents show": ["documents", "show", document_id],
        "lore documents delete": ["documents", "delete", lambda: next(doomed)],
        "lore keys list": ["keys", "list"],
        "lore finetune list": ["finetune", "list"],
        "baseline: lore search (loads the embedder)": ["search", "Who leads the Platform team?"],
    }
    rows = [measured("baseline: python -c pass", {"this": [timed([PYTHON, "-c", "pass"], env)
                                                           for _ in range(args.repeat)]})]
    try:
        for name, arguments in commands.items():
            times: dict[str, list[float]] = {tree: [] for tree in trees}
            for _ in range(args.repeat):
                for tree, (lore, cwd) in trees.items():  # taking turns: a change in load hits both alike
                    concrete = [a() if callable(a) else a for a in arguments]
                    times[tree].append(timed([*lore, *concrete], env, cwd))
            rows.append(measured(name, times))
        serve: dict[str, tuple[list[float], list[float]]] = {tree: ([], []) for tree in trees}
        for _ in range(max(1, args.repeat // 2)):
            for tree, (lore, cwd) in trees.items():
                healthy, ready = serve_times(env, lore, cwd)
                serve[tree][0].append(healthy)
                serve[tree][1].append(ready)
        rows.append(measured("lore serve: /healthz 200", {tree: h for tree, (h, _) in serve.items()}))
        rows.append(measured("lore serve: /readyz 200", {tree: r for tree, (_, r) in serve.items()}))
    finally:
        subprocess.run([*LORE, "graph", "stop"], cwd=ROOT, env=env, capture_output=True)
    bare = rows[0]["median_s"]
    for row in rows:
        row["x_bare_interpreter"] = round(row["median_s"] / bare, 1) if bare else None
        if "before_median_s" in row and row["median_s"]:
            row["before_over_this"] = round(row["before_median_s"] / row["median_s"], 1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"cpus": os.cpu_count(), "repeat": args.repeat, "rows": rows}, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
