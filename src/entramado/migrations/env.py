"""Alembic environment: one migration history for every area's tables."""

from __future__ import annotations

from alembic import context

from entramado.db import Base, make_engine
from entramado.models import load_all

load_all()
target_metadata = Base.metadata
url = context.config.get_main_option("sqlalchemy.url")
assert url is not None

if context.is_offline_mode():
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
