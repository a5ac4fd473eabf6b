"""GGUF models run by llama.cpp in-process (the ``xllamacpp`` bindings): no de-quantisation,
memory-mapped weights, so a quantised model loads in seconds and decodes several times faster
on a CPU than the same model de-quantised into torch.

xllamacpp wraps llama.cpp's own server: requests and replies are OpenAI-shaped chat completions,
and the chat template is the one inside the GGUF file. Its HTTP side listens on a loopback port
only for ``/tokenize``; a random API key, known only to this process, guards it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import xllamacpp

from core.errors import ModelLoadError
from generation.backends.base import GenerationError, Message

log = logging.getLogger(__name__)

_END = object()


def automatic_threads(window: float = 0.5) -> int:
    """Threads for llama.cpp when the setting is 0: the cores this process may use that other
    processes are not using now, at least 1 and at most 4.

    llama.cpp's threads meet at a barrier after every layer, so a thread that shares its core with
    other work holds every token up. On a 2-core machine with SmolLM2 (bench/llm_engines.py): idle,
    2 threads decode 1.45x faster than 1; with two other busy processes, 1 thread decodes 2.6x
    faster than 2. Waiting threads sleep rather than spin (``poll = 0``).

    What other processes use is sampled over ``window`` seconds (``/proc/stat`` less this process's
    own time). The 1-minute load average, used where ``/proc`` is missing, counts this process's own
    work of the last minute (an ingest, the searches before the model loads) as load: on an idle
    2-core machine it chose one thread after the searches of a benchmark, and the first token of the
    default model came after 6.1 s instead of 3.2 s.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    busy = _busy_elsewhere(window)
    if busy is None:
        busy = os.getloadavg()[0]
    return max(1, min(cores - int(round(busy)), 4))


def _busy_elsewhere(window: float) -> float | None:
    """How many cores processes other than this one kept busy over ``window`` seconds; None without /proc."""

    def sample() -> tuple[int, int, int]:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        with open("/proc/self/stat") as own:
            # utime and stime, fields 14 and 15; the command name (field 2) may hold spaces, so split after it.
            own_fields = own.read().rpartition(")")[2].split()
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle, int(own_fields[11]) + int(own_fields[12])

    try:
        total0, idle0, own0 = sample()
        time.sleep(window)
        total1, idle1, own1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    elapsed = total1 - total0  # summed over every core, in clock ticks
    if elapsed <= 0:
        return None
    cores_seen = elapsed / (window * ticks)  # /proc/stat counts every core of the machine
    busy_share = ((elapsed - (idle1 - idle0)) - (own1 - own0)) / elapsed
    return max(0.0, busy_share * cores_seen)


