"""Backup and restore: every table comes back row for row; damaged files and full targets are refused."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from landreg import migrate
from landreg.backup import DUMP, MANIFEST, BackupError, backup, count_rows, read_manifest, restore
from landreg.cli import commands
from landreg.seed import seed
from landreg.settings import get_settings


@pytest.fixture(scope="module")
def source(make_database):
    """A populated register: municipalities, context layers, sample parcels with history and reviews."""
    engine = create_engine(make_database("landreg_backup_source"))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        seed(conn, sample_count=120, sample_seed=5)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def archive(source, tmp_path_factory):
    path = tmp_path_factory.mktemp("backup") / "register.tar"
    backup(source, path)
    return path


@pytest.fixture
def empty(make_database, request):
    engine = create_engine(make_database(f"landreg_restore_{request.node.name[:30].lower()}"))
    yield engine
    engine.dispose()


def _fingerprints(engine) -> dict[str, tuple[int, str]]:
    """Rows and an md5 of the ordered rows of each table, computed independently of landreg.backup."""
    with engine.connect() as conn:
        tables = conn.execute(
            text("""SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
                    WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1""")
        ).scalars()
        return {
            table: tuple(
                conn.execute(
                    text(
                        f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t"
                    )
                ).one()
            )
            for table in tables
        }


def _sequences(engine) -> dict[str, int | None]:
    with engine.connect() as conn:
        return dict(
            conn.execute(text("SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences")).all()
        )


def test_manifest_names_revision_counts_and_checksum(source, archive):
    manifest = read_manifest(archive)
    assert manifest.schema_revision == migrate.head_revision()
    with source.connect() as conn:
        assert manifest.tables == count_rows(conn)
        assert manifest.tables["public.parcel"] == conn.execute(text("SELECT count(*) FROM parcel")).scalar_one()
    assert manifest.tables["public.parcel"] >= 120
    assert "public.spatial_ref_sys" not in manifest.tables  # PostGIS's own, re-created by the extension
    with tarfile.open(archive) as tar:
        assert tar.getnames() == [MANIFEST, DUMP]  # the manifest first: read without scanning the dump
        assert json.loads(tar.extractfile(MANIFEST).read())["dump"]["bytes"] == tar.getmember(DUMP).size


def test_restore_brings_back_every_table_row_for_row(source, archive, empty):
    restored = restore(empty, archive)
    assert not restored.needs_migration
    before, after = _fingerprints(source), _fingerprints(empty)
    assert len(before) > 20
    assert after == before
    assert _sequences(empty) == _sequences(source)
    assert migrate.current_revision(empty) == migrate.head_revision()
    with empty.connect() as conn:  # column statistics for the planner: analysed by the restore itself
        analysed = dict(
            conn.execute(
                text(
                    "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables"
                    " WHERE relname IN ('parcel', 'parcel_score')"
                )
            ).all()
        )
    assert analysed == {"parcel": True, "parcel_score": True}


def test_a_damaged_backup_is_refused_before_anything_is_restored(archive, empty, tmp_path):
    damaged = tmp_path / "damaged.tar"
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        middle = tar.getmember(DUMP).offset_data + tar.getmember(DUMP).size // 2
    data[middle] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="damaged.tar is damaged: its dump's SHA-256"):
        restore(empty, damaged)
    with empty.connect() as conn:
        assert count_rows(conn) == {}

    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[:5000])
    with pytest.raises(BackupError, match="damaged|not a complete"):
        restore(empty, truncated)
    with pytest.raises(BackupError, match="is not a file"):
        restore(empty, tmp_path)  # a directory
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(BackupError, match="not a"):
        restore(empty, tmp_path / "plain.txt")


def test_a_non_empty_target_is_refused_naming_the_options(source, archive):
    with pytest.raises(BackupError, match=r"not empty .*--into NAME .*--database-url URL"):
        restore(source, archive)


def test_a_backup_of_a_newer_schema_is_refused(archive, empty, tmp_path):
    newer = tmp_path / "newer.tar"
    with tarfile.open(archive) as old, tarfile.open(newer, "w") as new:
        manifest = json.loads(old.extractfile(MANIFEST).read())
        manifest["schema_revision"] = "0999_from_the_future"
        body = json.dumps(manifest).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(body)
        new.addfile(info, io.BytesIO(body))
        new.addfile(old.getmember(DUMP), old.extractfile(DUMP))
    with pytest.raises(BackupError, match="0999_from_the_future.*made by a newer landreg"):
        restore(empty, newer)


@pytest.fixture
def configured(source, monkeypatch):
    """The command line's configured database: the populated source."""
    monkeypatch.setenv("LANDREG_DATABASE_URL", source.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_command_line_backup_and_restore_into_a_new_database(source, configured, tmp_path, make_database):
    out = tmp_path / "cli.tar"
    runner = CliRunner()
    made = runner.invoke(commands(), ["backup", "-o", str(out)])
    assert made.exit_code == 0, made.output
    assert "tables" in made.output and "sha256" in made.output
    again = runner.invoke(commands(), ["backup", "-o", str(out)])
    assert again.exit_code == 2 and "--force" in again.output

    refused = runner.invoke(commands(), ["restore", str(out)])
    assert refused.exit_code == 2 and "--into NAME" in refused.output
    bad_name = runner.invoke(commands(), ["restore", str(out), "--into", "Robert'); DROP"])
    assert bad_name.exit_code == 2 and "--into" in bad_name.output

    target = make_database("landreg_restore_cli")  # dropped at the end; the command creates it again
    name = make_url(target).database
    with source.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE "{name}"'))
    restored = runner.invoke(commands(), ["restore", str(out), "--into", name])
    assert restored.exit_code == 0, restored.output
    assert "counts checked" in restored.output
    engine = create_engine(target)
    try:
        assert _fingerprints(engine) == _fingerprints(source)
    finally:
        engine.dispose()
