"""`lwf dev` as a user starts it: its own process, on free ports."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY = "lwf dev: HTTP API at "


@contextmanager
def running_dev(*options: str) -> Iterator[str]:
    """`lwf dev` in its own process on free ports; yields the API's URL. Its output is
    read on (so a full pipe never blocks it); Ctrl-C at the end must stop it cleanly
    (exit 0, no traceback)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lambda_workflows.cli", "dev", "--port", "0", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = process.stdout, process.stderr
    assert stdout is not None
    assert stderr is not None
    errors: list[str] = []
    drain_errors = threading.Thread(target=lambda: errors.extend(stderr), daemon=True)
    drain_errors.start()
    try:
        for line in stdout:
            if line.startswith(READY):
                threading.Thread(target=stdout.read, daemon=True).start()
                yield line[len(READY) :].split()[0]
                break
        else:
            process.wait(timeout=30)
            drain_errors.join(timeout=5)
            pytest.fail(f"lwf dev did not start: {''.join(errors)}")
    finally:
        process.send_signal(signal.SIGINT)
        # about 2 s idle; far more on a loaded CI machine, where coverage also saves the
        # server's data as it exits
        assert process.wait(timeout=120) == 0, "".join(errors)
        drain_errors.join(timeout=5)
        assert "Traceback" not in "".join(errors)
