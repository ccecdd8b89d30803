"""Imports every area's tables so that Alembic sees one complete metadata."""

from __future__ import annotations


def load_all() -> None:
    import entramado.evidence.models
    import entramado.identity.models
    import entramado.registry.models  # noqa: F401
