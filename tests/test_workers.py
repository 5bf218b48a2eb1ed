"""``landreg serve --workers N``: gunicorn with uvicorn workers, the database's connections divided
among them; a worker that dies is replaced while the others answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from landreg.db import (
    CONNECTION_RESERVE,
    MAX_CONNECTIONS_PER_PROCESS,
    MIN_CONNECTIONS_PER_WORKER,
    PoolBudgetError,
    connection_budget,
    pool_plan,
)
from landreg.settings import READS_PER_CORE
from tests.helpers import database_url

LANDREG = str(Path(sys.executable).with_name("landreg"))


def test_workers_never_open_more_connections_than_the_budget():
    for budget in range(0, 130):
        for workers in range(1, 70):
            try:
                plan = pool_plan(workers, budget)
            except PoolBudgetError as exc:
                assert budget // workers < MIN_CONNECTIONS_PER_WORKER
                fits = budget // MIN_CONNECTIONS_PER_WORKER
                assert f"--workers {workers} needs" in str(exc)
                assert f"Use --workers {fits} or fewer" in str(exc)
                continue
            assert workers * (plan.pool_size + plan.max_overflow + 1) <= budget  # and the listening one
            assert plan.pool_size >= 1 and plan.max_overflow >= 0
            assert MIN_CONNECTIONS_PER_WORKER <= plan.per_worker <= MAX_CONNECTIONS_PER_PROCESS


def test_pool_sizes_of_typical_set_ups():
    # each worker: its pool (every connection kept, no overflow) and the connection listening for changes
    assert (pool_plan(1, 87).pool_size, pool_plan(1, 87).max_overflow) == (29, 0)  # one process: 30
    assert (pool_plan(2, 87).pool_size, pool_plan(2, 87).max_overflow) == (29, 0)  # 2 × 30 = 60 ≤ 87
    assert (pool_plan(4, 87).pool_size, pool_plan(4, 87).max_overflow) == (20, 0)  # 4 × 21 = 84 ≤ 87
    assert pool_plan(29, 87).per_worker == 3
    with pytest.raises(PoolBudgetError, match="Use --workers 29 or fewer"):
        pool_plan(30, 87)
    with pytest.raises(PoolBudgetError, match="at least 1 worker"):
        pool_plan(0, 87)


def test_the_budget_is_read_from_the_server_unless_configured(engine):
    with engine.connect() as conn:
        most = int(conn.execute(text("SHOW max_connections")).scalar_one())
        reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
    budget, source = connection_budget(engine)
    assert budget == most - reserved - CONNECTION_RESERVE
    assert f"max_connections {most}" in source
    assert connection_budget(engine, 40) == (40, "LANDREG_DB_MAX_CONNECTIONS=40")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _answers(base: str, path: str = "/health") -> int:
    """Status of one request on a new connection (so that any worker may take it)."""
    try:
        return httpx.get(base + path, timeout=10, headers={"Connection": "close"}).status_code
    except httpx.TransportError:
        return 0


def _serve_refused(engine, workers: int, **settings: str) -> subprocess.CompletedProcess:
    """``landreg serve`` with these LANDREG_ settings, expected to refuse to start."""
    env = {**os.environ, "LANDREG_DATABASE_URL": database_url(engine)}
    env |= {f"LANDREG_{name}": value for name, value in settings.items()}
    return subprocess.run(
        [LANDREG, "serve", "--workers", str(workers), "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_too_many_workers_are_refused_with_the_number_that_fits(committed_engine):
    result = _serve_refused(committed_engine, 7, DB_MAX_CONNECTIONS="20")
    assert result.returncode == 2
    # each worker: a connection for requests, one for background work, one listening for changes
    assert "--workers 7 needs 3 database connections per worker (21)" in result.stderr
    assert "LANDREG_DB_MAX_CONNECTIONS=20" in result.stderr and "Use --workers 6 or fewer" in result.stderr


def test_no_reads_at_once_is_refused_naming_the_setting(committed_engine):
    result = _serve_refused(committed_engine, 1, READS_AT_ONCE="0")
    assert result.returncode == 2
    assert "LANDREG_READS_AT_ONCE=0: at least 1 read must be worked on; use 1 or more" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_workers_answer_and_a_killed_one_is_replaced(committed_engine, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LANDREG_DATABASE_URL": database_url(committed_engine)}
    env.pop("LANDREG_READS_AT_ONCE", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [LANDREG, "serve", "--workers", "2", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait(lambda: _answers(base, "/ready") == 200, 60, "the server")
        first, second = sorted(
            _wait(lambda: len(_children(server.pid)) == 2 and _children(server.pid), 30, "2 workers")
        )
        output = (tmp_path / "serve.log").read_text()
        assert "2 worker(s), each with up to" in output
        # the reads each worker works on at once: its share of 4 per core (api.admission)
        share = max(1, READS_PER_CORE * len(os.sched_getaffinity(0)) // 2)
        assert f"working on up to {share} reads at once" in output
        metrics = httpx.get(base + "/metrics", timeout=10).text  # one worker's (no multiprocess directory)
        assert f'landreg_reads{{state="limit"}} {share}.0' in metrics
        # each worker answers alone while the other is stopped: both serve
        for stopped in (first, second):
            os.kill(stopped, signal.SIGSTOP)
            try:
                assert [_answers(base) for _ in range(10)] == [200] * 10
            finally:
                os.kill(stopped, signal.SIGCONT)
        # a killed worker: the other keeps answering, gunicorn starts a new one
        os.kill(first, signal.SIGKILL)
        assert [_answers(base) for _ in range(20)] == [200] * 20
        workers = _wait(lambda: len(_children(server.pid)) == 2 and _children(server.pid), 30, "a new worker")
        assert second in workers and first not in workers
        assert _answers(base, "/ready") == 200
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    assert not _children(server.pid)
