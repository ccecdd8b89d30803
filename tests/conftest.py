"""Shared fixtures: a fresh database on each backend (SQLite always; PostgreSQL when
ENTRAMADO_TEST_POSTGRES_URL is set, which CI does and which makes PostgreSQL mandatory there)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from entramado.db import sqlite_url, upgrade

POSTGRES_URL = os.environ.get("ENTRAMADO_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


def pytest_report_header() -> str:
    return f"database backends: {', '.join(BACKENDS)}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI") and not POSTGRES_URL:
        raise pytest.UsageError("CI must run against PostgreSQL too: set ENTRAMADO_TEST_POSTGRES_URL")


class PostgresDatabases:
    """Creates throw-away PostgreSQL databases on the test server and drops them afterwards."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self._admin_url = admin_url
        self._conn = psycopg.connect(admin_url, autocommit=True)
        self._names: list[str] = []

    def create(self) -> str:
        name = f"entramado_t_{uuid.uuid4().hex[:12]}"
        self._conn.execute(f'CREATE DATABASE "{name}"')
        self._names.append(name)
        base, _, _ = self._admin_url.rpartition("/")
        return f"{base}/{name}"

    def drop_all(self) -> None:
        for name in self._names:
            self._conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            self._conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        self._conn.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases | None]:
    if not POSTGRES_URL:
        yield None
        return
    databases = PostgresDatabases(POSTGRES_URL)
    yield databases
    databases.drop_all()


def new_database(backend: str, tmp: Path, postgres: PostgresDatabases | None) -> str:
    if backend == "sqlite":
        url = sqlite_url(tmp / f"{uuid.uuid4().hex[:8]}.db")
    else:
        assert postgres is not None
        url = postgres.create()
    upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresDatabases | None) -> str:
    """A migrated, empty database on each backend in turn."""
    return new_database(request.param, tmp_path, postgres)
