"""``landreg backup -o FILE`` and ``landreg restore FILE``: the register in one checked file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import create_engine

from landreg.backup import BackupError, create_database
from landreg.db import resolve_database_url, sqlalchemy_url


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


DatabaseUrl = Annotated[
    str | None,
    typer.Option(help="Another database than the configured one (LANDREG_DATABASE_URL or the embedded)."),
]


def backup_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="The backup file to write (a tar archive).")],
    database_url: DatabaseUrl = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Back up the registry: pg_dump (custom format) and a manifest with schema revision, row
    counts and SHA-256, in one tar file. Consistent while the register is in use."""
    from landreg.backup import backup

    if output.exists() and not force:
        raise _fail(f"{output} exists; choose another --output or pass --force to replace it")
    if not output.parent.is_dir():
        raise _fail(f"--output {output}: the directory {output.parent} does not exist")
    engine = create_engine(sqlalchemy_url(database_url) if database_url else resolve_database_url())
    try:
        manifest = backup(engine, output)
    except BackupError as exc:
        raise _fail(f"backup failed: {exc}") from None
    finally:
        engine.dispose()
    rows = sum(manifest.tables.values())
    typer.echo(
        f"wrote {output} ({manifest.dump_bytes / 2**20:.1f} MiB): schema {manifest.schema_revision}, "
        f"{len(manifest.tables)} tables, {rows} rows, sha256 {manifest.sha256}"
    )


def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup written by `landreg backup`.")],
    into: Annotated[
        str | None,
        typer.Option(help="Restore into this database on the configured server (created when missing)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Restore a backup into an EMPTY database, after checking its checksum; the row counts are
    compared afterwards. A non-empty database is refused, never overwritten."""
    from landreg.backup import restore

    if into and database_url:
        raise _fail("give either --into NAME or --database-url URL, not both")
    engine = create_engine(sqlalchemy_url(database_url) if database_url else resolve_database_url())
    try:
        if into:
            server, engine = engine, create_database(engine, into)
            server.dispose()
        restored = restore(engine, file)
    except BackupError as exc:
        raise _fail(f"restore refused: {exc}") from None
    finally:
        engine.dispose()
    m = restored.manifest
    typer.echo(
        f"restored {file} (made {m.created_at} by landreg {m.landreg_version}) into database "
        f"{engine.url.database!r}: {len(m.tables)} tables, {sum(m.tables.values())} rows, counts checked"
    )
    if restored.needs_migration:
        typer.echo(f"its schema ({m.schema_revision}) is older than this landreg's: run `landreg migrate` on it")
