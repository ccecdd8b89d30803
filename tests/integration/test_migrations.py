"""The migrations build exactly the schema the models describe, on each backend."""

from __future__ import annotations

from alembic import command

from entramado.db import alembic_config


def test_models_and_migrations_agree(database_url: str) -> None:
    command.check(alembic_config(database_url))  # raises when autogenerate would find a difference
