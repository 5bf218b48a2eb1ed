"""Reads from a hot standby, writes to the primary (landreg.routing, api.replicas).

A primary and a streaming standby (``pg_basebackup -R``) run as embedded clusters in the test's
temporary directory; the app is served with both. Where a request's query runs is seen from the
servers themselves: an ACCESS EXCLUSIVE lock taken on the primary is replayed on the standby, so
a read that lands there waits in the standby's ``pg_stat_activity`` under ``landreg-replica``.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import morecantile
import pytest
import shapely
from sqlalchemy import create_engine, text

from landreg import migrate
from landreg.localdb import LocalCluster, find_bindir
from landreg.publication import standing_notices
from landreg.routing import format_lsn, parse_lsn
from landreg.seed import load_municipalities
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, bearers, live_server, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)


def _as_service_user(cluster: LocalCluster) -> dict:
    """Run a server program as the cluster's owner (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(cluster.service_user)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}


@pytest.fixture(scope="module")
def pair():
    """(primary, standby): the primary migrated, with municipalities, before the base backup."""
    bindir = find_bindir(get_settings().pg_bindir)
    if not (bindir / "pg_basebackup").exists():
        pytest.skip(f"pg_basebackup is not installed in {bindir} (Debian: package postgresql-<major>)")
    root = Path(tempfile.mkdtemp(prefix="landreg-repl-"))  # /tmp: short socket paths
    root.chmod(0o711)  # the service user enters it (the clusters' own directories stay closed)
    primary = LocalCluster(root=root / "p", bindir=bindir, fast_unsafe=True)
    standby = LocalCluster(root=root / "s", bindir=bindir, fast_unsafe=True)
    try:
        primary.ensure_running()
        engine = create_engine(primary.url())
        migrate.upgrade(engine)
        with engine.begin() as conn:
            load_municipalities(conn)
            standing_notices(conn, "test-setup")
        engine.dispose()
        standby._prepare_dirs()
        subprocess.run(
            [str(bindir / "pg_basebackup"), "-h", str(primary.socket_dir), "-p", str(primary.port), "-U", "landreg"]
            + ["-D", str(standby.pgdata), "-R", "-X", "stream", "-c", "fast"],
            check=True,
            capture_output=True,
            **_as_service_user(standby),
        )
        with (standby.pgdata / "postgresql.auto.conf").open("a") as conf:  # its own socket
            conf.write(f"unix_socket_directories = '{standby.socket_dir}'\n")
        standby.start()
        yield primary, standby
    finally:
        for cluster in (standby, primary):
            if cluster.is_running():
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def served(pair):
    from api.app import create_app

    primary, standby = pair
    app = create_app(primary.url(), [standby.url()])
    with live_server(app) as base:
        _wait(lambda: _replica(base)["in_use"], 20, "the replica to be in use")
        yield base, app


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _replica(base: str) -> dict:
    ready = httpx.get(f"{base}/ready", timeout=10).json()
    return next(d for d in ready["databases"] if d["role"] == "replica")


def _rows(cluster: LocalCluster, sql: str):
    engine = create_engine(cluster.url())
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).all()
    finally:
        engine.dispose()


def _execute(cluster: LocalCluster, *statements: str) -> None:
    """Statements that cannot run in a transaction (VACUUM, ALTER SYSTEM), each on its own."""
    engine = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _flush_wal(engine) -> None:
    """A synchronous commit flushes the WAL written so far: the standby receives it now (the
    clusters commit asynchronously)."""
    with engine.begin() as flush:
        flush.execute(text("SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id()"))


_ENGINE = "split_part(application_name, ' ', 1)"  # the name before the request's id
_WAITING = f"""SELECT {_ENGINE} FROM pg_stat_activity
               WHERE application_name LIKE 'landreg-%' AND state = 'active' AND wait_event_type = 'Lock'"""


def test_ready_names_the_databases_without_credentials(served, pair):
    base, _ = served
    ready = httpx.get(f"{base}/ready", timeout=10)
    databases = ready.json()["databases"]
    assert [(d["name"], d["role"], d["state"], d["in_use"]) for d in databases] == [
        ("primary", "primary", "ok", True),
        ("replica-1", "replica", "ok", True),
    ]
    assert databases[1]["lag_s"] < 10
    assert str(pair[1].socket_dir) not in ready.text and "postgresql" not in ready.text


