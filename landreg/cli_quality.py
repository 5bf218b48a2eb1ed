"""``landreg quality [--all]``: recompute the data quality of parcels (see :mod:`landreg.quality`)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from sqlalchemy import text

from landreg import migrate as migrations
from landreg.db import make_engine

quality_app = typer.Typer(
    help="Data quality (Datenqualität) per parcel: completeness, findings, score.", invoke_without_command=True
)


@quality_app.callback()
def quality(
    all_: Annotated[
        bool, typer.Option("--all", help="Every current parcel, not only those whose quality is due.")
    ] = False,
) -> None:
    """Recompute the data quality of the parcels whose stored quality is missing, of an older version
    or whose Stand crossed a 12- or 24-month mark (run it daily); --all: of every current parcel.
    Then the number of current parcels with each finding."""
    from landreg.access import FULL
    from landreg.quality import FINDINGS, quality_by_municipality, refresh_all, refresh_due

    engine = make_engine()
    if migrations.current_revision(engine) != migrations.head_revision():
        typer.secho("The database schema is not up to date: run `landreg migrate` first.", fg="red", err=True)
        raise typer.Exit(code=2)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL jit = off"))  # compiling the set-wise checks costs more than it saves
        checked = refresh_all(conn) if all_ else refresh_due(conn)
        municipalities = quality_by_municipality(conn, FULL)
    typer.echo(f"data quality of {checked} parcels computed in {time.perf_counter() - started:.1f} s")
    for code, finding in FINDINGS.items():
        count = sum(m["findings"][code] for m in municipalities)
        typer.echo(f"{count:>9}  {code}  ({finding.label_de})")
