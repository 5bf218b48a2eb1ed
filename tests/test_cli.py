"""The landreg command: clear messages instead of tracebacks, and the database subcommands."""

from __future__ import annotations

import os
import subprocess
import sys

from landreg import migrate


def landreg(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LANDREG_")} | env
    return subprocess.run([sys.executable, "-m", "landreg.cli", *args], capture_output=True,
                          text=True, env=environment, timeout=120)


def test_missing_postgresql_is_one_clear_message(tmp_path):
    result = landreg("db", "start", LANDREG_DATA_DIR=str(tmp_path), LANDREG_PG_BINDIR="/nonexistent")
    assert result.returncode == 2
    assert "LANDREG_PG_BINDIR=/nonexistent holds no initdb" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_of_a_cluster_not_yet_created(tmp_path):
    result = landreg("db", "status", LANDREG_DATA_DIR=str(tmp_path / "none"))
    assert result.returncode == 3 and "not created yet" in result.stdout


def test_db_url_points_at_the_socket_in_the_data_dir(tmp_path):
    result = landreg("db", "url", LANDREG_DATA_DIR=str(tmp_path))
    assert result.stdout.strip() == f"postgresql://landreg@/landreg?host={tmp_path}/run&port=5432"


def test_seed_before_migrate_says_what_to_do(make_database):
    url = make_database("landreg_cli_empty")
    result = landreg("seed", LANDREG_DATABASE_URL=url)
    assert result.returncode == 2 and "run `landreg migrate` first" in result.stderr


def test_migrate_and_seed_through_the_command(make_database):
    url = make_database("landreg_cli")
    assert f"schema at revision {migrate.head_revision()}" in landreg("migrate", LANDREG_DATABASE_URL=url).stdout
    first = landreg("seed", "--count", "40", LANDREG_DATABASE_URL=url)
    assert "loaded     40 sample parcels" in first.stdout, first.stderr
    second = landreg("seed", "--count", "40", LANDREG_DATABASE_URL=url)
    assert "kept       40 sample parcels" in second.stdout
    down = landreg("migrate", "--down", "--revision", "base", LANDREG_DATABASE_URL=url)
    assert "schema at revision base" in down.stdout


def test_unreachable_database_is_one_clear_message():
    result = landreg("migrate", LANDREG_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2
    assert "Cannot reach the database" in result.stderr and "Traceback" not in result.stderr
