"""What the benchmarks share: a throw-away PostGIS, timing of whole commands with peak memory."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
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

import httpx  # noqa: E402
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


#: Seconds any command of a benchmark may take (a 1M import takes minutes): beyond it, it is killed.
COMMAND_TIMEOUT_S = 3 * 3600
#: Seconds a server may take to shut down on SIGTERM before it is killed.
STOP_TIMEOUT_S = 15


def run_checked(cmd: list[str], timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(check=True)`` with a time limit; on timeout the command and everything it
    started (its own process group) are killed, and the error says which command."""
    process = subprocess.Popen(cmd, start_new_session=True, **kwargs)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise RuntimeError(f"{' '.join(map(str, cmd))[:300]} took longer than {timeout:.0f} s: killed") from None
    except BaseException:  # Ctrl-C: its own session does not get the terminal's signal
        _kill_group(process)
        raise
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, cmd, out, err)
    return subprocess.CompletedProcess(cmd, process.returncode, out, err)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=STOP_TIMEOUT_S)


def run_measured(cmd: list[str], env: dict | None = None, timeout: float = COMMAND_TIMEOUT_S) -> Run:
    """Run a command to completion; its wall time and peak RSS (children of it not counted)."""
    started = time.perf_counter()
    try:
        result = run_checked(
            [sys.executable, "-c", _RSS_WRAPPER, *cmd],
            timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
    except subprocess.CalledProcessError as exc:
        result = exc
    seconds = time.perf_counter() - started
    lines = result.stderr.strip().splitlines()
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return Run(seconds, int(lines[-1]) / 1024, result.stdout + "\n".join(lines[:-1]))


def cpu_busy_seconds() -> float:
    """CPU-seconds this machine has spent busy since boot, all cores and processes (``/proc/stat``:
    user, nice, system, irq and softirq; not idle, I/O wait or time stolen by the hypervisor). The
    difference over a step is the work it made the machine do, the database's included; divided by
    the cores, the least time any schedule of that work can take here."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, *_ = (int(v) for v in stat.readline().split()[1:])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU-seconds (user and system) a process and its children have spent so far (``/proc``): a
    server's, gunicorn's workers included, and those of children that exited and were waited for
    (in their parent's ``cutime``/``cstime``), so a worker restarted during a round still counts."""
    processes = []  # (pid, parent pid, clock ticks)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # after "pid (comm)": [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime
            processes.append((int(entry), int(fields[1]), sum(int(v) for v in fields[11:15])))
    tree, changed = {pid}, True
    while changed:  # children at any depth
        changed = False
        for p, ppid, _ in processes:
            if ppid in tree and p not in tree:
                tree.add(p)
                changed = True
    ticks = sum(t for p, _, t in processes if p in tree)
    return ticks / os.sysconf("SC_CLK_TCK")


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p95": p95, "min": ordered[0], "max": ordered[-1]}


def ratio_of_rounds(ratios: list[float]) -> str:
    """A ratio measured in several rounds in turn: the median of the rounds' ratios, with their range
    in brackets (a slow spell of this machine shows in the range, not in the ratio)."""
    ordered = sorted(ratios)
    return f"{statistics.median(ordered):.2f} [{ordered[0]:.2f}–{ordered[-1]:.2f}]"


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


def load_parcels(db: BenchDatabase, name: str, size: int, path: Path | None = None) -> str:
    """A fresh database ``name`` with the municipalities and the generated parcels (not scored);
    ``path``: another file of parcels to import instead (e.g. :mod:`generate_cells`)."""
    from generate import generate

    path = path or generate(size)
    url = db.fresh(name)
    env = {"LANDREG_DATABASE_URL": url}
    landreg = str(VENV_BIN / "landreg")
    run_measured([landreg, "migrate"], env)
    run_measured([landreg, "seed", "--count", "0"], env)
    announce_everywhere(url)
    run_measured([landreg, "import", str(path), "--actor", "bench", "--no-score"], env)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cmd: list[str], env: dict, port: int, path: str = "/", timeout: float = 60) -> subprocess.Popen:
    """A server process, once it answers ``path`` on ``port`` (else killed, with its log's tail).

    Its output goes to a file, never to a pipe nobody reads: landreg writes a JSON line per request
    to stderr (api.logs), and a full pipe (64 KiB, some 250 requests) blocks the server mid-request,
    which is how a benchmark used to hang."""
    log = tempfile.NamedTemporaryFile(prefix="landreg-bench-server-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    process.log_path = log.name  # type: ignore[attr-defined]
    log.close()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code < 500:
                    return process
            except httpx.HTTPError:
                time.sleep(0.2)
    except BaseException:
        _kill_group(process)
        raise
    _kill_group(process)
    raise RuntimeError(f"{' '.join(cmd)[:200]} did not answer within {timeout:.0f} s:\n{server_log(process)}")


def server_log(process: subprocess.Popen, chars: int = 3000) -> str:
    path = getattr(process, "log_path", None)
    return Path(path).read_text(errors="replace")[-chars:] if path and Path(path).exists() else ""


def stop_servers(servers: list[subprocess.Popen]) -> None:
    """SIGTERM to each server (and what it started), SIGKILL to any still running after STOP_TIMEOUT_S."""
    for server in servers:
        if server.poll() is None:
            try:
                os.killpg(server.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for server in servers:
        try:
            server.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(server)
        path = getattr(server, "log_path", None)
        if path:
            Path(path).unlink(missing_ok=True)


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
    setting its hint bits, and the peer measured after it reads the pages for free. Then a
    checkpoint writes the pages the vacuum changed, rather than a checkpoint later doing it under a
    measurement (and under whichever server is measured then)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("SET statement_timeout = '1h'"))
        conn.execute(text("VACUUM (ANALYZE)"))
        conn.execute(text("CHECKPOINT"))
    engine.dispose()


def warm_rows(url: str, ids: list[str]) -> None:
    """Read the rows the single-feature requests will ask for (parcels, indicators, quality), so
    that neither server measured first pays for the first reads of their pages and the one after it
    reads them for free: after a load of 1M parcels (or two) they are not in memory, and 200
    requests measured on cold pages gave 530 instead of 850 req/s."""
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT count(*) FROM parcel p LEFT JOIN parcel_indicator i ON i.parcel_id = p.id "
                "LEFT JOIN parcel_quality q ON q.parcel_id = p.id WHERE p.id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ids},
        ).scalar_one()
    engine.dispose()


def ensure_apt(program: str, package: str) -> str:
    """The path of ``program``, installing its Debian package when we are root."""
    found = shutil.which(program)
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit(f"{program} is missing: sudo apt-get install {package}")
    run_checked(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        900,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
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
