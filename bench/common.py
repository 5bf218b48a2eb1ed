"""What the benchmarks share: a throw-away PostGIS, timing of whole commands with peak memory."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from landreg.localdb import LocalCluster, find_bindir  # noqa: E402

VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"

# Runs a command and prints its peak resident memory (KiB) last: the wrapper's only child is the command.
_RSS_WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)"
)


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    output: str


def run_measured(cmd: list[str], env: dict | None = None) -> Run:
    """Run a command to completion; its wall time and peak RSS (children of it not counted)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *cmd], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    seconds = time.perf_counter() - started
    lines = result.stderr.strip().splitlines()
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return Run(seconds, int(lines[-1]) / 1024, result.stdout + "\n".join(lines[:-1]))


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p95": p95, "min": ordered[0], "max": ordered[-1]}


class BenchDatabase:
    """A fresh embedded PostGIS cluster for one benchmark run (ordinary durable settings)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="landreg-bench-"))
        with socket.socket() as s:  # a free loopback port, for peers that only speak TCP (tipg)
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.cluster = LocalCluster(root=self.root, bindir=find_bindir(), port=self.port, listen="127.0.0.1")
        self.cluster.ensure_running()
        self.admin = create_engine(self.cluster.url(), isolation_level="AUTOCOMMIT")

    def fresh(self, name: str) -> str:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.cluster.url(name)

    def libpq(self, name: str) -> str:
        return f"host={self.cluster.socket_dir} port={self.port} dbname={name} user=landreg"

    def tcp_url(self, name: str) -> str:
        return f"postgresql://landreg@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.admin.dispose()
        self.cluster.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def load_parcels(db: BenchDatabase, name: str, size: int) -> str:
    """A fresh database ``name`` with the municipalities and the generated parcels (not scored)."""
    from generate import generate

    path = generate(size)
    url = db.fresh(name)
    env = {"LANDREG_DATABASE_URL": url}
    landreg = str(VENV_BIN / "landreg")
    run_measured([landreg, "migrate"], env)
    run_measured([landreg, "seed", "--count", "0"], env)
    announce_everywhere(url)
    run_measured([landreg, "import", str(path), "--actor", "bench", "--no-score"], env)
    return url


def announce_everywhere(url: str) -> None:
    """Every municipality announced publication long ago (§ 200 (3) BauGB): the parcels selected for
    publication are public, as in a registry in use."""
    from sqlalchemy import create_engine

    from landreg.publication import standing_notices

    engine = create_engine(url)
    with engine.begin() as conn:
        standing_notices(conn, "bench")
    engine.dispose()


def vacuum(url: str) -> None:
    """VACUUM ANALYZE after a bulk load: statistics, hint bits and the visibility map, as autovacuum
    would leave a production database. Without it the first server to read each page pays for
    setting its hint bits, and the peer measured after it reads the pages for free."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
    engine.dispose()


def ensure_apt(program: str, package: str) -> str:
    """The path of ``program``, installing its Debian package when we are root."""
    found = shutil.which(program)
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit(f"{program} is missing: sudo apt-get install {package}")
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
    )
    return shutil.which(program)


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Report:
    """One benchmark's outcome: its detail table, and rows for the summary of ``bench/run.py``
    (what, landreg, peer, ratio with >1 meaning landreg is better)."""

    name: str
    command: str
    table: str
    summary: list[list[str]]

    def markdown(self) -> str:
        return f"## {self.name}\n\n`{self.command}`\n\n{self.table}\n"

    def save(self, stem: str) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"{dt.date.today():%Y-%m-%d}-{stem}.md"
        out.write_text(f"# {self.name} {dt.datetime.now():%Y-%m-%d %H:%M}\n\n`{self.command}`\n\n{self.table}\n")
        return out


SUMMARY_HEADER = ["benchmark", "landreg", "peer", "ratio (>1: landreg better)"]
