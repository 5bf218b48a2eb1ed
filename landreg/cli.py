"""The ``landreg`` command."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from landreg import migrate as migrations
from landreg.db import make_engine, resolve_database_url
from landreg.localdb import LocalCluster, LocalDatabaseError
from landreg.settings import get_settings

app = typer.Typer(
    help="landreg – Flächenregister Ruhr: registry of Brachflächen, Baulücken and industrial land.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="The embedded local PostGIS (used when LANDREG_DATABASE_URL is unset).",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _cluster() -> LocalCluster:
    settings = get_settings()
    if settings.database_url:
        raise _fail("LANDREG_DATABASE_URL is set: landreg uses that database, not the embedded one.")
    return LocalCluster.from_settings(settings)


@app.callback()
def _main() -> None:
    """Errors about the database reach the user as one clear message, not a traceback."""


@db_app.command("start")
def db_start() -> None:
    """Create (on first use) and start the embedded PostGIS."""
    cluster = _cluster()
    started = cluster.ensure_running()
    typer.echo(f"{'started' if started else 'already running'}: {cluster.libpq_url()}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostGIS."""
    typer.echo("stopped" if _cluster().stop() else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded PostGIS exists and runs."""
    cluster = _cluster()
    state = "running" if cluster.is_running() else ("stopped" if cluster.initialised else "not created yet")
    typer.echo(f"{state}: {cluster.root}")
    if not cluster.is_running():
        raise typer.Exit(code=3)


@db_app.command("url")
def db_url(
    sqlalchemy: Annotated[bool, typer.Option(help="Print the SQLAlchemy form (postgresql+psycopg://).")] = False,
) -> None:
    """Print the URL of the embedded database, e.g. for psql "$(landreg db url)"."""
    cluster = _cluster()
    typer.echo(cluster.url() if sqlalchemy else cluster.libpq_url())


@db_app.command("psql")
def db_psql() -> None:
    """Open psql on the registry database."""
    url = get_settings().database_url or _cluster().libpq_url()
    if not get_settings().database_url:
        _cluster().ensure_running()
    psql = shutil.which("psql")
    if not psql:
        raise _fail("psql is not installed: sudo apt-get install postgresql-client")
    os.execv(psql, [psql, url.replace("postgresql+psycopg://", "postgresql://")])


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to REVISION (e.g. base).")] = False,
) -> None:
    """Bring the database schema to a revision (default: the newest)."""
    engine = make_engine()
    (migrations.downgrade if down else migrations.upgrade)(engine, revision)
    typer.echo(f"schema at revision {migrations.current_revision(engine) or 'base (empty)'}")


@app.command()
def seed(
    count: Annotated[int | None, typer.Option(help="Number of sample parcels.")] = None,
    sample_seed: Annotated[int | None, typer.Option("--seed", help="Seed of the sample generator.")] = None,
) -> None:
    """Load the bundled data: NRW municipalities, stations, stops, sample parcels (Beispieldaten)."""
    from landreg.seed import seed as run_seed

    settings = get_settings()
    engine = make_engine()
    _require_schema(engine)
    with engine.begin() as conn:
        report = run_seed(conn, count or settings.sample_count, sample_seed or settings.sample_seed)
    for line in report.lines():
        typer.echo(line)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the registry API (with OpenAPI docs at /docs)."""
    import uvicorn

    settings = get_settings()
    resolve_database_url(settings)  # start the embedded database before the first request
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.host, port=port or settings.port)


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Start the database, migrate, load the bundled data and serve it. Ctrl-C stops everything."""
    settings = get_settings()
    cluster = None if settings.database_url else LocalCluster.from_settings(settings)
    started = cluster.ensure_running() if cluster else False
    try:
        migrate()
        seed()
        url = f"http://{host or settings.host}:{port or settings.port}"
        typer.secho(f"\nlandreg läuft / is running: {url}  (API docs: {url}/docs)\n", fg=typer.colors.GREEN)
        serve(host, port)
    finally:
        if started:
            cluster.stop()
            typer.echo("embedded database stopped")


def _require_schema(engine) -> None:
    if migrations.current_revision(engine) != migrations.head_revision():
        raise _fail("The database schema is not up to date: run `landreg migrate` first.")


def main() -> None:
    try:
        app()
    except LocalDatabaseError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
    except OperationalError as exc:
        typer.secho(f"Cannot reach the database: {exc.orig}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
