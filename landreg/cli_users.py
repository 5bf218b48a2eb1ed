"""``landreg user create|list|disable|enable|reset-password``: accounts of people who sign in to the
workspace (:mod:`landreg.users`); API tokens (``landreg token``) stay for machines."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from landreg import users
from landreg.access import ROLES
from landreg.cli_parcels import fail
from landreg.db import make_engine
from landreg.errors import DomainError

user_app = typer.Typer(help="Accounts for the web workspace (people; tokens are for machines).", no_args_is_help=True)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input (for scripts).")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Passwort / password", hide_input=True, confirmation_prompt=True)


def _run(action) -> None:
    engine = make_engine()
    try:
        with engine.begin() as conn:
            message = action(conn)
    except DomainError as exc:
        raise fail(str(exc).replace("password:", "--password-stdin / prompt:")) from None
    typer.echo(message)


@user_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Sign-in name, e.g. planung.essen")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    ags: Annotated[list[str] | None, typer.Option(help="A planner's municipality (AGS); repeat for several.")] = None,
    name: Annotated[str | None, typer.Option(help="Display name, e.g. 'Stadt Essen, Amt für Stadtplanung'.")] = None,
    email: Annotated[str | None, typer.Option(help="For e-mail notifications (with LANDREG_SMTP_URL).")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account; the password is asked for (twice), never given on the command line."""
    password = _password(password_stdin)
    _run(lambda conn: f"user {users.create_user(conn, username, role, password, ags, name, email).username} created")


@user_app.command("list")
def list_() -> None:
    """Every account with role, municipalities and whether it is disabled."""
    engine = make_engine()
    with engine.connect() as conn:
        for u in users.list_users(conn):
            state = f"disabled {u['disabled_at']:%Y-%m-%d}" if u["disabled_at"] else "active"
            ags = ",".join(a.strip() for a in u["ags"])
            typer.echo(f"{u['username']:<28} {u['role']:<9} {ags:<20} {state}  {u['display_name'] or ''}")


@user_app.command("disable")
def disable(username: str) -> None:
    """The account can no longer sign in; its open sessions end at once. API tokens are not the
    account's: those owned under the same name are listed to revoke (``landreg token revoke ID``)."""

    def disabled(conn) -> str:
        tokens = users.disable_user(conn, username)
        said = f"user {username} disabled, sessions ended"
        if tokens:
            ids = ", ".join(map(str, tokens))
            said += (
                f"\nAPI tokens owned by {username!r} stay valid (tokens belong to programs, not accounts): {ids}; "
                "if they were this person's, revoke them with `landreg token revoke ID`"
            )
        return said

    _run(disabled)


@user_app.command("enable")
def enable(username: str) -> None:
    _run(lambda conn: users.enable_user(conn, username) or f"user {username} enabled")


@user_app.command("reset-password")
def reset_password(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a new password; every open session of the user ends."""
    password = _password(password_stdin)
    _run(lambda conn: users.reset_password(conn, username, password) or f"password of {username} reset")
