"""``landreg alerts send``: e-mail the saved searches' alerts that wait (the operator's, e.g. from
cron every hour): confirmation links to new addresses, new and changed sites to confirmed ones. The
mails' links start with ``LANDREG_PUBLIC_URL`` (or ``--base-url``)."""

from __future__ import annotations

from typing import Annotated

import typer

from landreg import alerts, inbox
from landreg.cli_parcels import fail
from landreg.db import make_engine
from landreg.errors import DomainError
from landreg.settings import get_settings

alerts_app = typer.Typer(help="Suchaufträge / saved searches: e-mailing their alerts.", no_args_is_help=True)


@alerts_app.command("send")
def send(
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Where people reach the register, e.g. https://flaechen.example.org (default: LANDREG_PUBLIC_URL).",
        ),
    ] = None,
) -> None:
    """E-mail what waits now (through LANDREG_SMTP_URL); whatever the server refuses waits for the next run."""
    url = get_settings().smtp_url
    if not url:
        typer.echo("LANDREG_SMTP_URL ist nicht gesetzt: keine E-Mails / not set: no e-mails sent")
        return
    try:
        inbox.smtp_target(url)
        base = alerts.public_base(base_url)
    except DomainError as exc:
        raise fail(str(exc)) from None
    with make_engine().begin() as conn:
        sent = alerts.send_alerts(conn, base, url)
    typer.echo(f"{sent} E-Mail(s) versandt / e-mail(s) sent")