class LlamaCppLLM:
    """A GGUF chat model behind the ``LLMBackend`` interface; llama.cpp queues concurrent calls."""

    def __init__(self, server: Any, *, name: str, path: Path, threads: int, context_tokens: int,
                 base_url: str, api_key: str, load_seconds: float) -> None:
        self._server = server
        self.name = name
        self.path = path
        self.threads = threads
        self.context_tokens = context_tokens
        self.origin = "gguf"
        self.load_seconds = load_seconds
        self._base_url = base_url
        self._api_key = api_key
        self.chat_overhead_tokens = self._measure_chat_overhead()

    @classmethod
    def load(cls, gguf: Path, *, name: str | None = None, threads: int = 0, context_tokens: int = 4096,
             lora_adapters: Sequence[Path] = ()) -> LlamaCppLLM:
        """Load ``gguf`` (memory-mapped); ``lora_adapters`` are llama.cpp GGUF LoRA files applied on top."""
        gguf = Path(gguf).expanduser()
        if not gguf.is_file():
            raise ModelLoadError(f"GGUF model {gguf} does not exist")
        started = time.perf_counter()
        threads = threads or automatic_threads()
        params = xllamacpp.CommonParams()
        params.model.path = str(gguf)
        params.n_ctx = context_tokens
        params.n_parallel = 1  # one sequence at a time: a 2-core machine gains nothing from more
        params.warmup = False  # a warm-up decode costs a second and the first answer warms it anyway
        params.verbosity = -1
        for cpu in (params.cpuparams, params.cpuparams_batch):
            cpu.n_threads = threads
            cpu.poll = 0
        api_key = secrets.token_urlsafe(24)
        params.api_keys = [api_key]
        if lora_adapters:
            infos = []
            for adapter in lora_adapters:
                info = xllamacpp.CommonAdapterLoraInfo()
                info.path = str(adapter)
                info.scale = 1.0
                infos.append(info)
            params.lora_adapters = infos
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:
            raise ModelLoadError(f"llama.cpp cannot load {gguf}: {exc}") from exc
        elapsed = time.perf_counter() - started
        log.info("loaded %s with llama.cpp (%d threads) in %.2fs", gguf.name, threads, elapsed)
        return cls(server, name=name or gguf.stem, path=gguf, threads=threads, context_tokens=context_tokens,
                   base_url=server.listening_address, api_key=api_key, load_seconds=elapsed)

    # --------------------------------------------------------------- interface
    def count_tokens(self, text: str) -> int:
        return len(self._call("/tokenize", {"content": text, "add_special": False})["tokens"])

    def render(self, messages: list[Message]) -> str:
        """The exact text the model reads for ``messages`` (the GGUF's chat template applied)."""
        return self._call("/apply-template", {"messages": messages})["prompt"]

    def generate(self, messages: list[Message], *, max_new_tokens: int, temperature: float = 0.0,
                 timeout: float | None = None, stop: Sequence[str] = (), json_schema: dict | None = None) -> str:
        return "".join(self.stream(messages, max_new_tokens=max_new_tokens, temperature=temperature,
                                   timeout=timeout, stop=stop, json_schema=json_schema))

    def generate_json(self, messages: list[Message], schema: dict, *, max_new_tokens: int,
                      timeout: float | None = None) -> Any:
        """An answer constrained by llama.cpp's grammar to ``schema`` (JSON Schema), parsed."""
        raw = self.generate(messages, max_new_tokens=max_new_tokens, timeout=timeout, json_schema=schema)
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:  # cut off by max_new_tokens or the timeout
            raise GenerationError(f"constrained output is not complete JSON ({exc}); raise max_new_tokens") from exc

    def stream(self, messages: list[Message], *, max_new_tokens: int, temperature: float = 0.0,
               timeout: float | None = None, stop: Sequence[str] = (),
               json_schema: dict | None = None) -> Iterator[str]:
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        deadline = None if timeout is None else time.monotonic() + timeout
        request: dict[str, Any] = {
            "messages": messages, "max_tokens": max_new_tokens, "stream": True,
            # Greedy at 0: the same question over the same sources gives the same answer.
            "temperature": temperature, **({"top_k": 1} if temperature <= 0 else {}),
            "seed": 0,
        }
        if stop:
            request["stop"] = list(stop)
        if json_schema is not None:
            request["json_schema"] = json_schema
        pieces: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            # Returning True tells llama.cpp to stop: the reader went away or the time is up.
            if isinstance(chunk, dict):
                if "error" in chunk:
                    pieces.put(GenerationError(f"llama.cpp: {chunk['error']}"))
                    return True
                for choice in chunk.get("choices", ()):
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        pieces.put(text)
            return cancel.is_set() or (deadline is not None and time.monotonic() >= deadline)

        def work() -> None:
            try:
                result = self._server.handle_chat_completions(request, on_chunk)
                if isinstance(result, dict) and "error" in result:
                    pieces.put(GenerationError(f"llama.cpp: {result['error']}"))
            except Exception as exc:  # surfaced in the reader's thread
                pieces.put(GenerationError(f"generation failed: {exc}"))
            finally:
                pieces.put(_END)

        worker = threading.Thread(target=work, name="lore-llamacpp", daemon=True)
        worker.start()
        try:
            while (item := pieces.get()) is not _END:
                if isinstance(item, GenerationError):
                    raise item
                yield item
        finally:
            cancel.set()
            worker.join()

    # --------------------------------------------------------------- internals
    def _call(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self._base_url}{route}", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._api_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except OSError as exc:
            raise GenerationError(f"llama.cpp {route} failed: {exc}") from exc

    def _measure_chat_overhead(self) -> int:
        # What the GGUF's chat template adds around a system + user pair and the assistant header;
        # +2 covers merges at the edges.
        try:
            empty = [{"role": "system", "content": ""}, {"role": "user", "content": ""}]
            return self.count_tokens(self.render(empty)) + 2
        except GenerationError:  # a template that refuses an empty system turn
            return 32
