"""``landreg context …``: list, load, replace and remove the context layers scoring and the
Abstandserlass read (:mod:`landreg.context`), and show their change log."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from landreg.db import make_engine
from landreg.errors import DomainError
from landreg.vocab import CONTEXT_KIND

# The commands import geopandas and the scoring engine when they run: `landreg --help` stays quick.

context_app = typer.Typer(
    help="Context layers used for scoring and the Abstandserlass, each with its source, licence and coverage.",
    no_args_is_help=True,
)

Actor = Annotated[str, typer.Option(help="Recorded with the change")]
Layer = Annotated[str | None, typer.Option(help="Layer of the file (when it has several)")]
NameColumn = Annotated[str | None, typer.Option(help="Column with the features' names (default: a column 'name')")]
Crs = Annotated[int | None, typer.Option(help="EPSG code, for a file that declares none")]
Licence = Annotated[str | None, typer.Option(help="Licence of the data, e.g. dl-de/by-2-0 or CC BY 4.0")]
DataDate = Annotated[str | None, typer.Option("--date", help="Date of the data (Stand), YYYY-MM-DD")]
CoverageFile = Annotated[
    Path | None, typer.Option("--coverage", help="Polygon file of the area the layer is complete for")
]
CoverageAgs = Annotated[
    list[str] | None,
    typer.Option(help="Municipalities (AGS) the layer is complete for, e.g. 05113000; repeat or separate by commas"),
]
CoverageNote = Annotated[str | None, typer.Option(help="What the coverage means, in words (shown with the layer)")]


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _refused(exc: DomainError) -> typer.Exit:
    """A refusal with the options it names spelled as this command line spells them."""
    from landreg.importer import ImportRefused
    from landreg.importer.refusals import command_line

    return _fail(exc.render(command_line) if isinstance(exc, ImportRefused) else str(exc))


def _coverage(file: Path | None, ags: list[str] | None, note: str | None, crs: int | None):
    """The coverage the options give, or None when they give none."""
    from landreg import context

    codes = tuple(a.strip() for value in ags or [] for a in value.split(",") if a.strip())
    if file is None and not codes and note is None:
        return None
    geometry = context.read_coverage(file, crs=crs) if file is not None else None
    return context.Coverage(geometry, codes, note)


def _km2(km2: float) -> str:
    return f"{km2:,.2f} km²".replace(",", " ")


def _describe(layer: dict) -> list[str]:
    basis = "given" if layer["coverage_basis"] == "angegeben" else "the municipalities its features lie in"
    lines = [
        f"  source:   {layer['source']}",
        f"  licence:  {layer['licence'] or 'nicht angegeben / not given'}",
        f"  date:     {layer['data_date'] or 'nicht angegeben / not given'}",
        f"  coverage: {basis}, {_km2(layer['coverage_km2'])}"
        + (f", {len(layer['coverage_ags'])} municipalities" if layer["coverage_ags"] else ""),
    ]
    if layer["coverage_note"]:
        lines.append(f"            {layer['coverage_note']}")
    lines.append(f"  checksum: {layer['checksum'] or '- (written in SQL)'}")
    return lines


@context_app.command("list")
def list_layers(
    kind: Annotated[str | None, typer.Option(help=f"Only this kind: {', '.join(CONTEXT_KIND.codes)}")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the layers as JSON")] = False,
) -> None:
    """The context layers with their kind, features, source, licence, date and coverage."""
    from landreg import context

    with make_engine().connect() as conn:
        layers = context.layers(conn, kind)
    if as_json:
        typer.echo(json.dumps(layers, default=str, ensure_ascii=False, indent=2))
        return
    for layer in layers:
        typer.echo(
            f"{layer['name']} [{layer['kind']}] {layer['features']} features, loaded {layer['loaded_at']:%Y-%m-%d}"
        )
        for line in _describe(layer):
            typer.echo(line)
    typer.echo(f"{len(layers)} layers")


@context_app.command("load")
def load_layer(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(CONTEXT_KIND.codes)}")],
    file: Annotated[Path, typer.Argument(help="Geodata file (any format GDAL reads; bplan: an XPlanGML plan)")],
    source: Annotated[str, typer.Option(help="Where the data comes from (attribution), shown with the layer")],
    name: Annotated[str | None, typer.Option(help="Name of the new layer (default: kind and file name)")] = None,
    licence: Licence = None,
    data_date: DataDate = None,
    layer: Layer = None,
    name_column: NameColumn = None,
    crs: Crs = None,
    coverage: CoverageFile = None,
    coverage_ags: CoverageAgs = None,
    coverage_note: CoverageNote = None,
    actor: Actor = os.environ.get("USER", "cli"),
) -> None:
    """Load a new layer, e.g. residential areas (wohngebiet) for the Abstandserlass.

    Without --coverage or --coverage-ags it covers the municipalities its features lie in."""
    from landreg import context

    try:
        features = context.read_features(file, kind, layer, crs, name_column)
        name = context.check_name(name) if name else context.default_name(kind, file.name)
        meta = context.Metadata(source, licence, context.parse_date(data_date))
        given = _coverage(coverage, coverage_ags, coverage_note, crs) or context.Coverage()
        with make_engine().begin() as conn:
            change = context.load(conn, actor, name, features, meta, given)
            shown = context.layer(conn, name)
    except DomainError as exc:
        raise _refused(exc) from None
    typer.echo(f"{kind}: {change.features_after} features loaded as layer {name!r} (geladen)")
    _report(change, shown)


@context_app.command("replace")
def replace_layer(
    name: Annotated[str, typer.Argument(help="The layer to replace (`landreg context list`)")],
    file: Annotated[Path | None, typer.Argument(help="Its new features (default: keep them)")] = None,
    source: Annotated[str | None, typer.Option(help="New source (default: keep it)")] = None,
    licence: Licence = None,
    data_date: DataDate = None,
    layer: Layer = None,
    name_column: NameColumn = None,
    crs: Crs = None,
    coverage: CoverageFile = None,
    coverage_ags: CoverageAgs = None,
    coverage_note: CoverageNote = None,
    actor: Actor = os.environ.get("USER", "cli"),
) -> None:
    """Replace a layer's features and/or its source, licence, date or coverage.

    Compared by content: the same number of moved features is a change, the same file is none."""
    from landreg import context

    try:
        given = _coverage(coverage, coverage_ags, coverage_note, crs)
        with make_engine().begin() as conn:
            kind = context.layer(conn, name)["kind"]
            features = context.read_features(file, kind, layer, crs, name_column) if file is not None else None
            meta = context.Metadata(source) if source is not None else None
            change = context.replace(conn, actor, name, features, meta, given, licence, context.parse_date(data_date))
            shown = context.layer(conn, name)
    except DomainError as exc:
        raise _refused(exc) from None
    if change.action == "unveraendert":
        typer.echo(f"{name}: unchanged (unverändert): the same features, source, licence, date and coverage")
        return
    typer.echo(
        f"{kind}: layer {name!r} replaced (ersetzt: {', '.join(change.changed)}), "
        f"{change.features_before} -> {change.features_after} features"
    )
    _report(change, shown)


@context_app.command("remove")
def remove_layer(
    name: Annotated[str, typer.Argument(help="The layer to remove (`landreg context list`)")],
    actor: Actor = os.environ.get("USER", "cli"),
) -> None:
    """Remove a layer and its features; the parcels it informed are re-scored without it."""
    from landreg import context

    try:
        with make_engine().begin() as conn:
            change = context.remove(conn, actor, name)
    except DomainError as exc:
        raise _refused(exc) from None
    typer.echo(f"{change.kind}: layer {name!r} removed (entfernt), {change.features_before} features")
    typer.echo(f"  {change.rescored} parcels re-scored; recorded as change {change.id}")


@context_app.command("log")
def change_log(
    name: Annotated[str | None, typer.Argument(help="Only this layer")] = None,
    limit: Annotated[int, typer.Option(help="How many changes, newest first (1 to 10,000)")] = 50,
) -> None:
    """Who loaded, replaced or removed which layer when, and what changed."""
    from landreg import context

    try:
        with make_engine().connect() as conn:
            entries = context.changes(conn, name, limit)
    except DomainError as exc:
        raise _refused(exc) from None
    for e in entries:
        what = f" ({', '.join(e['changed'])})" if e["changed"] and e["action"] == "ersetzt" else ""
        counts = f"{e['features_before'] if e['features_before'] is not None else '-'} -> "
        counts += f"{e['features_after'] if e['features_after'] is not None else '-'} features"
        typer.echo(
            f"{e['at']:%Y-%m-%d %H:%M} {e['actor']:<16} {e['action']:<8} {e['layer']} [{e['kind']}]{what}, "
            f"{counts}, {e['rescored']} parcels re-scored"
        )
    typer.echo(f"{len(entries)} changes")


def _report(change, layer: dict) -> None:
    for line in _describe(layer)[3:]:  # the coverage and the checksum
        typer.echo(line)
    for note in change.notes:
        typer.echo(f"  note: {note}")
    typer.echo(f"  {change.rescored} parcels re-scored; recorded as change {change.id}")
