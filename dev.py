#!/usr/bin/env python3
"""The two commands of the README, for a fresh machine with only Python 3.11+.

    python3 dev.py demo [ARGS…]   create .venv if needed, then run `entramado demo ARGS…`
    python3 dev.py test [ARGS…]   create .venv if needed, then lint, type-check and run every test

The environment is built from requirements.lock (exact versions) and refreshed whenever the lock
or pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".entramado-deps"


def run(*args: str | Path, **kwargs: object) -> None:
    done = subprocess.run([str(a) for a in args], cwd=ROOT, **kwargs)  # type: ignore[call-overload]
    if done.returncode:
        sys.exit(done.returncode)


def ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Entramado needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "requirements.lock").read_bytes() + (ROOT / "pyproject.toml").read_bytes())
    if STAMP.exists() and STAMP.read_text() == wanted.hexdigest():
        return
    if not (BIN / "python").exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing locked dependencies …", flush=True)
    pip = [BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, "--upgrade", "pip")
    run(*pip, "-r", ROOT / "requirements.lock")
    run(*pip, "--no-deps", "-e", ".")
    STAMP.write_text(wanted.hexdigest())


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test"}:
        sys.exit(__doc__)
    ensure_env()
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "demo":
        os.execv(BIN / "entramado", [str(BIN / "entramado"), "demo", *rest])
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    run("sh", ROOT / "scripts" / "test", *rest, env=env)


if __name__ == "__main__":
    main()
