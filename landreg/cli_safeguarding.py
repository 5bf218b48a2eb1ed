"""``landreg safeguarding …`` (Flächensicherung): the commands of the safeguarding issue, kept beside
the main CLI module (``landreg context …`` is in :mod:`landreg.cli_context`)."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from landreg.db import make_engine
from landreg.rules import label

# The commands import what they need (geopandas, the safeguarding module) when they run: every
# other ``landreg`` command starts without paying for them.

safeguarding_app = typer.Typer(help="Flächensicherung: plan checks, Flächenbilanz, watch list.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _spell(name: str, value: str | None) -> str:
    """An option in a plan check's message as this command names it (``intended_use`` is ``--use``)."""
    from landreg.cli import _flag

    return _flag({"intended_use": "use"}.get(name, name), value)


def _ha(m2: float) -> str:
    return f"{m2 / 10_000:,.2f} ha".replace(",", " ")


@safeguarding_app.command("plan-check")
def plan_check(
    plan: Annotated[
        Path, typer.Argument(help="Plan area: GeoJSON, GeoPackage, Shapefile or XPlanGML 5.x/6.0 (*_Plan/*_Bereich)")
    ],
    use: Annotated[
        str | None,
        typer.Option(
            "--use",
            help="Intended use of the whole plan (designation code, e.g. WA, MI, GE); "
            "optional for an XPlanGML plan with Baugebiete, each of which is checked with its own use",
        ),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of the file")] = None,
    crs: Annotated[
        int | None, typer.Option(help="EPSG code of the coordinates, when the file declares none or a wrong one")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the plan (default: from the file)")] = None,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Store the check for the watch list")] = True,
    actor: Annotated[str, typer.Option(help="Recorded with the check")] = os.environ.get("USER", "cli"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON")] = False,
) -> None:
    """Check a proposed plan against industrial land (Flächensicherung and Abstandserlass)."""
    from landreg.access import FULL
    from landreg.safeguarding import PlanError, check_plan_file

    try:  # the operator sees every parcel, as reviewed (as `landreg export` does)
        with make_engine().begin() as conn:
            recorded = (actor, name) if record else None
            check = check_plan_file(conn, plan, use, view=FULL, layer=layer, crs=crs, record=recorded)
    except PlanError as exc:
        raise _fail(exc.render(_spell)) from None
    title = name or check.plan["name"]
    if as_json:
        typer.echo(json.dumps(check.as_dict(), default=str, ensure_ascii=False, indent=2))
        return
    verdict = "KONFLIKT / conflict" if check.conflict else "kein Konflikt / no conflict"
    typer.echo(f"{title} ({check.intended_use}): {verdict}")
    if check.plan.get("xplan_version"):
        info = check.plan
        typer.echo(
            f"  XPlanGML {info['xplan_version']}, Nr. {info['number'] or '-'}, {info['legal_status'] or '-'}"
            f" ({info['date'] or '-'}), Gemeinde {', '.join(info['municipalities']) or '-'}; area: {info['area_source']}"
        )
    for p in check.parcels:
        typer.echo(
            f"  {p['local_ref']:<14} {p['municipality']:<22} {p['status']:<14} {_ha(p['affected_m2'])} ({p['conflict']})"
        )
    for ags, lost in check.loss_by_municipality.items():
        typer.echo(f"  loss of industrial reserve in {ags}: {_ha(lost)}")
    if check.loss_region_m2:
        typer.echo(f"  loss for the region: {_ha(check.loss_region_m2)}")
    for a in check.abstand:
        typer.echo(
            f"  Abstandserlass: {a['local_ref']} at {a['distance_m']:.0f} m, class {a['abstand_class']} needs {a['required_m']} m"
        )
    for d in check.designations:
        verdict = "KONFLIKT / conflict" if d["conflict"] else "kein Konflikt / no conflict"
        refs = ", ".join(sorted({p["local_ref"] for p in d["parcels"] + d["abstand"] if p["conflict"] != "keiner"}))
        typer.echo(
            f"  {d['use']} {d['use_label'] or ''} ({_ha(d['area_m2'])}): {verdict}" + (f": {refs}" if refs else "")
        )
    if check.id is not None:
        typer.echo(f"recorded as plan check {check.id}")


@safeguarding_app.command("balance")
def balance_command(
    dates: Annotated[
        list[str],
        typer.Argument(
            help="ISO dates, ascending (a date: the end of that day), from 1990-01-01 to ten years ahead; "
            "at most LANDREG_BALANCE_MAX_DATES (20)"
        ),
    ],
    ags: Annotated[str | None, typer.Option(help="Municipality (AGS); default: the whole registry")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Categories (default: commercial and industrial)")] = None,
    window_years: Annotated[
        float, typer.Option(help="Years of take-up to average for the years of supply (0.25 to 30)")
    ] = 3.0,
    as_csv: Annotated[bool, typer.Option("--csv", help="Stocks as CSV")] = False,
) -> None:
    """The Flächenbilanz: stock at each date, additions, take-up, losses, years of supply."""
    from landreg.errors import InvalidParameter
    from landreg.safeguarding import INDUSTRIAL_CATEGORIES, balance
    from landreg.safeguarding.balance import balance_dates, check_window_years

    try:  # the API's checks, naming the arguments as this command knows them
        instants = balance_dates(dates, "DATES")
        check_window_years(window_years, "--window-years")
        with make_engine().connect() as conn:
            result = balance(conn, instants, ags, tuple(category or INDUSTRIAL_CATEGORIES), window_years)
    except InvalidParameter as exc:
        raise _fail(str(exc)) from None
    if as_csv:
        fields = ["date", "reserve_m2", "restriction_free_available_m2", "take_up_per_year_m2", "years_of_supply"]
        writer = csv.DictWriter(sys.stdout, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(result["stocks"])
        return
    for day, stock in zip(dates, result["stocks"]):
        years = "-" if stock["years_of_supply"] is None else f"{stock['years_of_supply']:.1f}"
        typer.echo(
            f"{day}: {label('reserve', 'en')} {_ha(stock['reserve_m2'])},"
            f" {label('restriction_free', 'en')} {_ha(stock['restriction_free_available_m2'])},"
            f" take-up {_ha(stock['take_up_per_year_m2'])}/year, years of supply {years}"
        )
    for change in result["changes"]:
        typer.echo(
            f"{change['from'][:10]} -> {change['to'][:10]}: +{_ha(change['additions_m2'])} added,"
            f" -{_ha(change['take_up_m2'])} taken up, -{_ha(change['lost_m2'])} lost to other uses,"
            f" -{_ha(change['removed_m2'])} retired, {_ha(change['area_changes_m2'])} area changes"
        )


@safeguarding_app.command("watch-list")
def watch_list_command(ags: Annotated[list[str] | None, typer.Option(help="Only these municipalities")] = None) -> None:
    """Industrial parcels changing away from industrial use, newest first."""
    from landreg.safeguarding import watch_list

    with make_engine().connect() as conn:
        entries = watch_list(conn, ags)
    for e in entries:
        typer.echo(
            f"{e['at']:%Y-%m-%d} {e['ags']} {e['local_ref']:<14} {e['reason']:<34} {e['actor']:<16} {e['detail']}"
        )
    typer.echo(f"{len(entries)} entries")
