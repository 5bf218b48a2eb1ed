"""Importing municipal parcel files: read, map, validate, upsert, record – all or nothing.

``import_file`` is the one entry point (the CLI and the HTTP upload both call it)::

    with engine.begin() as conn:
        report = import_file(conn, Path("reserven.gpkg"), ImportOptions(actor="planer.essen"))

The import runs inside a savepoint of the caller's transaction: when the file is refused
(all-or-nothing with rejected rows), on a dry run, or when anything fails, the savepoint is
rolled back and the register is exactly as it was. A process killed mid-import leaves an
uncommitted transaction, which PostgreSQL discards.

An all-or-nothing import writes batch by batch while the next batch is read (reading and
writing take about as long, on two cores), until a row is refused: from then on it only
checks the rest, for a complete report, and rolls everything back. Keep-valid and dry runs
check the whole file before writing.

The new and changed parcels are scored in the same transaction (``ImportOptions.score``), so a
committed import never leaves parcels without a score unless asked to: ``score=False``, or more
written parcels than ``score_max`` (left to a full run after the commit). Those are what
:func:`landreg.scoring.unscored.count` finds and ``landreg score --missing`` scores.

Refusals are :class:`ImportRefused` (422 over HTTP) or, for a malformed option, :class:`InvalidOption`
(400); their messages, and the reasons and notes of a report, name options neutrally, each adapter
spells them (``refusals``: ``--crs`` on the command line, ``crs=…`` over HTTP).

Files are read as they come (``sources``): their format by content, a table's encoding sniffed, a
workbook's sheet by name, geometry columns by name and content; the report says how (``file_notes``).
A parcel claimed for a municipality whose generalised boundary it lies within
``Checks.border_tolerance_m`` of (``LANDREG_BORDER_TOLERANCE_M``) is taken as claimed, with a note.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from landreg import quality, review
from landreg.access import AccessDenied, Principal
from landreg.importer import alkis, load
from landreg.importer import crs as crs_checks
from landreg.importer.crs import CRSProblem
from landreg.importer.mapping import Mapping, ValueRejected, parse_ags
from landreg.importer.places import Municipalities
from landreg.importer.readahead import read_ahead
from landreg.importer.refusals import (
    FileTooLarge,
    ImportRefused,
    InvalidOption,
    Spelling,
    kept,
    neutral,
    option,
    render,
)
from landreg.importer.rejected import write_rejected
from landreg.importer.report import ImportReport, Issues, RowIssue
from landreg.importer.rows import PARCEL_FIELDS, STAGING_COLUMNS, staging_rows
from landreg.importer.sources import Batch, Reading, SourceError, open_source
from landreg.messages import Message, message
from landreg.scoring import rescore
from landreg.scoring.ahead import IndicatorsAhead
from landreg.settings import get_settings
from landreg.vocab import IMPORT_MODES

__all__ = [
    "FileTooLarge",
    "ImportOptions",
    "ImportRefused",
    "ImportReport",
    "InvalidOption",
    "RowIssue",
    "import_file",
]

MODES = IMPORT_MODES
_AGS, _LOCAL_REF = STAGING_COLUMNS.index("ags"), STAGING_COLUMNS.index("local_ref")
_GEOM = STAGING_COLUMNS.index("geom")
_IMPORT_LOCK = 0x1A4D_2E6  # one import at a time: concurrent upserts of one municipality would collide
_SCORE_CHUNK = 50_000  # parcels scored at a time (their raw values are held in memory)
ENCODING_EXAMPLES = ("utf-8", "cp1252", "latin-1")


@dataclass
class ImportOptions:
    actor: str
    layer: str | None = None
    municipality: str | None = None  # AGS every row claims unless it names its own
    category: str | None = None  # category of rows that name none
    mapping_file: Path | None = None
    crs: str | None = None  # for files without a CRS
    encoding: str | None = None
    wkt_column: str | None = None  # a table's column of WKT outlines (else found by name and content)
    x_column: str | None = None
    y_column: str | None = None
    sheet: str | None = None  # of a workbook (XLSX, ODS); its layer
    mode: str = "all-or-nothing"
    dry_run: bool = False
    retire_missing: bool = False
    rejected_path: Path | None = None  # keep-valid: where rejected rows go (default: beside the file)
    rejected_rows_file: bool = True  # keep-valid: write them at all (an upload's directory is not kept)
    allowed_ags: tuple[str, ...] | None = None  # a planner imports only for their municipalities
    principal: Principal | None = None  # who imports: a planner's import waits for review (landreg.review)
    checks: load.Checks = field(
        default_factory=lambda: load.Checks(border_tolerance_m=get_settings().border_tolerance_m)
    )
    batch_size: int = 20_000
    score: bool = True  # score the new and changed parcels in the import's transaction
    score_max: int | None = None  # more written parcels than this are left to a full run after the commit
    # their indicators computed on another connection meanwhile, for that run (landreg.scoring.ahead)
    ahead: IndicatorsAhead | None = None
    from_alkis: bool = False  # the file holds ALKIS Flurstücke (NAS or ALKIS vereinfacht): landreg.importer.alkis
    group_by: str | None = None  # from_alkis: one parcel per value of this column (default: one per Flurstück)
    spell: Spelling = neutral  # how the caller names options, in what the import stores and writes


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _defaults(options: ImportOptions) -> dict:
    defaults = {}
    if options.category:
        defaults["category"] = options.category
    if options.municipality:
        defaults["ags"] = options.municipality
    return defaults


def _check_position(choice: crs_checks.Choice, batch) -> None:
    """Refuse the whole file when its coordinates do not fit its CRS (checked on the first batch)."""
    usable = np.array([g is not None and not g.is_empty for g in batch.geometries])
    if not usable.any():
        return
    points = shapely.point_on_surface(shapely.make_valid(batch.geometries[usable]))
    problem = crs_checks.diagnose(choice.crs, shapely.get_x(points), shapely.get_y(points), choice.said_by)
    if problem:
        raise CRSProblem(problem)


def _choose_crs(source, reading: Reading, given, path: Path) -> crs_checks.Choice:
    """The CRS to read the file in (suggested by the coordinates' values when there is none); a CRS
    given that replaces GeoJSON's default is noted."""
    sample = None
    if source.crs is None and given is None and hasattr(source, "sample_points"):
        sample = source.sample_points()
    x, y = sample if sample is not None else (None, None)
    choice = crs_checks.choose(source.crs, given, path.name, assumed=reading.crs_assumed, x=x, y=y)
    if reading.crs_assumed and choice.said_by == "option":
        default, read_in = message("crs.geojson_default"), crs_checks.describe(choice.crs)
        reading.notes.append(kept(message("import.crs_given", file=path.name, default=default, crs=read_in)))
    return choice


def _claim_fix(mapping: Mapping, options: ImportOptions) -> Message | str:
    """How to drop a wrong claim of a municipality, appended to the reason a row is refused for it."""
    if "ags" in mapping.columns:
        return message("import.claim_fix.column", column=mapping.columns["ags"])
    if options.municipality:
        return message("import.claim_fix.option")
    return ""


def import_scope(options: ImportOptions) -> tuple[str, ...] | None:
    """The municipalities an import may write and retire parcels in, decided here for every adapter:
    a planner's own (``allowed_ags`` can only narrow them); without a principal (the command line,
    run by whoever holds the database's password) ``allowed_ags``, None: any. Another role imports
    nothing (AccessDenied)."""
    principal = options.principal
    if principal is None:
        return options.allowed_ags
    if principal.role != "planner":
        raise AccessDenied(f"the role {principal.role} may not import parcels; planners of the municipality may")
    allowed = options.allowed_ags
    return principal.ags if allowed is None else tuple(a for a in principal.ags if a in allowed)


def check_options(options: ImportOptions) -> None:
    """Refuse malformed options before the file is opened (InvalidOption, naming the option), and a
    municipality the importer may not import for."""
    scope = import_scope(options)
    if options.municipality and scope is not None:
        try:
            ags = parse_ags(options.municipality)
        except ValueRejected:  # malformed: refused with the mapping's defaults, saying what an AGS is
            ags = None
        if ags is not None and ags not in scope:
            raise InvalidOption(
                message("import.municipality_not_yours", ags=ags, allowed=", ".join(scope) or "—"),
                field="municipality",
            )
    if options.mode not in MODES:
        raise InvalidOption(f"unknown mode {options.mode!r}; use {' or '.join(MODES)}", field="mode")
    if options.encoding is not None:
        try:  # a byte (an empty string is decoded without looking the codec up); LookupError also for rot13
            b" ".decode(options.encoding)
        except UnicodeError:
            pass  # a known encoding of wider units (utf-16)
        except (LookupError, ValueError):  # ValueError: a name with a NUL character
            raise InvalidOption(
                f"unknown text encoding {options.encoding!r}; use a name such as {', '.join(ENCODING_EXAMPLES)}",
                field="encoding",
            ) from None
    if options.crs is not None:
        crs_checks.parse_crs(options.crs)
    alkis.check_options(options)


def _default_refused(name: str, options: ImportOptions, exc: ValueRejected) -> ImportRefused:
    """A default value the import was given that cannot be used: named by the option that gave it."""
    given = {"ags": "municipality", "category": "category"}.get(name)
    if given and getattr(options, given):
        return ImportRefused(f"{option(given)}: {exc}", field=given)
    return ImportRefused(f"mapping file, default of {name}: {exc}", field="mapping")


def import_file(
    conn: Connection, path: Path, options: ImportOptions, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import one file (or layer). Raises ImportRefused when the file as a whole is unusable."""
    check_options(options)
    scope = import_scope(options)
    path = Path(path)
    started = dt.datetime.now(dt.UTC)
    if options.from_alkis:
        options, source = alkis.import_options(options), alkis.open_source(path, options)
    else:
        source = open_source(
            path,
            options.layer,
            options.encoding,
            options.wkt_column,
            options.x_column,
            options.y_column,
            options.sheet,
        )
        alkis.refuse_nas(path, source.columns)  # its Flurstücke need from_alkis
    reading = getattr(source, "reading", Reading())  # an ALKIS source says nothing of how it was read
    given = crs_checks.parse_crs(options.crs) if options.crs else None
    choice = _choose_crs(source, reading, given, path)
    source_crs = choice.crs
    mapping = Mapping.build(source.columns, options.mapping_file, _defaults(options))
    for name, value in mapping.defaults.items():
        try:
            mapping.translate(name, value)
        except ValueRejected as exc:
            raise _default_refused(name, options, exc) from None

    report = ImportReport(
        file_name=path.name,
        sha256=sha256_of(path),
        layer=source.layer or options.layer,
        crs=f"EPSG:{source_crs.to_epsg()}" if source_crs.to_epsg() else source_crs.name,
        mode=options.mode,
        dry_run=options.dry_run,
        mapping=dict(mapping.columns),
        unmapped_columns=mapping.unmapped(source.columns),
        ignored_columns=list(mapping.ignored),
        defaults=dict(mapping.defaults),
        file_format=reading.format,
        encoding=reading.encoding,
        geometry_columns=list(reading.geometry_columns),
    )
    report.file_notes = [report.english(note) for note in reading.notes]
    claim_fix = _claim_fix(mapping, options)
    default_claim = message("import.claim.option" if options.municipality else "import.claim.mapping")
    fields = [f for f in PARCEL_FIELDS if f in mapping.columns or f in mapping.defaults]
    transformer = crs_checks.transformer(source_crs)

    if not conn.execute(text("SELECT EXISTS (SELECT FROM municipality)")).scalar_one():
        raise ImportRefused(message("import.no_municipalities"))
    savepoint = conn.begin_nested()
    try:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK})
        # The set-wise checks look expensive to the planner; compiling them (JIT) costs more than it saves.
        # The parcel triggers run their statements once per row: let them keep their cached plans
        # (the engine's force_custom_plan, right for bounding-box queries, would re-plan each).
        conn.execute(text("SET LOCAL jit = off; SET LOCAL plan_cache_mode = auto"))
        load.create_staging(conn)
        places = Municipalities.load(conn)

        streaming = options.mode == "all-or-nothing" and not options.dry_run
        keys = _Keys() if streaming else None

        def prepare(i: int, batch: Batch) -> tuple[list[tuple], bool, Issues]:
            if i == 0:
                _check_position(choice, batch)
            issues = Issues()
            rows = list(staging_rows(batch, mapping, transformer, issues, places, options.checks, default_claim))
            return rows, keys is not None and keys.repeated(rows), issues

        done = _Done()
        for batch, (rows, repeated, issues) in read_ahead(source.batches(options.batch_size), prepare):
            report.rows_read += len(batch.rows)
            load.copy_rows(conn, rows)
            load.copy_issues(conn, issues)
            if streaming:
                # write this batch while the next one is read, as long as nothing was refused
                streaming = not (issues.errors or repeated)
                if streaming:
                    window = (int(batch.rows[0]), int(batch.rows[-1]))
                    streaming = _write_batch(conn, options, fields, window, done, claim_fix)
                if streaming and options.ahead is not None and not options.ahead.stopped:
                    written = load.written_rows(conn, window)
                    options.ahead.feed((r[_AGS], r[_LOCAL_REF], r[_GEOM]) for r in rows if r[0] in written)
            if progress:
                progress(len(batch.rows))
        if options.ahead is not None:
            options.ahead.finish()  # its last geometries are computed while the import goes on
        if report.rows_read == 0:
            raise SourceError(message("import.no_features", file=path.name))
        end = report.rows_read
        if done.validated < end:
            load.validate(conn, options.checks, scope, _rest(done.validated, end), claim_fix)
        if done.written < end:  # all rows written: the unique (AGS, reference) constraint held for each
            load.reject_duplicates(conn)
        if done.classified < end:
            load.classify(conn, fields, options.checks, _rest(done.classified, end))
        load.collect(conn, report)
        categories = (
            [mapping.defaults["category"]]
            if "category" in mapping.defaults and "category" not in mapping.columns
            else None
        )
        municipalities = [parse_ags(options.municipality)] if options.municipality else None
        missing = [] if options.from_alkis else load.find_missing(conn, municipalities, categories, scope)
        report.missing = [(ags, ref) for ags, ref, _ in missing]

        if options.dry_run:
            report.status = "dry-run"
            savepoint.rollback()
            return report
        if report.rejected and options.mode == "all-or-nothing":
            report.inserted = report.changed = report.unchanged = 0
            report.status = "rejected"
            savepoint.rollback()
            _record(conn, report, started, options)
            return report
        if done.written < end:
            load.apply(conn, fields, options.actor, _rest(done.written, end))
        if options.retire_missing:
            report.retired = load.retire(conn, [pid for _, _, pid in missing], options.actor, scope)
            quality.refresh(conn, [pid for _, _, pid in missing])  # a retired duplicate leaves its twin
        report.status = "committed"
        _score(conn, report, options)
        if report.rejected and options.rejected_rows_file:
            target = options.rejected_path or path.with_name(
                f"{path.stem}.rejected{'.csv' if source.is_table else '.gpkg'}"
            )
            with closing(load.rejected_reasons(conn)) as reasons:
                spelled = ((row, render(reason, options.spell)) for row, reason in reasons)
                write_rejected(source, spelled, target, source_crs)
            report.rejected_file = str(target)
        _record(conn, report, started, options)
        report.submission_id = review.record_import(
            conn, options.principal, report.import_id, [pid for _, _, pid in missing] if options.retire_missing else []
        )
        savepoint.commit()
        return report
    except ImportRefused:
        savepoint.rollback()
        raise
    except IntegrityError as exc:
        # A rule of the database the checks above did not foresee (for instance a geometry that
        # shapely's GEOS finds valid and PostGIS's older GEOS does not): refused, nothing written.
        savepoint.rollback()
        raise ImportRefused(_refused_write(exc)) from None
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise


_ANALYZE_FROM = 1_000  # parcels written by an import from which it refreshes the table's statistics


def _score(conn: Connection, report: ImportReport, options: ImportOptions) -> None:
    """Score the parcels the import wrote, in its transaction (or count them as left unscored)."""
    written = report.inserted + report.changed
    if not written:
        return
    if written >= _ANALYZE_FROM:
        # the statistics of a table this transaction has just filled say it is (nearly) empty: the
        # quality's duplicate check and the scoring's joins then read all parcels once per parcel
        # (100,000 parcels: 17 minutes instead of seconds). ANALYZE samples the transaction's own rows.
        conn.execute(text("ANALYZE parcel"))
    # their data quality, set-wise in one statement, whatever the scoring; named by the staging table
    quality.refresh_selected(conn, load.WRITTEN, written)
    if not options.score or (options.score_max is not None and written > options.score_max):
        report.unscored = written
        return
    if options.ahead is not None:  # scored here: the indicators of the other connection are not needed
        options.ahead.discard()
    ids = load.written_ids(conn)
    for start in range(0, len(ids), _SCORE_CHUNK):
        rescore(conn, ids[start : start + _SCORE_CHUNK])
    report.scored = len(ids)


def _refused_write(exc: IntegrityError) -> str:
    diag = exc.orig.diag
    detail = diag.message_detail or ""
    return (
        f"the database refused a row while writing, so nothing was imported: {diag.message_primary}"
        + (f" (rule {diag.constraint_name})" if diag.constraint_name else "")
        + (f"; {detail[:200]}{'…' if len(detail) > 200 else ''}" if detail else "")
    )


@dataclass
class _Done:
    """Up to which row the file has been validated, classified and written batch by batch."""

    validated: int = 0
    classified: int = 0
    written: int = 0


def _write_batch(
    conn: Connection, options: ImportOptions, fields: list[str], window: load.Rows, done: _Done, claim_fix: str
) -> bool:
    """Check, classify and write one batch of an all-or-nothing import; False once a row is refused.

    Rows written here are undone with the savepoint if a later row is refused.
    """
    load.validate(conn, options.checks, import_scope(options), window, claim_fix)
    done.validated = window[1]
    if load.has_errors(conn, window):
        return False
    load.classify(conn, fields, options.checks, window)
    done.classified = window[1]
    if load.has_errors(conn, window):
        return False
    load.apply(conn, fields, options.actor, window)
    done.written = window[1]
    return True


def _rest(done: int, end: int) -> load.Rows | None:
    """The rows after ``done`` (None: the whole file)."""
    return None if done == 0 else (done + 1, end)


class _Keys:
    """The (AGS, reference) keys of the rows read so far, to stop writing batch by batch at a repeat.

    A repeated reference would otherwise be taken for a change of the parcel an earlier batch
    wrote. Hashes only (bounded memory); a collision merely ends the batch-by-batch writing
    early, and the set-wise duplicate check then decides exactly.
    """

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def repeated(self, rows: list[tuple]) -> bool:
        before = len(self.seen)
        keys = [hash((row[_AGS], row[_LOCAL_REF])) for row in rows if row[_AGS] is not None]
        self.seen.update(keys)
        return len(self.seen) - before < len(keys)


def _record(conn: Connection, report: ImportReport, started: dt.datetime, options: ImportOptions) -> None:
    report.import_id = conn.execute(
        text("""
    INSERT INTO import_run (started_at, actor, file_name, sha256, layer, mode, status,
                            rows_read, inserted, changed, unchanged, rejected, retired, report)
    VALUES (:started, :actor, :file_name, :sha256, :layer, :mode, :status,
            :rows_read, :inserted, :changed, :unchanged, :rejected, :retired, CAST(:report AS jsonb))
    RETURNING id
    """),
        {
            "started": started,
            "actor": options.actor,
            "file_name": report.file_name,
            "sha256": report.sha256,
            "layer": report.layer,
            "mode": report.mode,
            "status": report.status,
            "rows_read": report.rows_read,
            "inserted": report.inserted,
            "changed": report.changed,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
            "retired": report.retired,
            "report": json.dumps(report.to_dict(spell=options.spell), default=str),
        },
    ).scalar_one()
