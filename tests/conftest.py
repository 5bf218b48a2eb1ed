"""Test fixtures: a real, migrated PostGIS for the session; each test runs in a rolled-back transaction.

The database is a throw-away embedded cluster in a temporary directory (the same mechanism as the
embedded default), or the database named by ``LANDREG_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from landreg import migrate
from landreg.clock import REGISTER_TIME_ZONE
from landreg.db import sqlalchemy_url
from landreg.localdb import LocalCluster, find_bindir
from landreg.publication import standing_notices
from landreg.seed import load_municipalities
from landreg.settings import get_settings

# The register's day, fixed for the whole run (landreg.clock): a run that crosses midnight must not
# see the day change between a test's expectation and the code's answer; servers and commands the
# tests start inherit it.
os.environ.setdefault("LANDREG_TODAY", dt.datetime.now(REGISTER_TIME_ZONE).date().isoformat())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    """Collect the session's garbage once more, then freeze what is left.

    After the session, pytest's check for unraisable exceptions collects five more times. Over a
    worker's heap at the end of this suite that took more than 5 s. pytest-xdist's execnet then
    interrupts a worker that is still busy 5 s after the run ends: it sends it SIGINT, and the
    KeyboardInterrupt showed at the end of the run, inside a garbage collector callback; it could
    as well cut a cleanup short. This hook runs before the worker reports the end. Frozen objects are
    left out of later collections, so those five take next to nothing.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def cluster():
    """The embedded test cluster, or None when LANDREG_TEST_DATABASE_URL is given."""
    if os.environ.get("LANDREG_TEST_DATABASE_URL"):
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="landreg-test-"))  # /tmp: reachable by the service user
    cluster = LocalCluster(root=root, bindir=find_bindir(get_settings().pg_bindir), fast_unsafe=True)
    cluster.ensure_running()
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


#: The pytest-xdist worker running this process ("gw0", "gw1", …; empty in a run without workers).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _per_worker(name: str) -> str:
    """A database name of this worker's own: workers sharing a server (LANDREG_TEST_DATABASE_URL)
    must not migrate, fill or drop each other's databases."""
    return f"{name}_{WORKER}" if WORKER else name


@pytest.fixture(scope="session")
def database_url(cluster):
    """The main test database: the embedded cluster's, or LANDREG_TEST_DATABASE_URL's (with test
    workers, a database of this worker's beside it, dropped at the end)."""
    if cluster is not None:
        yield cluster.url()
        return
    url = sqlalchemy_url(os.environ["LANDREG_TEST_DATABASE_URL"])
    if not WORKER:
        yield url
        return
    name = _per_worker(make_url(url).database)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def make_database(database_url):
    """Factory for extra, empty databases beside the main test database (dropped at the end)."""
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    created = []

    def make(name: str) -> str:
        name = _per_worker(name)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(database_url).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _prepared_engine(url: str):
    """An engine on ``url``, migrated to head, with the real NRW municipalities loaded."""
    engine = create_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        load_municipalities(conn)
        # every municipality announced publication long ago: a parcel selected for it is public
        standing_notices(conn, "test-setup")
    return engine


@pytest.fixture(scope="session")
def engine(database_url):
    """The test database, migrated to head, with the real NRW municipalities loaded."""
    engine = _prepared_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def conn(engine):
    """A connection whose transaction is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def session(conn):
    """An ORM session inside the test's transaction; its commits become savepoints."""
    with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        yield session


@pytest.fixture(scope="module")
def committed_engine(make_database, request):
    """A database of the test module's own, migrated, with municipalities, whose data is committed.

    For tests of the API as a client sees it: the app uses its own engine and pool. Tables are
    emptied after each test by ``committed_db``.
    """
    engine = _prepared_engine(make_database(f"landreg_{request.module.__name__.rsplit('.', 1)[-1]}"))
    yield engine
    engine.dispose()


@pytest.fixture
def committed_db(committed_engine):
    yield committed_engine
    with committed_engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE parcel, import_run, api_token, context_feature, context_layer, context_layer_change, "
                "scoring_profile, plan_check, submission, site_contact, "
                "notification, app_user, web_session, login_failure, alkis_flurstueck, saved_search, enquiry, enquiry_attempt CASCADE"
            )
        )


@pytest.fixture
def settings(monkeypatch):
    """Change landreg settings for one test: ``settings(MAX_VERTICES=1000)``."""

    def change(**values):
        for name, value in values.items():
            monkeypatch.setenv(f"LANDREG_{name}", str(value))
        get_settings.cache_clear()

    yield change
    monkeypatch.undo()
    get_settings.cache_clear()
