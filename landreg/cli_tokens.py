"""``landreg token create|list|revoke|rotate``: API tokens for machines and people who use the API."""

from __future__ import annotations

from typing import Annotated

import typer

from landreg import migrate as migrations
from landreg.auth import DEFAULT_VALID_DAYS, MAX_VALID_DAYS, TokenError
from landreg.db import make_engine

token_app = typer.Typer(help="API tokens (roles: planner, reviewer, ministry, admin).", no_args_is_help=True)

DaysOption = Annotated[
    int, typer.Option("--days", help=f"Days the token works (1 to {MAX_VALID_DAYS}).", min=1, max=MAX_VALID_DAYS)
]
NeverOption = Annotated[
    bool, typer.Option("--never-expires", help="For a service whose token is rotated by other means.")
]


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _engine():
    engine = make_engine()
    if migrations.current_revision(engine) != migrations.head_revision():
        raise _fail("The database schema is not up to date: run `landreg migrate` first.")
    return engine


def _shown(token_id: int, token: str, owner: str, role: str) -> None:
    typer.echo(f"token {token_id} for {owner} ({role}); keep it, it is not shown again:\n{token}")


@token_app.command("create")
def create(
    owner: Annotated[str, typer.Option(help="Person or service the token belongs to (recorded on every write).")],
    role: Annotated[str, typer.Option(help="planner, reviewer, ministry or admin.")],
    ags: Annotated[list[str] | None, typer.Option(help="Municipality (AGS) of a planner; repeat for several.")] = None,
    days: DaysOption = DEFAULT_VALID_DAYS,
    never_expires: NeverOption = False,
    email: Annotated[
        str | None,
        typer.Option(help="E-mail address for the owner's notifications (sent when LANDREG_SMTP_URL is set)."),
    ] = None,
) -> None:
    """Create a token; it is shown once, only its hash is stored."""
    from landreg.auth import create_token

    try:
        with _engine().begin() as conn:
            token_id, token = create_token(conn, owner, role, ags, None if never_expires else days, email=email)
    except TokenError as exc:
        raise _fail(str(exc)) from None
    _shown(token_id, token, owner, role)


@token_app.command("list")
def list_() -> None:
    """List tokens with their state and expiry (never the tokens themselves)."""
    from landreg.auth import list_tokens

    with _engine().connect() as conn:
        for t in list_tokens(conn):
            if t.revoked_at:
                state = f"revoked {t.revoked_at:%Y-%m-%d}"
            elif t.expires_at is None:
                state = "active, never expires"
            else:
                state = f"active until {t.expires_at:%Y-%m-%d}"
            used = f"last used {t.last_used_at:%Y-%m-%d}" if t.last_used_at else "never used"
            areas = ",".join(a.strip() for a in t.ags) or "-"
            typer.echo(f"{t.id:>4}  {t.owner:<24} {t.role:<9} {areas:<20} {state:<28} {used:<20} {t.email or '-'}")


@token_app.command("revoke")
def revoke(token_id: Annotated[int, typer.Argument(help="Id from `landreg token list`.")]) -> None:
    """Revoke a token at once."""
    from landreg.auth import revoke_token

    with _engine().begin() as conn:
        if not revoke_token(conn, token_id):
            raise _fail(f"no active token {token_id}")
    typer.echo(f"token {token_id} revoked")


@token_app.command("rotate")
def rotate(
    token_id: Annotated[int, typer.Argument(help="Id from `landreg token list`.")],
    days: DaysOption = DEFAULT_VALID_DAYS,
    never_expires: NeverOption = False,
) -> None:
    """Replace a token by a new one (same owner, role, municipalities); the old one stops at once."""
    from landreg.auth import rotate_token

    try:
        with _engine().begin() as conn:
            new_id, token = rotate_token(conn, token_id, None if never_expires else days)
            row = conn.exec_driver_sql("SELECT owner, role FROM api_token WHERE id = %s", (new_id,)).one()
    except TokenError as exc:
        raise _fail(str(exc)) from None
    _shown(new_id, token, row.owner, row.role)
    typer.echo(f"token {token_id} revoked")
