"""Backing up the registry to one file and restoring it into an empty database.

A backup is an uncompressed tar archive with two members:

* ``registry.dump``: ``pg_dump --format=custom`` of the whole database (compressed by pg_dump);
* ``manifest.json``: what the dump holds and how to trust it: the schema revision
  (``alembic_version``), the rows of every table, the SHA-256 of the dump, landreg's and the
  server's version and when it was made.

The rows are counted in the snapshot the dump is taken from (``pg_export_snapshot`` handed to
``pg_dump --snapshot``), so the counts are exactly what the dump holds, even while the register is
being written. A restore checks the checksum before it touches the target, restores in one
transaction (a failure leaves the target empty) and compares the counts afterwards.

The dump is made and restored by PostgreSQL's own programs of the server's major version (or
newer): those of the embedded cluster's installation when present, else those on ``PATH``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL

from landreg import __version__
from landreg import migrate as migrations
from landreg.localdb import find_bindir
from landreg.settings import get_settings

FORMAT = "landreg-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "registry.dump"
_CHUNK = 1024 * 1024

#: Tables of the database and not of an extension (PostGIS's ``spatial_ref_sys`` is its own).
_TABLES = text("""
    SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      AND NOT EXISTS (SELECT FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY 1
""")


class BackupError(RuntimeError):
    """A backup cannot be made or restored; the message says why and what to do."""


@dataclass
class Manifest:
    schema_revision: str | None
    tables: dict[str, int]
    sha256: str
    dump_bytes: int
    landreg_version: str = __version__
    server_version: str = ""
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION} | {
            "landreg_version": self.landreg_version,
            "created_at": self.created_at,
            "schema_revision": self.schema_revision,
            "server_version": self.server_version,
            "dump": {"name": DUMP, "sha256": self.sha256, "bytes": self.dump_bytes},
            "tables": self.tables,
        }
        return json.dumps(body, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            body = json.loads(data)
            if body.get("format") != FORMAT:
                raise BackupError("the file is not a landreg backup (its manifest names another format)")
            if body.get("format_version", 0) > FORMAT_VERSION:
                raise BackupError(
                    f"the backup has format version {body['format_version']}; this landreg "
                    f"({__version__}) reads up to {FORMAT_VERSION}: restore it with a newer landreg"
                )
            return cls(
                schema_revision=body["schema_revision"],
                tables={str(k): int(v) for k, v in body["tables"].items()},
                sha256=body["dump"]["sha256"],
                dump_bytes=int(body["dump"]["bytes"]),
                landreg_version=body["landreg_version"],
                server_version=body.get("server_version", ""),
                created_at=body["created_at"],
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"the backup's manifest is damaged ({exc.__class__.__name__}: {exc})") from None


@dataclass
class Restored:
    manifest: Manifest
    needs_migration: bool  # the backup is of an older schema: run `landreg migrate` on the target


# -- making a backup ------------------------------------------------------------------------------
def backup(engine: Engine, target: Path) -> Manifest:
    """Dump the database of ``engine`` into the archive ``target`` (written whole or not at all)."""
    target = Path(target)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True) as conn:
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        server_version, server_major = _server_version(conn)
        revision = _schema_revision(conn)
        tables = count_rows(conn)
        with tempfile.TemporaryDirectory(prefix="landreg-backup-", dir=target.parent) as tmp:
            dump = Path(tmp) / DUMP
            _run(
                tool("pg_dump", server_major),
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--file={dump}",
                url=engine.url,
            )
            conn.rollback()  # the snapshot may go now that pg_dump has its own copy of it
            manifest = Manifest(revision, tables, sha256_of(dump), dump.stat().st_size, server_version=server_version)
            partial = Path(tmp) / "backup.tar"
            with tarfile.open(partial, "w") as tar:
                _add_bytes(tar, MANIFEST, manifest.to_json())
                tar.add(dump, arcname=DUMP)
            os.chmod(partial, 0o600)  # the whole register: confidential fields, password hashes, keys
            os.replace(partial, target)
    return manifest


def count_rows(conn: Connection) -> dict[str, int]:
    """Exact rows of every table of the database (not of its extensions)."""
    names = conn.execute(_TABLES).scalars().all()
    return {name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one() for name in names}


# -- restoring ------------------------------------------------------------------------------------
def read_manifest(archive: Path) -> Manifest:
    with _open(archive) as tar:
        return Manifest.from_json(_member(tar, MANIFEST).read())


def restore(engine: Engine, archive: Path) -> Restored:
    """Restore ``archive`` into the empty database of ``engine``, checking it before and after."""
    archive = Path(archive)
    with _open(archive) as tar:
        manifest = Manifest.from_json(_member(tar, MANIFEST).read())
        needs_migration = _check_revision(manifest.schema_revision)
        with engine.connect() as conn:
            _check_empty(conn, engine)
            _, server_major = _server_version(conn)
        with tempfile.TemporaryDirectory(prefix="landreg-restore-") as tmp:
            dump = Path(tmp) / DUMP
            try:
                with _member(tar, DUMP) as src, dump.open("wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise BackupError(
                    f"{archive.name} is damaged ({exc}); nothing was restored: use another copy"
                ) from None
            found = sha256_of(dump)
            if found != manifest.sha256:
                raise BackupError(
                    f"{archive.name} is damaged: its dump's SHA-256 is {found}, the manifest says "
                    f"{manifest.sha256}. Nothing was restored; use another copy of the backup."
                )
            _pg_restore(dump, engine.url, server_major)
    with engine.connect() as conn:
        found_rows = count_rows(conn)
    differ = {
        name: (manifest.tables.get(name), found_rows.get(name))
        for name in manifest.tables.keys() | found_rows.keys()
        if manifest.tables.get(name) != found_rows.get(name)
    }
    if differ:
        listed = ", ".join(
            f"{name}: {want} in the backup, {got} restored" for name, (want, got) in sorted(differ.items())
        )
        raise BackupError(
            f"the restored database does not hold what the backup counted ({listed}); "
            "do not use it: drop it and restore again"
        )
    with engine.begin() as conn:
        # pg_restore brings the tables' row counts but no column statistics (PostgreSQL's documentation
        # advises ANALYZE after it): until autovacuum gets to them, the planner guesses selectivities
        conn.execute(text("ANALYZE"))
    return Restored(manifest, needs_migration)


def _check_revision(revision: str | None) -> bool:
    """True when the backup's schema is older than the code's; refuses one this code does not know."""
    head = migrations.head_revision()
    if revision is None or revision == head:
        return False
    if revision not in _known_revisions():
        raise BackupError(
            f"the backup is of schema revision {revision}, which this landreg ({__version__}, "
            f"schema {head}) does not know: it was made by a newer landreg. Restore it with that version."
        )
    return True


def _known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory(str(migrations.MIGRATIONS_DIR)).walk_revisions()}


def create_database(engine: Engine, name: str) -> Engine:
    """An engine on database ``name`` of ``engine``'s server, created when it does not exist."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise BackupError(
            f"--into {name!r}: a database name of lower-case letters, digits and _ (at most 63), e.g. landreg_restored"
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.execute(text("SELECT EXISTS (SELECT FROM pg_database WHERE datname = :n)"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    return create_engine(engine.url.set(database=name))


def _check_empty(conn: Connection, engine: Engine) -> None:
    tables = conn.execute(_TABLES).scalars().all()
    if tables:
        raise BackupError(
            f"the database {engine.url.database!r} is not empty (it holds {len(tables)} tables, e.g. "
            f"{', '.join(tables[:3])}); landreg restores only into an empty database. Restore into a "
            "new one with --into NAME (created on the same server) or --database-url URL (an empty "
            "database elsewhere)."
        )


# -- helpers --------------------------------------------------------------------------------------
def tool(program: str, server_major: int) -> Path:
    """``pg_dump``/``pg_restore`` of the server's major version or newer (an older one refuses)."""
    candidates = [Path(f"/usr/lib/postgresql/{server_major}/bin/{program}")]
    settings = get_settings()
    try:
        candidates.append(find_bindir(settings.pg_bindir) / program)
    except RuntimeError:
        pass
    on_path = shutil.which(program)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.exists() and _major_of(candidate) >= server_major:
            return candidate
    raise BackupError(
        f"{program} of PostgreSQL {server_major} or newer is not installed. Install it with:  "
        f"sudo apt-get install postgresql-client-{server_major}  (or set LANDREG_PG_BINDIR)"
    )


def _major_of(program: Path) -> int:
    out = subprocess.run([str(program), "--version"], capture_output=True, text=True).stdout
    found = re.search(r"(\d+)", out)
    return int(found.group(1)) if found else 0


def _server_version(conn: Connection) -> tuple[str, int]:
    version, number = conn.execute(
        text("SELECT current_setting('server_version'), current_setting('server_version_num')::int")
    ).one()
    return version, number // 10000


def _schema_revision(conn: Connection) -> str | None:
    exists = conn.execute(text("SELECT to_regclass('public.alembic_version') IS NOT NULL")).scalar_one()
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none() if exists else None


def _libpq_url(url: URL) -> str:
    """A URL for libpq's programs, without the password (given in the environment instead)."""
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run(program: Path, *args: str, url: URL) -> None:
    """Run a libpq program on the database at ``url``; its password goes in the environment."""
    result = subprocess.run(
        [str(program), *args, f"--dbname={_libpq_url(url)}"], capture_output=True, text=True, env=_libpq_env(url)
    )
    if result.returncode != 0:
        raise BackupError(f"{program.name} failed:\n{result.stderr.strip()}")


#: What pg_restore's script starts with, and what landreg runs it with instead (see _pg_restore).
_EMPTY_PATH = b"SELECT pg_catalog.set_config('search_path', '', false);\n"
_PUBLIC_PATH = b"SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', false);\n"


def _pg_restore(dump: Path, url: URL, server_major: int) -> None:
    """pg_restore's script, run by psql in one transaction with PostGIS's schema on the search path.

    pg_restore runs the dump with an empty search path, under which a trigger condition such as
    ``OLD.coverage IS DISTINCT FROM NEW.coverage`` on geometries cannot be created again (its ``=``
    is found only in ``public``: "operator is not unique: public.geometry = public.geometry"). The
    migrations created it with ``public`` on the path, so the restore does the same. Any error stops
    psql and rolls everything back: the target stays empty.
    """
    env = _libpq_env(url)
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as psql_errors:
        script = subprocess.Popen(
            [str(tool("pg_restore", server_major)), "--no-owner", "--file=-", str(dump)],
            stdout=subprocess.PIPE,
            stderr=restore_errors,
            env=env,
        )
        psql = subprocess.Popen(
            [str(tool("psql", server_major)), "--no-psqlrc", "--quiet", "--single-transaction",
             "--set=ON_ERROR_STOP=1", f"--dbname={_libpq_url(url)}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_errors,
            env=env,
        )  # fmt: skip
        in_copy = False
        try:
            for line in script.stdout:
                if in_copy:
                    in_copy = line != b"\\.\n"
                elif line.startswith(b"COPY "):
                    in_copy = True
                elif line == _EMPTY_PATH:
                    line = _PUBLIC_PATH
                psql.stdin.write(line)
        except BrokenPipeError:  # psql stopped at an error; it says which below
            script.kill()
        if script.wait() == 0 and psql.poll() is None:
            psql.stdin.close()  # the end of the script: psql commits
        else:
            psql.kill()  # before the end of the script: nothing is committed
        psql.wait()
        for proc, errors, name in ((script, restore_errors, "pg_restore"), (psql, psql_errors, "psql")):
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            if proc.returncode != 0 and message:
                raise BackupError(f"{name} failed, nothing was restored:\n{message}")
        if psql.returncode != 0:
            raise BackupError(f"psql ended with exit status {psql.returncode}, nothing was restored")


def _libpq_env(url: URL) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if url.password:
        env["PGPASSWORD"] = url.password  # not on the command line, where `ps` shows it
    return env


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _open(archive: Path) -> tarfile.TarFile:
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist or is not a file")
    try:
        return tarfile.open(archive, "r:")
    except tarfile.TarError:
        raise BackupError(f"{archive.name} is not a landreg backup (not a tar archive) or is damaged") from None


def _member(tar: tarfile.TarFile, name: str):
    try:
        member = tar.getmember(name)
        extracted = tar.extractfile(member) if member.isfile() else None
    except (KeyError, tarfile.TarError):
        extracted = None
    if extracted is None:
        raise BackupError(f"{Path(tar.name).name} is not a complete landreg backup: it has no {name}")
    return extracted
