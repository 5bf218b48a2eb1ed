"""The ``landreg`` command."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from landreg import migrate as migrations
from landreg.db import make_engine, resolve_database_url
from landreg.errors import InvalidParameter
from landreg.localdb import LocalCluster, LocalDatabaseError
from landreg.settings import get_settings, reads_at_once
from landreg.vocab import IMPORT_MODES

app = typer.Typer(
    help="landreg – Flächenregister Ruhr: registry of Brachflächen, Baulücken and industrial land.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="The embedded local PostGIS (used when LANDREG_DATABASE_URL is unset).", no_args_is_help=True)
app.add_typer(db_app, name="db")

#: The command groups and commands kept in modules of their own: ``landreg X`` imports only X's
#: module (a start of the command costs a fraction of importing all of them), ``landreg --help``
#: all. name -> (module, attribute, whether it is a group).
_COMMANDS: dict[str, tuple[str, str, bool]] = {
    "token": ("landreg.cli_tokens", "token_app", True),
    "user": ("landreg.cli_users", "user_app", True),
    "safeguarding": ("landreg.cli_safeguarding", "safeguarding_app", True),
    "context": ("landreg.cli_context", "context_app", True),
    "contact": ("landreg.cli_contacts", "contact_app", True),
    "parcel": ("landreg.cli_parcels", "parcel_app", True),
    "publication": ("landreg.cli_publication", "publication_app", True),
    "quality": ("landreg.cli_quality", "quality_app", True),
    "inbox": ("landreg.cli_inbox", "inbox_app", True),
    "review": ("landreg.cli_review", "review_app", True),
    "alkis": ("landreg.cli_alkis", "alkis_app", True),
    "alerts": ("landreg.cli_alerts", "alerts_app", True),
    "opendata": ("landreg.cli_opendata", "opendata_app", True),
    "due": ("landreg.cli_review", "due_command", False),
    "backup": ("landreg.cli_backup", "backup_command", False),
    "restore": ("landreg.cli_backup", "restore_command", False),
}
_registered: set[str] = set()


def commands(name: str | None = None) -> typer.Typer:
    """The ``landreg`` application with the command ``name`` registered (None: every command, as
    ``--help`` and tests that drive the application in-process need)."""
    plugins = {entry.name: entry for entry in entry_points(group="landreg.commands")}
    wanted = [name] if name in _COMMANDS or name in plugins else [*_COMMANDS, *plugins]
    for key in wanted:
        if key in _registered:
            continue
        _registered.add(key)
        if key in plugins:  # commands of landreg's other packages (maps: landreg map), so the core does not import them
            app.command(key)(plugins[key].load())
            continue
        module, attribute, group = _COMMANDS[key]
        value = getattr(importlib.import_module(module), attribute)
        if group:
            app.add_typer(value, name=key)
        else:
            app.command(key)(value)
    return app


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _cluster() -> LocalCluster:
    settings = get_settings()
    if settings.database_url:
        raise _fail("LANDREG_DATABASE_URL is set: landreg uses that database, not the embedded one.")
    return LocalCluster.from_settings(settings)


@app.callback()
def _main() -> None:
    """Errors about the database reach the user as one clear message, not a traceback."""


@db_app.command("start")
def db_start() -> None:
    """Create (on first use) and start the embedded PostGIS."""
    cluster = _cluster()
    started = cluster.ensure_running()
    typer.echo(f"{'started' if started else 'already running'}: {cluster.libpq_url()}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostGIS."""
    typer.echo("stopped" if _cluster().stop() else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded PostGIS exists and runs."""
    cluster = _cluster()
    state = "running" if cluster.is_running() else ("stopped" if cluster.initialised else "not created yet")
    typer.echo(f"{state}: {cluster.root}")
    if not cluster.is_running():
        raise typer.Exit(code=3)


@db_app.command("url")
def db_url(
    sqlalchemy: Annotated[bool, typer.Option(help="Print the SQLAlchemy form (postgresql+psycopg://).")] = False,
) -> None:
    """Print the URL of the embedded database, e.g. for psql "$(landreg db url)"."""
    cluster = _cluster()
    typer.echo(cluster.url() if sqlalchemy else cluster.libpq_url())


@db_app.command("psql")
def db_psql() -> None:
    """Open psql on the registry database."""
    url = get_settings().database_url or _cluster().libpq_url()
    if not get_settings().database_url:
        _cluster().ensure_running()
    psql = shutil.which("psql")
    if not psql:
        raise _fail("psql is not installed: sudo apt-get install postgresql-client")
    os.execv(psql, [psql, url.replace("postgresql+psycopg://", "postgresql://")])


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to REVISION (e.g. base).")] = False,
) -> None:
    """Bring the database schema to a revision (default: the newest)."""
    engine = make_engine()
    (migrations.downgrade if down else migrations.upgrade)(engine, revision)
    typer.echo(f"schema at revision {migrations.current_revision(engine) or 'base (empty)'}")


@app.command()
def seed(
    count: Annotated[int | None, typer.Option(help="Number of sample parcels (0: none).")] = None,
    sample_seed: Annotated[int | None, typer.Option("--seed", help="Seed of the sample generator.")] = None,
) -> None:
    """Load the bundled data: NRW municipalities, context layers (stations, stops, ports, the Rhine's
    floodplain), sample parcels (Beispieldaten)."""
    from landreg import quality
    from landreg.scoring import ensure_default_profiles
    from landreg.scoring.unscored import score_missing
    from landreg.seed import seed as run_seed

    settings = get_settings()
    engine = make_engine()
    _require_schema(engine)
    with engine.begin() as conn:
        report = run_seed(conn, settings.sample_count if count is None else count, sample_seed or settings.sample_seed)
    for line in report.lines():
        typer.echo(line)
    with engine.begin() as conn:
        created = ensure_default_profiles(conn)
        # also the sample changes waiting for review, whose indicators the seed computed before
        # there were profiles: current indicators, no scores (/ready counted them unscored)
        scored = score_missing(conn)
        checked = quality.refresh_due(conn)
    for profile in created:
        typer.echo(f"created scoring profile {profile.name} (version {profile.version})")
    if scored:
        typer.echo(f"scored {scored} parcels under every profile")
    if checked:
        typer.echo(f"checked the data quality of {checked} parcels")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: loopback).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes (default: one per CPU core); 1 runs without gunicorn.", min=1),
    ] = None,
    max_requests: Annotated[
        int, typer.Option(help="Restart a worker after this many requests (0: never), against slow leaks.", min=0)
    ] = 0,
) -> None:
    """Serve the registry API (with OpenAPI docs at /docs) in WORKERS processes under gunicorn.

    The database's connections (LANDREG_DB_MAX_CONNECTIONS, else the server's max_connections less
    a reserve) are divided among the workers; too many workers are refused with the number that fits.
    `kill -HUP` on the main process restarts the workers gracefully (requests in flight finish),
    TERM stops them gracefully. Idle connections stay open for LANDREG_KEEP_ALIVE_S (75 s): longer
    than clients and reverse proxies keep theirs, so that the server never closes one a client is
    about to reuse."""
    from landreg.db import PoolBudgetError, connection_budget, pool_plan
    from landreg.routing import replica_urls

    settings = get_settings()
    resolve_database_url(settings)  # start the embedded database before the first request
    engine = make_engine()
    _require_schema(engine)  # an old schema would answer every request with an error
    budget, source = connection_budget(engine, settings.db_max_connections)
    engine.dispose()
    workers = workers or len(os.sched_getaffinity(0))
    try:
        plan = pool_plan(workers, budget, source)
    except PoolBudgetError as exc:
        raise _fail(str(exc)) from None
    # the workers read their pool size from the environment (and their settings anew)
    os.environ["LANDREG_DB_POOL_SIZE"] = str(plan.pool_size)
    os.environ["LANDREG_DB_MAX_OVERFLOW"] = str(plan.max_overflow)
    try:
        reads = reads_at_once(workers)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    os.environ["LANDREG_READS_AT_ONCE"] = str(reads)  # the cores' share of each worker (api.admission)
    get_settings.cache_clear()
    replicas = len(replica_urls(settings))
    typer.echo(
        f"{workers} worker(s), each with up to {plan.per_worker} database connections "
        f"({plan.pool_size} kept + {plan.max_overflow} + 1 listening for changes) of {budget} ({source}), "
        f"working on up to {reads} reads at once"
        + (f"; reads from {replicas} replica(s), each the same per worker" if replicas else "")
    )
    host, port = host or settings.host, port or settings.port
    if workers == 1:
        import uvicorn

        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, timeout_keep_alive=settings.keep_alive_s)
        return
    _serve_with_gunicorn(host, port, workers, max_requests, settings.keep_alive_s)


def _metrics_of_dead_worker(server, worker) -> None:
    """gunicorn's ``child_exit`` hook: the API's metrics forget the worker (imported by name, as the
    workers import the app: the core does not depend on the API)."""
    importlib.import_module("api.metrics").mark_worker_dead(worker.pid)


def _serve_with_gunicorn(host: str, port: int, workers: int, max_requests: int, keep_alive_s: int) -> None:
    """gunicorn as the process manager (restarts a worker that dies, HUP, TERM), uvicorn in each worker."""
    from gunicorn.app.base import BaseApplication
    from gunicorn.util import import_app

    class Server(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers,
                "worker_class": "uvicorn_worker.UvicornWorker",
                "keepalive": keep_alive_s,
                "max_requests": max_requests,
                "max_requests_jitter": max_requests // 10,
                "proc_name": "landreg",
            }
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # a dead worker's gauges leave /metrics
                options["child_exit"] = _metrics_of_dead_worker
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):  # in each worker, after the fork: its own engine and pool
            return import_app("api.app:create_app()")

    Server().run()


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Start the database, migrate, load the bundled data and serve it. Ctrl-C stops everything."""
    from landreg.demo import serve_at

    settings = get_settings()
    cluster = None if settings.database_url else LocalCluster.from_settings(settings)
    started = cluster.ensure_running() if cluster else False
    try:
        migrate()
        seed()
        importlib.import_module("landreg.cli_opendata").refresh()  # the open data files (/downloads) of the loaded data
        url = f"http://{host or settings.host}:{port or settings.port}"
        serve_at(url)  # the address of links in e-mails and the catalogue (LANDREG_PUBLIC_URL)
        typer.secho(f"\nlandreg läuft / is running: {url}  (API docs: {url}/docs)", fg=typer.colors.GREEN)
        _print_demo_accounts(url)
        serve(host, port)
    finally:
        if started:
            cluster.stop()
            typer.echo("embedded database stopped")


