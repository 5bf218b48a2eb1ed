"""Point-in-time recovery as README "Betrieb / Operations" describes it, on an embedded cluster.

WAL archiving (archive_mode, archive_command), a base backup with pg_basebackup, rows written
before and after a noted time, and a copy recovered to that time (restore_command,
recovery_target_time, recovery.signal): the first rows are there, the later ones are not.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from landreg.localdb import ROLE, LocalCluster, find_bindir
from landreg.settings import get_settings

BINDIR = find_bindir(get_settings().pg_bindir)
pytestmark = pytest.mark.skipif(
    not (BINDIR / "pg_basebackup").exists(),
    reason=f"pg_basebackup is not installed in {BINDIR} (apt-get install postgresql-15)",
)


def _owned_by_server(*paths: Path) -> None:
    """As root the embedded server runs as the service user, who must own its files and the archive."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(get_settings().service_user)
    for path in paths:
        for root, dirs, files in os.walk(path):
            for name in [root, *(Path(root, d) for d in dirs), *(Path(root, f) for f in files)]:
                os.chown(name, user.pw_uid, user.pw_gid)


def _configure(cluster: LocalCluster, *lines: str) -> None:
    with (cluster.pgdata / "postgresql.auto.conf").open("a") as f:
        f.write("\n".join(lines) + "\n")


def _wait_until(engine, sql: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(text(sql)).scalar():
                return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {sql}")


@pytest.fixture
def workdir():
    """In /tmp itself: pytest's tmp_path lies below a directory the service user cannot enter."""
    path = Path(tempfile.mkdtemp(prefix="landreg-pitr-"))
    path.chmod(0o755)  # the clusters inside are closed (0700) by LocalCluster itself
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_recovery_to_a_point_in_time(workdir):
    tmp_path = workdir
    archive = tmp_path / "wal-archive"
    archive.mkdir()
    primary = LocalCluster(root=tmp_path / "primary", bindir=BINDIR, fast_unsafe=True)
    copy = LocalCluster(root=tmp_path / "recovered", bindir=BINDIR, fast_unsafe=True)
    try:
        primary.ensure_running()
        _owned_by_server(archive)
        # 1. WAL archiving (the README's settings; full_page_writes back on, which PITR needs)
        _configure(
            primary,
            "wal_level = replica",
            "archive_mode = on",
            f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'",
            "full_page_writes = on",
        )
        primary.stop()
        primary.start()
        engine = create_engine(primary.url())
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE reading (n int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())"))

        # 2. a base backup (the WAL it needs comes from the archive)
        subprocess.run(
            [BINDIR / "pg_basebackup", "-h", str(primary.socket_dir), "-p", str(primary.port), "-U", ROLE,
             "-D", str(copy.pgdata), "--wal-method=none", "--checkpoint=fast"],
            check=True, capture_output=True,
        )  # fmt: skip

        # 3. rows, the noted time, more rows; the WAL segment with them is archived
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO reading (n) SELECT generate_series(1, 100)"))
        time.sleep(0.2)
        with engine.connect() as conn:
            target = conn.execute(text("SELECT clock_timestamp()::text")).scalar_one()
        time.sleep(0.2)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO reading (n) SELECT generate_series(101, 200)"))
        with engine.connect() as conn:
            segment = conn.execute(text("SELECT pg_walfile_name(pg_switch_wal())")).scalar_one()
        _wait_until(engine, f"SELECT last_archived_wal >= '{segment}' FROM pg_stat_archiver")
        engine.dispose()

        # 4. recover the copy to the noted time
        copy.socket_dir.mkdir(parents=True)
        _configure(
            copy,
            f"unix_socket_directories = '{copy.socket_dir}'",
            "archive_mode = off",
            f"restore_command = 'cp {archive}/%f %p'",
            f"recovery_target_time = '{target}'",
            "recovery_target_action = 'promote'",
        )
        (copy.pgdata / "recovery.signal").touch()
        _owned_by_server(copy.root)
        copy.start()
        recovered = create_engine(copy.url())
        _wait_until(recovered, "SELECT NOT pg_is_in_recovery()")
        with recovered.connect() as conn:
            rows = conn.execute(text("SELECT min(n), max(n), count(*) FROM reading")).one()
            latest = conn.execute(text("SELECT max(at)::text FROM reading")).scalar_one()
        recovered.dispose()
        assert tuple(rows) == (1, 100, 100)  # the rows before the noted time, none after it
        assert latest < target
        log = copy.log_file.read_text()
        assert "recovery stopping before commit" in log and "restored log file" in log
    finally:
        copy.stop()
        primary.stop()
