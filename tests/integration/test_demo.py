"""`entramado demo` starts the whole network, the person index included, in one command, and starts again from its
state."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
from pathlib import Path


def _free_block(size: int = 40) -> int:
    """A base port whose next ``size`` ports are all free (outside the ephemeral range)."""
    for _ in range(200):
        base = random.randrange(10000, 32000, 100)
        try:
            for port in range(base, base + size):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports")


def test_demo_runs_and_restarts(tmp_path: Path) -> None:
    base = _free_block()
    for attempt in ("first start", "restart from saved state"):
        done = subprocess.run(
            [sys.executable, "-m", "entramado", "demo", "-d", str(tmp_path), "--base-port", str(base), "--check"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"{attempt}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
        # The calls are about the person index's example person, whom DNIC and DGI's systems hold too.
        ci = json.loads((tmp_path / "identity" / "example.json").read_text())["ci"]
        assert f'check: 200 UY-DEMO/GOB/DNIC/identificacion/personas {{"ci":"{ci}",' in done.stdout, done.stdout[-2000:]
        assert f'check: 200 UY-DEMO/GOB/DGI/tributos/ingresos {{"ci":"{ci}",' in done.stdout, done.stdout[-2000:]
        assert "check: 200 UY-DEMO/GOB/DNIC/indice/personas match" in done.stdout, done.stdout[-2000:]
        assert "curl" in done.stdout and "X-Road-Client" in done.stdout
    verify = subprocess.run(
        [sys.executable, "-m", "entramado", "log", "verify", "-d", str(tmp_path / "gateways" / "DGI")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0 and "OK" in verify.stdout, verify.stdout + verify.stderr