@contextmanager
def _parcels_locked(primary: LocalCluster, standby: LocalCluster):
    """An ACCESS EXCLUSIVE lock on ``parcel`` taken on the primary and replayed on the standby:
    a read of parcels waits on whichever server it runs on, in that server's pg_stat_activity."""
    engine = create_engine(primary.url())
    lock = engine.connect()
    lock.begin()
    lock.execute(text("LOCK TABLE parcel IN ACCESS EXCLUSIVE MODE"))  # replayed on the standby
    _flush_wal(engine)  # the lock's record with it
    try:
        _wait(
            lambda: _rows(
                standby, "SELECT 1 FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'parcel'::regclass"
            ),
            10,
            "the lock on the standby",
        )
        yield
    finally:
        lock.rollback()
        lock.close()
        engine.dispose()


def _read_in_background(url: str, request_id: str | None = None) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    headers = {"X-Request-ID": request_id} if request_id else {}
    reader = threading.Thread(target=lambda: answers.append(httpx.get(url, headers=headers, timeout=30)))
    reader.start()
    return reader, answers


def test_an_anonymous_read_runs_on_the_standby(served, pair):
    base, _ = served
    primary, standby = pair
    with _parcels_locked(primary, standby):
        reader, answers = _read_in_background(f"{base}/collections/parcels/items?limit=5")
        assert _wait(lambda: _rows(standby, _WAITING), 10, "the read on the standby") == [("landreg-replica",)]
        assert _rows(primary, _WAITING) == []
    reader.join(30)
    assert answers and answers[0].status_code == 200


def test_a_read_whose_standby_connection_breaks_is_answered_by_the_primary(served, pair):
    base, _ = served
    primary, standby = pair
    _wait(lambda: _replica(base)["in_use"], 20, "the replica to be in use")
    with _parcels_locked(primary, standby):
        reader, answers = _read_in_background(f"{base}/collections/parcels/items?limit=5")
        _wait(lambda: _rows(standby, _WAITING), 10, "the read on the standby")
        # its session on the standby ends (as when the standby stops): the read is run again on
        # the primary, where it waits for the lock in turn
        _rows(standby, _WAITING.replace(_ENGINE, "pg_terminate_backend(pid)", 1))
        assert _wait(lambda: _rows(primary, _WAITING), 10, "the read on the primary") == [("landreg-primary",)]
    reader.join(30)
    assert answers and answers[0].status_code == 200, answers[0].text
    assert "features" in answers[0].json()
    _wait(lambda: _replica(base)["in_use"], 20, "the standby to be used again")


def test_a_read_the_standby_cancels_in_a_conflict_with_recovery_is_answered_by_the_primary(served, pair):
    """Replay removes rows a read on the standby might still see: the standby cancels the read
    ("canceling statement due to conflict with recovery", SQLSTATE 40001) at once
    (max_standby_streaming_delay = 0), the primary answers it, and the standby stays in use."""
    base, _ = served
    primary, standby = pair
    _execute(primary, "CREATE TABLE recovery_probe AS SELECT generate_series(1, 100) AS n")
    _execute(standby, "ALTER SYSTEM SET max_standby_streaming_delay = 0", "SELECT pg_reload_conf()")
    engine = create_engine(primary.url())
    deleting = engine.connect()
    try:
        _wait(lambda: _replica(base)["in_use"], 20, "the replica to be in use")
        deleting.begin()
        deleting.execute(text("DELETE FROM recovery_probe"))  # running: its rows stay live to snapshots taken now
        with _parcels_locked(primary, standby):  # a transaction begun after the delete
            request_id = uuid.uuid4().hex  # the standby's log names the statement it cancelled by it
            reader, answers = _read_in_background(f"{base}/collections/parcels/items?limit=5", request_id)
            _wait(lambda: _rows(standby, _WAITING), 10, "the read on the standby")  # with its snapshot
            # the rows are deleted and vacuumed away on the primary (the lock's transaction began
            # after the delete and holds nothing back); replaying that conflicts with the read
            deleting.commit()
            _execute(primary, "VACUUM recovery_probe")
            _flush_wal(engine)
            assert _wait(lambda: _rows(primary, _WAITING), 10, "the read on the primary") == [("landreg-primary",)]
        cancelled = re.search(
            rf"landreg-replica {request_id} ERROR:  canceling statement due to conflict with recovery.*\n"
            r".*DETAIL:  (.*)\n",
            standby.log_file.read_text(),
        )
        assert cancelled and cancelled[1] == "User query might have needed to see row versions that must be removed."
        reader.join(30)
        assert answers and answers[0].status_code == 200, answers[0].text
        assert "features" in answers[0].json()
        assert _replica(base)["state"] == "ok"  # a conflict is no fault of the standby
    finally:
        deleting.close()
        engine.dispose()
        _execute(standby, "ALTER SYSTEM RESET max_standby_streaming_delay", "SELECT pg_reload_conf()")
        _execute(primary, "DROP TABLE IF EXISTS recovery_probe")


