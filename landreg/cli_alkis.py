"""``landreg alkis load|parcel``: ALKIS Flurstücke kept for selection, and a parcel composed of them
(:mod:`landreg.alkis`). A whole file of Flurstücke becomes parcels with ``landreg import --from-alkis``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from landreg import alkis
from landreg.cli_parcels import TokenOption, fail, principal_of
from landreg.db import make_engine
from landreg.errors import DomainError
from landreg.importer.refusals import ImportRefused
from landreg.parcels import ParcelError, value_from_text

alkis_app = typer.Typer(help="ALKIS Flurstücke: load them, compose a parcel of some.", no_args_is_help=True)


def _flag(name: str, value: str | None) -> str:
    flag = "--" + name.replace("_", "-")
    return flag if value is None else f"{flag} {value}"


@alkis_app.command("load")
def load(
    file: Annotated[
        Path, typer.Argument(help="NAS (.xml/.gml, AX_Flurstueck) or ALKIS vereinfacht (.zip/.shp/.gpkg).")
    ],
    layer: Annotated[str | None, typer.Option(help="Layer of the Flurstücke in a file of several.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding, e.g. cp1252, if the file does not say.")] = None,
    actor: Annotated[str, typer.Option(help="Who loads (recorded with the Flurstücke).")] = os.environ.get(
        "USER", "cli"
    ),
) -> None:
    """Keep a file's Flurstücke for selection; one loaded again replaces the one of the same Kennzeichen."""
    with make_engine().begin() as conn:
        try:
            report = alkis.load(conn, file, actor, layer, encoding)
        except ImportRefused as exc:
            raise fail(f"not loaded: {exc.render(_flag)}") from None
    for line in report.lines():
        typer.echo(line)


@alkis_app.command("parcel")
def parcel(
    kennzeichen: Annotated[list[str], typer.Argument(help="Flurstückskennzeichen, e.g. 05329001100085______.")],
    category: Annotated[str, typer.Option(help="The land's category, e.g. brachflaeche.")],
    local_ref: Annotated[
        str | None, typer.Option(help="Your reference (default: the first Flurstückskennzeichen).")
    ] = None,
    assignments: Annotated[
        list[str] | None, typer.Option("--set", help="More fields as FIELD=VALUE, e.g. --set name=Zeche West.")
    ] = None,
    token: TokenOption = None,
) -> None:
    """A new parcel of loaded Flurstücke: their union as outline, their Kennzeichen, their municipality."""
    from sqlalchemy.orm import Session

    with Session(make_engine()) as session:
        try:
            values = {"category": category} | ({"local_ref": local_ref} if local_ref else {})
            for pair in assignments or []:
                name, sep, value = pair.partition("=")
                if not sep:
                    raise fail(f"--set {pair!r}: write FIELD=VALUE, e.g. --set status=verfuegbar")
                values[name] = value_from_text(name, value)
            composed = alkis.parcel_from_flurstuecke(
                session, principal_of(session.connection(), token), kennzeichen, values
            )
            p = composed.parcel  # what the answer says, read before the commit (see landreg.cli_parcels)
            said = f"parcel {p.local_ref} ({p.ags}) created: {p.area_m2:,.1f} m², Flurstücke {p.flurstueckskennzeichen}"
            session.commit()
        except (DomainError, ParcelError) as exc:
            raise fail(str(exc)) from None
        except PermissionError as exc:
            raise fail(f"{exc} (--token: a planner's token of the Flurstücke's municipality)") from None
        except KeyError as exc:
            raise fail(f"--set: {exc.args[0]!r} is not a parcel field") from None
        typer.echo(said)
        for note in composed.notes:
            typer.echo(f"  note: {note}")
