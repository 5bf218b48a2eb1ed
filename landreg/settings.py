"""All of landreg's settings, read from the environment (prefix ``LANDREG_``) or a ``.env`` file."""

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    """Where the embedded PostGIS cluster lives unless ``LANDREG_DATA_DIR`` says otherwise.

    As root the server runs as an unprivileged user, who must be able to reach the directory;
    ``/root`` is closed to others, so root's cluster lives under ``/var/lib``.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/landreg")
    xdg = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(xdg) / "landreg"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANDREG_", env_file=".env", extra="ignore")

    #: Any PostgreSQL with PostGIS, e.g. ``postgresql://user:pw@host/db``. Unset: the embedded
    #: local cluster below, created and started on demand.
    database_url: str | None = None
    #: Directory of the embedded cluster (data, socket, log).
    data_dir: Path = _default_data_dir()
    #: Where ``landreg opendata refresh`` writes the open data files (unset: ``DATA_DIR/downloads``).
    downloads_dir: Path | None = None
    #: Directory with initdb/pg_ctl; found automatically on Debian/Ubuntu when unset.
    pg_bindir: Path | None = None
    #: System user that runs the embedded server when landreg itself runs as root.
    service_user: str = "landreg"
    #: Where ``landreg serve`` listens.
    host: str = "127.0.0.1"
    port: int = 8000
    #: The address people reach the register at, e.g. ``https://flaechen.example.org`` (behind the
    #: reverse proxy): the links of e-mails (alert confirmations and alerts) and the open data
    #: catalogue's URLs. Never taken from a request's ``Host``, which a client chooses; unset: no
    #: e-mail with links is sent (alerts by e-mail are offered only with it). ``./run demo`` sets it.
    public_url: str | None = None
    #: Seed of the reproducible sample parcels (Beispieldaten) and how many to generate.
    #: Fixes the register's day (:mod:`landreg.clock`) for tests and demonstrations; unset in
    #: production, where the day is the date in Germany (Europe/Berlin).
    today: dt.date | None = None
    sample_seed: int = 20261121
    sample_count: int = 3000
    #: Maps embed up to this many parcels as GeoJSON; with more they draw them from vector tiles.
    map_embed_max: int = 1500
    #: Megabytes of rendered vector tiles each server process keeps (0: no cache), and milliseconds a
    #: process may go without asking the database what changed (0: every request asks; N: a tile may
    #: be served up to N ms after an edit that changed it). See :mod:`landreg.tilecache`.
    tile_cache_mb: int = 128
    tile_cache_sync_ms: int = 0
    #: Whether the API listens on the primary for committed changes (``NOTIFY landreg_tiles``), so
    #: that a cache hit needs no query while nothing changed (:mod:`landreg.tilenotices`). Turn it
    #: off only where LISTEN cannot work, e.g. behind PgBouncer in transaction mode: then every
    #: request asks the database (or every ``tile_cache_sync_ms``).
    tile_cache_listen: bool = True
    #: Whether public tiles say ``X-Cache: hit|miss`` (diagnosis, tests): off by default, because a miss
    #: where nothing visible changed would tell the public that an unpublished parcel was edited there.
    tile_cache_header: bool = False

    # What one request or one geometry may cost; every refusal names its setting.
    #: Vertices of one parcel or plan geometry (a large real parcel has a few thousand).
    max_vertices: int = 100_000
    #: Bytes of one parcel or plan geometry as stored (2D WKB); any geometry within the vertex
    #: limit fits (at most ~1.93 MB for 100,000 vertices), this bounds a raised vertex limit.
    max_geometry_bytes: int = 2_000_000
    #: Bytes of a request body; a parcel at the vertex limit as GeoJSON fits. Uploads to
    #: ``/imports`` have their own cap.
    max_body_bytes: int = 5_000_000
    #: Bytes of one upload to ``/imports`` (file, mapping and form together): 256 MiB, about 250,000
    #: parcels as GeoPackage, more than any municipality's file (over that: 413).
    max_upload_bytes: int = 256 * 1024**2
    #: Milliseconds any database statement of an API request may run (0: no limit); imports,
    #: rescoring after a profile change and the command line are not bound by it.
    statement_timeout_ms: int = 30_000
    #: Metres a parcel may lie beyond the (generalised, DVG2) boundary of the municipality it claims
    #: and still be taken as that municipality's, with a note (imports).
    border_tolerance_m: float = 25.0
    #: Dates one Flächenbilanz may compare (each date costs a pass over the parcel history).
    balance_max_dates: int = 20
    #: Seconds ``landreg serve`` keeps an idle connection open: longer than the idle time of
    #: common clients and proxies (nginx upstream and AWS ALB 60 s, httpx 5 s, aiohttp 15 s),
    #: so that the server never closes a connection a client is about to reuse.
    keep_alive_s: int = 75
    #: PDF exposés each client address (an IPv6 /64) may have rendered anew per minute, per server
    #: process (about 0.7 s of CPU each; 0: no limit); kept ones (:meth:`landreg.tilecache.TileCache.answer`)
    #: cost nothing and count nothing.
    pdf_renders_per_minute: int = 6

    # Several workers and read replicas (:mod:`landreg.routing`).
    #: Connections landreg may open to its database, all workers of ``landreg serve`` together
    #: (and to each replica). Unset: the server's ``max_connections`` less its reserved ones and
    #: 10 for the command line and maintenance; 90 when that cannot be read.
    db_max_connections: int | None = None
    #: Connections each process keeps open once opened (29: 30 with the one listening for changes),
    #: and may open beyond them for a moment; ``landreg serve`` sets both per worker so that all
    #: workers stay within ``LANDREG_DB_MAX_CONNECTIONS`` (see :func:`landreg.db.pool_plan`).
    db_pool_size: int = 29
    db_max_overflow: int = 0
    #: The API's statements prepared on each connection and planned generically where PostgreSQL
    #: finds that no dearer (:func:`landreg.db.make_engine`); false for a pooler that cannot keep
    #: them (PgBouncer in transaction mode before 1.21). The request id then goes to the database
    #: as a comment before each statement instead of in ``application_name``.
    db_prepared_statements: bool = True
    #: Reads (GET, HEAD) one process works on at once, the others waiting their turn
    #: (:mod:`api.admission`). Unset: 4 × the CPU cores the process may use; ``landreg serve``
    #: divides that among its workers.
    reads_at_once: int | None = None
    #: Hot standbys for reads, comma-separated URLs (unset: everything reads from the primary).
    read_database_urls: str | None = None
    #: Seconds a replica may lag behind the primary and still serve reads.
    replica_max_lag_s: float = 10.0
    #: Seconds between two checks of the replicas' state and lag (per process, in the background).
    replica_check_s: float = 1.0

    # E-mail of notifications (the inbox, :mod:`landreg.inbox`); never required.
    #: SMTP server, e.g. ``smtp://host:25``, ``smtp://user:password@host:25`` (percent-encoded),
    #: ``smtps://host:465`` or ``smtp+starttls://host:587``. Unset: notifications stay in the inbox.
    smtp_url: str | None = None
    #: Sender address of those e-mails.
    smtp_from: str = "landreg@localhost"

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else public_address(value, "LANDREG_PUBLIC_URL")


def public_address(value: str, name: str) -> str:
    """``value`` as the register's public address (absolute http(s), no query or fragment), without
    a trailing slash; ValueError naming ``name`` (the setting or option) otherwise."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{name}: an address such as https://flaechen.example.org, not {value[:80]!r}")
    return value.strip().rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()


#: Reads at once per CPU core when ``LANDREG_READS_AT_ONCE`` is not set (:mod:`api.admission`).
READS_PER_CORE = 4


def reads_at_once(workers: int = 1) -> int:
    """Reads (GET, HEAD) one process works on at once: ``LANDREG_READS_AT_ONCE``, else its share of
    4 × the CPU cores the server may use among ``workers`` processes."""
    configured = get_settings().reads_at_once
    if configured is not None:
        return checked_reads(configured)
    return max(1, READS_PER_CORE * len(os.sched_getaffinity(0)) // workers)


def checked_reads(at_once: int) -> int:
    """``at_once``, or ValueError naming the setting and the fix when no read could be worked on."""
    if at_once < 1:
        raise ValueError(f"LANDREG_READS_AT_ONCE={at_once}: at least 1 read must be worked on; use 1 or more")
    return at_once
