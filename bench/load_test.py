"""Load test of a real `lore serve` on 127.0.0.1: concurrent clients ask while an upload is ingested.

    python -m bench.load_test --clients 50 --duration 120 --out docs/load_test.json

Steps: a fresh data directory; the sample corpus ingested with the CLI; an admin
key created with the CLI; `lore serve` started as a subprocess on loopback. Then
``--clients`` asyncio clients loop for ``--duration`` seconds, each request a
retrieval-only question (POST /v1/search) or, with probability ``--full-share``,
a full question (POST /v1/ask). One second in, a batch of ``--upload-files``
generated documents is uploaded; the test waits for its job and then checks that
every uploaded file is listed and found by a search for its unique code word.
Prints throughput, p50/p95/p99 per kind (a request's latency includes any waits after
``503`` + ``Retry-After``, which clients honour), the error count and the number of
such back-pressure answers as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PYTHON = sys.executable


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"search": [], "ask": []})
    errors: list[str] = field(default_factory=list)
    shed: int = 0  # 503 + Retry-After answers (the server's line for answer slots was full); retried
    unserved: int = 0  # requests still being turned away when the run ended


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PYTHON, "-m", "api.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"lore {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def _questions() -> list[str]:
    lines = (EXAMPLES / "questions.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def _upload_files(count: int) -> list[tuple[str, bytes, str]]:
    """Documents with a unique code word each, so a search can prove each one landed."""
    files = []
    for i in range(count):
        code = f"zephyrcode{i:03d}"
        text = (
            f"# Load test memo {i}\n\nThe warehouse pilot number {i} uses the code word {code}. "
            f"The code word {code} identifies the pilot run in site {i % 7}.\n\n"
            + "Background paragraph about robots, fleets and maintenance schedules. " * 30
        )
        files.append((f"memo-{i:03d}.md", text.encode(), code))
    return files


async def _client(http: httpx.AsyncClient, questions: list[str], full_share: float, stop: float, tally: Tally) -> None:
    """A closed-loop client; it honours ``503`` + ``Retry-After`` (back-pressure) by waiting and asking again."""
    rng = random.Random()
    while time.monotonic() < stop:
        kind = "ask" if rng.random() < full_share else "search"
        body = {"question": rng.choice(questions), "top_k": 5}
        started = time.perf_counter()
        try:
            response = await http.post(f"/v1/{kind}", json=body)
            while response.status_code == 503 and "retry-after" in response.headers:
                tally.shed += 1
                wait = float(response.headers["retry-after"])
                if time.monotonic() + wait >= stop:
                    tally.unserved += 1
                    return
                await asyncio.sleep(wait)
                response = await http.post(f"/v1/{kind}", json=body)
            if response.status_code != 200:
                tally.errors.append(f"{kind} {response.status_code}: {response.text[:200]}")
                continue
        except httpx.HTTPError as exc:
            tally.errors.append(f"{kind} {type(exc).__name__}: {exc}")
            continue
        tally.latencies[kind].append(time.perf_counter() - started)


async def _upload_and_verify(http: httpx.AsyncClient, files: list[tuple[str, bytes, str]], tally: Tally) -> dict:
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    response = await http.post(
        "/v1/documents",
        data={"collection": "loadtest"},
        files=[("files", (name, content, "text/markdown")) for name, content, _ in files],
    )
    if response.status_code != 202:
        tally.errors.append(f"upload {response.status_code}: {response.text[:200]}")
        return {"uploaded": 0}
    job_id = response.json()["job_id"]
    while True:
        job = (await http.get(f"/v1/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.5)
    ingest_seconds = time.perf_counter() - started
    listed = (await http.get("/v1/documents", params={"collection": "loadtest", "limit": 1000})).json()
    landed = {Path(d["source"]).name for d in listed["documents"] if d["chunk_count"] > 0 and d["graph_synced"]}
    # Every chunk of every document has its vector: nothing half-written is left in the index.
    everything = (await http.get("/v1/documents", params={"limit": 1000})).json()["documents"]
    vectors = (await http.get("/readyz")).json()["index_vectors"]
    found = 0
    for name, _, code in files:
        hits = (await http.post("/v1/search", json={"question": code, "top_k": 10, "collections": ["loadtest"]})).json()
        found += any(Path(p["source"]).name == name for p in hits["passages"])
    return {
        "uploaded": len(files),
        "job_status": job["status"],
        "ingest_seconds": round(ingest_seconds, 1),
        "landed_with_chunks_and_graph": len(landed & {name for name, _, _ in files}),
        "lost": len({name for name, _, _ in files} - landed),
        "index_vectors": vectors,
        "chunks_in_metadata": sum(d["chunk_count"] for d in everything),
        "found_by_code_word_search": found,
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"count": len(values)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"count": len(values), "p50": round(cuts[49], 3), "p95": round(cuts[94], 3), "p99": round(cuts[98], 3)}


async def _drive(base_url: str, key: str, args: argparse.Namespace) -> dict:
    tally = Tally()
    limits = httpx.Limits(max_connections=args.clients + 5, max_keepalive_connections=args.clients + 5)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=600, limits=limits
    ) as http:
        questions = _questions()
        started = time.monotonic()
        stop = started + args.duration
        clients = [_client(http, questions, args.full_share, stop, tally) for _ in range(args.clients)]
        upload = asyncio.create_task(_upload_and_verify(http, _upload_files(args.upload_files), tally))
        await asyncio.gather(*clients)
        elapsed = time.monotonic() - started
        upload_result = await upload
    completed = sum(len(v) for v in tally.latencies.values())
    return {
        "clients": args.clients,
        "duration_s": round(elapsed, 1),
        "full_share": args.full_share,
        "requests": completed,
        "throughput_rps": round(completed / elapsed, 2),
        "search": _percentiles(tally.latencies["search"]),
        "ask": _percentiles(tally.latencies["ask"]),
        "errors": len(tally.errors),
        "shed_503_retried": tally.shed,
        "unserved_at_end": tally.unserved,
        "error_samples": tally.errors[:5],
        "upload": upload_result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0, help="Seconds of load.")
    parser.add_argument("--full-share", type=float, default=0.1, help="Share of requests that are full questions.")
    parser.add_argument("--upload-files", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path, help="Also write the figures here as JSON.")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="lore-load-"))
    port = _free_port()
    env = {
        **os.environ,
        "LORE_DATA_DIR": str(data_dir),
        "LORE_MAX_NEW_TOKENS": str(args.max_new_tokens),
        "LORE_RATE_LIMIT": "",
        "LORE_CONFIG": str(data_dir / "none.toml"),
    }
    _cli(env, "ingest", str(EXAMPLES))
    key = json.loads(_cli(env, "keys", "create", "--name", "load", "--scopes", "admin", "--json"))["key"]
    server = subprocess.Popen(
        [PYTHON, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(data_dir / "server.log", "w"),
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"lore serve exited; see {data_dir / 'server.log'}")
            time.sleep(1)
        # Load the LLM before the clock starts, as a warmed-up server would have.
        httpx.post(f"{base_url}/v1/ask", json={"question": "warm up"}, headers={"Authorization": f"Bearer {key}"},
                   timeout=600)
        result = asyncio.run(_drive(base_url, key, args))
    finally:
        server.send_signal(signal.SIGINT)  # graceful: uvicorn runs the lifespan shutdown
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
        subprocess.run([PYTHON, "-m", "api.cli", "graph", "stop"], cwd=ROOT, env=env, capture_output=True)
    result["server_exit_code"] = server.returncode
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
