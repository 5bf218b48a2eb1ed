"""The embedded default database: a PostgreSQL + PostGIS cluster that landreg owns.

landreg creates the cluster with ``initdb`` in a directory of its own and runs it with
``pg_ctl``, listening only on a Unix socket inside that directory (no TCP port, so nothing
collides with another PostgreSQL on the machine). It is started on demand and reused.

PostgreSQL refuses to run as root. When landreg runs as root, the server runs as an
unprivileged system user (``LANDREG_SERVICE_USER``, default ``landreg``), created on first use.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from landreg.settings import Settings

DATABASE = "landreg"
ROLE = "landreg"
PORT = 5432  # names the socket file; TCP only where `listen` asks for it
_SOCKET_PATH_MAX = 107  # sun_path limit on Linux
_SERVER_PROGRAMS = {"initdb", "pg_ctl"}  # these refuse to run as root


class LocalDatabaseError(RuntimeError):
    """The embedded database cannot be set up; the message says what to do."""


def _install_hint(major: str = "15") -> str:
    return f"sudo apt-get install postgresql-{major} postgresql-{major}-postgis-3"


def _sizing() -> list[str]:
    """Memory and WAL for a registry of a million parcels (~1 GB with indexes and history).

    PostgreSQL's defaults (128 MB of buffers, a checkpoint every GB of WAL) suit a small machine
    shared with much else; an eighth of the memory (up to 1 GB) keeps the parcels a map or an
    API request touches in the server's own cache, and a larger WAL allowance lets a state-wide
    import finish without forced checkpoints. Compressed full-page images halve that WAL.
    """
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = Path("/sys/fs/cgroup/memory.max")  # a container may get less than the machine has
    if limit.exists() and limit.read_text().strip().isdigit():
        memory = min(memory, int(limit.read_text()))
    buffers_mb = max(128, min(1024, memory // 8 // 2**20))
    return [f"shared_buffers = '{buffers_mb}MB'", "max_wal_size = '4GB'", "wal_compression = on"]


def find_bindir(configured: Path | None = None) -> Path:
    """The directory with ``initdb`` and ``pg_ctl``: configured, Debian's newest, or on PATH."""
    if configured:
        if not (configured / "initdb").exists():
            raise LocalDatabaseError(f"LANDREG_PG_BINDIR={configured} holds no initdb.")
        return configured
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(re.search(r"/(\d+)/bin", p).group(1)),
    )
    if debian:
        return Path(debian[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise LocalDatabaseError(
        "PostgreSQL server programs (initdb, pg_ctl) are not installed.\n"
        f"Install them with:  {_install_hint()}\n"
        "or point landreg at an existing PostGIS with LANDREG_DATABASE_URL."
    )


@dataclass
class LocalCluster:
    """One embedded cluster in ``root``: ``pgdata/`` (the cluster), ``run/`` (its socket), ``server.log``."""

    root: Path
    bindir: Path
    service_user: str = "landreg"
    fast_unsafe: bool = False  # fsync off: for throw-away test clusters only
    port: int = PORT
    listen: str = ""  # TCP addresses to listen on besides the socket ("" = none; benchmarks use loopback)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalCluster:
        return cls(
            root=settings.data_dir,
            bindir=find_bindir(settings.pg_bindir),
            service_user=settings.service_user,
        )

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = DATABASE) -> str:
        """SQLAlchemy URL of a database in this cluster, over the Unix socket."""
        return f"postgresql+psycopg://{ROLE}@/{database}?host={self.socket_dir}&port={self.port}"

    def libpq_url(self, database: str = DATABASE) -> str:
        """The same for psql and other libpq clients."""
        return f"postgresql://{ROLE}@/{database}?host={self.socket_dir}&port={self.port}"

    # -- state ---------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.initialised or self._postmaster_pid_reused():
            return False
        return self._pg("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode == 0

    def _postmaster_pid_reused(self) -> bool:
        """True when ``postmaster.pid`` names a live process that is not a PostgreSQL server: the
        server died without removing the file and the system gave its pid to another process.
        ``pg_ctl`` would call the cluster running and ``pg_ctl stop`` send that process SIGINT."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
        except (OSError, ValueError):
            return False  # no file, no such process, or no /proc: pg_ctl decides
        return Path(argv0.decode(errors="replace")).name != "postgres"

    # -- lifecycle -----------------------------------------------------------------------
    def ensure_running(self) -> bool:
        """Create and start the cluster as needed. True when this call started (or created) it."""
        self._check_postgis()
        if not self.initialised:
            self.init()  # leaves the new cluster running
            return True
        if self.is_running():
            return False
        self.start()
        return True

    def init(self) -> None:
        self._check_socket_path()
        self._prepare_dirs()
        self._pg(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            ROLE,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        conf = [
            "# written by landreg: a Unix socket inside the cluster's directory",
            f"listen_addresses = '{self.listen}'",
            f"unix_socket_directories = '{self.socket_dir}'",
            f"port = {self.port}",
            # each line names its session: the API's engine and the request it serves (landreg.db)
            "log_line_prefix = '%m [%p] %q%a '",
        ]
        if self.fast_unsafe:
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        else:
            conf += _sizing()
        conf_file = self.pgdata / "postgresql.auto.conf"
        with conf_file.open("a") as f:
            f.write("\n".join(conf) + "\n")
        self.start()
        self._pg("createdb", "-h", str(self.socket_dir), "-p", str(self.port), "-U", ROLE, DATABASE)

    def start(self) -> None:
        result = self._pg(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log_file),
            check=False,
        )
        if result.returncode != 0:
            raise LocalDatabaseError(
                f"The embedded PostgreSQL in {self.pgdata} did not start.\n"
                f"{result.stdout}{result.stderr}\nSee its log: {self.log_file}"
            )

    def stop(self) -> bool:
        """Stop the server; False when it was not running."""
        if not self.is_running():
            return False
        self._pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata))
        return True

    def create_database(self, name: str) -> None:
        self._pg("createdb", "-h", str(self.socket_dir), "-p", str(self.port), "-U", ROLE, name)

    # -- helpers -------------------------------------------------------------------------
    def _check_postgis(self) -> None:
        share = self._pg("pg_config", "--sharedir", check=False).stdout.strip()
        if share and not Path(share, "extension", "postgis.control").exists():
            major = self.bindir.parent.name if self.bindir.parent.name.isdigit() else "15"
            raise LocalDatabaseError(
                f"PostGIS is not installed for the PostgreSQL in {self.bindir}.\n"
                f"Install it with:  sudo apt-get install postgresql-{major}-postgis-3"
            )

    def _check_socket_path(self) -> None:
        socket = self.socket_dir / f".s.PGSQL.{self.port}"
        if len(str(socket)) > _SOCKET_PATH_MAX:
            raise LocalDatabaseError(
                f"The socket path {socket} is longer than Unix allows ({_SOCKET_PATH_MAX} "
                "characters); set LANDREG_DATA_DIR to a shorter directory."
            )

    def _prepare_dirs(self) -> None:
        for d in (self.root, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = _ensure_service_user(self.service_user)
            for d in (self.root, self.socket_dir):
                os.chown(d, user.pw_uid, user.pw_gid)
            blocked = _first_closed_parent(self.root, user)
            if blocked:
                raise LocalDatabaseError(
                    f"The service user '{user.pw_name}' cannot enter {blocked}, so PostgreSQL "
                    f"cannot use {self.root}. Set LANDREG_DATA_DIR to a directory outside it, "
                    "e.g. /var/lib/landreg."
                )
        self.root.chmod(0o700)

    def _pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a PostgreSQL program; the server's programs as root run as the service user."""
        exe = self.bindir / program
        if not exe.exists():
            raise LocalDatabaseError(f"{exe} is missing. Install it with:  {_install_hint()}")
        kwargs: dict = {}
        if os.geteuid() == 0 and program in _SERVER_PROGRAMS:
            user = _ensure_service_user(self.service_user)
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}
        result = subprocess.run([str(exe), *args], capture_output=True, text=True, env=_clean_env(), **kwargs)
        if check and result.returncode != 0:
            raise LocalDatabaseError(f"{program} {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result


def _clean_env() -> dict[str, str]:
    """Environment for server programs: without libpq variables that would point them elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def _ensure_service_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(name)


def _first_closed_parent(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first ancestor of ``path`` that ``user`` may not enter (search permission), if any."""
    for parent in reversed(path.resolve().parents):
        st = parent.stat()
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == user.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return parent
    return None