def _print_demo_accounts(url: str) -> None:
    from landreg.demo import PASSWORD, demo_accounts

    with make_engine().begin() as conn:
        accounts = demo_accounts(conn)
    if accounts:
        typer.echo(f"Anmelden / sign in: {url}/app/login  (nur Beispieldaten / sample data only)")
        for username, role in accounts:
            typer.echo(f"  {role:<9} {username:<15} Passwort / password: {PASSWORD}")
    typer.echo("")


#: New and changed parcels an import scores in its own transaction; a larger one is followed by a
#: full run (parallel), and what a killed run leaves is found by `landreg score --missing`.
SCORE_IN_IMPORT_MAX = 100_000


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(help="GeoPackage, Shapefile (.shp/.zip), GeoJSON(Seq), FlatGeobuf, KML, GML, CSV, XLSX or ODS."),
    ],
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer file.")] = None,
    sheet: Annotated[str | None, typer.Option(help="Sheet of a workbook (XLSX, ODS).")] = None,
    wkt_column: Annotated[
        str | None, typer.Option(help="Table column with the outlines as WKT (else found by name and content).")
    ] = None,
    x_column: Annotated[str | None, typer.Option(help="Table column with x (Rechtswert, easting, longitude).")] = None,
    y_column: Annotated[str | None, typer.Option(help="Table column with y (Hochwert, northing, latitude).")] = None,
    municipality: Annotated[str | None, typer.Option(help="AGS every row claims unless it names its own.")] = None,
    category: Annotated[str | None, typer.Option(help="Category of rows that name none, e.g. bauluecke.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="YAML column/value mapping.")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of a file that declares none, e.g. 25832 or 4326.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding, e.g. cp1252, if the file does not say.")] = None,
    mode: Annotated[
        str, typer.Option(help="all-or-nothing, or keep-valid (rejected rows go to a file).")
    ] = IMPORT_MODES[0],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show mapping and validation; write nothing.")] = False,
    retire_missing: Annotated[
        bool, typer.Option("--retire-missing", help="Retire current parcels absent from the file.")
    ] = False,
    rejected: Annotated[Path | None, typer.Option(help="keep-valid: file for the rejected rows.")] = None,
    actor: Annotated[str, typer.Option(help="Who imports (recorded in the history).")] = os.environ.get("USER", "cli"),
    score: Annotated[
        bool,
        typer.Option(
            help="Score the new and changed parcels in the import's transaction (above "
            f"{SCORE_IN_IMPORT_MAX:,} of them: a full run right after). --no-score leaves them to "
            "`landreg score --missing`."
        ),
    ] = True,
    from_alkis: Annotated[
        bool,
        typer.Option(
            "--from-alkis",
            help="The file holds ALKIS Flurstücke (NAS .xml/.gml, or ALKIS vereinfacht): each becomes a parcel "
            "with its Flurstückskennzeichen; give --category.",
        ),
    ] = False,
    group_by: Annotated[
        str | None, typer.Option(help="--from-alkis: one parcel per value of this column, e.g. FLAECHE_NR.")
    ] = None,
) -> None:
    """Import a municipality's parcel file: validated, upserted on (AGS, reference), scored, recorded."""
    from rich.progress import Progress

    from landreg.importer import ImportOptions, ImportRefused, import_file
    from landreg.scoring import recompute
    from landreg.scoring.ahead import IndicatorsAhead

    options = ImportOptions(
        actor=actor,
        layer=layer,
        sheet=sheet,
        wkt_column=wkt_column,
        x_column=x_column,
        y_column=y_column,
        municipality=municipality,
        category=category,
        mapping_file=mapping,
        crs=crs,
        encoding=encoding,
        mode=mode,
        dry_run=dry_run,
        retire_missing=retire_missing,
        rejected_path=rejected,
        score=score,
        score_max=SCORE_IN_IMPORT_MAX,
        spell=_flag,
        from_alkis=from_alkis,
        group_by=group_by,
    )
    engine = make_engine()
    _require_schema(engine)
    # above the limit the scoring follows the commit: the parcels' indicators computed meanwhile
    ahead = IndicatorsAhead(engine, SCORE_IN_IMPORT_MAX) if score and not dry_run else None
    options.ahead = ahead
    with ahead or contextlib.nullcontext():
        try:
            with Progress(transient=True) as bar, engine.begin() as conn:
                task = bar.add_task(f"importing {file.name}", total=None)
                report = import_file(conn, file, options, progress=lambda n: bar.advance(task, n))
        except ImportRefused as exc:
            raise _fail(f"import refused: {exc.render(_flag)}") from None
        for line in report.lines(spell=_flag):
            typer.echo(line)
        if report.scored:
            typer.echo(f"scored {report.scored} new and changed parcels with the import")
        if report.unscored and score:  # too many to score in the import's transaction: all of them now
            typer.echo("scoring every parcel after this large import (if interrupted: `landreg score --missing`)")
            if ahead is not None and (adopted := ahead.adopt()):
                typer.echo(f"indicators of {adopted:,} parcels computed during the import")
            evaluations = recompute(engine, actor)
            typer.echo(f"scored every current parcel under {len(evaluations)} profiles")
        elif report.unscored:
            typer.echo("`landreg score --missing` scores them")
    if report.status == "rejected":
        raise typer.Exit(code=1)


