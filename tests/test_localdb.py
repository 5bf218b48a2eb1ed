"""The embedded PostGIS: created, started, stopped and reused; clear errors when it cannot be."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from landreg.localdb import LocalCluster, LocalDatabaseError, find_bindir


def test_the_test_cluster_is_a_postgis_on_a_unix_socket_only(engine, cluster):
    if cluster is None:
        pytest.skip("LANDREG_TEST_DATABASE_URL given: no embedded cluster")
    with engine.connect() as conn:
        assert conn.execute(text("SHOW listen_addresses")).scalar_one() == ""
        assert conn.execute(text("SELECT postgis_lib_version()")).scalar_one().startswith("3.")
    owner = cluster.pgdata.stat().st_uid
    expected = pwd.getpwnam("landreg").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert owner == expected  # as root, the server runs as the unprivileged service user


def test_a_cluster_keeps_its_data_across_stop_and_start():
    root = Path(tempfile.mkdtemp(prefix="landreg-life-"))
    cluster = LocalCluster(root=root, bindir=find_bindir(), fast_unsafe=True)
    try:
        assert cluster.ensure_running() is True
        assert cluster.ensure_running() is False  # reused, not started twice
        engine = create_engine(cluster.url())
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"))
        engine.dispose()

        assert cluster.stop() is True and not cluster.is_running()
        assert cluster.stop() is False
        assert cluster.ensure_running() is True
        engine = create_engine(cluster.url())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT x FROM kept")).scalar_one() == 42
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_stale_pid_file_naming_another_process_is_not_a_running_cluster():
    """A server that died leaves postmaster.pid; when its pid goes to another process, pg_ctl would
    call the cluster running and ``stop`` send that process SIGINT (pg_ctl stop -m fast). Run as
    root, pg_ctl runs as the service user and cannot signal root's processes: then the test holds
    either way; run as a normal user (.ci/run as tester) it fails without the check."""
    root = Path(tempfile.mkdtemp(prefix="landreg-stale-"))
    cluster = LocalCluster(root=root, bindir=find_bindir(), fast_unsafe=True)
    other = subprocess.Popen(["sleep", "60"])
    try:
        cluster.ensure_running()
        cluster.stop()
        (cluster.pgdata / "postmaster.pid").write_text(f"{other.pid}\n{cluster.pgdata}\n")
        assert cluster.is_running() is False
        assert cluster.stop() is False
        assert other.poll() is None  # alive: not signalled
    finally:
        other.kill()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_missing_server_programs_give_one_clear_message():
    with pytest.raises(LocalDatabaseError, match="LANDREG_PG_BINDIR=/nonexistent holds no initdb"):
        find_bindir(Path("/nonexistent"))


def test_missing_postgis_names_the_package_to_install(tmp_path):
    """A PostgreSQL without PostGIS: a fake bindir whose pg_config points at a share dir without it."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for program in ("initdb", "pg_ctl"):
        (bindir / program).symlink_to(find_bindir() / program)
    (bindir / "pg_config").write_text(f"#!/bin/sh\necho {tmp_path / 'share'}\n")
    (bindir / "pg_config").chmod(0o755)
    cluster = LocalCluster(root=tmp_path / "db", bindir=bindir)
    with pytest.raises(LocalDatabaseError, match="postgis-3"):
        cluster.ensure_running()


def test_a_socket_path_too_long_for_unix_is_explained(tmp_path):
    cluster = LocalCluster(root=tmp_path / ("x" * 120), bindir=find_bindir())
    with pytest.raises(LocalDatabaseError, match="LANDREG_DATA_DIR"):
        cluster.init()


def test_the_api_answers_503_while_the_database_is_down_and_recovers_without_a_restart():
    """A restarted database: the pool's connections are dead; the API says 503 meanwhile, then
    reconnects by itself."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from landreg import migrate

    root = Path(tempfile.mkdtemp(prefix="landreg-outage-"))
    cluster = LocalCluster(root=root, bindir=find_bindir(), fast_unsafe=True)
    try:
        cluster.ensure_running()
        engine = create_engine(cluster.url())
        migrate.upgrade(engine)
        engine.dispose()
        with TestClient(create_app(cluster.url())) as client:
            assert client.get("/ready").status_code == 200
            assert client.get("/collections/parcels/items").status_code == 200  # pooled connections exist
            cluster.stop()
            for path in ("/ready", "/collections/parcels/items", "/maps/standortkarte"):
                down = client.get(path)
                assert down.status_code == 503, (path, down.status_code, down.text[:200])
                assert down.headers["retry-after"] == "5"
            assert client.get("/health").status_code == 200  # the process itself lives
            cluster.ensure_running()
            assert client.get("/ready").status_code == 200
            assert client.get("/collections/parcels/items").json()["numberMatched"] == 0
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