def test_writes_go_to_the_primary_and_the_writer_reads_its_write(served, pair):
    base, _ = served
    primary, standby = pair
    engine = create_engine(primary.url())
    planner = bearers(engine, planner=("planer.do", "planner", ["05913000"]))["planner"]
    _wait(lambda: _replica(base)["in_use"], 10, "the replica to be in use")
    with engine.connect() as conn:
        token_lsn = conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one()
    _wait(  # healthy is not enough: the token must have been replayed before replay pauses
        lambda: _rows(standby, f"SELECT pg_last_wal_replay_lsn() >= '{token_lsn}'::pg_lsn")[0][0],
        10,
        "the replica to catch up with the token",
    )
    # the standby stops replaying: what is written now is on the primary only
    _rows(standby, "SELECT pg_wal_replay_pause()")
    try:
        wgs = shapely.transform(shapely.box(X0 + 900, Y0, X0 + 940, Y0 + 40), _to_wgs84)
        feature = {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(wgs),
            "properties": {"local_ref": "REPL-1", "category": "bauluecke"},
        }
        with httpx.Client(base_url=base, headers=planner, timeout=30) as writer:
            created = writer.post("/collections/parcels/items", json=feature)
            assert created.status_code == 201, created.text
            lsn = parse_lsn(writer.cookies.get("landreg_lsn"))
            with engine.connect() as conn:  # written on the primary, at or before that position
                assert conn.execute(text("SELECT count(*) FROM parcel WHERE local_ref = 'REPL-1'")).scalar_one() == 1
                flushed = conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one()
            assert lsn is not None and lsn <= parse_lsn(flushed)
            url = created.headers["location"]
            assert writer.get(url).status_code == 200  # read-your-writes: from the primary
            # the same caller without the cookie reads from the paused standby: not there yet
            assert httpx.get(url, headers=planner, timeout=30).status_code == 404
            # the position can also come as a header
            assert httpx.get(url, headers=planner | {"Landreg-Min-LSN": format_lsn(lsn)}, timeout=30).status_code == 200
    finally:
        _rows(standby, "SELECT pg_wal_replay_resume()")
        engine.dispose()
    _wait(lambda: httpx.get(url, headers=planner, timeout=30).status_code == 200, 10, "the standby to replay the write")


def _to_wgs84(xy):
    import numpy as np
    from pyproj import Transformer

    to = Transformer.from_crs(25832, 4326, always_xy=True)
    return np.column_stack(to.transform(xy[:, 0], xy[:, 1]))


def test_reads_go_on_when_the_standby_stops(served, pair):
    base, _ = served
    _, standby = pair
    items = f"{base}/collections/parcels/items?limit=5"
    assert httpx.get(items, timeout=30).status_code == 200  # a pooled connection to the standby exists
    standby.stop()
    try:
        statuses = [httpx.get(items, timeout=30).status_code for _ in range(20)]
        assert statuses == [200] * 20
        replica = _wait(lambda: (r := _replica(base))["state"] == "down" and r, 10, "/ready to report the standby")
        assert replica["in_use"] is False and replica["reason"]
    finally:
        standby.start()
    _wait(lambda: _replica(base)["in_use"], 20, "the standby to be used again")


