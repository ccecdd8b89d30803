"""Fixtures shared by the integration tests: an engine on each backend and a certified signer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from entramado.db import make_engine
from tests.integration.logdata import make_signer


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def signer(engine: Engine) -> tuple[object, str]:
    return make_signer(engine)