def _flag(name: str, value: str | None) -> str:
    """An import option as the command line spells it: ``--crs`` or ``--crs 25832``."""
    from landreg.importer.refusals import command_line

    return command_line(name, value)


@app.command()
def imports(limit: Annotated[int, typer.Option(help="How many of the latest imports.")] = 20) -> None:
    """List the recorded imports, newest first."""
    from sqlalchemy import text

    engine = make_engine()
    _require_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            text("""
            SELECT id, started_at, actor, file_name, left(sha256, 12), status, rows_read,
                   inserted, changed, unchanged, rejected, retired
              FROM import_run ORDER BY started_at DESC LIMIT :limit"""),
            {"limit": limit},
        ).all()
    typer.echo(
        "   id  started (UTC)     actor        file                      status     read    new "
        "changed unchanged rejected retired"
    )
    for r in rows:
        typer.echo(
            f"{r[0]:>5}  {r[1]:%Y-%m-%d %H:%M}  {r[2][:12]:<12} {r[3][:25]:<25} {r[5]:<9} "
            f"{r[6]:>6} {r[7]:>6} {r[8]:>7} {r[9]:>9} {r[10]:>8} {r[11]:>7}"
        )


@app.command()
def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="Target file: .gpkg .geojson .csv .shp .fgb")],
    municipality: Annotated[str | None, typer.Option(help="Only this AGS.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    include_retired: Annotated[bool, typer.Option("--include-retired")] = False,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Exactly what the public API shows: published parcels only, without confidential fields.",
        ),
    ] = False,
    crs: Annotated[int, typer.Option(help="EPSG code of the output.")] = 25832,
    unreviewed: Annotated[
        bool,
        typer.Option(
            "--unreviewed",
            help="The latest state of every parcel, changes not yet reviewed included (default: the reviewed state).",
        ),
    ] = False,
) -> None:
    """Export a selection of parcels; the file imports again without changes."""
    from landreg.access import FULL, LATEST, PUBLIC
    from landreg.export import ExportError, Selection, export_parcels

    if public and include_retired:
        raise _fail("--include-retired does not go with --public: the public never sees retired parcels")
    if public and unreviewed:
        raise _fail("--unreviewed does not go with --public: the public sees reviewed changes only")
    engine = make_engine()
    _require_schema(engine)
    selection = Selection(
        municipality, category, status, include_retired, view=PUBLIC if public else LATEST if unreviewed else FULL
    )
    try:
        with engine.connect() as conn:
            n = export_parcels(conn, output, selection, srid=crs)
    except ExportError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{n} parcels written to {output}")


