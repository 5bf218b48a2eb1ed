"""``landreg parcel show|set|retire``: a planner's changes from the command line, through the same
use cases (:mod:`landreg.register`) as the API: the token's municipality is checked, and the
version the change is based on must be the current one. A retirement says why (``--reason``, a
code of :data:`landreg.vocab.RETIRE_REASON`; ``--comment``, required for ``sonstiges``)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer

from landreg import fields, register, vocab
from landreg.access import Principal, view_of
from landreg.auth import authenticate
from landreg.db import make_engine
from landreg.errors import DomainError, InvalidParameter
from landreg.features import COLLECTIONS
from landreg.parcels import ParcelError, value_from_text

parcel_app = typer.Typer(help="Show and change single parcels (as a planner, with an API token).", no_args_is_help=True)

TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="LANDREG_TOKEN", help="Your API token (or set LANDREG_TOKEN).", show_default=False),
]
VersionOption = Annotated[
    int, typer.Option("--version", help="The version your change is based on (`landreg parcel show` prints it).")
]


def fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def principal_of(conn, token: str | None) -> Principal | None:
    if token is None:
        return None
    principal = authenticate(conn, token)
    if principal is None:
        raise fail("--token: invalid or revoked token")
    return principal


def _parcel_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise fail(f"PARCEL_ID: {value!r} is not a parcel id (a UUID, as `landreg export` writes it)") from None


def _assignments(pairs: list[str]) -> dict:
    """``field=value`` pairs as typed attributes; an empty value clears the field."""
    changes = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidParameter(f"{pair!r}: write FIELD=VALUE, e.g. status=verfuegbar", "FIELD=VALUE")
        if name not in fields.EDITABLE or name == "geom":
            editable = ", ".join(sorted(fields.EDITABLE - {"geom"}))
            raise InvalidParameter(f"{name!r} is not a field you can set here; fields: {editable}", name)
        changes[name] = value_from_text(name, value)
    return changes


@parcel_app.command("show")
def show(parcel_id: Annotated[str, typer.Argument(help="The parcel's id.")], token: TokenOption = None) -> None:
    """Print a parcel as the token's owner sees it (without a token: as the public does)."""
    with make_engine().connect() as conn:
        try:
            feature = register.one_feature(
                conn, COLLECTIONS["parcels"], view_of(principal_of(conn, token)), str(_parcel_id(parcel_id))
            )
        except DomainError as exc:
            raise fail(str(exc)) from None
    typer.echo(json.dumps(feature["properties"], ensure_ascii=False, indent=2, default=str))


@parcel_app.command("set")
def set_fields(
    parcel_id: Annotated[str, typer.Argument(help="The parcel's id.")],
    assignments: Annotated[list[str], typer.Argument(help="FIELD=VALUE, e.g. status=verfuegbar (empty: clear)")],
    version: VersionOption,
    token: TokenOption = None,
) -> None:
    """Change fields of a parcel of your municipality; the old state stays in its history."""
    _change(register.update, parcel_id, version, token, assignments)


_REASONS = ", ".join(f"{code} ({de})" for code, (de, _) in vocab.RETIRE_REASON.labels.items())


@parcel_app.command("retire")
def retire(
    parcel_id: Annotated[str, typer.Argument(help="The parcel's id.")],
    version: VersionOption,
    reason: Annotated[
        str | None, typer.Option("--reason", help=f"Why it is retired: {_REASONS}.", show_default=False)
    ] = None,
    comment: Annotated[
        str | None,
        typer.Option("--comment", help="What to know about the retirement (required for sonstiges); confidential."),
    ] = None,
    token: TokenOption = None,
) -> None:
    """Retire a parcel of your municipality, saying why: it leaves the register and stays in the history."""
    _change(register.retire, parcel_id, version, token, None, (reason, comment))


def _change(
    use_case,
    parcel_id: str,
    version: int,
    token: str | None,
    assignments: list[str] | None,
    extra: tuple = (),
) -> None:
    from sqlalchemy.orm import Session

    key = _parcel_id(parcel_id)
    with Session(make_engine()) as session:
        try:
            principal = principal_of(session.connection(), token)
            args = (session, principal, key, frozenset({version}))
            given = (_assignments(assignments),) if assignments is not None else extra
            parcel = use_case(*args, *given)
            # what the answer says, read before the commit: a query after it could fail although it is saved
            done = f"retired ({parcel.retire_reason})" if parcel.retired_at else f"now version {parcel.version}"
            said = f"parcel {parcel.local_ref} ({parcel.ags}): {done}"
            session.commit()
        except (DomainError, ParcelError) as exc:
            raise fail(_cli_message(exc)) from None
        except PermissionError as exc:
            raise fail(f"{exc} (--token: a planner's token of the parcel's municipality)") from None
        typer.echo(said)


def _cli_message(exc: Exception) -> str:
    """The core's message, pointing at this command's options where the API would name a header or
    a query parameter."""
    text = str(exc)
    if isinstance(exc, ParcelError) and exc.field in ("reason", "comment"):
        text = f"--{exc.field}: {exc.reason}"
    if "If-Match" in text:
        text = text.replace("If-Match with the feature's ETag", "--version")
    if "reload it and try again" in text:
        text += " (`landreg parcel show`, then --version)"
    return text
