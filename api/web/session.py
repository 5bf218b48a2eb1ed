"""The signed-in person of a request: the session cookie resolved once per request (a read), the
dependencies pages use, and the CSRF check of every form that changes something."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from landreg import users
from landreg.access import AccessDenied, Principal

COOKIE = "landreg_session"
_UNSET = object()


class SignInRequired(Exception):
    """A page for signed-in people was asked for without a session: answered by a redirect to the
    sign-in page, which comes back here afterwards."""


def current_session(request: Request) -> users.Session | None:
    cached = getattr(request.state, "web_session", _UNSET)
    if cached is not _UNSET:
        return cached
    found = None
    session_id = request.cookies.get(COOKIE)
    if session_id:
        with request.app.state.engine.connect() as conn:
            found = users.session(conn, session_id)
    request.state.web_session = found
    return found


def signed_in(request: Request) -> users.Session:
    found = current_session(request)
    if found is None:
        raise SignInRequired()
    return found


def principal(request: Request) -> Principal | None:
    """The person as the core knows callers (None: the public)."""
    found = current_session(request)
    return found.user.principal if found else None


def require(*roles: str):
    """A dependency: signed in, with one of ``roles`` (403 otherwise, with what is needed)."""

    def dependency(found: Annotated[users.Session, Depends(signed_in)]) -> users.Session:
        if roles and found.user.role not in roles:
            raise AccessDenied(
                f"this page is for the role {' or '.join(roles)}; you are signed in as {found.user.role}"
            )
        return found

    return dependency


async def checked_form(request: Request) -> FormData:
    """The form of a POST, after checking its CSRF token against the session's."""
    form = await request.form()
    users.check_csrf(current_session(request), form.get("csrf_token"))
    return form


SignedIn = Annotated[users.Session, Depends(signed_in)]
CheckedForm = Annotated[FormData, Depends(checked_form)]


def set_cookie(response, session_id: str, request: Request) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (no cross-site form posts carry it), Secure when
    the request came over HTTPS (directly or via a proxy's X-Forwarded-Proto, see ``landreg serve``)."""
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=users.SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_cookie(response) -> None:
    response.delete_cookie(COOKIE, path="/")