@app.command()
def score(
    profile: Annotated[str | None, typer.Option(help="Only this profile (default: all).")] = None,
    actor: Annotated[str, typer.Option(help="Recorded with the run.")] = os.environ.get("USER", "cli"),
    missing: Annotated[
        bool,
        typer.Option(
            "--missing",
            help="Only the parcels whose score is missing or stale (e.g. left by an import killed before "
            "scoring; /ready counts them), under every profile; more than 100,000 of them: a full run.",
        ),
    ] = False,
    all_indicators: Annotated[
        bool,
        typer.Option(
            "--all-indicators",
            help="Compute every parcel's indicators again, also the current ones (by default a run computes "
            "only missing or stale ones: of an older parcel version, from before a context layer changed, "
            "or by another release's definition).",
        ),
    ] = False,
) -> None:
    """Recompute the scores of all current parcels (indicators in PostGIS, then each profile)."""
    import time

    from rich.console import Console

    from landreg.scoring import ProfileError, recompute
    from landreg.scoring.engine import INDICATORS_COMPUTED

    engine = make_engine()
    _require_schema(engine)
    if missing:
        from landreg.scoring.unscored import pending, score_missing

        if profile:
            raise _fail("--missing scores under every profile; leave out --profile")
        if all_indicators:
            raise _fail("--missing computes only missing or stale indicators; leave out --all-indicators")
        with engine.connect() as conn:
            left = pending(conn)
        if left <= SCORE_IN_IMPORT_MAX:
            with engine.begin() as conn:
                scored = score_missing(conn)
            typer.echo(f"scored {scored} parcels whose score was missing or stale")
            return
        # as after a large import: one transaction on one connection would take minutes, a full run
        # (parallel) about one per million parcels
        typer.echo(f"{left} parcels with a missing or stale score (more than {SCORE_IN_IMPORT_MAX:,}): a full run")
    console = Console(stderr=True)
    started = time.perf_counter()
    with console.status("scoring") as status:

        def progress(step: str) -> None:
            status.update(f"scoring: {step}")
            if step.startswith(INDICATORS_COMPUTED):
                typer.echo(step)

        try:
            evaluations = recompute(engine, actor, profile, progress=progress, all_indicators=all_indicators)
        except (ProfileError, InvalidParameter) as exc:
            raise _fail(str(exc)) from None
    for ev in evaluations:
        scored = int((~np.isnan(ev.scores)).sum())
        typer.echo(
            f"{ev.profile.name} v{ev.profile.version} ({ev.profile.method}): {scored} of {len(ev.scores)} "
            f"parcels scored, {sum(1 for e in ev.excluded_by if e)} excluded"
        )
        if ev.unavailable:
            typer.echo(f"  not available (layer missing): {', '.join(ev.unavailable)}")
        if ev.unchecked_exclusions:
            typer.echo(f"  exclusions not checked (layer missing): {', '.join(ev.unchecked_exclusions)}")
    typer.echo(f"done in {time.perf_counter() - started:.1f} s")


