"""Signing in and out of the workspace (``/app/login``, ``/app/logout``).

The sign-in form has no session yet, so its CSRF protection is a double-submit token: a random
value in a SameSite=Strict cookie and in the form, which another site can neither read nor set.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from api.web import session as web_session
from api.web.pages import page
from api.web.texts import register
from landreg import users

router = APIRouter()
NAV: list[tuple[str, str, tuple[str, ...]]] = []  # signing in is in the header, not the navigation
LOGIN_CSRF_COOKIE = "landreg_login_csrf"

register(
    {
        "auth.title": ("Anmelden", "Sign in"),
        "auth.username": ("Benutzername", "User name"),
        "auth.password": ("Passwort", "Password"),
        "auth.submit": ("Anmelden", "Sign in"),
        "auth.intro": (
            "Für Planerinnen und Planer der Gemeinden, die Prüfung und das Ministerium.",
            "For the municipalities' planners, reviewers and the ministry.",
        ),
    }
)


def _next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if not value:
        return "/app"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/app"
    return value


def _form(request: Request, status: int = 200, error: str | None = None, username: str = "", next_: str = "/app"):
    token = secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        {"error": error, "username": username, "next": next_, "login_csrf": token},
        status_code=status,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/app/login")  # fmt: skip
    return response


@router.get("/app/login")
def login_form(request: Request, next: str | None = None):  # noqa: A002 - the query parameter's name
    return _form(request, next_=_next(next))


@router.post("/app/login")
async def login(request: Request):
    form = await request.form()
    username, password = str(form.get("username", ""))[:200], str(form.get("password", ""))[: users.MAX_PASSWORD]
    next_ = _next(str(form.get("next", "")))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not users.same_secret(cookie, form.get("login_csrf")):
        expired = "Das Formular ist abgelaufen; bitte erneut anmelden. / The form expired; sign in again."
        return _form(request, 403, expired, username, next_)
    client = request.client.host if request.client else None
    with request.app.state.engine.begin() as conn:  # committed when refused too: the failure counts
        try:
            session_id, _ = users.sign_in(conn, username, password, client)
        except users.Throttled as exc:
            response = _form(request, 429, str(exc), username, next_)
            response.headers["Retry-After"] = str(exc.retry_after_s)
            return response
        except users.SignInRefused as exc:
            return _form(request, 401, str(exc), username, next_)
    response = RedirectResponse(next_, status_code=303)
    web_session.set_cookie(response, session_id, request)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/app/login")
    return response


@router.post("/app/logout")
async def logout(request: Request, form: web_session.CheckedForm):
    with request.app.state.engine.begin() as conn:
        users.sign_out(conn, request.cookies.get(web_session.COOKIE))
    response = RedirectResponse("/", status_code=303)
    web_session.clear_cookie(response)
    return response
