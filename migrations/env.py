"""Alembic environment: runs the migrations on the connection or URL landreg hands over."""

from alembic import context
from sqlalchemy import create_engine

from landreg.db import resolve_database_url

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or resolve_database_url()
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("landreg's migrations run online only (they create triggers and functions).")
run_migrations_online()