@app.command()
def rank(
    profile: Annotated[str, typer.Option(help="Scoring profile.")],
    municipality: Annotated[str | None, typer.Option(help="Only this AGS.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    top: Annotated[int, typer.Option(help="How many.")] = 20,
) -> None:
    """The best-ranked parcels of a profile."""
    from landreg.scoring import ProfileError, current_profile, ranking

    engine = make_engine()
    _require_schema(engine)
    with engine.connect() as conn:
        try:
            p = current_profile(conn, profile)
        except ProfileError as exc:
            raise _fail(str(exc)) from None
        rows = ranking(conn, p, municipality, category, top)
    typer.echo(f"{p.title} (v{p.version}, {p.method})")
    for r in rows:
        flags = (" [veraltet/stale]" if r["stale"] else "") + (" [Beispieldaten]" if r["is_sample"] else "")
        typer.echo(f"{r['rank']:>5} {r['score']:6.1f}  {r['ags']} {r['local_ref']:<10} {r['name'] or ''}{flags}")


@app.command()
def explain(
    parcel: Annotated[str, typer.Argument(help="Parcel id, or AGS/reference such as 05913000/BF-0001.")],
    profile: Annotated[str, typer.Option(help="Scoring profile.")],
    lang: Annotated[str, typer.Option(help="de or en.")] = "de",
) -> None:
    """Why a parcel scores as it does, criterion by criterion, and what would move it up most."""
    from sqlalchemy import text

    from landreg.scoring import ProfileError, current_profile
    from landreg.scoring.explain import explain as explain_score

    engine = make_engine()
    _require_schema(engine)
    with engine.begin() as conn:
        if "/" in parcel:
            ags, ref = parcel.split("/", 1)
            parcel_id = conn.execute(
                text("SELECT id FROM parcel WHERE ags = :a AND local_ref = :r"), {"a": ags, "r": ref}
            ).scalar_one_or_none()
        else:
            parcel_id = parcel
        try:
            result = explain_score(conn, parcel_id, current_profile(conn, profile), lang)
        except (ProfileError, LookupError) as exc:
            raise _fail(str(exc)) from None
    typer.echo(
        f"score {result['score']} under {result['profile']} v{result['profile_version']} "
        f"({result['method']}), coverage {result['coverage']:.0%}"
        + (f", excluded by {', '.join(result['excluded_by'])}" if result["excluded_by"] else "")
    )
    for c in result["criteria"]:
        value = f"{c['raw']} {c['unit']} -> {c['normalised']:.2f}" if c["available"] else "not available"
        value = c.get("note") or value  # unknown outside a context layer's coverage: which layer
        contribution = "" if c["contribution"] is None else f"  +{c['contribution']:.1f}"
        typer.echo(f"  {c['label']:<28} w={c['weight']:.2f}  {value}{contribution}")
    for exclusion, note in result.get("exclusions_unknown", {}).items():
        typer.echo(f"  exclusion {exclusion}: {note}")
    if result["would_help_most"]:
        levers = ", ".join(f"{h['label']} (+{h['gain']:.1f})" for h in result["would_help_most"])
        typer.echo(f"would help most: {levers}")


def _require_schema(engine) -> None:
    if migrations.current_revision(engine) != migrations.head_revision():
        raise _fail("The database schema is not up to date: run `landreg migrate` first.")


def main() -> None:
    first = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    try:
        commands(first)()
    except LocalDatabaseError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
    except OperationalError as exc:
        typer.secho(f"Cannot reach the database: {exc.orig}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
    except DBAPIError as exc:
        typer.secho(f"The database refused: {exc.orig}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