#: Client threads of the load tests: at most this many requests are in flight at any moment.
READERS = 8


@dataclass
class _Answer:
    """One request of a load: when it ran and how it was answered (status None: no answer at all)."""

    url: str
    started: float
    ended: float
    status: int | None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 500


def _read_load(base: str, urls: list[str], stop: threading.Event, answers: list[_Answer]) -> None:
    """Anonymous reads of ``urls`` in turn, one at a time, until ``stop`` is set."""
    with httpx.Client(base_url=base, timeout=30) as client:
        turn = 0
        while not stop.is_set():
            url = urls[turn % len(urls)]
            turn += 1
            started = time.monotonic()
            try:
                status, error = client.get(url).status_code, None
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            answers.append(_Answer(url, started, time.monotonic(), status, error))


def _reads_under_load(base: str, urls: list[str], during, settle_s: float = 1.5) -> tuple[list[_Answer], float, float]:
    """Answers of ``READERS`` threads reading while ``during()`` runs (after some reads, and for
    ``settle_s`` beyond it), with the moments it began and ended."""
    answers: list[_Answer] = []
    stop = threading.Event()
    readers = [threading.Thread(target=_read_load, args=(base, urls, stop, answers)) for _ in range(READERS)]
    for reader in readers:
        reader.start()
    try:
        _wait(lambda: len(answers) >= 3 * READERS, 30, "the reads to get going")
        began = time.monotonic()
        during()
        ended = time.monotonic()
        _wait(lambda: sum(a.started > ended for a in answers) >= 3 * READERS, 30, "reads after the change")
        time.sleep(settle_s)
    finally:
        stop.set()
        for reader in readers:
            reader.join(60)
    return list(answers), began, ended


def _load_urls(base: str) -> list[str]:
    """An anonymous reader's requests: a page of items, tiles around Dortmund (mostly not yet
    cached), an item."""
    municipality = httpx.get(f"{base}/collections/municipalities/items?limit=1", timeout=30).json()["features"][0]
    centre = morecantile.tms.get("WebMercatorQuad").tile(*DORTMUND_REINOLDIKIRCHE, 15)
    tiles = [
        f"/collections/parcels/tiles/WebMercatorQuad/15/{centre.y + i}/{centre.x + j}"
        for i in range(-3, 3)
        for j in range(-3, 3)
    ]
    urls = []
    for number, tile in enumerate(tiles):
        urls += [
            f"/collections/parcels/items?limit=5&offset={number}",
            tile,
            f"/collections/municipalities/items/{municipality['id']}",
        ]
    return urls


def test_a_standby_stopped_under_read_load_fails_no_more_than_the_reads_in_flight(served, pair):
    base, _ = served
    _, standby = pair
    _wait(lambda: _replica(base)["in_use"], 20, "the replica to be in use")
    urls = _load_urls(base)
    assert {httpx.get(f"{base}{url}", timeout=30).status_code for url in urls[:3]} == {200}
    try:
        answers, began, ended = _reads_under_load(base, urls, standby.stop)
        in_flight = [a for a in answers if a.started < ended and a.ended > began]
        failed = [a for a in answers if a.failed]
        print(
            f"\nstandby stopped under {READERS} readers: {len(answers)} requests, {len(failed)} failed "
            f"(5xx or no answer), {len(in_flight)} in flight while it stopped ({ended - began:.2f} s)"
        )
        assert [a for a in failed if a not in in_flight] == []  # the stop's own requests at most
        assert len(failed) <= READERS, [(a.url, a.status, a.error) for a in failed]
        assert {a.status for a in answers if a.started >= ended} == {200}
        replica = _wait(lambda: (r := _replica(base))["state"] == "down" and r, 10, "/ready to report the standby")
        assert replica["in_use"] is False and replica["reason"]
    finally:
        if not standby.is_running():
            standby.start()
    _wait(lambda: _replica(base)["in_use"], 20, "the standby to be used again")
    again, _, _ = _reads_under_load(base, urls, lambda: None, settle_s=0.5)
    assert {a.status for a in again} == {200}
    assert (
        _rows(standby, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'landreg-replica%'")[0][0] > 0
    )
