"""llama.cpp's automatic thread count reads what other processes use now, not this process's own work."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from generation.backends.llamacpp import _busy_elsewhere

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_another_busy_process_counts_and_this_processs_own_work_does_not() -> None:
    before = _busy_elsewhere(0.5)
    assert before is not None
    if before > len(os.sched_getaffinity(0)) - 0.8:
        pytest.skip(f"other processes keep {before:.1f} cores busy: no free core to measure a new one on")
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.monotonic() + 3\nwhile time.monotonic() < end: pass"])
    try:
        time.sleep(0.3)
        other = _busy_elsewhere(0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert other is not None and other >= before + 0.6  # about one core more

    # A thread of this process keeping a core busy is Lore's own work (the searches before a model
    # loads, an ingest): the 1-minute load average counted it, this does not.
    worker = threading.Thread(target=_spin, args=(1.5,))
    worker.start()
    time.sleep(0.2)
    own = _busy_elsewhere(0.5)
    worker.join()
    assert own is not None and own <= other - 0.5
