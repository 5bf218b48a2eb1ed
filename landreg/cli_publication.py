"""``landreg publication notice|withdraw-notice|objection|withdraw-objection|notices|due``: the
§ 200 (3) BauGB process from the command line, as a planner (with the token), through
:mod:`landreg.publication` like the API."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated

import typer

from landreg import publication
from landreg.access import view_of
from landreg.cli_parcels import TokenOption, fail, principal_of
from landreg.db import make_engine
from landreg.errors import DomainError

publication_app = typer.Typer(
    help="Veröffentlichung nach § 200 Abs. 3 BauGB: notices and objections.", no_args_is_help=True
)

DateArgument = Annotated[dt.datetime, typer.Argument(formats=["%Y-%m-%d"], help="YYYY-MM-DD")]


def _run(write: bool, action, token: str | None):
    engine = make_engine()
    try:
        with engine.begin() if write else engine.connect() as conn:
            result = action(conn, principal_of(conn, token))
    except (DomainError, PermissionError) as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(result, default=str, ensure_ascii=False, indent=2))


@publication_app.command("notice")
def notice(
    ags: Annotated[str, typer.Argument(help="The municipality (AGS).")],
    announced_on: DateArgument,
    category: Annotated[list[str] | None, typer.Option(help="Only this category; repeat for several.")] = None,
    all_parcels: Annotated[bool, typer.Option("--all", help="All parcels, not only those selected.")] = False,
    until: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="A later end of the period.")] = None,
    reference: Annotated[str | None, typer.Option(help="Where it was announced, e.g. the Amtsblatt.")] = None,
    token: TokenOption = None,
) -> None:
    """Record the public announcement; the objection period is computed (a month, BGB rules)."""
    _run(True, lambda conn, who: publication.announce(
        conn, who, ags, announced_on.date(), category or None, not all_parcels, until.date() if until else None,
        reference), token)  # fmt: skip


@publication_app.command("withdraw-notice")
def withdraw_notice(notice_id: Annotated[int, typer.Argument(min=1)], token: TokenOption = None) -> None:
    """Withdraw a notice: the parcels it alone covered leave the public view at once."""
    _run(True, lambda conn, who: publication.withdraw_notice(conn, who, notice_id), token)


@publication_app.command("objection")
def objection(
    parcel_id: Annotated[uuid.UUID, typer.Argument(help="The parcel's id.")],
    received_on: DateArgument,
    note: Annotated[str | None, typer.Option(help="Confidential note.")] = None,
    token: TokenOption = None,
) -> None:
    """Record an owner's objection: the parcel leaves every public output at once."""
    _run(True, lambda conn, who: publication.record_objection(conn, who, parcel_id, received_on.date(), note), token)


@publication_app.command("withdraw-objection")
def withdraw_objection(
    objection_id: Annotated[int, typer.Argument(min=1)], withdrawn_on: DateArgument, token: TokenOption = None
) -> None:
    """The owner withdrew the objection."""
    _run(True, lambda conn, who: publication.withdraw_objection(conn, who, objection_id, withdrawn_on.date()), token)


@publication_app.command("notices")
def notices(ags: Annotated[str | None, typer.Option(help="Only this municipality.")] = None) -> None:
    """The notices (public announcements), newest first."""
    _run(False, lambda conn, who: publication.notices(conn, ags), None)


@publication_app.command("due")
def due(
    within_days: Annotated[int, typer.Option(min=1, max=366, help="Periods ending within so many days.")] = 14,
    token: TokenOption = None,
) -> None:
    """Objection periods ending soon and active objections of your municipalities."""
    _run(False, lambda conn, who: publication.due(conn, view_of(who), within_days), token)
