"""``landreg inbox list|read|deliver``: your notifications from the command line (with your token),
through :mod:`landreg.inbox` like the API; ``deliver`` is the operator's: it e-mails what waits."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from landreg import inbox
from landreg.cli_parcels import TokenOption, fail, principal_of
from landreg.db import make_engine
from landreg.errors import DomainError
from landreg.settings import get_settings

inbox_app = typer.Typer(help="Posteingang / inbox: your notifications, and e-mailing them.", no_args_is_help=True)


@inbox_app.command("list")
def list_(
    unread: Annotated[bool, typer.Option("--unread", help="Only the unread ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=inbox.MAX_LIMIT, help="How many, newest first.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip so many.")] = 0,
    token: TokenOption = None,
) -> None:
    """Your notifications, newest first (as JSON)."""
    with make_engine().connect() as conn:
        try:
            notifications = inbox.inbox(conn, principal_of(conn, token), unread, limit, offset)
        except (DomainError, PermissionError) as exc:
            raise fail(str(exc)) from None
    typer.echo(json.dumps(notifications, default=str, ensure_ascii=False, indent=2))


@inbox_app.command("read")
def read(
    ids: Annotated[list[int], typer.Argument(min=1, help="Ids from `landreg inbox list`.")],
    token: TokenOption = None,
) -> None:
    """Mark notifications as read (all or none)."""
    try:
        with make_engine().begin() as conn:
            marked = inbox.mark_read(conn, principal_of(conn, token), ids)
    except (DomainError, PermissionError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{marked} als gelesen markiert / marked as read")


@inbox_app.command("deliver")
def deliver() -> None:
    """E-mail the notifications that wait, now (through LANDREG_SMTP_URL; the API does it after each
    review decision). Whatever the server refuses waits for the next run."""
    url = get_settings().smtp_url
    if not url:
        typer.echo("LANDREG_SMTP_URL ist nicht gesetzt: keine E-Mails / not set: no e-mails sent")
        return
    try:
        inbox.smtp_target(url)
    except DomainError as exc:
        raise fail(str(exc)) from None
    with make_engine().begin() as conn:
        sent = inbox.deliver(conn, url)
    typer.echo(f"{sent} E-Mail(s) versandt / e-mail(s) sent")
