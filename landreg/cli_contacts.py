"""``landreg contact set|list|remove``: the economic development office of each municipality,
shown on the public site exposés (:mod:`landreg.sites.contacts`)."""

from __future__ import annotations

from typing import Annotated

import typer

from landreg.cli_parcels import fail
from landreg.db import make_engine
from landreg.errors import DomainError
from landreg.sites import contacts

contact_app = typer.Typer(
    help="Economic development contacts per municipality (shown on site exposés).", no_args_is_help=True
)


@contact_app.command("set")
def set_(
    ags: Annotated[str, typer.Argument(help="The municipality's 8-digit AGS, e.g. 05113000.")],
    name: Annotated[str, typer.Option(help="The office, e.g. 'EWG – Essener Wirtschaftsförderung'.")],
    email: Annotated[str, typer.Option(help="Its public e-mail address.")],
    phone: Annotated[str, typer.Option(help="Its public phone number, e.g. '+49 201 8202-40'.")],
    url: Annotated[str | None, typer.Option(help="Its web page (http or https), optional.")] = None,
    actor: Annotated[str, typer.Option(help="Who records it.")] = "operator",
) -> None:
    """Record or replace the contact of one municipality."""
    engine = make_engine()
    try:
        with engine.begin() as conn:
            contact = contacts.set_contact(conn, actor, ags, name, email, phone, url)
    except DomainError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"contact of {contact.municipality} ({contact.ags}) recorded: {contact.name}")


@contact_app.command("list")
def list_() -> None:
    """Every recorded contact."""
    engine = make_engine()
    with engine.connect() as conn:
        for c in contacts.contacts(conn):
            typer.echo(f"{c.ags}  {c.municipality:<28} {c.name}  <{c.email}>  {c.phone}  {c.url or ''}".rstrip())


@contact_app.command("remove")
def remove(ags: Annotated[str, typer.Argument(help="The municipality's AGS.")]) -> None:
    """Remove the contact of one municipality (its exposés then show none)."""
    engine = make_engine()
    try:
        with engine.begin() as conn:
            contacts.remove_contact(conn, ags)
    except DomainError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"contact of {ags} removed")
