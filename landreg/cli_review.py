"""``landreg review list|show|approve|reject``: the review of municipal changes from the command
line, through :mod:`landreg.review` like the API. With ``--token`` as that token's owner; without,
as the operator (who may review, and whose own changes need none)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from landreg import inbox, review
from landreg.access import OPERATOR
from landreg.cli_parcels import TokenOption, fail, principal_of
from landreg.db import make_engine
from landreg.errors import DomainError

review_app = typer.Typer(help="Prüfung: review the changes municipalities submit.", no_args_is_help=True)

IdsArgument = Annotated[list[int], typer.Argument(min=1, help="Submission ids (`landreg review list`).")]


def _run(write: bool, action, token: str | None) -> None:
    engine = make_engine()
    try:
        with engine.begin() if write else engine.connect() as conn:
            result = action(conn, principal_of(conn, token) or OPERATOR)
        if write:
            with engine.begin() as conn:
                inbox.deliver(conn)
    except (DomainError, PermissionError) as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(result, default=str, ensure_ascii=False, indent=2))


@review_app.command("list")
def list_(
    state: Annotated[
        str, typer.Option(help="wartend (waiting), freigegeben, abgelehnt, ueberholt, or all.")
    ] = "wartend",
    ags: Annotated[str | None, typer.Option(help="Only this municipality (AGS).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    token: TokenOption = None,
) -> None:
    """Submissions, the waiting ones oldest first."""
    _run(False, lambda conn, who: review.submissions(conn, who, None if state == "all" else state, ags, limit), token)


@review_app.command("show")
def show(
    submission_id: Annotated[int, typer.Argument(min=1)],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Parcels shown.")] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    token: TokenOption = None,
) -> None:
    """A submission with the field-by-field diff of each parcel and the area added and removed."""
    _run(False, lambda conn, who: review.submission(conn, who, submission_id, limit, offset), token)


@review_app.command("approve")
def approve(
    ids: IdsArgument,
    comment: Annotated[str | None, typer.Option(help="A note for the planner.")] = None,
    token: TokenOption = None,
) -> None:
    """Approve submissions (all or none): their state becomes what everybody sees."""
    _run(True, lambda conn, who: review.approve(conn, who, ids, comment), token)


@review_app.command("reject")
def reject(
    ids: IdsArgument,
    comment: Annotated[str, typer.Option(help="What the planner should change (required).")],
    token: TokenOption = None,
) -> None:
    """Reject submissions with a comment: they go back to the planner; everybody else keeps seeing
    the approved version."""
    _run(True, lambda conn, who: review.reject(conn, who, ids, comment), token)


def due_command(
    within_days: Annotated[
        int, typer.Option(min=1, max=366, help="Objection periods ending within so many days.")
    ] = 14,
    older_than_months: Annotated[int, typer.Option(min=1, max=120, help="Stand older than so many months.")] = 12,
    notify: Annotated[
        bool,
        typer.Option("--notify", help="Put each municipality's due list into its planners' inboxes (a timer's job)."),
    ] = False,
    token: TokenOption = None,
) -> None:
    """Wiedervorlage: parcels with an old Stand, changes waiting for review or sent back, objection
    periods ending, active objections (your municipalities with --token; every one without)."""
    from landreg import due
    from landreg.access import view_of

    if notify:
        _run(True, lambda conn, who: {"notifications": due.remind(conn, within_days, older_than_months)}, None)
        return
    _run(False, lambda conn, who: due.due(conn, view_of(who), within_days, older_than_months), token)
